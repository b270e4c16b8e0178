"""Serve one policy version with vLLM (or any OpenAI-compatible server command) and move to the
next version by restarting it: the GPU path of swerl's policy serving.

    python -m swerl_trainer.vllm_serve --checkpoints ROOT --checkpoint ID [--port 8000] [--control-port 8100] \\
        [--served-alias swerl-policy] [--serve-cmd TEMPLATE] [--ready-timeout 1800] [-- EXTRA vLLM ARGS]

It runs TEMPLATE (default `vllm serve {path} --served-model-name {id} {alias} --host {host}
--port {port} --seed 0`, so the model is named by its checkpoint id and by the alias, and a
request naming any other version gets vLLM's 404) and waits for `GET /health`. Its control
endpoint speaks the policy server's load API, so the trainer worker's `load_policy` activity
drives it unchanged (`--policy-url http://HOST:CONTROL_PORT`):

    POST /v1/load {"checkpoint": ID}  stop the server (SIGTERM, SIGKILL after --stop-timeout),
                                      start it on ID's directory, answer when /health is 200:
                                      {checkpoint_id, path, restart_seconds}; the same ID again: no-op
    GET  /health                      {status, checkpoint_id, url, pid}

The run config's `policy.url` names the served port (`http://HOST:PORT`), the same setting that
names the local trainer server, so the orchestrator talks to both through one config.

Cost of a version switch = the server's cold start: for vLLM, loading the weights plus CUDA-graph
capture, typically tens of seconds for a 7B model on one GPU and minutes for a 72B one with tensor
parallelism (vLLM's own figures; not measured here: this machine has no GPU). During it the
policy URL refuses connections, which the rollout side retries as SWERL_POLICY_UNAVAILABLE. A
restart is chosen over vLLM's in-place weight update because it needs no vLLM internals and
leaves no doubt which weights are served.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

from . import checkpoint as ckpt
from .errors import CHECKPOINT_NOT_FOUND, POLICY_UNAVAILABLE, TrainerFault
from .server import JsonHandler, RequestError

log = logging.getLogger("swerl_trainer.vllm_serve")
DEFAULT_CMD = "vllm serve {path} --served-model-name {id} {alias} --host {host} --port {port} --seed 0"


class Served:
    """The one serving process and the version it serves; switches are serialized."""

    def __init__(self, root: Path, template: str, extra: list[str], host: str, port: int, alias: str,
                 ready_timeout: float, stop_timeout: float) -> None:
        self.root, self.template, self.extra = root, template, extra
        self.host, self.port, self.alias = host, port, alias
        self.ready_timeout, self.stop_timeout = ready_timeout, stop_timeout
        self.proc: subprocess.Popen[bytes] | None = None
        self.checkpoint_id: str | None = None
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def command(self, cid: str, path: Path) -> list[str]:
        fields = {"path": str(path), "id": cid, "alias": self.alias, "host": self.host, "port": str(self.port), "root": str(self.root)}
        return [part.format(**fields) for part in shlex.split(self.template)] + self.extra

    def load(self, ref: str) -> dict[str, Any]:
        cid, path = ckpt.resolve(self.root, ref)
        if not ckpt.exists(path):
            raise TrainerFault(CHECKPOINT_NOT_FOUND, f"checkpoint {ref!r} not found at {path}", {"checkpoint": ref})
        with self._lock:
            if cid == self.checkpoint_id and self.proc is not None and self.proc.poll() is None:
                return {"checkpoint_id": cid, "path": str(path), "restart_seconds": 0.0}
            started = time.monotonic()
            self.stop()
            cmd = self.command(cid, path)
            log.info("starting %s", shlex.join(cmd))
            # Its output goes to our stderr: our stdout carries only our own JSON events.
            self.proc = subprocess.Popen(cmd, start_new_session=True, stdout=sys.stderr)
            self.checkpoint_id = cid
            self._wait_ready()
            return {"checkpoint_id": cid, "path": str(path), "restart_seconds": time.monotonic() - started}

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.ready_timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise TrainerFault(POLICY_UNAVAILABLE, f"serving process exited with {self.proc.returncode} before it was ready")
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=5) as r:
                    if r.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.5)
        raise TrainerFault(POLICY_UNAVAILABLE, f"serving process not ready at {self.url} after {self.ready_timeout:.0f} s")

    def stop(self) -> None:
        """SIGTERM the serving process group, SIGKILL it after stop_timeout; waits for its exit."""
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        for sig, wait in ((signal.SIGTERM, self.stop_timeout), (signal.SIGKILL, 30.0)):
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                return
            try:
                proc.wait(timeout=wait)
                return
            except subprocess.TimeoutExpired:
                continue


def make_control(served: Served, host: str, port: int) -> ThreadingHTTPServer:
    class Handler(JsonHandler):
        def do_GET(self) -> None:
            if self.path == "/health":
                proc = served.proc
                alive = proc is not None and proc.poll() is None
                self._send(200 if alive else 503, {"status": "ok" if alive else "down", "checkpoint_id": served.checkpoint_id,
                                                   "url": served.url, "pid": proc.pid if proc else None})
            else:
                self._send(404, RequestError(404, f"no route GET {self.path}", kind="not_found_error").body())

        def do_POST(self) -> None:
            try:
                if self.path != "/v1/load":
                    raise RequestError(404, f"no route POST {self.path}", kind="not_found_error")
                ref = self._body().get("checkpoint")
                if not isinstance(ref, str):
                    raise RequestError(400, "checkpoint must be a string", param="checkpoint")
                self._send(200, served.load(ref))
            except RequestError as e:
                self._send(e.status, e.body())
            except TrainerFault as e:
                status = 404 if e.code == CHECKPOINT_NOT_FOUND else 503
                self._send(status, RequestError(status, str(e), code=e.code, kind="swerl_error").body())

    srv = ThreadingHTTPServer((host, port), Handler)
    srv.daemon_threads = True
    return srv


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="swerl_trainer.vllm_serve", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoints", required=True)
    p.add_argument("--checkpoint", required=True, help="first version to serve (id under --checkpoints)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000, help="the served OpenAI API (the run config's policy.url)")
    p.add_argument("--control-port", type=int, default=8100, help="POST /v1/load (the trainer worker's --policy-url)")
    p.add_argument("--served-alias", default="swerl-policy", help="second model name of the served version (the run config's policy.model)")
    p.add_argument("--serve-cmd", default=DEFAULT_CMD, help="command template: {path} {id} {alias} {host} {port} {root}")
    p.add_argument("--ready-timeout", type=float, default=1800.0)
    p.add_argument("--stop-timeout", type=float, default=60.0)
    p.add_argument("extra", nargs="*", help="after --: appended to the serve command (e.g. --tensor-parallel-size 8)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    root = Path(args.checkpoints).resolve()
    served = Served(root, args.serve_cmd, args.extra, args.host, args.port, args.served_alias, args.ready_timeout, args.stop_timeout)
    control = make_control(served, args.host, args.control_port)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    serving = threading.Thread(target=control.serve_forever, daemon=True)
    try:
        first = served.load(args.checkpoint)
        serving.start()
        print(json.dumps({"event": "policy_serving_ready", "url": served.url, "control_url": f"http://{args.host}:{control.server_address[1]}",
                          **first}), flush=True)
        stop.wait()
    finally:
        if serving.is_alive():
            control.shutdown()
        control.server_close()
        served.stop()


if __name__ == "__main__":
    main()
