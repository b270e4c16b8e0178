"""The sandbox's tool server: one long-lived root process per (host, container), started by the host
with one attached `docker exec` and spoken to over that exec's stdin/stdout in framed JSON messages
(4-byte big-endian length, then UTF-8 JSON). It replaces a `docker exec` + shell + Python per command.

Isolation, per command:
- started in a new session with only fds 0-2, setgroups([])/setgid/setuid to the sandbox user (the
  kernel drops every capability on that transition; the container has no-new-privileges), SIGPIPE
  back to default; a shell command does all of that in subprocess's C child (no Python runs in it),
  a rendered tool command in a forked server;
- a per-command timeout, after which the command's process group *and every process of the sandbox
  user* are SIGKILLed; the same sweep runs when a command returns, so nothing it started (background
  jobs, `setsid` escapees, fork bombs) outlives its turn and a replay of the episode's commands sees
  the same sandbox;
- output (stdout and stderr interleaved, as the shell wrote them) capped at a byte limit: the server
  keeps the head and counts what it drops, so the host never receives more than the cap;
- a scrubbed environment: the container's own (image) environment and the user's HOME, nothing from
  the host; the container itself has no network.
The server runs as root and the agent as another uid, so the agent cannot signal it (nor the
container's PID 1). Rendered tool commands (`/opt/swerl/tools/bin/<tool> ...`) run in the forked child
by calling the tool's Python function directly: no shell and no new interpreter per call.

Requests: {"id", "op": "exec", "cmd", "user", "cwd"?, "stdin"? (base64), "timeout", "limit"}
          {"id", "op": "diff", "user", "base"?, "exclude": [...], "maxBytes", "maxFileBytes", "timeout"}
          {"id", "op": "ping"}
Replies:  {"id", "ok": true, ...} or {"id", "ok": false, "error"}.
"""
import base64
import gc
import grp
import json
import os
import pwd
import re
import select
import shlex
import signal
import struct
import subprocess
import sys
import time
import traceback

TOOLS_BIN = "/opt/swerl/tools/bin"
READ_CHUNK = 1 << 16
# After a command: how long the sweep may take to leave no process of the user alive.
SWEEP_SEC = 10.0
# ... and how long it waits for the container's init to reap them (a zombie is harmless, but a
# `pgrep` of the next command would count it).
REAP_SEC = 2.0
# The end-of-episode diff: what git may not do in a repository the agent controlled.
SAFE_GIT = [
    "-c", "core.fsmonitor=false", "-c", "core.hooksPath=/dev/null", "-c", "core.untrackedCache=false",
    "-c", "core.splitIndex=false", "-c", "diff.external=", "-c", "core.pager=cat", "-c", "safe.directory=*",
    "-c", "core.quotePath=true", "-c", "diff.noprefix=false", "-c", "diff.mnemonicPrefix=false",
]


# ---------------------------------------------------------------------------- framing

def read_exact(fd, n):
    buf = bytearray()
    while len(buf) < n:
        chunk = os.read(fd, n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return bytes(buf)


def read_frame(fd):
    head = read_exact(fd, 4)
    if head is None:
        return None
    (n,) = struct.unpack(">I", head)
    body = read_exact(fd, n)
    if body is None:
        return None
    return json.loads(body.decode("utf-8"))


def write_frame(fd, msg):
    body = json.dumps(msg, separators=(",", ":")).encode("utf-8")
    data = struct.pack(">I", len(body)) + body
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


# ---------------------------------------------------------------------------- users and processes

def resolve_user(spec):
    """'1000:1000', '1000', 'agent' or 'agent:agent' -> (uid, gid, home)."""
    name, _, group = str(spec).partition(":")
    if name.isdigit():
        uid = int(name)
        try:
            pw = pwd.getpwuid(uid)
        except KeyError:
            pw = None
    else:
        pw = pwd.getpwnam(name)
        uid = pw.pw_uid
    if group:
        gid = int(group) if group.isdigit() else grp.getgrnam(group).gr_gid
    else:
        gid = pw.pw_gid if pw else uid
    if uid == 0:
        raise ValueError("the tool server does not run commands as root")
    return uid, gid, (pw.pw_dir if pw else "/")


def pids_of(uid):
    """(live, zombie) processes whose effective uid is `uid`."""
    live, zombies = [], []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if os.stat("/proc/" + entry).st_uid != uid:
                continue
            with open("/proc/" + entry + "/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        state = stat[stat.rfind(b")") + 2:stat.rfind(b")") + 3]
        (zombies if state in (b"Z", b"X") else live).append(int(entry))
    return live, zombies


