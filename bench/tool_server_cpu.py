#!/usr/bin/env python3
"""What one command costs the sandbox in CPU: the tool server (sandbox/tools/lib/swerl_tools/server.py)
runs `--cmd` (default `true`, i.e. `bash -c true`) N times in a throwaway container limited to
`--cpus` (default 0.5, the sandbox default), and this prints, per command:

  command_ms    CPU of the command's processes: the server's reaped children (cutime + cstime of its
                /proc stat), i.e. whatever runs between the server's fork and the command's exit;
  server_ms     CPU of the server process itself (utime + stime);
  container_ms  the container cgroup's usage (cpu.stat), which also holds the stat reads of this bench;
  wall_p50_ms   the request's round trip as this process sees it.

Each of `--rounds` rounds gives one figure, so a range shows the noise. `--lib DIR` runs another
copy of the tools library (e.g. an older commit's, from `git archive`), to compare two versions on
the same image and machine:

  python3 bench/tool_server_cpu.py                       # this checkout's server
  mkdir -p /tmp/old && git archive main sandbox/tools/lib | tar -x -C /tmp/old
  python3 bench/tool_server_cpu.py --lib /tmp/old/sandbox/tools/lib

Needs the docker CLI and a swerl-base image (`--image`, default the newest swerl-base:*). The
container carries the label swerl.bench=tool-server-cpu and is removed at the end.
"""
import argparse
import json
import os
import statistics
import struct
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_LIB = os.path.join(HERE, "..", "sandbox", "tools", "lib")
LIB_IN_CONTAINER = "/opt/swerl-bench/lib"
TICK_MS = 1000.0 / os.sysconf("SC_CLK_TCK")


def docker(*args, check=True):
    return subprocess.run(["docker", *args], check=check, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True).stdout


def newest_base_image():
    lines = docker("images", "swerl-base", "--format", "{{.Repository}}:{{.Tag}}").split()
    if not lines:
        sys.exit("no swerl-base image: build one first (e.g. `npx tsx cli/main.ts dev up` and any sandbox test), or pass --image")
    return lines[0]


class Server:
    def __init__(self, container):
        code = ("import sys; sys.dont_write_bytecode = True; sys.path.insert(0, {!r}); "
                "from swerl_tools.server import main; sys.exit(main())").format(LIB_IN_CONTAINER)
        self.proc = subprocess.Popen(["docker", "exec", "-i", "-u", "0:0", "-w", "/", container, "python3", "-c", code],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self.next_id = 1
        ready = self.read()
        if not ready.get("ready"):
            raise RuntimeError("the tool server did not start: {!r}".format(ready))
        self.pid = ready["pid"]

    def read(self):
        head = self.proc.stdout.read(4)
        if len(head) < 4:
            raise RuntimeError("the tool server closed its stream")
        (n,) = struct.unpack(">I", head)
        return json.loads(self.proc.stdout.read(n).decode("utf-8"))

    def request(self, req):
        req = dict(req, id=self.next_id)
        self.next_id += 1
        body = json.dumps(req).encode("utf-8")
        self.proc.stdin.write(struct.pack(">I", len(body)) + body)
        self.proc.stdin.flush()
        reply = self.read()
        if not reply.get("ok"):
            raise RuntimeError("request failed: {!r}".format(reply))
        return reply

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


def server_ticks(container, pid):
    """(own, reaped children) CPU ticks of the server, read from outside it."""
    fields = docker("exec", container, "cat", "/proc/{}/stat".format(pid)).rsplit(")", 1)[1].split()
    # fields[0] is field 3 (state): utime, stime, cutime, cstime are fields 14-17.
    return int(fields[11]) + int(fields[12]), int(fields[13]) + int(fields[14])


def container_usec(container):
    """The container's CPU from its own cgroup (cgroup v2 cpu.stat, or v1 cpuacct.usage in ns)."""
    text = docker("exec", container, "sh", "-c", "cat /sys/fs/cgroup/cpu.stat 2>/dev/null || cat /sys/fs/cgroup/cpuacct/cpuacct.usage")
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        if key == "usage_usec":
            return int(value)
    return int(text.strip()) / 1000


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--image")
    ap.add_argument("--lib", default=DEFAULT_LIB)
    ap.add_argument("--cmd", default="true")
    ap.add_argument("--cpus", default="0.5")
    ap.add_argument("--n", type=int, default=300, help="commands per round")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    image = args.image or newest_base_image()
    container = docker("run", "-d", "--rm", "--init", "--cpus", args.cpus, "--network", "none", "--label", "swerl.bench=tool-server-cpu",
                       image, "sleep", "infinity").strip()
    try:
        docker("exec", "-u", "0:0", container, "mkdir", "-p", os.path.dirname(LIB_IN_CONTAINER))
        docker("cp", os.path.abspath(args.lib), "{}:{}".format(container, LIB_IN_CONTAINER))
        server = Server(container)
        req = {"op": "exec", "cmd": args.cmd, "user": "1000:1000", "cwd": "/repo", "timeout": 60, "limit": 65536}
        for _ in range(20):  # warm up: page cache, the server's first allocations
            server.request(req)
        rounds = []
        for _ in range(args.rounds):
            own0, kids0 = server_ticks(container, server.pid)
            usec0 = container_usec(container)
            walls = []
            for _ in range(args.n):
                t0 = time.perf_counter()
                reply = server.request(req)
                walls.append((time.perf_counter() - t0) * 1000)
                if reply["exitCode"] != 0:
                    raise RuntimeError("{!r} exited {}".format(args.cmd, reply["exitCode"]))
            own1, kids1 = server_ticks(container, server.pid)
            usec1 = container_usec(container)
            rounds.append({
                "command_ms": round((kids1 - kids0) * TICK_MS / args.n, 2),
                "server_ms": round((own1 - own0) * TICK_MS / args.n, 2),
                "container_ms": round((usec1 - usec0) / 1000 / args.n, 2),
                "wall_p50_ms": round(statistics.median(walls), 2),
            })
        server.close()
    finally:
        docker("rm", "-f", container, check=False)
    report = {
        "command": " ".join([os.path.relpath(__file__)] + sys.argv[1:]),
        "image": image, "lib": os.path.abspath(args.lib), "cmd": args.cmd, "cpus": args.cpus, "n": args.n,
        "loadavg": [round(x, 2) for x in os.getloadavg()], "rounds": rounds,
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
