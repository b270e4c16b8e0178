"""The trainer's Prometheus metrics: a trained step is observed (time, loss, tokens/s), a step the
ledger already holds counts as recorded only, and GET /metrics serves them."""
import urllib.request

from conftest import step_input
from swerl_trainer import metrics
from swerl_trainer.steps import run_step


def _value(name, **labels):
    v = metrics.registry.get_sample_value(name, labels)
    return 0.0 if v is None else v


def test_a_trained_step_is_observed_and_a_recorded_one_only_counted(root):
    trained0 = _value("swerl_trainer_steps_total", kind="sft", outcome="trained")
    recorded0 = _value("swerl_trainer_steps_total", kind="sft", outcome="recorded")
    timed0 = _value("swerl_trainer_step_seconds_count", kind="sft")
    progress = []
    out = metrics.timed_step("sft", lambda p: run_step(root, "sft", step_input(), p), progress.append)
    assert progress, "the step reported its micro-batches"
    assert _value("swerl_trainer_steps_total", kind="sft", outcome="trained") == trained0 + 1
    assert _value("swerl_trainer_step_seconds_count", kind="sft") == timed0 + 1
    assert _value("swerl_trainer_loss", kind="sft") == out["metrics"]["loss"]
    assert _value("swerl_trainer_tokens_per_second", kind="sft") == out["metrics"]["tokens_per_sec"] > 0

    # The same step key again: the ledger's recorded result, no training, no second observation.
    again = metrics.timed_step("sft", lambda p: run_step(root, "sft", step_input(), p), progress.append)
    assert again == out
    assert _value("swerl_trainer_steps_total", kind="sft", outcome="trained") == trained0 + 1
    assert _value("swerl_trainer_steps_total", kind="sft", outcome="recorded") == recorded0 + 1
    assert _value("swerl_trainer_step_seconds_count", kind="sft") == timed0 + 1


def test_a_failed_step_is_counted_and_raised(root):
    failed0 = _value("swerl_trainer_steps_total", kind="rl", outcome="failed")

    def boom(_progress):
        raise RuntimeError("trainer crashed")

    try:
        metrics.timed_step("rl", boom, lambda _d: None)
    except RuntimeError:
        pass
    else:
        raise AssertionError("timed_step swallowed the failure")
    assert _value("swerl_trainer_steps_total", kind="rl", outcome="failed") == failed0 + 1


def test_get_metrics_serves_them_on_loopback():
    server, port = metrics.serve_metrics(0)
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30) as resp:
            body = resp.read().decode()
        assert "swerl_trainer_steps_total" in body
        assert "swerl_trainer_step_seconds_bucket" in body
        assert server.server_address[0] == "127.0.0.1"
    finally:
        server.shutdown()
        server.server_close()
