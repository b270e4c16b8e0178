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
by calling the tool's Python function directly: no shell and no new interpreter per call. A rendered
`_swerl_run` (the agent's shell action) has no Python child at all: the server keeps its state file
with the agent's file rights (setfsuid) and starts bash from subprocess's C child (shell_action).

Requests: {"id", "op": "exec", "cmd", "user", "cwd"?, "stdin"? (base64), "timeout", "limit"}
          {"id", "op": "diff", "user", "base"?, "exclude": [...], "maxBytes", "maxFileBytes", "timeout"}
          {"id", "op": "ping"}
Replies:  {"id", "ok": true, ...} or {"id", "ok": false, "error"}.
"""
import base64
import fcntl
import gc
import grp
import json
import os
import pwd
import re
import select
import shlex
import signal
import stat as stat_mod
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


def _libc():
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        return libc if hasattr(libc, "setfsuid") and hasattr(libc, "setfsgid") else None
    except (ImportError, OSError):
        return None


LIBC = _libc()

# rt_sigaction by number: glibc's sigaction refuses the two signals it reserves (32 and 33).
RT_SIGACTION = {"x86_64": 13, "aarch64": 134}


def reset_inherited_signals():
    """Sets every signal the server inherited as ignored back to its default action, so a command
    starts with none ignored whatever started the server: an ignored signal survives fork and exec,
    and dockerd hands the one it inherited to every process it execs in a container (a CI runner
    that ignores signal 32 made every agent command ignore it). Returns the signals reset."""
    reset = []
    for sig in sorted(signal.valid_signals()):
        # Python ignores SIGPIPE and SIGXFSZ itself; subprocess's restore_signals resets both in a child.
        if sig in (signal.SIGKILL, signal.SIGSTOP, signal.SIGPIPE, signal.SIGXFSZ):
            continue
        try:
            if signal.getsignal(sig) == signal.SIG_IGN:
                signal.signal(sig, signal.SIG_DFL)
                reset.append(int(sig))
        except (OSError, ValueError, RuntimeError):
            pass
    nr = RT_SIGACTION.get(os.uname().machine)
    if LIBC is None or nr is None:
        return reset
    import ctypes

    class KSigaction(ctypes.Structure):  # the kernel's struct: handler, flags, restorer, mask
        _fields_ = [("handler", ctypes.c_ulong), ("flags", ctypes.c_ulong), ("restorer", ctypes.c_ulong), ("mask", ctypes.c_ulong)]

    for sig in (32, 33):
        old = KSigaction()
        if LIBC.syscall(ctypes.c_long(nr), ctypes.c_long(sig), None, ctypes.byref(old), ctypes.c_ulong(8)) != 0:
            continue
        if old.handler == 1:  # SIG_IGN
            if LIBC.syscall(ctypes.c_long(nr), ctypes.c_long(sig), ctypes.byref(KSigaction()), None, ctypes.c_ulong(8)) == 0:
                reset.append(sig)
    return reset


class AgentFs:
    """File access as the agent (setfsuid/setfsgid: the server keeps its uid, and has no DAC
    capability anyway): the state file is read and written, and a command's directory entered, with
    exactly the agent's rights. Single-threaded server: nothing else runs meanwhile."""

    def __init__(self, uid, gid):
        self.uid, self.gid = uid, gid

    def __enter__(self):
        LIBC.setfsgid(self.gid)
        LIBC.setfsuid(self.uid)
        if LIBC.setfsuid(self.uid) != self.uid or LIBC.setfsgid(self.gid) != self.gid:
            self.__exit__()
            raise OSError("setfsuid/setfsgid to {}:{} failed".format(self.uid, self.gid))
        return self

    def __exit__(self, *exc):
        LIBC.setfsuid(0)
        LIBC.setfsgid(0)
        return False


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


def spawn_exec(req, uid, gid, home, out_w, stdin_fd, argv, launch=None):
    """Starts a shell command (or argv, or a prepared `launch`: argv, env, cwd, pass_fds) as the
    sandbox user without a Python child; returns (pid, Popen) or (None, error text)."""
    if launch is not None:
        args, executable, env, cwd, pass_fds = launch["argv"], "/bin/bash", launch["env"], launch["cwd"], launch["pass_fds"]
    else:
        cwd = req.get("cwd") or "/repo"
        env = child_env(home, pwd.getpwuid(uid).pw_name if has_pw(uid) else "")
        args, executable = (argv, None) if argv is not None else (["bash", "-c", req["cmd"]], "/bin/bash")
        pass_fds = ()
    try:
        # The child enters the directory before it drops to the user: with the agent's file rights
        # (inherited fsuid) where the server can set them, so it enters exactly what the agent may.
        with AgentFs(uid, gid) if LIBC is not None else NoFs():
            if launch is None and not (os.path.isdir(cwd) and enterable(cwd, uid, gid)):
                cwd = "/"
            proc = subprocess.Popen(
                args, executable=executable, stdin=stdin_fd, stdout=out_w, stderr=out_w, close_fds=True, cwd=cwd, env=env,
                start_new_session=True, restore_signals=True, user=uid, group=gid, extra_groups=[], pass_fds=pass_fds,
            )
    except (OSError, subprocess.SubprocessError) as e:
        return None, "swerl tool server: cannot start {!r}: {}\n".format(args[0], e)
    return proc.pid, proc


class NoFs:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def spawn(req, uid, gid, home, out_w, stdin_fd, argv=None, launch=None):
    """Starts the command's process; returns (pid, Popen or None), or (None, error text). A shell
    command runs via spawn_exec; a rendered tool command in a forked server, which never returns."""
    if launch is not None:
        return spawn_exec(req, uid, gid, home, out_w, stdin_fd, None, launch)
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


class Capture:
    """The first `head` bytes of a stream, and its last `tail` bytes after those, and its size."""

    def __init__(self, head, tail=0):
        self.head_max, self.tail_max = head, tail
        self.head, self.tail, self.total = bytearray(), bytearray(), 0

    def feed(self, chunk):
        self.total += len(chunk)
        room = self.head_max - len(self.head)
        if room > 0:
            self.head += chunk[:room]
            chunk = chunk[room:]
        if self.tail_max and chunk:
            self.tail += chunk
            if len(self.tail) > self.tail_max:
                del self.tail[:len(self.tail) - self.tail_max]

    @property
    def dropped(self):
        return self.total - len(self.head)


def run_command(req, argv=None):
    """Runs one command to completion; returns (exit code, kept bytes, dropped count, timed out)."""
    status, cap, timed_out = run_process(req, argv)
    if isinstance(status, str):
        return 126, status.encode("utf-8", "replace")[:int(req["limit"])], 0, False
    return exit_code(status), bytes(cap.head), cap.dropped, timed_out


def exit_code(status):
    return 128 + os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)


