"""
`python -m swebench_bridge COMMAND` reads one JSON object on stdin and writes one on stdout.

Commands (every one takes `instance`, a SWE-bench row with its 12 fields, optionally `install_config`):
  spec          the official spec of (repo, version), or the line's own install_config
  requirements  the requirements text swebench's env script would install, read from the task's own
                repository (`repoDir`, a git dir) at environment_setup_commit instead of GitHub
  eval_script   the official eval script, with conda's activation and /testbed rewritten to the
                sandbox layout (`venv`, `repoDirectory`)
  grade         the official verdict on a test log: swebench's get_eval_report (its parser for the
                repo, its F2P/P2P report, its resolution status) plus the parsed status map
Errors go to stdout as {"error": ...} with exit code 2, so the caller always gets JSON.
"""
import json
import os
import posixpath
import subprocess
import sys
import tempfile

from swebench_bridge.loader import load

SW = load()
C = SW.constants


def _tests(instance, key):
    v = instance.get(key, [])
    return json.loads(v) if isinstance(v, str) else list(v)


def register(instance):
    """A line with `install_config` (SWE-rebench / SWE-Gym style) carries its own spec and parser."""
    cfg = instance.get("install_config")
    repo, version = instance["repo"], str(instance.get("version"))
    if cfg:
        C.MAP_REPO_VERSION_TO_SPECS.setdefault(repo, {})[version] = cfg
        C.MAP_REPO_TO_EXT.setdefault(repo, "py")
        if cfg.get("reqs_path"):
            C.MAP_REPO_TO_REQS_PATHS[repo] = list(cfg["reqs_path"])
        C.MAP_REPO_TO_REQS_PATHS.setdefault(repo, ["requirements.txt"])
        parsers = SW.log_parsers.MAP_REPO_TO_PARSER
        name = cfg.get("log_parser")
        if name:
            py = __import__("swebench.harness.log_parsers.python", fromlist=[name])
            parsers[repo] = getattr(py, name)
        parsers.setdefault(repo, SW.log_parsers.python.parse_log_pytest)
        return "install_config"
    if repo not in C.MAP_REPO_VERSION_TO_SPECS or version not in C.MAP_REPO_VERSION_TO_SPECS[repo]:
        raise KeyError(f"swebench {SW.version} has no spec for {repo} version {version} and the line has no install_config")
    return f"swebench {SW.version} MAP_REPO_VERSION_TO_SPECS"


def parser_name(repo):
    fn = SW.log_parsers.MAP_REPO_TO_PARSER.get(repo)
    return f"{fn.__module__}.{fn.__name__}" if fn else None


def cmd_spec(req):
    inst = req["instance"]
    source = register(inst)
    spec = C.MAP_REPO_VERSION_TO_SPECS[inst["repo"]][str(inst.get("version"))]
    return {
        "spec": spec,
        "source": source,
        "swebench": SW.version,
        "parser": parser_name(inst["repo"]),
        "reqsPaths": C.MAP_REPO_TO_REQS_PATHS.get(inst["repo"]),
        "envYmlPaths": C.MAP_REPO_TO_ENV_YML_PATHS.get(inst["repo"]),
        "repoInstall": C.MAP_REPO_TO_INSTALL.get(inst["repo"]),
    }


class _Resp:
    def __init__(self, status_code, text):
        self.status_code, self.text = status_code, text


def _git_raw(repo_dir):
    """requests.get for SWE_BENCH_URL_RAW/<owner>/<name>/<commit>/<path>, answered from a local git dir."""
    prefix = C.SWE_BENCH_URL_RAW.rstrip("/") + "/"

    def get(url, headers=None, **_kw):
        if not url.startswith(prefix):
            return _Resp(404, "")
        parts = url[len(prefix):].split("/")
        commit, path = parts[2], posixpath.normpath("/".join(parts[3:]))
        res = subprocess.run(["git", "--git-dir", repo_dir, "show", f"{commit}:{path}"], capture_output=True)
        if res.returncode != 0:
            return _Resp(404, "")
        return _Resp(200, res.stdout.decode("utf-8", "replace"))

    return get


