"""Pre-training a base policy on demonstrations: layout, schedule, learning, serving the result
through the policy server and the trainer's steps, caching and refusal of other inputs."""
import hashlib
import json
import math
import os
import re
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path

import pytest

from conftest import PAPER_DECODING, sed_demo, step_input
from swerl_trainer import checkpoint as ckpt
from swerl_trainer.errors import TRAINER_BAD_BATCH, TRAINER_STEP_CONFLICT, TrainerFault
from swerl_trainer.pretrain import PretrainHyper, Probe, encode_demo, lr_at, main, pretrain, read_corpus
from swerl_trainer.server import make_server
from swerl_trainer.steps import run_step
from swerl_trainer.tokenizer import ChatMessage, WordTokenizer

TRAINER = Path(__file__).resolve().parent.parent
WORDS = ["alpha", "bravo", "carrot", "delta", "eagle", "falcon", "garden", "harbor", "island", "jungle"]
HYPER = PretrainHyper(preset="test", steps=60, batch_size=8, lr=3e-3, warmup=5, max_seq_len=512)
CLI = {"--preset": "test", "--steps": "60", "--batch-size": "8", "--lr": "3e-3", "--warmup": "5", "--threads": "2"}


def cli(corpus: Path, root: Path, cid: str, **changed: str) -> list[str]:
    """Arguments equal to HYPER's, with `changed` flags (steps="61" -> --steps 61)."""
    flags = {"--corpus": str(corpus), "--checkpoints": str(root), "--id": cid, **CLI, **{f"--{k}": v for k, v in changed.items()}}
    return [x for kv in flags.items() for x in kv]
SYSTEM = "Reply with one command in a ``` block."


def prompt(word: str) -> list[dict]:
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": f"Please open the file {word}.py and look."}]


def demo(i: int) -> dict:
    """The assistant copies the file name of the user message; every 5th demo first makes a
    format error (masked out of the loss)."""
    w = WORDS[i % len(WORDS)]
    messages = prompt(w)
    if i % 5 == 0:
        messages += [{"role": "assistant", "content": "I will open it.", "format_error": True},
                     {"role": "tool", "content": "Format error: reply with exactly one command block."}]
    messages += [{"role": "assistant", "content": f"```\nopen {w}.py\n```"},
                 {"role": "tool", "content": f"[File: /repo/{w}.py (3 lines total)]\n(Open file: /repo/{w}.py) bash-$"},
                 {"role": "assistant", "content": "```\nsubmit\n```"}]
    return {"task_id": f"copy-{i}", "mode": "gold", "messages": messages}


def write_corpus(path: Path, n: int = 30) -> Path:
    path.write_text("".join(json.dumps(demo(i)) + "\n" for i in range(n)))
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    d = tmp_path_factory.mktemp("pretrain")
    corpus = write_corpus(d / "corpus.jsonl")
    events: list[dict] = []
    result = pretrain(corpus, d / "ckpts", "learn-base", HYPER, emit=events.append, log_every=20)
    return d, corpus, result, events


def test_lr_warms_up_linearly_then_decays_on_a_cosine():
    h = PretrainHyper(steps=10, warmup=2, lr=1.0)
    assert [lr_at(s, h) for s in (0, 1, 2, 6)] == pytest.approx([0.5, 1.0, 1.0, 0.5])
    assert lr_at(9, h) == pytest.approx(0.5 * (1 + math.cos(math.pi * 7 / 8)))
    assert lr_at(0, PretrainHyper(steps=10, warmup=0, lr=1.0)) == 1.0


def test_demo_layout_is_the_trainers_with_observations_and_format_errors_masked():
    tok = WordTokenizer(["open", "ls"])  # 262, 263
    d = {"task_id": "t", "line": 1, "messages": [
        {"role": "user", "content": "open x"},
        {"role": "assistant", "content": "open x", "format_error": True},
        {"role": "tool", "content": "err"},
        {"role": "assistant", "content": "ls"},
    ]}
    enc, cut = encode_demo(tok, d, 512)
    u, a, end = 257, 258, 260
    assert enc.ids == [u, 262, 32, ord("x"), end, a, 262, 32, ord("x"), end, u, ord("e"), ord("r"), ord("r"), end, a, 263, end]
    assert enc.loss_mask == [0] * 15 + [1, 1] and not cut  # "ls" and its <|end|>, predicted after <|assistant|>
    # The prompt part is exactly what the policy server sends the model for that turn.
    assert enc.ids[:16] == tok.encode_prompt([ChatMessage(m["role"], m["content"]) for m in d["messages"][:3]])
    short, cut = encode_demo(tok, d, 17)
    assert cut and short.ids == enc.ids[:17] and short.loss_mask == [0] * 15 + [1]


