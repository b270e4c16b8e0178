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

from conftest import PAPER_DECODING, http_json, sed_demo, step_input, trajectory  # noqa: E402
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


# --- pretrain.py --arch qwen2: the learning demo's base as a transformers model ------------------

PRE_HYPER = dict(arch="qwen2", preset="test", steps=30, batch_size=4, lr=3e-3, warmup=2, seed=0, max_seq_len=256)


@pytest.fixture(scope="module")
def pretrained_qwen2(tmp_path_factory):
    from swerl_trainer.pretrain import PretrainHyper, pretrain

    d = tmp_path_factory.mktemp("hf-pretrain")
    corpus = d / "corpus.jsonl"
    corpus.write_text("".join(json.dumps(sed_demo(i)) + "\n" for i in range(14)))
    events: list[dict] = []
    result = pretrain(corpus, d / "ckpts", "learn-base-qwen2", PretrainHyper(**PRE_HYPER), emit=events.append, log_every=10)
    return d, corpus, result, events


def test_pretrain_arch_qwen2_writes_a_base_transformers_loads_and_lowers_the_loss(pretrained_qwen2):
    d, _, result, events = pretrained_qwen2
    path = d / "ckpts" / "learn-base-qwen2"
    assert not result["cached"] and [e["step"] for e in events if e["event"] == "pretrain_progress"] == [1, 10, 20, 30]
    # 30 steps over 14 demonstrations (each seen ~8 times): from ~ln(vocab) to well below half of it.
    assert result["first_loss"] > 5.0, result["losses"]
    assert result["final_loss"] < 0.5 * result["first_loss"], result["losses"]
    assert sum(result["losses"][-10:]) < sum(result["losses"][:10]) / 2
    config = json.loads((path / "config.json").read_text())
    assert config["model_type"] == "qwen2" and config["hidden_size"] == hf.SIZES["test"]["hidden_size"]
    assert "pretrained" not in config  # the record lives in swerl.json, beside save_pretrained's files
    rec = json.loads((path / hf.SWERL_META_FILE).read_text())["pretrained"]
    assert rec["arch"] == "qwen2" and rec["hyper"]["arch"] == "qwen2" and rec["preset"] == "test"
    assert rec["tokenizer"]["type"] == "byte-level-bpe" and rec["tokenizer"]["digits"] == "individual"
    assert not (path / ckpt.OPTIMIZER_FILE).exists()
    model = transformers.AutoModelForCausalLM.from_pretrained(str(path))
    tok = transformers.AutoTokenizer.from_pretrained(str(path))
    assert type(model).__name__ == "Qwen2ForCausalLM" and len(tok) == rec["tokenizer"]["vocab_size"] == model.config.vocab_size
    assert rec["parameters"] == sum(p.numel() for p in model.parameters())
    # transformers' own forward gives the trained loss on a demonstration's answer (through <|im_end|>).
    messages = sed_demo(3)["messages"]
    prompt = list(tok.apply_chat_template(messages[:2], tokenize=True, add_generation_prompt=True, return_dict=False))
    full = list(tok.apply_chat_template(messages[:3], tokenize=True, return_dict=False))
    full = full[: full.index(tok.eos_token_id, len(prompt)) + 1]
    labels = [-100] * len(prompt) + full[len(prompt):]
    with torch.no_grad():
        loss = model(torch.tensor([full]), labels=torch.tensor([labels])).loss.item()
    assert loss < result["first_loss"] / 2, loss


