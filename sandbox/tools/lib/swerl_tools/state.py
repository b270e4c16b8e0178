"""The agent's persistent state and the prompt line that ends every observation."""
import json
import os
import subprocess
import tempfile


def _state_file():
    # $HOME rather than /tmp: the sandbox mounts /tmp as a tmpfs, which `docker commit` snapshots
    # do not keep, and an episode resumed from a snapshot must find its open file and directory.
    home = os.path.expanduser("~")
    if home and home != "/" and os.path.isdir(home) and os.access(home, os.W_OK):
        return os.path.join(home, ".swerl_state.json")
    return "/tmp/.swerl_state.json"


STATE_FILE = os.environ.get("SWERL_STATE_FILE") or _state_file()
REPO = os.environ.get("SWERL_REPO", "/repo")
WINDOW = int(os.environ.get("SWERL_WINDOW", "100") or 100)


def nested():
    """True when a tool runs inside an agent shell command (e.g. `cd src && open x.py`): the enclosing
    _swerl_run owns the cwd and prints the single prompt line."""
    return os.environ.get("SWERL_IN_RUN") == "1"


def _default_cwd():
    return REPO if os.path.isdir(REPO) else (os.path.expanduser("~") or "/")


def load():
    state = {"open_file": None, "first_line": 1, "cwd": None, "base_commit": None}
    try:
        with open(STATE_FILE, "r", encoding="utf-8") as f:
            saved = json.load(f)
        if isinstance(saved, dict):
            state.update({k: saved[k] for k in state if k in saved})
    except (OSError, ValueError):
        pass  # first call of the episode, or a state file the agent clobbered: start fresh
    if not isinstance(state["cwd"], str) or not state["cwd"]:
        state["cwd"] = _default_cwd()
    if not isinstance(state["first_line"], int) or state["first_line"] < 1:
        state["first_line"] = 1
    return state


def save(state):
    # write-then-rename: a command killed mid-write must not leave a truncated state file
    d = os.path.dirname(STATE_FILE) or "."
    fd, tmp = tempfile.mkstemp(prefix=".swerl_state.", dir=d)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(state, f)
    os.replace(tmp, STATE_FILE)


def enter():
    """Load state, record the base commit once, and move into the agent's current directory."""
    state = load()
    if state["base_commit"] is None:
        state["base_commit"] = _head_commit()
        save(state)
    if nested():
        return state
    try:
        os.chdir(state["cwd"])
    except OSError:
        state["cwd"] = _default_cwd()
        os.chdir(state["cwd"])
        save(state)
    return state


def _head_commit():
    try:
        out = subprocess.run(
            ["git", "-c", "safe.directory=*", "-C", REPO, "rev-parse", "HEAD"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, timeout=30,
        )
        return out.stdout.decode().strip() if out.returncode == 0 else ""
    except (OSError, subprocess.SubprocessError):
        return ""


def prompt_line(state):
    return "(Open file: {}) (Current directory: {}) bash-$".format(state["open_file"] or "n/a", state["cwd"])


def abspath(path):
    return os.path.normpath(os.path.join(os.getcwd(), os.path.expanduser(path)))


def emit(text):
    """Write text as UTF-8 whatever the container's locale; file bytes that are not UTF-8 pass through."""
    try:
        data = text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        data = text.encode("utf-8", "replace")
    out = os.fdopen(os.dup(1), "wb")
    out.write(data)
    out.flush()
    out.close()


def finish(state, body, status=0):
    """Print an observation: body, then (at top level) the prompt line. Returns the exit status."""
    text = body
    if not nested():
        if text and not text.endswith("\n"):
            text += "\n"
        text += prompt_line(state)
    elif text and not text.endswith("\n"):
        text += "\n"
    emit(text)
    return status
