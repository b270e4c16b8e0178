"""Exactly-once steps, the decoding guard, and that the steps actually learn."""
import json
import sqlite3

import pytest
import torch

from conftest import BASE_ID, PAPER_DECODING, step_input, trajectory
from swerl_trainer import checkpoint as ckpt
from swerl_trainer.batch import encode_sample
from swerl_trainer.errors import DECODING_MISMATCH, TRAINER_BAD_BATCH, TRAINER_STEP_CONFLICT, TrainerFault
from swerl_trainer.ledger import LEDGER_FILE, Ledger, result_of
from swerl_trainer.model import token_logprobs
from swerl_trainer.steps import run_step


def _mtime(root, cid):
    return (root / cid / ckpt.MODEL_FILE).stat().st_mtime_ns


def _rl_input(step, samples, **kw):
    inp = step_input(step, samples, **kw)
    inp["step_key"]["stage"] = "rl-1"
    return inp


def test_repeated_step_key_returns_the_recorded_result_without_training(root):
    first = run_step(root, "sft", step_input())
    cid = first["checkpoint_id"]
    assert cid == "run-1/rft/i0000-s0000" and ckpt.exists(root / cid)
    mtime = _mtime(root, cid)
    calls = []
    again = run_step(root, "sft", step_input(), progress=calls.append)
    assert again == first
    assert calls == []  # no micro-batch ran
    assert _mtime(root, cid) == mtime
    rows = Ledger(root).rows("run-1")
    assert len(rows) == 1 and rows[0]["checkpoint_id"] == cid and rows[0]["kind"] == "sft"
    assert rows[0]["base_checkpoint"] == BASE_ID


def test_crash_between_rename_and_ledger_row_is_recovered_without_training(root):
    first = run_step(root, "sft", step_input())
    mtime = _mtime(root, first["checkpoint_id"])
    # The state a kill leaves after the rename and before the ledger insert: checkpoint, no row.
    with sqlite3.connect(root / LEDGER_FILE) as db:
        db.execute("DELETE FROM steps")
    calls = []
    again = run_step(root, "sft", step_input(), progress=calls.append)
    assert again == first and calls == []
    assert _mtime(root, first["checkpoint_id"]) == mtime
    assert len(Ledger(root).rows("run-1")) == 1


def test_stale_temp_dir_of_a_dead_attempt_is_removed(root):
    stale = root / "run-1" / "rft" / ".tmp-i0000-s0000-deadbeef"
    stale.mkdir(parents=True)
    (stale / "model.safetensors").write_bytes(b"torn")
    run_step(root, "sft", step_input())
    assert not stale.exists()


def test_reused_step_key_with_another_input_is_refused(root):
    run_step(root, "sft", step_input())
    with pytest.raises(TrainerFault) as e:
        run_step(root, "sft", step_input(lr=5e-3))
    assert e.value.code == TRAINER_STEP_CONFLICT and "run-1/rft/i0000-s0000" in str(e.value)
    assert not e.value.retryable


@pytest.mark.parametrize(
    "recorded, differs",
    [
        ({**PAPER_DECODING, "top_k": 20}, "top_k"),
        ({**PAPER_DECODING, "min_p": 0.05}, "min_p"),
        ({"temperature": 0.7, "topP": 1.0}, "temperature"),
    ],
)
def test_decoding_mismatch_is_refused_before_training(root, recorded, differs):
    bad = trajectory("ep-bad", advantage=1.0)
    bad["decoding"] = recorded
    with pytest.raises(TrainerFault) as e:
        run_step(root, "rl", _rl_input(0, [trajectory("ep-ok", advantage=-1.0), bad]))
    assert e.value.code == DECODING_MISMATCH and "ep-bad" in str(e.value) and differs in str(e.value)
    err = e.value.to_application_error()
    assert err.type == DECODING_MISMATCH and err.non_retryable
    assert Ledger(root).rows("run-1") == [] and not (root / "run-1" / "rl-1").exists()


def test_camel_case_and_vllm_spellings_of_disabled_params_match(root):
    s = trajectory("ep", advantage=1.0)
    s["decoding"] = {"temperature": 1.0, "topP": 1.0, "topK": 0, "minP": 0, "repetitionPenalty": 1.0, "maxTokensPerTurn": 4096}
    run_step(root, "rl", _rl_input(0, [s]))


def test_a_parameter_spelled_twice_with_different_values_is_refused(root):
    s = trajectory("ep-twice", advantage=1.0)
    s["decoding"] = {**PAPER_DECODING, "topK": 50}
    with pytest.raises(TrainerFault) as e:
        run_step(root, "rl", _rl_input(0, [s]))
    assert e.value.code == DECODING_MISMATCH and "top_k twice" in str(e.value)


def test_missing_decoding_record_is_refused(root):
    s = trajectory("ep-none", advantage=1.0)
    del s["decoding"]
    with pytest.raises(TrainerFault) as e:
        run_step(root, "rl", _rl_input(0, [s]))
    assert e.value.code == DECODING_MISMATCH and "no recorded decoding" in str(e.value)


def test_invalid_input_names_the_bad_field(root):
    inp = step_input()
    inp["hyper"]["lr"] = -1
    with pytest.raises(TrainerFault) as e:
        run_step(root, "sft", inp)
    assert e.value.code == TRAINER_BAD_BATCH and "hyper/lr" in str(e.value)


