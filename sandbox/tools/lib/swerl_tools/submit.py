"""submit: print the patch of the repository (tracked and untracked files, test files excluded)
between markers the host extracts (core/observation.ts). The agent's git index is left untouched."""
import os
import shutil
import subprocess
import tempfile

from . import state as st
from .window import ToolError

START = "<<SWERL_SUBMISSION>>"
END = "<<SWERL_SUBMISSION_END>>"

# Test files are restored to the task's version before scoring, so the agent's edits to them are not
# part of its answer; bytecode and tool caches are noise that running the tests leaves behind.
EXCLUDED = [
    "**/tests/**", "**/test_*.py", "**/*_test.py", "**/conftest.py",
    "**/__pycache__/**", "**/*.pyc", "**/.pytest_cache/**", "**/*.egg-info/**",
]


def pathspec():
    return ["--", "."] + [":(glob,exclude){}".format(p) for p in EXCLUDED]


def git(args, env=None, timeout=300):
    # No fsmonitor, hooks or external diff of the agent's config (the host's end-of-episode diff goes
    # further: a private git dir, swerl_tools/server.py).
    cmd = ["git", "-c", "safe.directory=*", "-c", "core.quotepath=false", "-c", "core.fsmonitor=false",
           "-c", "core.hooksPath=/dev/null", "-c", "diff.external=", "-C", st.REPO] + args
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                          env=env, timeout=timeout)
    if proc.returncode != 0:
        raise ToolError("Error: submit could not compute the patch: `git {}` failed: {}".format(
            " ".join(args[:2]), proc.stderr.decode("utf-8", "replace").strip()))
    return proc.stdout


def submission_patch(base):
    tmp = tempfile.mkdtemp(prefix="swerl_submit.")
    try:
        index = os.path.join(tmp, "index")
        real = git(["rev-parse", "--path-format=absolute", "--git-path", "index"]).decode().strip()
        if os.path.isfile(real):
            # copy2 keeps the index's mtime: git trusts cached file stats only for files older than
            # the index, so a fresh mtime would hide a same-size edit made in the index's second.
            shutil.copy2(real, index)
        env = dict(os.environ, GIT_INDEX_FILE=index)
        git(["add", "-A"] + pathspec(), env=env)
        return git(["diff", "--cached", "--binary", "--no-color", "--no-ext-diff", "--no-textconv",
                    "--src-prefix=a/", "--dst-prefix=b/", base or "HEAD"] + pathspec(), env=env)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def submit(state, args):
    if args:
        raise ToolError("Usage: submit (no arguments)")
    if st.nested():
        raise ToolError("Error: submit must be the only command in its command block.")
    base = os.environ.get("SWERL_BASE_COMMIT") or state.get("base_commit") or ""
    patch = submission_patch(base).decode("utf-8", "surrogateescape")
    if patch and not patch.endswith("\n"):
        patch += "\n"
    return "{}\n{}{}\n".format(START, patch, END)