def run_process(req, argv=None, launch=None, tail=0):
    """Runs one command to completion; returns (wait status, Capture of its output, timed out), or
    (error text, None, False) when it could not start."""
    uid, gid, home = resolve_user(req["user"])
    timeout = float(req["timeout"])
    limit = int(req["limit"])
    if timeout <= 0 or limit <= 0:
        raise ValueError("timeout and limit must be > 0")
    stdin_data = base64.b64decode(req["stdin"]) if req.get("stdin") else b""
    out_r, out_w = os.pipe()
    stdin_fd = stdin_fd_for(stdin_data)
    try:
        pid, proc = spawn(req, uid, gid, home, out_w, stdin_fd, argv, launch)
    except BaseException:
        os.close(out_r)
        raise
    finally:
        os.close(out_w)
        os.close(stdin_fd)
    if pid is None:
        os.close(out_r)
        return proc, None, False
    cap = Capture(limit, tail)
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
                    cap.feed(chunk)
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
            cap.feed(chunk)
    finally:
        os.close(out_r)
        if pidfd is not None:
            os.close(pidfd)
    if proc is not None:
        # Reaped here: the Popen must not wait on (or, by a reused pid, reap) anything later.
        proc.returncode = exit_code(status)
    return status, cap, timed_out


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
    tool = parse_tool_command(req["cmd"]) if EXEC_IN_C else None
    shell = shell_action(req, tool[1], tool[2] or b"") if tool is not None and tool[0] == "_swerl_run" else None
    code, kept, dropped, timed_out = shell if shell is not None else run_command(req)
    return {"exitCode": code, "output": base64.b64encode(kept).decode("ascii"), "dropped": dropped, "timedOut": timed_out}


