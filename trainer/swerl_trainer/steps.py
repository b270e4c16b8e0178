"""Exactly-once training steps.

Guarantees, for a step key (run, stage, iteration, step):
- a key already in the ledger returns the recorded result and trains nothing;
- the checkpoint is written to a temp dir and renamed into its deterministic path, then the
  ledger row is recorded. A crash between the two is safe: the retry finds the complete
  checkpoint at that path (with its step record inside) and records it without training;
- a key reused with a different input is refused (SWERL_TRAINER_STEP_CONFLICT), never retrained;
- one attempt per key at a time, across processes (a file lock), since Temporal may start a retry
  while a timed-out attempt still runs.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import threading
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterator

import torch
from jsonschema import Draft202012Validator

from . import checkpoint as ckpt
from .errors import TRAINER_BAD_BATCH, TRAINER_STEP_CONFLICT, TrainerFault
from .ledger import Ledger, result_of
from .train import Hyper, Progress, encode_batch, train_step

CONTRACT = Path(__file__).resolve().parent.parent / "contract.schema.json"
# Steps share 2 CPU cores: running two at once would only make both slower.
_TRAIN_LOCK = threading.Lock()


@lru_cache(maxsize=None)
def _validator(name: str) -> Draft202012Validator:
    schema = json.loads(CONTRACT.read_text())
    return Draft202012Validator({"$ref": f"#/$defs/{name}", "$defs": schema["$defs"]})


def validate(name: str, value: Any) -> None:
    errors = sorted(_validator(name).iter_errors(value), key=lambda e: list(e.path))
    if errors:
        e = errors[0]
        where = "/".join(str(p) for p in e.absolute_path) or "(root)"
        raise TrainerFault(TRAINER_BAD_BATCH, f"{name} invalid at {where}: {e.message}", {"path": where})


def checkpoint_id(key: dict[str, Any]) -> str:
    return f"{key['run']}/{key['stage']}/i{key['iteration']:04d}-s{key['step']:04d}"


def input_digest(kind: str, inp: dict[str, Any]) -> str:
    canonical = {k: inp.get(k) for k in ("base_checkpoint", "batch", "hyper", "decoding_expected")}
    # Where a batch is read from is not what it is: a retry may reach the same rows by another DSN.
    canonical["batch"] = {k: v for k, v in inp["batch"].items() if k != "dsn"}
    blob = json.dumps({"kind": kind, **canonical}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()


@contextmanager
def _step_lock(root: Path, cid: str) -> Iterator[None]:
    locks = root / ".locks"
    locks.mkdir(parents=True, exist_ok=True)
    with open(locks / (cid.replace("/", "--") + ".lock"), "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _conflict(cid: str, recorded: str, digest: str) -> TrainerFault:
    return TrainerFault(
        TRAINER_STEP_CONFLICT,
        f"step {cid} was already trained from a different input (digest {recorded[:12]} vs {digest[:12]}); "
        "a step key must name one input",
        {"checkpoint_id": cid},
    )


def run_step(root: Path, kind: str, inp: dict[str, Any], progress: Progress = lambda _: None) -> dict[str, Any]:
    """Run (or recall) one `sft`/`rl` step; returns {checkpoint_id, checkpoint_path, metrics}."""
    validate("StepInput", inp)
    if kind == "rl" and inp.get("decoding_expected") is None:
        raise TrainerFault(TRAINER_BAD_BATCH, "rl_step needs decoding_expected: ratios are meaningless without it")
    key = inp["step_key"]
    cid = checkpoint_id(key)
    digest = input_digest(kind, inp)
    ledger = Ledger(root)
    final = root / cid

    def recalled() -> dict[str, Any] | None:
        row = ledger.get(key)
        if row is not None:
            if row["input_digest"] != digest:
                raise _conflict(cid, row["input_digest"], digest)
            return result_of(row)
        record_file = final / ckpt.STEP_FILE
        if ckpt.exists(final) and record_file.is_file():
            # Renamed into place, but the attempt died before the ledger row: record it now.
            rec = json.loads(record_file.read_text())
            if rec["input_digest"] != digest:
                raise _conflict(cid, rec["input_digest"], digest)
            return result_of(ledger.record(key, kind, digest, rec["base_checkpoint"], rec["result"]))
        return None

    done = recalled()
    if done is not None:
        return done
    with _step_lock(root, cid), _TRAIN_LOCK:
        done = recalled()  # another attempt may have finished while we waited for the lock
        if done is not None:
            return done
        ckpt.remove_stale_temps(final)
        base = ckpt.load(root, inp["base_checkpoint"])
        samples = _samples(inp["batch"], kind)
        hyper = Hyper.from_json(inp["hyper"])
        decoding = inp.get("decoding_expected")
        torch.manual_seed(int(digest[:8], 16))
        encoded = encode_batch(kind, base.tokenizer, samples, base.model.cfg.max_seq_len, hyper, decoding)
        temperature = float(decoding["temperature"]) if decoding else 1.0
        opt_state, metrics = train_step(
            kind, base.model, base.tokenizer, base.optimizer_state, encoded, hyper, temperature, progress, n_samples=len(samples)
        )
        result = {"checkpoint_id": cid, "checkpoint_path": str(final), "metrics": metrics}
        record = {"step_key": key, "kind": kind, "input_digest": digest, "base_checkpoint": base.id, "result": result}
        meta = {"parent": base.id, "step_key": key, "kind": kind}
        if not ckpt.write_atomically(final, base.model, base.tokenizer, opt_state, meta, record):
            done = recalled()
            if done is not None:
                return done
        return result_of(ledger.record(key, kind, digest, base.id, result))


def _samples(batch: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    if batch["kind"] == "inline":
        return batch["samples"]
    from .pg_batch import load_samples

    return load_samples(batch, kind)