def cmd_requirements(req):
    inst = req["instance"]
    register(inst)
    spec = C.MAP_REPO_VERSION_TO_SPECS[inst["repo"]][str(inst.get("version"))]
    py = SW.test_spec_python
    py.requests.get = _git_raw(req["repoDir"])
    pkgs = spec.get("packages", "")
    out = {"packages": pkgs, "requirements": None, "environmentYml": None}
    if pkgs == "requirements.txt":
        out["requirements"] = py.get_requirements(inst)
    elif pkgs == "environment.yml":
        out["environmentYml"] = py.get_environment_yml(inst, "testbed")
    return out


def cmd_eval_script(req):
    inst = req["instance"]
    register(inst)
    repo_dir = req.get("repoDirectory", "/repo")
    activate = req.get("activate")  # None keeps SWE-bench's own conda lines (a prebuilt sweb.eval image)
    spec = C.MAP_REPO_VERSION_TO_SPECS[inst["repo"]][str(inst.get("version"))]
    lines = SW.create_scripts.make_eval_script_list(inst, spec, "testbed", repo_dir, inst["base_commit"], inst["test_patch"])
    rewritten = []
    for line in lines:
        if activate is None:
            rewritten.append(line)
        elif line == "source /opt/miniconda3/bin/activate":
            rewritten.append(f"source {activate}")
        elif line == "conda activate testbed":
            rewritten.append(": conda env testbed is the venv above")
        else:
            rewritten.append(line)
    script = "\n".join(["#!/bin/bash", "set -uxo pipefail"] + rewritten) + "\n"
    return {
        "script": script,
        "testCmd": spec["test_cmd"],
        "startMarker": C.START_TEST_OUTPUT,
        "endMarker": C.END_TEST_OUTPUT,
        "applyCmds": git_apply_cmds(),
    }


def git_apply_cmds():
    """run_evaluation.GIT_APPLY_CMDS, read from its source: importing that module would pull docker and datasets in."""
    import ast
    import importlib.util

    path = importlib.util.find_spec("swebench.harness.run_evaluation").origin
    tree = ast.parse(open(path, encoding="utf-8").read())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "GIT_APPLY_CMDS" for t in node.targets):
            return ast.literal_eval(node.value)
    raise RuntimeError("GIT_APPLY_CMDS not found in swebench.harness.run_evaluation")


def _test_spec(inst):
    return SW.test_spec.TestSpec(
        instance_id=inst["instance_id"], repo=inst["repo"], version=str(inst.get("version")),
        repo_script_list=[], eval_script_list=[], env_script_list=[], arch="x86_64",
        FAIL_TO_PASS=_tests(inst, "FAIL_TO_PASS"), PASS_TO_PASS=_tests(inst, "PASS_TO_PASS"),
        language=C.MAP_REPO_TO_EXT[inst["repo"]], docker_specs={}, namespace=None,
    )


def cmd_grade(req):
    inst = req["instance"]
    register(inst)
    ts = _test_spec(inst)
    with tempfile.NamedTemporaryFile("w", suffix=".log", delete=False, encoding="utf-8", errors="replace") as f:
        f.write(req["log"])
        path = f.name
    try:
        status_map, found = SW.grading.get_logs_eval(ts, path)
        report = SW.grading.get_eval_report(ts, {"instance_id": ts.instance_id, "model_name_or_path": "swerl", "model_patch": "swerl"}, path, True)
    finally:
        os.unlink(path)
    r = report[ts.instance_id]
    return {
        "resolved": bool(r["resolved"]),
        "logFound": bool(found),
        "statusMap": status_map,
        "report": r.get("tests_status"),
        "parser": parser_name(inst["repo"]),
        "swebench": SW.version,
    }


COMMANDS = {"spec": cmd_spec, "requirements": cmd_requirements, "eval_script": cmd_eval_script, "grade": cmd_grade}


def main(argv):
    if len(argv) != 1 or argv[0] not in COMMANDS:
        print(json.dumps({"error": f"usage: python -m swebench_bridge {{{','.join(COMMANDS)}}} < request.json"}))
        return 2
    try:
        out = COMMANDS[argv[0]](json.load(sys.stdin))
    except Exception as err:  # noqa: BLE001 - every failure goes back to the caller as JSON
        print(json.dumps({"error": f"{type(err).__name__}: {err}"}))
        return 2
    json.dump(out, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