def test_pretraining_lowers_the_loss_and_writes_a_base_checkpoint(trained):
    d, corpus, result, events = trained
    assert not result["cached"]
    progress = [e for e in events if e["event"] == "pretrain_progress"]
    assert [e["step"] for e in progress] == [1, 20, 40, 60]
    assert progress[0]["loss"] == result["losses"][0] == result["first_loss"]
    assert result["first_loss"] > 4.0  # ~ln(vocab) at init
    assert result["final_loss"] < 0.25 * result["first_loss"], result["losses"]
    assert all(e["tokens_per_s"] > 0 for e in progress)
    assert events[-1]["event"] == "pretrain_done" and not events[-1]["cached"] and events[-1]["checkpoint_id"] == "learn-base"
    c = ckpt.load(d / "ckpts", "learn-base")
    assert isinstance(c.tokenizer, WordTokenizer) and c.optimizer_state is None
    assert set(WORDS) | {"open", "py", "submit"} <= set(c.tokenizer.pieces)
    assert not (c.path / ckpt.OPTIMIZER_FILE).exists()
    rec = json.loads((c.path / ckpt.CONFIG_FILE).read_text())["pretrained"]
    assert rec["corpus_sha256"] == hashlib.sha256(corpus.read_bytes()).hexdigest()
    assert rec["hyper"]["steps"] == 60 and rec["preset"] == "test" and rec["trained_demonstrations"] == 30
    assert rec["tokenizer"]["vocab_size"] == c.model.cfg.vocab_size == c.tokenizer.vocab_size


