"""
What a set of downloaded distributions still lacks for a target Python.

`pip download --python-version X` checks Requires-Python for X, but evaluates environment markers
against the interpreter running pip: resolving for 3.9 on a 3.11 host drops `exceptiongroup;
python_version < "3.11"` and the like. This reads every wheel's Requires-Dist, evaluates the
markers for the target, and prints (one JSON list) the requirements no file in the directory
satisfies; the caller downloads those and asks again.

usage: python wheel_closure.py DIR PYTHON_VERSION [ROOT_REQUIREMENT ...]
"""
import json
import os
import sys
import zipfile

try:
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name, parse_wheel_filename, parse_sdist_filename
except ImportError:  # pip vendors packaging; every venv with pip has it
    from pip._vendor.packaging.requirements import Requirement
    from pip._vendor.packaging.utils import canonicalize_name, parse_wheel_filename, parse_sdist_filename


def main(directory, python, roots):
    env = {
        "python_version": python,
        "python_full_version": python + ".0",
        "implementation_name": "cpython",
        "platform_python_implementation": "CPython",
        "sys_platform": "linux",
        "platform_system": "Linux",
        "platform_machine": "x86_64",
        "os_name": "posix",
    }
    have = {}
    metadata = {}
    for f in os.listdir(directory):
        try:
            if f.endswith(".whl"):
                name, version, _, _ = parse_wheel_filename(f)
                with zipfile.ZipFile(os.path.join(directory, f)) as z:
                    meta = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
                    metadata[name] = z.read(meta).decode("utf-8", "replace")
            else:
                name, version = parse_sdist_filename(f)
        except Exception:  # noqa: BLE001 - an unparseable file name satisfies nothing
            continue
        have[name] = version
    wanted = [(Requirement(r), "") for r in roots]
    seen = set()
    missing = []
    while wanted:
        req, extra = wanted.pop()
        if req.marker is not None and not req.marker.evaluate({**env, "extra": extra}):
            continue
        name = canonicalize_name(req.name)
        key = (name, tuple(sorted(req.extras)), str(req.specifier))
        if key in seen:
            continue
        seen.add(key)
        if name not in have or (req.specifier and not req.specifier.contains(have[name], prereleases=True)):
            missing.append(str(Requirement(f"{req.name}{'[' + ','.join(sorted(req.extras)) + ']' if req.extras else ''}{req.specifier}")))
            continue
        for line in metadata.get(name, "").splitlines():
            if line.startswith("Requires-Dist:"):
                dep = Requirement(line[len("Requires-Dist:"):].strip())
                for e in list(req.extras) or [""]:
                    wanted.append((dep, e))
    print(json.dumps(sorted(set(missing))))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3:])
