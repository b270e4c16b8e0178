"""A JSON bridge from swerl (TypeScript) to the official SWE-bench harness (PyPI swebench==4.1.0)."""
