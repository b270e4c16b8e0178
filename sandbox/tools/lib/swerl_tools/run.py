"""_swerl_run: run the agent's shell command (read from stdin) in bash from the saved directory, with a
timeout and an output cap, then save the directory it ended in. Only the directory carries over
between turns; each command gets a fresh shell."""
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from . import state as st

NO_OUTPUT = "Your command ran successfully and did not produce any output."


def parse_flags(args, env=None):
    env = os.environ if env is None else env
    timeout = int(env.get("SWERL_TIMEOUT_SEC", "120") or 120)
    limit = int(env.get("SWERL_OUTPUT_LIMIT", "65536") or 65536)
    i = 0
    while i < len(args):
        if args[i] == "--timeout" and i + 1 < len(args):
            timeout = int(args[i + 1])
        elif args[i] == "--limit" and i + 1 < len(args):
            limit = int(args[i + 1])
        else:
            raise ValueError("unknown argument {!r}".format(args[i]))
        i += 2
    return max(1, timeout), max(64, limit)


def read_capped(path, limit):
    """The output, or its head and tail around an omission note: a traceback or a test summary is
    usually at the end."""
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        if size <= limit:
            return f.read()
        half = limit // 2
        head = f.read(half)
        f.seek(size - half)
        tail = f.read(half)
    return capped(head, tail, size, limit)


def capped(head, tail, size, limit):
    """What read_capped returns for an output of `size` bytes over `limit`, from its first and last
    limit // 2 bytes (the tool server keeps those of a stream)."""
    half = limit // 2
    note = "\n[... {} bytes of output omitted; {} bytes in total ...]\n".format(size - 2 * half, size)
    return head[:half] + note.encode() + tail[max(0, len(tail) - half):]


def observation(data, status, timed_out, timeout):
    """The text of a finished command: its output and, when it said nothing, or was killed, why."""
    text = data.decode("utf-8", "surrogateescape")
    if timed_out:
        text += ("" if not text or text.endswith("\n") else "\n") + \
            "[Command timed out after {} seconds and was killed.]\n".format(timeout)
    elif not text:
        text = NO_OUTPUT if status == 0 else "Your command produced no output and exited with status {}.".format(status)
    return text


def run(state, args):
    timeout, limit = parse_flags(args)
    command = sys.stdin.buffer.read()
    tmp = tempfile.mkdtemp(prefix="swerl_run.")
    out_path = os.path.join(tmp, "out")
    cwd_path = os.path.join(tmp, "cwd")
    script_path = os.path.join(tmp, "cmd.sh")
    # The EXIT trap records the final directory even when the command calls `exit`. The command is
    # read from a file so its size is not bound by the kernel's argument limit, and eval'd (not
    # sourced) so bash's messages read "bash: ..." rather than naming our temporary file.
    with open(script_path, "wb") as f:
        f.write(command)
    prelude = "trap 'pwd > {cwd}' EXIT; eval \"$(< {script})\"".format(
        cwd=sh_quote(cwd_path), script=sh_quote(script_path))
    # nested tools must find the same state file even if the command changes HOME
    env = dict(os.environ, SWERL_IN_RUN="1", SWERL_STATE_FILE=st.STATE_FILE)
    env.setdefault("PAGER", "cat")
    env.setdefault("GIT_PAGER", "cat")
    timed_out = False
    with open(out_path, "wb") as out:
        # Output goes to a file, not a pipe: a background job that keeps the descriptor open must not
        # hold the turn hostage.
        proc = subprocess.Popen(["bash", "-c", prelude, "bash"], cwd=state["cwd"], stdin=subprocess.DEVNULL,
                                stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        status = wait_exit(proc, timeout)
        if status is None:
            timed_out = True
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except OSError:
                pass
            status = proc.wait()
    data = read_capped(out_path, limit)
    fresh = st.load()  # nested tools (open, edit, ...) may have changed the open file meanwhile
    try:
        with open(cwd_path, "r", encoding="utf-8", errors="surrogateescape") as f:
            cwd = f.read().rstrip("\n")
        if cwd and cwd != fresh["cwd"]:
            # Written only when the directory moved: nested tools saved their own changes already.
            fresh["cwd"] = cwd
            st.save(fresh)
    except OSError:
        pass  # killed before the trap ran: the directory stays what it was
    shutil.rmtree(tmp, ignore_errors=True)
    return observation(data, status, timed_out, timeout), (124 if timed_out else status), fresh


def wait_exit(proc, timeout):
    """The command's exit status, or None when it is still running after `timeout` seconds. Waits on
    a pidfd (woken by the exit itself), not Popen.wait's sleep-and-poll loop."""
    try:
        pidfd = os.pidfd_open(proc.pid)
    except (AttributeError, OSError):  # Python < 3.9 or a kernel without pidfds
        try:
            return proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
    try:
        deadline = time.monotonic() + timeout
        poller = select.poll()
        poller.register(pidfd, select.POLLIN)
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            if poller.poll(max(1, int(remaining * 1000))):
                return proc.wait()
    finally:
        os.close(pidfd)


def sh_quote(s):
    return "'" + s.replace("'", "'\\''") + "'"
