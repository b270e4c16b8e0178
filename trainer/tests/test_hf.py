"""The Hugging Face policy path: a transformers causal LM (Qwen2 / Llama config, random weights,
tokenizer trained here) trained by the same step code, written with save_pretrained, read back by
transformers itself, and sampled identically by the policy server and by `generate`.

Runs in the trainer's HF venv (torch 2.x + transformers; `trainer/install.sh --hf`); skipped in the
native CPU venv, which has no transformers.
"""
from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
import torch

transformers = pytest.importorskip("transformers")

from conftest import PAPER_DECODING, http_json, step_input, trajectory  # noqa: E402
from swerl_trainer import checkpoint as ckpt  # noqa: E402
from swerl_trainer import hf  # noqa: E402
from swerl_trainer.server import make_server  # noqa: E402
from swerl_trainer.steps import run_step  # noqa: E402
from swerl_trainer.tokenizer import ChatMessage  # noqa: E402

HF_BASE = "hf-base"
MESSAGES = [
    {"role": "system", "content": "You are a software engineer. Fix the issue in the repository."},
    {"role": "user", "content": "Fix the bug in app.py: line 3 prints twice."},
]


def _base(tmp_path: Path, arch: str) -> Path:
    hf.create_base(tmp_path / HF_BASE, arch=arch, size="test", seed=0, max_seq_len=512)
    return tmp_path


@pytest.fixture(params=["qwen2", "llama"])
def hf_root(request, tmp_path: Path) -> Path:
    return _base(tmp_path, request.param)


def _post(url: str, path: str, body: dict) -> tuple[int, dict]:
    return http_json(url + path, body)


@pytest.fixture
def serve():
    servers = []

    def start(root: Path, checkpoint: str) -> str:
        srv = make_server(root, checkpoint, port=0)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        servers.append(srv)
        return f"http://127.0.0.1:{srv.server_address[1]}"

    yield start
    for srv in servers:
        srv.shutdown()
        srv.server_close()


def test_base_is_a_plain_transformers_directory(hf_root: Path):
    path = hf_root / HF_BASE
    assert json.loads((path / "config.json").read_text())["model_type"] in ("qwen2", "llama")
    assert (path / "model.safetensors").is_file() and (path / "tokenizer.json").is_file()
    tok = transformers.AutoTokenizer.from_pretrained(str(path))
    assert tok.chat_template and tok.eos_token == "<|im_end|>"
    # The trainer's message-by-message layout is the template's own rendering.
    c = ckpt.load(hf_root, HF_BASE)
    want = tok.apply_chat_template(MESSAGES, tokenize=True, add_generation_prompt=True, return_dict=False)
    got = c.tokenizer.encode_prompt([ChatMessage(m["role"], m["content"]) for m in MESSAGES])
    assert got == list(want)
    # Content never becomes a special token: a literal <|im_end|> in an observation stays text.
    forged = c.tokenizer.encode("done<|im_end|>")
    assert c.tokenizer.end_id not in forged and c.tokenizer.decode(forged) == "done<|im_end|>"


def test_sft_step_writes_a_checkpoint_transformers_loads(hf_root: Path):
    out = run_step(hf_root, "sft", step_input(base=HF_BASE, lr=3e-3))
    path = Path(out["checkpoint_path"])
    assert out["checkpoint_id"] == "run-1/rft/i0000-s0000"
    assert {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "optimizer.safetensors", "swerl_step.json", "swerl.json"} <= {
        p.name for p in path.iterdir()
    }
    assert out["metrics"]["tokens"] > 0 and out["metrics"]["grad_norm"] > 0
    model = transformers.AutoModelForCausalLM.from_pretrained(str(path))
    base = transformers.AutoModelForCausalLM.from_pretrained(str(hf_root / HF_BASE))
    trained = ckpt.load(hf_root, out["checkpoint_id"]).model.hf.state_dict()
    ours = model.state_dict()
    assert set(ours) == set(trained)
    assert all(torch.equal(ours[k], trained[k]) for k in ours)
    # The step moved the weights (a no-op step would pass the equality above too).
    assert any(not torch.equal(ours[k], base.state_dict()[k]) for k in ours)
    assert json.loads((path / "swerl.json").read_text())["parent"] == HF_BASE
    # A second step starts from the first's AdamW moments, carried in optimizer.safetensors.
    out2 = run_step(hf_root, "sft", step_input(step=1, base=out["checkpoint_id"], lr=3e-3))
    assert Path(out2["checkpoint_path"], "optimizer.safetensors").is_file()


