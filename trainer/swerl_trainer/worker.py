"""Temporal worker of the reference trainer (task queue `trainer`).

Activities (contract: trainer/contract.schema.json):
- sft_step(StepInput) -> StepOutput, rl_step(StepInput) -> StepOutput: exactly-once per step key
  (see steps.py); they heartbeat while they run, so a killed trainer is noticed within the
  heartbeat timeout and the retry resumes from the ledger.
- trainer_ledger(run | {run}) -> [LedgerRow]
- load_policy({checkpoint_id}) -> {checkpoint_id, loaded}: tells the local policy server to
  hot-reload.

Run: python -m swerl_trainer.worker --address 127.0.0.1:7233 --task-queue trainer --checkpoints DIR
"""
from __future__ import annotations

import argparse
import asyncio
import contextvars
import json
import logging
import os
import signal
import threading
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any, Callable, Mapping

import torch
from temporalio import activity
from temporalio.client import Client
from temporalio.service import TLSConfig
from temporalio.exceptions import ApplicationError, CancelledError
from temporalio.worker import Worker

from . import checkpoint as ckpt
from . import pg_batch
from .errors import CHECKPOINT_NOT_FOUND, POLICY_UNAVAILABLE, TRAINER_FAILED, TrainerFault
from .ledger import Ledger
from .metrics import serve_metrics, timed_step
from .steps import run_step

log = logging.getLogger("swerl_trainer.worker")
DEFAULT_BASE = "swerl-tiny-base"


def _as_temporal(fn: Callable[[], Any]) -> Any:
    """Every failure crosses into Temporal typed by its stable code (infra = retryable)."""
    try:
        return fn()
    except TrainerFault as e:
        log.warning("activity failed: %s", e)
        raise e.to_application_error() from e
    except (ApplicationError, CancelledError, asyncio.CancelledError):  # cancellation is not a failure
        raise
    except Exception as e:
        log.exception("activity crashed")
        raise ApplicationError(f"{TRAINER_FAILED}: {type(e).__name__}: {e}", type=TRAINER_FAILED) from e