def sweep(uid, deadline):
    """SIGKILL every process of `uid` until none is left (a fork bomb keeps forking between passes),
    then wait (bounded) until the init reaped the killed ones: the next command must not see them."""
    reap_deadline = min(deadline, time.monotonic() + REAP_SEC)
    while True:
        live, zombies = pids_of(uid)
        if not live and (not zombies or time.monotonic() > reap_deadline):
            return True
        for pid in live:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        if time.monotonic() > deadline:
            return False
        time.sleep(0.002)


def child_env(home, user_name):
    env = dict(BASE_ENV)
    env["HOME"] = home if ("HOME" not in env or env["HOME"] == "/root") else env["HOME"]
    if user_name:
        env.setdefault("USER", user_name)
    return env


# ---------------------------------------------------------------------------- running one command

TOKEN = r"(?:'[^']*'(?:\\''[^']*')*|[-\w.]+)"
TOOL_LINE = re.compile(r"^" + re.escape(TOOLS_BIN) + r"/(\w+)((?: " + TOKEN + r")*)(?: <<'(SWERL_EOF_\d+)')?$")


def parse_tool_command(cmd):
    """(tool, args, stdin bytes) when `cmd` is exactly a command core/actions.ts renders, else None."""
    first, nl, rest = cmd.partition("\n")
    m = TOOL_LINE.match(first)
    if not m or m.group(1) not in TOOL_NAMES:
        return None
    args = shlex.split(m.group(2))
    delim = m.group(3)
    if delim is None:
        return (m.group(1), args, None) if rest == "" and (nl == "" or nl == "\n") else None
    if not rest.endswith(delim + "\n"):
        return None
    body = rest[: len(rest) - len(delim) - 1]
    if body and not body.endswith("\n"):
        return None
    if delim in body.split("\n"):
        return None
    return m.group(1), args, body.encode("utf-8", "surrogateescape")


def run_tool_in_child(tool, args, stdin_bytes):
    import io
    from . import state as st
    from . import cli
    # Module-level paths were computed as root at import; recompute them as the agent.
    st.STATE_FILE = os.environ.get("SWERL_STATE_FILE") or st._state_file()
    st.REPO = os.environ.get("SWERL_REPO", "/repo")
    st.WINDOW = int(os.environ.get("SWERL_WINDOW", "100") or 100)
    sys.stdin = io.TextIOWrapper(io.BytesIO(stdin_bytes or b""), encoding="utf-8", errors="surrogateescape")
    sys.stdout = io.TextIOWrapper(os.fdopen(1, "wb", closefd=False), encoding="utf-8", errors="surrogateescape")
    sys.stderr = io.TextIOWrapper(os.fdopen(2, "wb", closefd=False), encoding="utf-8", errors="surrogateescape")
    try:
        status = cli.main(tool, args)
    except SystemExit as e:
        status = e.code if isinstance(e.code, int) else 1
    sys.stdout.flush()
    sys.stderr.flush()
    return status or 0


# subprocess drops to the user in its C child (setsid, setgroups, setregid, setreuid, default
# signals, close fds, exec) since Python 3.9: the command's process never runs Python, so it neither
# executes bytecode nor copies the server's pages on write before its exec.
EXEC_IN_C = sys.version_info >= (3, 9)