# ---------------------------------------------------------------------------- a shell action

# The agent's command read from an inherited descriptor (no temporary file, no size limit of argv or
# the environment) and eval'd like `_swerl_run` does; the EXIT trap reports the final directory on a
# pipe. The script's descriptor is closed before the command runs; the pipe's sits high (>= 90).
RUN_PRELUDE = ("trap 'pwd >&{cwd}' EXIT; IFS= read -r -d '' -u {script} __swerl_cmd; exec {script}<&-; "
               'eval "unset __swerl_cmd; $__swerl_cmd"')
CWD_FD_MIN = 90
STATE_MAX = 1 << 20


def agent_may_write(path, uid, gid):
    try:
        st = os.stat(path)
    except OSError:
        return False
    bit = 0o200 if st.st_uid == uid else 0o020 if st.st_gid == gid else 0o002
    return bool(st.st_mode & bit)


def state_path_of(env, uid, gid):
    """Where the agent's tools keep their state (state._state_file, as the agent would choose it)."""
    if env.get("SWERL_STATE_FILE"):
        return env["SWERL_STATE_FILE"]
    home = env.get("HOME") or ""
    if home and home != "/" and os.path.isdir(home) and agent_may_write(home, uid, gid):
        return os.path.join(home, ".swerl_state.json")
    return "/tmp/.swerl_state.json"


def read_state(path, uid, default_cwd):
    """state.load, with the agent's file rights (AgentFs): only a regular file of the agent's, never through a symlink."""
    state = {"open_file": None, "first_line": 1, "cwd": None, "base_commit": None}
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        try:
            st = os.fstat(fd)
            if stat_mod.S_ISREG(st.st_mode) and st.st_uid == uid and st.st_size <= STATE_MAX:
                saved = json.loads(os.read(fd, STATE_MAX + 1).decode("utf-8"))
                if isinstance(saved, dict):
                    state.update({k: saved[k] for k in state if k in saved})
        finally:
            os.close(fd)
    except (OSError, ValueError):
        pass  # first call of the episode, or a state file the agent clobbered: start fresh
    if not isinstance(state["cwd"], str) or not state["cwd"]:
        state["cwd"] = default_cwd
    if not isinstance(state["first_line"], int) or state["first_line"] < 1:
        state["first_line"] = 1
    return state


def write_state(path, state, uid, gid):
    """state.save, with the agent's file rights (AgentFs): a new file, renamed over the old entry
    (never written through whatever the agent put at `path`). Best effort: a full disk keeps the old state."""
    tmp = os.path.join(os.path.dirname(path) or "/", ".swerl_state.{}".format(os.urandom(6).hex()))
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except OSError:
        return
    try:
        data = json.dumps(state).encode("utf-8", "surrogateescape")
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.close(fd)
        fd = None
        os.rename(tmp, path)
    except OSError:
        if fd is not None:
            os.close(fd)
        try:
            os.unlink(tmp)
        except OSError:
            pass


def head_commit(req, repo):
    code, out, _, _ = run_command({"user": req["user"], "timeout": 30, "limit": 4096, "cwd": "/"},
                                  ["sh", "-c", 'exec git -c safe.directory=* -C "$0" rev-parse HEAD 2>/dev/null', repo])
    return out.decode("utf-8", "replace").strip() if code == 0 else ""