def test_sft_overfits_one_sample_and_carries_adam_state(root):
    base, losses = BASE_ID, []
    for step in range(12):
        out = run_step(root, "sft", step_input(step, base=base, lr=3e-3))
        losses.append(out["metrics"]["loss"])
        base = out["checkpoint_id"]
    assert losses[-1] < 0.5 * losses[0], losses
    state = ckpt.load(root, base).optimizer_state
    assert state["tok_emb.weight.step"].item() == 12  # one AdamW state chained through all steps
    row = Ledger(root).rows("run-1")[-1]
    assert row["base_checkpoint"] == "run-1/rft/i0000-s0010"


def _action_logprob(root, cid, sample):
    c = ckpt.load(root, cid)
    [enc] = encode_sample(c.tokenizer, sample, c.model.cfg.max_seq_len, False)
    with torch.no_grad():
        logits, _ = c.model(torch.tensor([enc.ids[:-1]]))
        lp = token_logprobs(logits, torch.tensor([enc.ids[1:]]))[0]
    return float((lp * torch.tensor(enc.loss_mask, dtype=torch.float)).sum())


def test_rl_step_raises_the_good_trajectory_and_lowers_the_bad_one(root):
    good, bad = trajectory("ep-good", 1.0, answer="pytest -q"), trajectory("ep-bad", -1.0, answer="rm -rf /")
    out = run_step(root, "rl", _rl_input(0, [good, bad], lr=1e-3))
    m = out["metrics"]
    assert m["clip_fraction"] == 0.0 and m["tokens"] > 0 and m["grad_norm"] > 0
    assert _action_logprob(root, out["checkpoint_id"], good) > _action_logprob(root, BASE_ID, good)
    assert _action_logprob(root, out["checkpoint_id"], bad) < _action_logprob(root, BASE_ID, bad)


def test_rl_step_with_stale_sampler_logprobs_reports_clipping(root):
    s = trajectory("ep", 1.0)
    c = ckpt.load(root, BASE_ID)
    # The sampler said every action token had logprob -20: ratio >> 1 + eps_high, so A>0 clips.
    for t in s["turns"]:
        if t["role"] == "assistant":
            t["token_ids"] = c.tokenizer.encode(t["text"]) + [c.tokenizer.end_id]
            t["logprobs"] = [-20.0] * len(t["token_ids"])
    out = run_step(root, "rl", _rl_input(0, [s]))
    assert out["metrics"]["clip_fraction"] == 1.0
    assert out["metrics"]["grad_norm"] == 0.0  # every token clipped: no gradient at all


def _base_action_logprobs(c, sample):
    [enc] = encode_sample(c.tokenizer, sample, c.model.cfg.max_seq_len, False)
    with torch.no_grad():
        logits, _ = c.model(torch.tensor([enc.ids[:-1]]))
        lp = token_logprobs(logits, torch.tensor([enc.ids[1:]]))[0]
    return [float(x) for x, m in zip(lp, enc.loss_mask) if m]


def test_rl_step_measures_the_training_inference_logprob_mismatch(root):
    s = trajectory("ep", 1.0)
    c = ckpt.load(root, BASE_ID)
    expected_tokens = 0
    for t in s["turns"]:
        if t["role"] == "assistant":
            t["token_ids"] = c.tokenizer.encode(t["text"]) + [c.tokenizer.end_id]
            expected_tokens += len(t["token_ids"])
    # The base's own logprobs of the sampled tokens, shifted by a known gap on one token.
    matched = run_step(root, "rl", _rl_input(0, [s]))["metrics"]
    assert matched["logprob_mismatch_tokens"] == 0  # no sampler logprobs: nothing to compare
    base = _base_action_logprobs(c, s)
    assert len(base) == expected_tokens
    for t in s["turns"]:
        if t["role"] == "assistant":
            t["logprobs"], base = base[: len(t["token_ids"])], base[len(t["token_ids"]):]
    out = run_step(root, "rl", _rl_input(1, [s]))["metrics"]
    assert out["logprob_mismatch_tokens"] == expected_tokens
    assert out["logprob_mismatch_max"] < 1e-4 and out["logprob_mismatch_mean"] < 1e-4
    first = next(t for t in s["turns"] if t["role"] == "assistant")
    first["logprobs"][0] -= 2.0
    shifted = run_step(root, "rl", _rl_input(2, [s]))["metrics"]
    assert shifted["logprob_mismatch_max"] == pytest.approx(2.0, abs=1e-3)
    assert shifted["logprob_mismatch_mean"] == pytest.approx(2.0 / expected_tokens, abs=1e-3)


def test_rl_step_needs_decoding_expected(root):
    inp = _rl_input(0, [trajectory("ep", 1.0)])
    del inp["decoding_expected"]
    with pytest.raises(TrainerFault) as e:
        run_step(root, "rl", inp)
    assert e.value.code == TRAINER_BAD_BATCH


def test_step_record_inside_the_checkpoint_matches_the_result(root):
    out = run_step(root, "sft", step_input())
    rec = json.loads((root / out["checkpoint_id"] / ckpt.STEP_FILE).read_text())
    assert rec["result"] == out and rec["step_key"] == step_input()["step_key"]
    cfg = json.loads((root / out["checkpoint_id"] / ckpt.CONFIG_FILE).read_text())
    assert cfg["parent"] == BASE_ID
    assert result_of(Ledger(root).rows("run-1")[0]) == out