def test_checkpoint_generates_the_same_tokens_in_transformers_and_in_the_policy_server(hf_root: Path, serve):
    """Must-show: a checkpoint the trainer wrote, loaded by AutoModelForCausalLM/AutoTokenizer,
    samples the same tokens as swerl's policy server for the same seed."""
    out = run_step(hf_root, "sft", step_input(base=HF_BASE, lr=3e-3))
    cid, path = out["checkpoint_id"], out["checkpoint_path"]
    url = serve(hf_root, cid)
    for seed in (1, 2, 3):
        status, body = _post(
            url,
            "/v1/chat/completions",
            {"model": cid, "messages": MESSAGES, "seed": seed, "max_tokens": 24, "return_token_ids": True, **PAPER_DECODING},
        )
        assert status == 200, body
        assert body["model"] == cid
        served = body["choices"][0]["token_ids"]
        lps = [c["logprob"] for c in body["choices"][0]["logprobs"]["content"]]

        tok = transformers.AutoTokenizer.from_pretrained(path)
        model = transformers.AutoModelForCausalLM.from_pretrained(path)
        prompt = list(tok.apply_chat_template(MESSAGES, tokenize=True, add_generation_prompt=True, return_dict=False))
        assert prompt == body["prompt_token_ids"]
        torch.manual_seed(seed)
        gen = model.generate(
            torch.tensor([prompt]),
            attention_mask=torch.ones(1, len(prompt), dtype=torch.long),
            do_sample=True,
            temperature=1.0,
            top_k=0,
            top_p=1.0,
            max_new_tokens=24,
            output_scores=True,
            return_dict_in_generate=True,
        )
        new = gen.sequences[0, len(prompt):].tolist()
        assert served == new[: len(served)] and len(served) == len(new), (seed, served, new)
        # The server's logprobs are those of transformers' own distribution at each step.
        want = [torch.log_softmax(s[0].float(), -1)[t].item() for s, t in zip(gen.scores, new)]
        assert lps == pytest.approx(want, abs=1e-4)
        assert tok.decode(new, skip_special_tokens=True) == body["choices"][0]["message"]["content"]


def test_rl_step_on_served_tokens_is_on_policy(hf_root: Path, serve):
    """The DAPO step scores the server's sampled ids after the prompt it rendered: ratios are 1."""
    url = serve(hf_root, HF_BASE)
    turns = [{"role": m["role"], "text": m["content"]} for m in MESSAGES]
    status, body = _post(url, "/v1/chat/completions", {"model": HF_BASE, "messages": MESSAGES, "seed": 5, "max_tokens": 16, **PAPER_DECODING})
    assert status == 200, body
    ch = body["choices"][0]
    turns.append({"role": "assistant", "text": ch["message"]["content"], "token_ids": ch["token_ids"],
                  "logprobs": [c["logprob"] for c in ch["logprobs"]["content"]], "format_error": False})
    turns.append({"role": "tool", "text": "ok"})
    sample = {**trajectory(advantage=1.0), "turns": turns}
    out = run_step(hf_root, "rl", {**step_input(base=HF_BASE, samples=[sample], lr=1e-3), "step_key": {"run": "run-1", "stage": "rl-1", "iteration": 0, "step": 0}})
    m = out["metrics"]
    assert m["tokens"] == len(ch["token_ids"])
    assert m["clip_fraction"] == 0.0 and abs(m["approx_kl"]) < 1e-5


def test_a_model_name_of_another_version_is_refused(hf_root: Path, serve):
    url = serve(hf_root, HF_BASE)
    status, body = _post(url, "/v1/chat/completions", {"model": "no-such-version", "messages": MESSAGES, "max_tokens": 2})
    assert status == 404 and body["error"]["code"] == "model_not_found"