def shell_action(req, args, command):
    """A rendered `_swerl_run` (the agent's shell command) run by the server itself: the same
    observation, exit status and state file as the executable's (run.py), without a forked Python
    child: the state is read and written here, bash is started by subprocess's C child. Returns what
    run_command returns, or None to leave the command to the forked tool (flags it does not know)."""
    from . import run as run_tool
    from . import state as st
    if LIBC is None:
        return None
    uid, gid, home = resolve_user(req["user"])
    env = child_env(home, pwd.getpwuid(uid).pw_name if has_pw(uid) else "")
    try:
        inner_timeout, inner_limit = run_tool.parse_flags(args, env)
    except ValueError:
        return None
    repo = env.get("SWERL_REPO", "/repo")
    default_cwd = repo if os.path.isdir(repo) else (env.get("HOME") or "/")
    with AgentFs(uid, gid):
        path = state_path_of(env, uid, gid)
        state = read_state(path, uid, default_cwd)
    dirty = False
    if state["base_commit"] is None:
        state["base_commit"] = head_commit(req, repo)
        dirty = True
    with AgentFs(uid, gid):
        if not (os.path.isdir(state["cwd"]) and enterable(state["cwd"], uid, gid)):
            state["cwd"] = default_cwd
            dirty = True
        if dirty:
            write_state(path, state, uid, gid)
    run_env = dict(env, SWERL_IN_RUN="1", SWERL_STATE_FILE=path)
    run_env.setdefault("PAGER", "cat")
    run_env.setdefault("GIT_PAGER", "cat")
    script_fd = stdin_fd_for(command)
    pipe_r, pipe_w = os.pipe()
    cwd_w = fcntl.fcntl(pipe_w, fcntl.F_DUPFD_CLOEXEC, CWD_FD_MIN)
    os.close(pipe_w)
    os.set_blocking(pipe_r, False)
    outer_timeout = float(req["timeout"])
    launch = {"argv": ["bash", "-c", RUN_PRELUDE.format(cwd=cwd_w, script=script_fd), "bash"], "env": run_env,
              "cwd": state["cwd"], "pass_fds": (script_fd, cwd_w)}
    half = inner_limit // 2
    try:
        status, cap, timed_out = run_process(
            {"user": req["user"], "timeout": min(inner_timeout, outer_timeout), "limit": inner_limit},
            launch=launch, tail=half)
        # Everything of the agent's is gone (swept): what the trap wrote is in the pipe.
        reported = b""
        while True:
            try:
                chunk = os.read(pipe_r, READ_CHUNK)
            except BlockingIOError:
                break
            if not chunk:
                break
            reported += chunk
    finally:
        os.close(script_fd)
        os.close(cwd_w)
        os.close(pipe_r)
    if isinstance(status, str):
        return 126, status.encode("utf-8", "replace")[:int(req["limit"])], 0, False
    # Popen's return code, as the executable reported it: negative for a signal.
    py_status = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
    if cap.total <= inner_limit:
        data = bytes(cap.head)
    else:
        data = run_tool.capped(bytes(cap.head), (bytes(cap.head) + bytes(cap.tail))[-half:] if half else b"", cap.total, inner_limit)
    lines = reported.decode("utf-8", "surrogateescape").rstrip("\n").split("\n")
    cwd = lines[-1] if lines else ""
    with AgentFs(uid, gid):
        fresh = read_state(path, uid, default_cwd)  # nested tools (open, edit, ...) may have changed it meanwhile
        if cwd and cwd != fresh["cwd"]:
            fresh["cwd"] = cwd
            write_state(path, fresh, uid, gid)
    text = run_tool.observation(data, py_status, timed_out, inner_timeout)
    if text and not text.endswith("\n"):
        text += "\n"
    text += st.prompt_line(fresh)
    out = text.encode("utf-8", "surrogateescape")
    limit = int(req["limit"])
    code = (124 if timed_out else py_status) & 0xFF
    return code, out[:limit], max(0, len(out) - limit), timed_out and outer_timeout <= inner_timeout


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
    if not workdir.startswith(("/tmp/.swerl-diff.", "/run/swerl-diff/.swerl-diff.")) or not re.match(r"^[0-9a-f]{40,64}$", base):
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
# Staged in the sandbox's own diff mount (activities/sandbox/writable.ts), emptied first: an agent
# that filled /tmp, or this mount, cannot make the diff fail. /tmp in a sandbox without one.
root=/tmp
if [ -d /run/swerl-diff ] && [ -w /run/swerl-diff ]; then
  root=/run/swerl-diff
  chmod -R u+rwX -- "$root" 2>/dev/null || true
  find "$root" -mindepth 1 -delete 2>/dev/null || true
fi
work=$(mktemp -d "$root/.swerl-diff.XXXXXXXX")
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
    reset_inherited_signals()
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
