"""
Imports the parts of swebench that swerl uses without the rest.

`swebench/__init__.py` and `swebench/harness/__init__.py` import the whole harness (docker, modal,
datasets, ghapi, ...): hundreds of MB that swerl never calls. We register both packages as bare
modules whose __path__ is the installed directory, so `swebench.harness.constants`,
`.log_parsers`, `.grading` and `.test_spec` import from the installed files unchanged. The one
import of `datasets` on that path (harness/utils.py: loading a dataset from a hub) gets an inert
stand-in that raises if it is ever called.
"""
import importlib
import importlib.metadata
import importlib.util
import sys
import types


def _bare_package(name: str, path: str) -> None:
    if name in sys.modules:
        return
    mod = types.ModuleType(name)
    mod.__path__ = [path]  # type: ignore[attr-defined]
    sys.modules[name] = mod


def _inert(name: str):
    def fail(*_args, **_kwargs):
        raise RuntimeError(f"datasets.{name} is not available in the swerl swebench bridge")

    return fail


def load():
    """Returns the swebench harness modules swerl uses, as a namespace."""
    spec = importlib.util.find_spec("swebench")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("swebench is not installed in this interpreter (see swebench_bridge/ensure-venv.sh)")
    root = list(spec.submodule_search_locations)[0]
    _bare_package("swebench", root)
    _bare_package("swebench.harness", f"{root}/harness")
    if importlib.util.find_spec("datasets") is None and "datasets" not in sys.modules:
        stub = types.ModuleType("datasets")
        for n in ("Dataset", "load_dataset", "load_from_disk"):
            setattr(stub, n, _inert(n))
        sys.modules["datasets"] = stub
    ns = types.SimpleNamespace()
    ns.constants = importlib.import_module("swebench.harness.constants")
    ns.log_parsers = importlib.import_module("swebench.harness.log_parsers")
    ns.grading = importlib.import_module("swebench.harness.grading")
    ns.test_spec = importlib.import_module("swebench.harness.test_spec.test_spec")
    ns.test_spec_python = importlib.import_module("swebench.harness.test_spec.python")
    ns.create_scripts = importlib.import_module("swebench.harness.test_spec.create_scripts")
    ns.version = importlib.metadata.version("swebench")
    return ns
