"""The worker entry point against a real Temporal dev server (started here on free ports)."""
from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from temporalio.client import Client, WorkflowFailureError
from temporalio.exceptions import ActivityError, ApplicationError, CancelledError
from temporalio.worker import Worker

from call_activity_workflow import CallActivity
from conftest import BASE_ID, step_input, trajectory
from swerl_trainer.ledger import Ledger

TRAINER_DIR = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.skipif(shutil.which("temporal") is None, reason="the temporal CLI is not installed")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def temporal():
    port = _free_port()
    proc = subprocess.Popen(
        ["temporal", "server", "start-dev", "--ip", "127.0.0.1", "--port", str(port), "--headless",
         "--http-port", str(_free_port()), "--metrics-port", str(_free_port()), "--log-level", "error"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    address = f"127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            asyncio.run(Client.connect(address))
            break
        except RuntimeError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise
            time.sleep(0.5)
    yield address
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(timeout=30)


def _start_worker(address: str, root: Path, queue: str) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-m", "swerl_trainer.worker", "--address", address, "--task-queue", queue,
         "--checkpoints", str(root), "--init-base", BASE_ID, "--preset", "test", "--threads", "2"],
        cwd=TRAINER_DIR, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    line = proc.stdout.readline()
    assert json.loads(line)["event"] == "worker_ready", line
    return proc


@pytest.fixture(scope="module")
def trainer(temporal, tmp_path_factory):
    root = tmp_path_factory.mktemp("checkpoints")
    queue = f"trainer-test-{uuid.uuid4().hex[:8]}"
    proc = _start_worker(temporal, root, queue)
    yield temporal, root, queue
    proc.terminate()
    proc.wait(timeout=30)


async def _call(address: str, queue: str, activity: str, inp, **opts):
    client = await Client.connect(address)
    wf_queue = f"wf-{queue}"
    async with Worker(client, task_queue=wf_queue, workflows=[CallActivity]):
        return await client.execute_workflow(
            CallActivity.run,
            {"activity": activity, "input": inp, "task_queue": queue, **opts},
            id=f"call-{uuid.uuid4().hex}", task_queue=wf_queue,
        )


def test_sft_step_through_temporal_is_exactly_once(trainer):
    address, root, queue = trainer
    first = asyncio.run(_call(address, queue, "sft_step", step_input()))
    assert first["checkpoint_id"] == "run-1/rft/i0000-s0000" and first["metrics"]["tokens"] > 0
    mtime = (root / first["checkpoint_id"] / "model.safetensors").stat().st_mtime_ns
    again = asyncio.run(_call(address, queue, "sft_step", step_input()))
    assert again == first
    assert (root / first["checkpoint_id"] / "model.safetensors").stat().st_mtime_ns == mtime
    rows = asyncio.run(_call(address, queue, "trainer_ledger", "run-1"))
    assert [r["checkpoint_id"] for r in rows] == [first["checkpoint_id"]]
    assert asyncio.run(_call(address, queue, "trainer_ledger", {"run": "other"})) == []


def test_decoding_mismatch_fails_the_activity_without_retries(trainer):
    address, _, queue = trainer
    bad = trajectory("ep-topk", advantage=1.0)
    bad["decoding"]["top_k"] = 40
    inp = step_input(0, [bad])
    inp["step_key"]["stage"] = "rl-1"
    with pytest.raises(WorkflowFailureError) as e:
        asyncio.run(_call(address, queue, "rl_step", inp, max_attempts=0))
    cause = e.value.cause
    assert isinstance(cause, ActivityError) and isinstance(cause.cause, ApplicationError)
    assert cause.cause.type == "SWERL_DECODING_MISMATCH" and cause.cause.non_retryable
    assert "ep-topk" in cause.cause.message


def test_load_policy_without_a_policy_server_is_a_final_error(trainer):
    address, _, queue = trainer
    with pytest.raises(WorkflowFailureError) as e:
        asyncio.run(_call(address, queue, "load_policy", {"checkpoint_id": BASE_ID}, max_attempts=0))
    assert e.value.cause.cause.type == "SWERL_POLICY_UNAVAILABLE"


async def _wait_for_training(handle, deadline_sec: float = 180) -> None:
    deadline = time.monotonic() + deadline_sec  # generous: the 2 cores are shared with other work
    while True:
        desc = await handle.describe()
        pending = desc.raw_description.pending_activities
        if pending and pending[0].heartbeat_details.payloads:
            if json.loads(pending[0].heartbeat_details.payloads[0].data).get("phase") == "training":
                return
        assert time.monotonic() < deadline, "the step never heartbeated"
        await asyncio.sleep(0.1)


LONG_STEP_SAMPLES = 96


def long_step_input(step: int, samples: int = LONG_STEP_SAMPLES) -> dict:
    """A step long enough to be caught mid-training on an idle machine too (the heartbeat that
    reports phase 'training' is throttled, so a step of a few seconds can finish unseen): one
    sample per micro-batch, many micro-batches, a heartbeat after each."""
    inp = step_input(step, [trajectory(f"ep-{i}", answer="x" * 200) for i in range(samples)])
    inp["hyper"]["micro_batch_tokens"] = 300
    return inp


def test_cancelled_step_stops_between_micro_batches_and_leaves_nothing(trainer):
    address, root, queue = trainer
    # Long enough that the cancel (delivered on the next throttled heartbeat, up to ~1.6 s after
    # the request) lands mid-step on a fast idle machine too: 96 samples once finished first in CI.
    inp = long_step_input(7, samples=8 * LONG_STEP_SAMPLES)

    async def scenario():
        client = await Client.connect(address)
        wf_queue = f"wf-cancel-{queue}"
        async with Worker(client, task_queue=wf_queue, workflows=[CallActivity]):
            handle = await client.start_workflow(
                CallActivity.run, {"activity": "sft_step", "input": inp, "task_queue": queue, "heartbeat_sec": 2},
                id=f"cancel-{uuid.uuid4().hex}", task_queue=wf_queue,
            )
            await _wait_for_training(handle)
            await handle.cancel()
            with pytest.raises(WorkflowFailureError) as e:
                await handle.result()
            return e.value

    failure = asyncio.run(scenario())
    assert isinstance(failure.cause, CancelledError)  # reported as cancelled, not as a failure
    assert not (root / "run-1" / "rft" / "i0000-s0007").exists()
    assert all(r["step"] != 7 for r in Ledger(root).rows("run-1"))
    # The step lock was released and no ledger row was left: the same key trains afterwards, even
    # from a different (short) input, which a recorded row would refuse as a conflict.
    assert asyncio.run(_call(address, queue, "sft_step", step_input(7)))["checkpoint_id"] == "run-1/rft/i0000-s0007"


def test_killed_worker_mid_step_is_retried_and_trains_once(temporal, root):
    """SIGKILL the worker while a long step heartbeats; a new worker finishes it from scratch."""
    queue = f"trainer-kill-{uuid.uuid4().hex[:8]}"
    inp = long_step_input(0)
    proc = _start_worker(temporal, root, queue)

    async def scenario():
        client = await Client.connect(temporal)
        wf_queue = f"wf-{queue}"
        async with Worker(client, task_queue=wf_queue, workflows=[CallActivity]):
            handle = await client.start_workflow(
                CallActivity.run,
                {"activity": "sft_step", "input": inp, "task_queue": queue, "heartbeat_sec": 2},
                id=f"kill-{uuid.uuid4().hex}", task_queue=wf_queue,
            )
            await _wait_for_training(handle)
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            restarted = _start_worker(temporal, root, queue)
            try:
                result = await handle.result()
                history = await handle.fetch_history()
                attempts = [e.activity_task_started_event_attributes.attempt for e in history.events
                            if e.HasField("activity_task_started_event_attributes")]
                return result, attempts, restarted
            except BaseException:
                restarted.kill()
                raise

    try:
        result, attempts, restarted = asyncio.run(scenario())
    finally:
        if proc.poll() is None:  # the scenario failed before the kill: leave no worker behind
            proc.kill()
            proc.wait()
    try:
        assert attempts and attempts[-1] >= 2  # the killed attempt did not finish; a retry did
        assert result["checkpoint_id"] == "run-1/rft/i0000-s0000" and result["metrics"]["samples"] == LONG_STEP_SAMPLES
        assert len(list((root / "run-1" / "rft").iterdir())) == 1  # no torn temp dir left
        assert len(Ledger(root).rows("run-1")) == 1
    finally:
        restarted.terminate()
        restarted.wait(timeout=30)


def test_load_policy_hot_reloads_the_policy_server(temporal, root):
    import threading
    import urllib.request

    from swerl_trainer.server import make_server
    from swerl_trainer.steps import run_step

    cid = run_step(root, "sft", step_input())["checkpoint_id"]
    srv = make_server(root, BASE_ID, port=0)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{srv.server_address[1]}"
    queue = f"trainer-load-{uuid.uuid4().hex[:8]}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "swerl_trainer.worker", "--address", temporal, "--task-queue", queue,
         "--checkpoints", str(root), "--init-base", BASE_ID, "--preset", "test", "--policy-url", url],
        cwd=TRAINER_DIR, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    try:
        assert json.loads(proc.stdout.readline())["event"] == "worker_ready"
        out = asyncio.run(_call(temporal, queue, "load_policy", {"checkpoint_id": cid}))
        assert out == {"checkpoint_id": cid, "loaded": True}
        with urllib.request.urlopen(url + "/health") as h:
            assert json.loads(h.read())["checkpoint_id"] == cid
        with pytest.raises(WorkflowFailureError) as e:
            asyncio.run(_call(temporal, queue, "load_policy", {"checkpoint_id": "run-1/missing"}, max_attempts=0))
        assert e.value.cause.cause.type == "SWERL_CHECKPOINT_NOT_FOUND"
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        srv.shutdown()
        srv.server_close()