def _post(url: str, body: dict) -> dict:
    req = urllib.request.Request(url + "/v1/chat/completions", json.dumps(body).encode(), {"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.loads(r.read())


def test_policy_server_serves_the_pretrained_base_and_the_trainer_steps_from_it(trained):
    d, _, _, _ = trained
    root = d / "ckpts"
    srv = make_server(root, "learn-base", port=0)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{srv.server_address[1]}"
    try:
        tok = ckpt.load(root, "learn-base").tokenizer
        r = _post(url, {"messages": prompt("alpha"), "temperature": 0, "max_tokens": 30})
        c = r["choices"][0]
        assert r["model"] == "learn-base" and c["finish_reason"] == "stop"
        assert re.fullmatch(r"```\nopen [a-z]+\.py\n```", c["message"]["content"]), c["message"]["content"]
        assert c["message"]["content"] == tok.decode(c["token_ids"])
        assert tok.piece_ids["open"] in c["token_ids"] and c["token_ids"][-1] == tok.end_id
        assert [e["token"] for e in c["logprobs"]["content"]][4:6] == ["open", " "]
        # A stop string inside a word token ("py" is one piece) still stops and trims.
        r = _post(url, {"messages": prompt("alpha"), "temperature": 0, "max_tokens": 30, "stop": ["py"]})
        assert r["choices"][0]["finish_reason"] == "stop" and re.fullmatch(r"```\nopen [a-z]+\.", r["choices"][0]["message"]["content"])

        # A two-turn trajectory sampled by the server trains with ratio 1 from the pretrained base.
        messages = prompt("garden")
        turns = [{"role": m["role"], "text": m["content"]} for m in messages]
        for k in range(2):
            r = _post(url, {"messages": messages, "max_tokens": 24, "seed": k, **PAPER_DECODING})
            c = r["choices"][0]
            turns.append({"role": "assistant", "text": c["message"]["content"], "token_ids": c["token_ids"],
                          "logprobs": [e["logprob"] for e in c["logprobs"]["content"]], "format_error": False})
            turns.append({"role": "tool", "text": f"(Open file: /repo/garden.py) bash-$ {k}"})
            messages += [{"role": "assistant", "content": c["message"]["content"]}, {"role": "user", "content": turns[-1]["text"]}]
        sample = {"episode_id": "ep-pre", "advantage": 1.0, "decoding": r["swerl_decoding"], "turns": turns}
        inp = step_input(0, [sample], base="learn-base")
        inp["step_key"]["stage"] = "rl-1"
        m = run_step(root, "rl", inp)["metrics"]
        assert m["clip_fraction"] == 0.0 and abs(m["approx_kl"]) < 1e-5 and m["tokens"] > 0
        sft = run_step(root, "sft", step_input(0, [sample], base="learn-base"))
        assert isinstance(ckpt.load(root, sft["checkpoint_id"]).tokenizer, WordTokenizer)
    finally:
        srv.shutdown()
        srv.server_close()


def _run(argv: list[str], capsys) -> tuple[int, list[dict]]:
    code = main(argv)
    return code, [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def test_rerun_is_a_no_op_and_other_inputs_are_refused(trained, capsys, tmp_path):
    d, corpus, result, _ = trained
    root = d / "ckpts"
    model_file = root / "learn-base" / ckpt.MODEL_FILE
    mtime = model_file.stat().st_mtime_ns
    # The real entry point, as the demo runs it.
    out = subprocess.run([sys.executable, "-m", "swerl_trainer.pretrain", *cli(corpus, root, "learn-base")], cwd=TRAINER,
                         capture_output=True, text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(TRAINER)})
    assert out.returncode == 0, out.stderr
    [event] = [json.loads(line) for line in out.stdout.splitlines()]
    assert event["event"] == "pretrain_cached" and event["cached"] and event["checkpoint_id"] == "learn-base"
    assert event["final_loss"] == result["final_loss"]
    assert model_file.stat().st_mtime_ns == mtime

    code, events = _run(cli(corpus, root, "learn-base", steps="61"), capsys)
    assert code == 2 and events[-1]["event"] == "pretrain_failed" and events[-1]["code"] == TRAINER_STEP_CONFLICT
    assert "(recorded vs now: steps 60 vs 61)" in events[-1]["message"] and "'learn-base'" in events[-1]["message"]

    other = write_corpus(tmp_path / "other.jsonl", n=31)
    code, events = _run(cli(other, root, "learn-base"), capsys)
    assert code == 2 and events[-1]["code"] == TRAINER_STEP_CONFLICT and "corpus sha256" in events[-1]["message"]

    ckpt.create_base(root, "random-base", preset="test")
    code, events = _run(cli(corpus, root, "random-base"), capsys)
    assert code == 2 and "not made by pretrain" in events[-1]["message"]
    assert model_file.stat().st_mtime_ns == mtime


def test_malformed_corpus_is_refused_naming_the_line(tmp_path, capsys):
    corpus = tmp_path / "bad.jsonl"
    corpus.write_text(json.dumps(demo(0)) + "\n\n" + json.dumps({"messages": [{"role": "bot", "content": "x"}]}) + "\n")
    with pytest.raises(TrainerFault) as e:
        read_corpus(corpus)
    assert e.value.code == TRAINER_BAD_BATCH and "line 3: messages[0].role" in str(e.value)
    code, events = _run(cli(corpus, tmp_path / "c", "x"), capsys)
    assert code == 2 and events[-1]["code"] == TRAINER_BAD_BATCH
    assert not (tmp_path / "c" / "x").exists()


def test_probe_reports_greedy_first_actions_and_leaves_the_weights_unchanged(tmp_path):
    import torch
    corpus = tmp_path / "sed.jsonl"
    corpus.write_text("".join(json.dumps(sed_demo(i)) + "\n" for i in range(21)))
    prompts = [{"task_id": d["task_id"], "line": 2 + i % 7, "def_line": 1, "messages": d["messages"][:2]} for i, d in enumerate(map(sed_demo, range(5)))]
    h = PretrainHyper(preset="test", steps=20, batch_size=4, lr=3e-3, warmup=2, max_seq_len=256)
    plain: list[dict] = []
    probed: list[dict] = []
    pretrain(corpus, tmp_path / "a", "plain", h, emit=plain.append, log_every=10)
    result = pretrain(corpus, tmp_path / "b", "probed", h, emit=probed.append, log_every=10, probe=Probe(prompts, 8))
    probes = [e for e in probed if e["event"] == "pretrain_probe"]
    assert [e["step"] for e in probes] == [8, 16, 20] and not [e for e in plain if e["event"] == "pretrain_probe"]
    assert all(e["tasks"] == 5 and sum(e["greedy"].values()) == 5 for e in probes)
    assert result["probes"] == [{"step": e["step"], "greedy": e["greedy"]} for e in probes]
    # Probing (sampling in eval mode with its own generator) must not change what is trained.
    a, b = ckpt.load(tmp_path / "a", "plain").model.state_dict(), ckpt.load(tmp_path / "b", "probed").model.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert [e["loss"] for e in plain if e["event"] == "pretrain_progress"] == [e["loss"] for e in probed if e["event"] == "pretrain_progress"]