def enterable(path, uid, gid):
    """Whether `uid` (group `gid`, no supplementary groups) may search every directory of `path`:
    the command's directory is entered as root before the user drop, so check it as the user would."""
    parts = os.path.realpath(path).split("/")
    for i in range(1, len(parts) + 1):
        try:
            st = os.stat("/".join(parts[:i]) or "/")
        except OSError:
            return False
        if st.st_uid == uid:
            bit = 0o100
        elif st.st_gid == gid:
            bit = 0o010
        else:
            bit = 0o001
        if not st.st_mode & bit:
            return False
    return True


def spawn_exec(req, uid, gid, home, out_w, stdin_fd, argv):
    """Starts a shell command (or argv) as the sandbox user without a Python child; returns
    (pid, Popen) or (None, error text) when it could not be started."""
    cwd = req.get("cwd") or "/repo"
    if not (os.path.isdir(cwd) and enterable(cwd, uid, gid)):
        cwd = "/"
    env = child_env(home, pwd.getpwuid(uid).pw_name if has_pw(uid) else "")
    args, executable = (argv, None) if argv is not None else (["bash", "-c", req["cmd"]], "/bin/bash")
    try:
        proc = subprocess.Popen(
            args, executable=executable, stdin=stdin_fd, stdout=out_w, stderr=out_w, close_fds=True, cwd=cwd, env=env,
            start_new_session=True, restore_signals=True, user=uid, group=gid, extra_groups=[],
        )
    except (OSError, subprocess.SubprocessError) as e:
        return None, "swerl tool server: cannot start {!r}: {}\n".format(args[0], e)
    return proc.pid, proc


def spawn(req, uid, gid, home, out_w, stdin_fd, argv=None):
    """Starts the command's process; returns (pid, Popen or None), or (None, error text). A shell
    command runs via spawn_exec; a rendered tool command in a forked server, which never returns."""
    tool = None if argv is not None else parse_tool_command(req["cmd"])
    if tool is None and EXEC_IN_C:
        return spawn_exec(req, uid, gid, home, out_w, stdin_fd, argv)
    pid = os.fork()
    if pid != 0:
        return pid, None
    status = 126
    try:
        os.setsid()
        os.dup2(stdin_fd, 0)
        os.dup2(out_w, 1)
        os.dup2(out_w, 2)
        os.closerange(3, 4096)
        os.setgroups([])
        os.setgid(gid)
        os.setuid(uid)
        env = child_env(home, pwd.getpwuid(uid).pw_name if has_pw(uid) else "")
        cwd = req.get("cwd") or "/repo"
        os.chdir(cwd if os.path.isdir(cwd) else "/")
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
        if argv is not None:
            os.execvpe(argv[0], argv, env)
        if tool is None:
            os.execve("/bin/bash", ["bash", "-c", req["cmd"]], env)
        os.environ.clear()
        os.environ.update(env)
        status = run_tool_in_child(*tool)
    except BaseException:  # noqa: B036 - the forked child must never return into the server loop
        try:
            os.write(2, traceback.format_exc().encode("utf-8", "replace"))
        except OSError:
            pass
    os._exit(status & 0xFF if isinstance(status, int) else 1)


def has_pw(uid):
    try:
        pwd.getpwuid(uid)
        return True
    except KeyError:
        return False


def stdin_fd_for(data):
    if not data:
        return os.open("/dev/null", os.O_RDONLY)
    if hasattr(os, "memfd_create"):
        fd = os.memfd_create("swerl-stdin")
    else:
        import tempfile
        fd, path = tempfile.mkstemp()
        os.unlink(path)
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


