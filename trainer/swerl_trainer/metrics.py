"""Prometheus metrics of the trainer worker, served like the TypeScript workers' GET /metrics.

A step that trained (its micro-batches ran) observes its wall time, its loss and its sequence
tokens per second; a step whose key the ledger already holds returns the recorded result and
is counted as `recorded` only, so a retried activity never counts as a second update.
"""
from __future__ import annotations

import time
from typing import Any, Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

registry = CollectorRegistry()

steps_total = Counter(
    "swerl_trainer_steps_total", "Update steps by kind (sft | rl) and outcome (trained | recorded | failed).", ["kind", "outcome"], registry=registry
)
step_seconds = Histogram(
    "swerl_trainer_step_seconds",
    "Wall time of update steps that trained, by kind.",
    ["kind"],
    buckets=(0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600),
    registry=registry,
)
tokens_per_second = Gauge("swerl_trainer_tokens_per_second", "Sequence tokens per second of the last step that trained, by kind.", ["kind"], registry=registry)
loss = Gauge("swerl_trainer_loss", "Loss of the last step that trained, by kind.", ["kind"], registry=registry)


def timed_step(kind: str, run: Callable[[Callable[[dict[str, Any]], None]], dict[str, Any]], progress: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    """Runs `run(progress)` (a step), observing it; a step is `trained` when it reported progress."""
    trained = False

    def seen(details: dict[str, Any]) -> None:
        nonlocal trained
        trained = True
        progress(details)

    started = time.monotonic()
    try:
        out = run(seen)
    except BaseException:
        steps_total.labels(kind, "failed").inc()
        raise
    if not trained:
        steps_total.labels(kind, "recorded").inc()
        return out
    steps_total.labels(kind, "trained").inc()
    step_seconds.labels(kind).observe(time.monotonic() - started)
    m = out.get("metrics", {})
    if isinstance(m.get("tokens_per_sec"), (int, float)):
        tokens_per_second.labels(kind).set(m["tokens_per_sec"])
    if isinstance(m.get("loss"), (int, float)):
        loss.labels(kind).set(m["loss"])
    return out


def serve_metrics(port: int, host: str = "127.0.0.1") -> tuple[Any, int]:
    """Serves GET /metrics on host:port (0 = a free port); returns the server and its port."""
    server, _thread = start_http_server(port, addr=host, registry=registry)
    return server, server.server_address[1]