def test_pretrained_tokenizer_splits_digits_and_round_trips_the_chat_template(pretrained_qwen2):
    d, _, _, _ = pretrained_qwen2
    path = d / "ckpts" / "learn-base-qwen2"
    tok = transformers.AutoTokenizer.from_pretrained(str(path))
    # Line numbers are copied digit by digit (docs/learn-demo-attempts.md, section 4).
    assert tok.convert_ids_to_tokens(tok.encode("137", add_special_tokens=False)) == ["1", "3", "7"]
    pieces = tok.convert_ids_to_tokens(tok.encode("sed -i '137d' app.py", add_special_tokens=False))
    assert ["1", "3", "7"] == [p for p in pieces if p.isdigit()] and "sed" in pieces
    c = ckpt.load(d / "ckpts", "learn-base-qwen2")
    messages = sed_demo(5)["messages"]
    want = tok.apply_chat_template(messages[:4], tokenize=True, add_generation_prompt=True, return_dict=False)
    assert c.tokenizer.encode_prompt([ChatMessage(m["role"], m["content"]) for m in messages[:4]]) == list(want)
    rendered = tok.apply_chat_template(messages, tokenize=False)
    assert tok.decode(tok.apply_chat_template(messages, tokenize=True, return_dict=False)) == rendered
    for m in messages:
        assert c.tokenizer.decode(c.tokenizer.encode(m["content"])) == m["content"]


def test_policy_server_serves_the_pretrained_qwen2_base_as_transformers_generates(pretrained_qwen2, serve):
    d, _, _, _ = pretrained_qwen2
    root, cid = d / "ckpts", "learn-base-qwen2"
    messages = sed_demo(4)["messages"][:2]
    status, body = _post(serve(root, cid), "/v1/chat/completions", {"model": cid, "messages": messages, "temperature": 0, "max_tokens": 16, "return_token_ids": True})
    assert status == 200 and body["model"] == cid, body
    served = body["choices"][0]["token_ids"]
    tok = transformers.AutoTokenizer.from_pretrained(str(root / cid))
    model = transformers.AutoModelForCausalLM.from_pretrained(str(root / cid))
    prompt = list(tok.apply_chat_template(messages, tokenize=True, add_generation_prompt=True, return_dict=False))
    assert body["prompt_token_ids"] == prompt
    gen = model.generate(torch.tensor([prompt]), attention_mask=torch.ones(1, len(prompt), dtype=torch.long), do_sample=False, max_new_tokens=16)
    assert served == gen[0, len(prompt):].tolist()[: len(served)] and served


def test_pretrain_arch_is_part_of_the_cache_key(pretrained_qwen2, capsys):
    from swerl_trainer.pretrain import main

    d, corpus, result, _ = pretrained_qwen2
    h = {**PRE_HYPER, "batch-size": PRE_HYPER["batch_size"], "max-seq-len": PRE_HYPER["max_seq_len"]}
    argv = ["--corpus", str(corpus), "--checkpoints", str(d / "ckpts"), "--id", "learn-base-qwen2", "--threads", "2"]
    for k in ("arch", "preset", "steps", "batch-size", "lr", "warmup", "seed", "max-seq-len"):
        argv += [f"--{k}", str(h[k])]
    assert main(argv) == 0
    [event] = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert event["event"] == "pretrain_cached" and event["final_loss"] == result["final_loss"]
    native = [*argv[: argv.index("--arch")], *argv[argv.index("--arch") + 2 :]]
    assert main(native) == 2
    event = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert event["event"] == "pretrain_failed" and "arch 'qwen2' vs 'native'" in event["message"]
    assert main([*argv, "--arch", "llama"]) == 2 and "arch 'qwen2' vs 'llama'" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main([*argv, "--preset", "tiny"])  # a native preset is not a qwen2 size


def test_the_trainer_worker_and_the_policy_server_start_in_this_venv():
    """`npm run demo -- --arch qwen2` runs them with this interpreter (install.sh --hf adds the
    worker's own pins, requirements-worker.txt, to the HF venv)."""
    import subprocess
    import sys

    trainer_dir = Path(__file__).resolve().parent.parent
    for module in ("swerl_trainer.worker", "swerl_trainer.server", "swerl_trainer.pretrain"):
        out = subprocess.run([sys.executable, "-m", module, "--help"], cwd=trainer_dir, capture_output=True, text=True, timeout=300)
        assert out.returncode == 0 and "usage:" in out.stdout, (module, out.stderr[-2000:])