def run_command(req, argv=None):
    """Runs one command to completion; returns (exit code, kept bytes, dropped count, timed out)."""
    uid, gid, home = resolve_user(req["user"])
    timeout = float(req["timeout"])
    limit = int(req["limit"])
    if timeout <= 0 or limit <= 0:
        raise ValueError("timeout and limit must be > 0")
    stdin_data = base64.b64decode(req["stdin"]) if req.get("stdin") else b""
    out_r, out_w = os.pipe()
    stdin_fd = stdin_fd_for(stdin_data)
    try:
        pid, proc = spawn(req, uid, gid, home, out_w, stdin_fd, argv)
    except BaseException:
        os.close(out_r)
        raise
    finally:
        os.close(out_w)
        os.close(stdin_fd)
    if pid is None:
        os.close(out_r)
        return 126, proc.encode("utf-8", "replace")[:limit], 0, False
    kept = bytearray()
    dropped = 0
    timed_out = False
    status = None
    deadline = time.monotonic() + timeout
    pidfd = os.pidfd_open(pid) if hasattr(os, "pidfd_open") else None
    eof = False
    try:
        while status is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                timed_out = True
                try:
                    os.killpg(pid, signal.SIGKILL)
                except OSError:
                    pass
                sweep(uid, time.monotonic() + SWEEP_SEC)
                status = os.waitpid(pid, 0)[1]
                break
            fds = ([] if eof else [out_r]) + ([pidfd] if pidfd is not None else [])
            ready, _, _ = select.select(fds, [], [], remaining if pidfd is not None else min(remaining, 0.01))
            if out_r in ready:
                chunk = os.read(out_r, READ_CHUNK)
                if not chunk:
                    eof = True
                else:
                    room = limit - len(kept)
                    if room > 0:
                        kept += chunk[:room]
                    dropped += max(0, len(chunk) - max(room, 0))
            if pidfd is None or pidfd in ready or eof:
                done, st = os.waitpid(pid, 0 if (pidfd is not None and pidfd in ready) else os.WNOHANG)
                if done:
                    status = st
        # The command is over: nothing it started may outlive it (and hold the output open).
        try:
            os.killpg(pid, signal.SIGKILL)
        except OSError:
            pass
        sweep(uid, time.monotonic() + SWEEP_SEC)
        drain_deadline = time.monotonic() + 5
        while not eof and time.monotonic() < drain_deadline:
            ready, _, _ = select.select([out_r], [], [], 0.5)
            if not ready:
                continue
            chunk = os.read(out_r, READ_CHUNK)
            if not chunk:
                break
            room = limit - len(kept)
            if room > 0:
                kept += chunk[:room]
            dropped += max(0, len(chunk) - max(room, 0))
    finally:
        os.close(out_r)
        if pidfd is not None:
            os.close(pidfd)
    if os.WIFSIGNALED(status):
        code = 128 + os.WTERMSIG(status)
    else:
        code = os.WEXITSTATUS(status)
    if proc is not None:
        # Reaped here: the Popen must not wait on (or, by a reused pid, reap) anything later.
        proc.returncode = code
    return code, bytes(kept), dropped, timed_out


SEQ_DIR = "/run/swerl"
SEQ_FILE = SEQ_DIR + "/seq"


def last_seq():
    try:
        with open(SEQ_FILE, "r") as f:
            return int(f.read().strip() or -1)
    except (OSError, ValueError):
        return -1


def record_seq(seq):
    """Before a command runs: its turn, where only root can write (a retry checks it)."""
    os.makedirs(SEQ_DIR, mode=0o700, exist_ok=True)
    tmp = SEQ_FILE + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(int(seq)))
    os.replace(tmp, SEQ_FILE)


def op_exec(req):
    if req.get("seq") is not None:
        record_seq(req["seq"])
    code, kept, dropped, timed_out = run_command(req)
    return {"exitCode": code, "output": base64.b64encode(kept).decode("ascii"), "dropped": dropped, "timedOut": timed_out}


# ---------------------------------------------------------------------------- the end-of-episode diff

