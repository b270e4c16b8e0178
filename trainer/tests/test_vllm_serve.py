"""The scripted vLLM path (vllm_serve.py) with the policy server in --exclusive mode standing in for
vLLM (no GPU here): one version served under its checkpoint id and the alias, other versions refused,
a switch = a real restart of the serving process, driven through the load API the worker uses."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

from conftest import BASE_ID, http_json, step_input
from swerl_trainer.steps import run_step

TRAINER = Path(__file__).resolve().parent.parent
MESSAGES = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "fix it"}]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped by its parent) is not serving either.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def test_one_version_served_and_a_switch_is_a_restart(root: Path):
    nxt = run_step(root, "sft", step_input())["checkpoint_id"]
    port = _free_port()
    cmd = (f"{sys.executable} -m swerl_trainer.server --checkpoints {{root}} --checkpoint {{id}} --served-model-name {{alias}} "
           "--exclusive --host {host} --port {port} --threads 1")
    launcher = subprocess.Popen(
        [sys.executable, "-m", "swerl_trainer.vllm_serve", "--checkpoints", str(root), "--checkpoint", BASE_ID,
         "--port", str(port), "--control-port", "0", "--serve-cmd", cmd, "--ready-timeout", "600"],
        cwd=TRAINER, stdout=subprocess.PIPE, text=True,
    )
    try:
        ready = json.loads(launcher.stdout.readline())
        assert ready["event"] == "policy_serving_ready" and ready["checkpoint_id"] == BASE_ID
        url, control = ready["url"], ready["control_url"]
        chat = url + "/v1/chat/completions"
        assert http_json(chat, {"model": BASE_ID, "messages": MESSAGES, "max_tokens": 2})[1]["model"] == BASE_ID
        assert http_json(chat, {"model": "swerl-policy", "messages": MESSAGES, "max_tokens": 2})[1]["model"] == BASE_ID
        status, body = http_json(chat, {"model": nxt, "messages": MESSAGES, "max_tokens": 2})
        assert status == 404 and body["error"]["code"] == "model_not_found"
        first_pid = http_json(control + "/health")[1]["pid"]

        status, body = http_json(control + "/v1/load", {"checkpoint": nxt})
        assert status == 200 and body["checkpoint_id"] == nxt and body["restart_seconds"] > 0
        health = http_json(control + "/health")[1]
        assert health["checkpoint_id"] == nxt and health["pid"] != first_pid and not _alive(first_pid)
        status, body = http_json(chat, {"model": BASE_ID, "messages": MESSAGES, "max_tokens": 2})
        assert status == 404 and body["error"]["code"] == "model_not_found"
        assert http_json(chat, {"model": nxt, "messages": MESSAGES, "max_tokens": 2})[1]["model"] == nxt
        assert http_json(chat, {"model": "swerl-policy", "messages": MESSAGES, "max_tokens": 2})[1]["model"] == nxt

        # The same version again is no restart; an unknown one is refused and changes nothing.
        status, body = http_json(control + "/v1/load", {"checkpoint": nxt})
        assert status == 200 and body["restart_seconds"] == 0.0 and http_json(control + "/health")[1]["pid"] == health["pid"]
        status, body = http_json(control + "/v1/load", {"checkpoint": "no/such/version"})
        assert status == 404 and body["error"]["code"] == "SWERL_CHECKPOINT_NOT_FOUND"
        assert http_json(control + "/health")[1]["pid"] == health["pid"]
    finally:
        launcher.send_signal(signal.SIGTERM)
        try:
            launcher.wait(timeout=120)
        finally:
            if launcher.poll() is None:
                launcher.kill()
                launcher.wait()
            launcher.stdout.close()
    assert launcher.returncode == 0
    assert not _alive(health["pid"])