class _Heartbeat:
    """Heartbeats from a side thread while a step runs, so that loading a checkpoint or one long
    micro-batch does not look like a dead worker; progress details come from the step loop."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.details: dict[str, Any] = {"phase": "starting"}
        self._stop = threading.Event()
        ctx = contextvars.copy_context()  # the activity context is a contextvar of this thread
        self._thread = threading.Thread(target=ctx.run, args=(self._loop,), daemon=True)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            activity.heartbeat(self.details)

    def progress(self, details: dict[str, Any]) -> None:
        self.details = {"phase": "training", **details}
        activity.heartbeat(self.details)
        if activity.is_cancelled():
            raise CancelledError("step cancelled between micro-batches")

    def __enter__(self) -> "_Heartbeat":
        activity.heartbeat(self.details)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


class TrainerActivities:
    def __init__(self, root: Path, policy_url: str | None = None, heartbeat_sec: float = 10.0) -> None:
        self.root = root
        self.policy_url = policy_url
        self.heartbeat_sec = heartbeat_sec

    def _step(self, kind: str, inp: dict[str, Any]) -> dict[str, Any]:
        info = activity.info()
        interval = self.heartbeat_sec
        if info.heartbeat_timeout:
            interval = min(interval, max(info.heartbeat_timeout.total_seconds() / 3, 0.5))

        def go() -> dict[str, Any]:
            with _Heartbeat(interval) as hb:
                return timed_step(kind, lambda progress: run_step(self.root, kind, inp, progress), hb.progress)

        return _as_temporal(go)

    @activity.defn(name="sft_step")
    def sft_step(self, inp: dict[str, Any]) -> dict[str, Any]:
        return self._step("sft", inp)

    @activity.defn(name="rl_step")
    def rl_step(self, inp: dict[str, Any]) -> dict[str, Any]:
        return self._step("rl", inp)

    @activity.defn(name="trainer_ledger")
    def trainer_ledger(self, inp: Any) -> list[dict[str, Any]]:
        run = inp["run"] if isinstance(inp, dict) else str(inp)
        return _as_temporal(lambda: Ledger(self.root).rows(run))

    @activity.defn(name="load_policy")
    def load_policy(self, inp: Any) -> dict[str, Any]:
        cid = inp["checkpoint_id"] if isinstance(inp, dict) else str(inp)
        return _as_temporal(lambda: self._load_policy(cid))

    def _load_policy(self, cid: str) -> dict[str, Any]:
        _, path = ckpt.resolve(self.root, cid)
        if not ckpt.exists(path):
            raise TrainerFault(CHECKPOINT_NOT_FOUND, f"checkpoint {cid!r} not found at {path}", {"checkpoint": cid})
        if not self.policy_url:
            raise ApplicationError(
                f"{POLICY_UNAVAILABLE}: this trainer worker was started without --policy-url", type=POLICY_UNAVAILABLE, non_retryable=True
            )
        req = urllib.request.Request(
            self.policy_url.rstrip("/") + "/v1/load",
            data=json.dumps({"checkpoint": cid}).encode(),
            headers={"content-type": "application/json"},
        )
        try:
            with urllib.request.urlopen(req, timeout=120) as resp:
                body = json.loads(resp.read())
        except (urllib.error.URLError, OSError) as e:  # the server may be restarting: retry
            raise ApplicationError(f"{POLICY_UNAVAILABLE}: policy server at {self.policy_url}: {e}", type=POLICY_UNAVAILABLE) from e
        return {"checkpoint_id": body["checkpoint_id"], "loaded": True}

    def all(self) -> list[Callable[..., Any]]:
        return [self.sft_step, self.rl_step, self.trainer_ledger, self.load_policy]


_TLS_VARS = ("SWERL_TEMPORAL_TLS_CA", "SWERL_TEMPORAL_TLS_CERT", "SWERL_TEMPORAL_TLS_KEY", "SWERL_TEMPORAL_TLS_SERVER_NAME")


def temporal_tls_from_env(env: Mapping[str, str] = os.environ) -> TLSConfig | bool:
    """TLS to Temporal from the same SWERL_TEMPORAL_TLS_* variables as the TypeScript workers
    (workers/temporalTls.ts): a CA file, a client certificate + key (mTLS), a server name, or
    SWERL_TEMPORAL_TLS=1 alone for system roots. False = plaintext. Unreadable files and a
    certificate without its key are configuration errors, never a silent plaintext."""
    ca, cert, key, name = (env.get(v) or None for v in _TLS_VARS)
    enabled = env.get("SWERL_TEMPORAL_TLS") or None
    if enabled not in (None, "0", "1", "false", "true"):
        raise ValueError(f"SWERL_TEMPORAL_TLS={enabled}: expected 1/true or 0/false")
    if bool(cert) != bool(key):
        raise ValueError("SWERL_TEMPORAL_TLS_CERT and SWERL_TEMPORAL_TLS_KEY go together")
    if enabled in ("0", "false"):
        if ca or cert or name:
            raise ValueError("SWERL_TEMPORAL_TLS=0 but TLS files are set")
        return False
    if not (ca or cert or name or enabled in ("1", "true")):
        return False

    def read(var: str, path: str) -> bytes:
        try:
            return Path(path).read_bytes()
        except OSError as e:
            raise ValueError(f"{var}={path}: {e}") from e

    return TLSConfig(
        server_root_ca_cert=read("SWERL_TEMPORAL_TLS_CA", ca) if ca else None,
        client_cert=read("SWERL_TEMPORAL_TLS_CERT", cert) if cert else None,
        client_private_key=read("SWERL_TEMPORAL_TLS_KEY", key) if key else None,
        domain=name,
    )


async def _connect(address: str, namespace: str, attempts: int = 30) -> Client:
    tls = temporal_tls_from_env()
    for i in range(attempts):
        try:
            return await Client.connect(address, namespace=namespace, tls=tls)
        except RuntimeError as e:  # the server may still be starting
            if i == attempts - 1:
                raise
            log.info("temporal at %s not ready (%s); retrying", address, e)
            await asyncio.sleep(1.0)
    raise AssertionError("unreachable")


async def serve(args: argparse.Namespace) -> None:
    root = Path(args.checkpoints).resolve()
    pg_batch.configure_database(args.database_url)
    overrides = {"max_seq_len": args.max_seq_len} if args.max_seq_len else {}
    base = ckpt.create_base(root, args.init_base, preset=args.preset, seed=args.seed, **overrides)
    log.info("checkpoints at %s; base policy %s at %s", root, args.init_base, base)
    if args.metrics_port is not None:
        _, port = serve_metrics(args.metrics_port, args.metrics_host)
        log.info("prometheus metrics on http://%s:%d/metrics", args.metrics_host, port)
    client = await _connect(args.address, args.namespace)
    acts = TrainerActivities(root, args.policy_url)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    with ThreadPoolExecutor(max_workers=args.max_concurrent) as pool:
        worker = Worker(
            client,
            task_queue=args.task_queue,
            activities=acts.all(),
            activity_executor=pool,
            max_concurrent_activities=args.max_concurrent,
            graceful_shutdown_timeout=timedelta(seconds=5),
        )
        async with worker:
            log.info("trainer worker polling %s on %s (namespace %s)", args.task_queue, args.address, args.namespace)
            print(json.dumps({"event": "worker_ready", "task_queue": args.task_queue, "checkpoints": str(root)}), flush=True)
            await stop.wait()


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="swerl_trainer.worker", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--address", default=os.environ.get("TEMPORAL_ADDRESS", "127.0.0.1:7233"))
    p.add_argument("--namespace", default=os.environ.get("TEMPORAL_NAMESPACE", "default"))
    p.add_argument("--task-queue", default="trainer")
    p.add_argument("--checkpoints", required=True, help="checkpoints root; holds the ledger too")
    p.add_argument("--database-url", default=os.environ.get("SWERL_DATABASE_URL"),
                   help="Postgres server that postgres batches name a database on (default $SWERL_DATABASE_URL; "
                        "prefer the variable: a flag shows the password in ps)")
    p.add_argument("--policy-url", default=None, help="local policy server that load_policy hot-reloads")
    p.add_argument("--init-base", default=DEFAULT_BASE, help="id of the seeded base policy created if missing")
    p.add_argument("--preset", default="tiny", help="model preset of that base (tiny | test)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-seq-len", type=int, default=None, help="context of that base (default: the preset's)")
    p.add_argument("--max-concurrent", type=int, default=4, help="activity slots (training steps still run one at a time)")
    p.add_argument("--metrics-port", type=int, default=int(os.environ["SWERL_TRAINER_METRICS_PORT"]) if os.environ.get("SWERL_TRAINER_METRICS_PORT") else None,
                   help="serve Prometheus metrics on GET /metrics at this port (default $SWERL_TRAINER_METRICS_PORT; off when unset)")
    p.add_argument("--metrics-host", default="127.0.0.1", help="address the metrics endpoint binds to")
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="torch CPU threads")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    torch.set_num_threads(args.threads)
    asyncio.run(serve(args))


if __name__ == "__main__":
    main()