def op_diff(req):
    """The patch of /repo against `base` (untracked files included, oversized ones skipped), computed
    as the sandbox user in a throwaway git dir so nothing the agent configured runs."""
    exclude = [":(exclude){}".format(p) for p in req.get("exclude", [])]
    pathspec = ["."] + exclude
    max_bytes = int(req["maxBytes"])
    max_file = int(req["maxFileBytes"])
    timeout = float(req["timeout"])
    started = time.monotonic()
    stage = {"user": req["user"], "timeout": timeout, "limit": 1 << 20, "cwd": "/repo"}
    code, out, _, timed_out = run_command(stage, ["bash", "-c", STAGE_SCRIPT, "swerl-diff", req.get("base") or "", str(max_file)] + pathspec)
    if timed_out or code != 0:
        return {"ok": False, "error": "staging the diff failed (exit {}{}): {}".format(
            code, ", timed out" if timed_out else "", out.decode("utf-8", "replace")[-2000:])}
    lines = out.decode("utf-8", "surrogateescape").split("\n")
    workdir, base = lines[0], lines[1] if len(lines) > 1 else ""
    skipped = [line[len("swerl-skipped:"):] for line in lines[2:] if line.startswith("swerl-skipped:")]
    over = [line[len("swerl-overcap:"):] for line in lines[2:] if line.startswith("swerl-overcap:")]
    if not workdir.startswith("/tmp/.swerl-diff.") or not re.match(r"^[0-9a-f]{40,64}$", base):
        return {"ok": False, "error": "staging the diff printed no work directory and base: {!r}".format(out[:500])}
    if over:
        run_command({"user": req["user"], "timeout": 30, "limit": 4096, "cwd": "/"}, ["rm", "-rf", "--", workdir])
        return {"diff": "", "overCap": True, "bytes": -1, "skipped": skipped, "oversized": over}
    remaining = max(1.0, timeout - (time.monotonic() - started))
    diff_cmd = ["env", "GIT_DIR={}/git".format(workdir), "GIT_WORK_TREE=/repo", "GIT_INDEX_FILE={}/index".format(workdir),
                "GIT_CONFIG_GLOBAL=/dev/null", "GIT_ATTR_NOSYSTEM=1", "git"] + SAFE_GIT + [
        "diff", "--cached", "--binary", "--no-color", "--no-ext-diff", "--no-textconv", "--src-prefix=a/", "--dst-prefix=b/",
        "--end-of-options", base, "--"] + pathspec
    diff_req = {"user": req["user"], "timeout": remaining, "limit": max_bytes, "cwd": "/repo"}
    try:
        code, out, dropped, timed_out = run_command(diff_req, diff_cmd)
    finally:
        run_command({"user": req["user"], "timeout": 30, "limit": 4096, "cwd": "/"}, ["rm", "-rf", "--", workdir])
    if timed_out or (code != 0 and dropped == 0):
        return {"ok": False, "error": "git diff failed (exit {}{}): {}".format(code, ", timed out" if timed_out else "", out.decode("utf-8", "replace")[-2000:])}
    return {"diff": base64.b64encode(out).decode("ascii") if dropped == 0 else "", "overCap": dropped > 0,
            "bytes": len(out) + dropped, "skipped": skipped}


STAGE_SCRIPT = r"""
set -eu
base="$1"; max_file="$2"; shift 2
work=$(mktemp -d /tmp/.swerl-diff.XXXXXXXX)
cd /repo
real_git=$(git {safe} rev-parse --absolute-git-dir)
if [ -z "$base" ]; then base="${SWERL_BASE_COMMIT:-}"; fi
if [ -z "$base" ]; then base=$(git {safe} rev-parse --verify HEAD^{{commit}}); fi
# A private git dir over the agent's objects: none of its hooks, fsmonitor, filter or diff drivers,
# attributes or index extensions apply; only system config and the overrides here do.
git init -q --bare "$work/git" >/dev/null
echo "$real_git/objects" > "$work/git/objects/info/alternates"
# The repository's own ignore list (patterns only: nothing in it runs).
if [ -f "$real_git/info/exclude" ]; then cat -- "$real_git/info/exclude" > "$work/git/info/exclude"; fi
export GIT_DIR="$work/git" GIT_WORK_TREE=/repo GIT_INDEX_FILE="$work/index" GIT_CONFIG_GLOBAL=/dev/null GIT_ATTR_NOSYSTEM=1
git {safe} rev-parse --verify "$base^{{commit}}" > "$work/base"
git {safe} read-tree "$(cat "$work/base")"
: > "$work/skip"
# Files over the per-file cap: an untracked one stays out of the patch; a tracked one the agent
# changed makes the patch over the cap (hashed without compressing; nothing is staged for it).
find /repo -path /repo/.git -prune -o -type f -size +"$max_file"c -print0 > "$work/big"
while IFS= read -r -d '' p; do
  f="${p#/repo/}"
  printf '%s\0' ":(exclude,literal)$f" >> "$work/skip"
  if git {safe} ls-files --error-unmatch -- ":(literal)$f" >/dev/null 2>&1; then
    if [ "$(git {safe} hash-object --no-filters -- "$f")" != "$(git {safe} rev-parse -q --verify "$(cat "$work/base"):$f" 2>/dev/null)" ]; then
      printf 'swerl-overcap:%s\n' "$f" >> "$work/skipped"
    fi
  else
    printf 'swerl-skipped:%s\n' "$f" >> "$work/skipped"
  fi
done < "$work/big"
printf '%s\n' "$work"
cat "$work/base"
cat "$work/skipped" 2>/dev/null || true
if [ -s "$work/skip" ]; then
  { printf '%s\0' "$@"; cat "$work/skip"; } > "$work/spec"
else
  printf '%s\0' "$@" > "$work/spec"
fi
git {safe} add -A --pathspec-from-file="$work/spec" --pathspec-file-nul >/dev/null
""".replace("{safe}", " ".join(SAFE_GIT)).replace("{{", "{").replace("}}", "}")


# ---------------------------------------------------------------------------- main loop

def handle(req):
    op = req.get("op")
    if op == "exec":
        return op_exec(req)
    if op == "diff":
        return op_diff(req)
    if op == "seq":
        return {"seq": last_seq()}
    if op == "ping":
        return {"pid": os.getpid(), "uid": os.getuid()}
    raise ValueError("unknown op {!r}".format(op))


BASE_ENV = {}
TOOL_NAMES = frozenset()


def main():
    global BASE_ENV, TOOL_NAMES
    BASE_ENV = {k: v for k, v in os.environ.items() if not k.startswith("SWERL_SERVER_")}
    # Preloaded once: a forked child calls the tools without importing anything.
    sys.dont_write_bytecode = True
    from . import cli
    TOOL_NAMES = frozenset(list(cli.TOOLS) + ["_swerl_run"])
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    inp, out = 0, 1
    # Nothing but frames may reach the host on fd 1: anything printed by mistake goes to stderr.
    out = os.dup(1)
    os.dup2(2, 1)
    # Everything loaded so far stays out of the collector: a forked tool child then copies fewer
    # pages on write (the collector would touch every tracked object's header).
    gc.collect()
    gc.freeze()
    write_frame(out, {"id": 0, "ok": True, "ready": True, "pid": os.getpid()})
    while True:
        req = read_frame(inp)
        if req is None:
            return 0  # the host closed the stream (released the sandbox, or its worker died)
        try:
            reply = handle(req)
            reply.setdefault("ok", True)
        except Exception as e:  # a bad request must not take the server down
            reply = {"ok": False, "error": "{}: {}".format(type(e).__name__, e)}
        reply["id"] = req.get("id")
        write_frame(out, reply)


if __name__ == "__main__":
    sys.exit(main())
