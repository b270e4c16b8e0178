"""CPU throughput of the reference trainer: SFT and RL steps (through the exactly-once step path,
checkpoint write included) and sampling. Prints one JSON object.

  trainer/.venv/bin/python trainer/bench.py [--preset tiny] [--samples 4] [--turn-bytes 300] [--steps 2]
  trainer/.venv-hf/bin/python trainer/bench.py --hf qwen2 [--hf-size small]   # a Hugging Face policy (hf.py)
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402

from swerl_trainer import checkpoint as ckpt  # noqa: E402
from swerl_trainer.sampling import Decoding, generate  # noqa: E402
from swerl_trainer.steps import run_step  # noqa: E402
from swerl_trainer.tokenizer import ChatMessage  # noqa: E402

DECODING = {"temperature": 1.0, "top_p": 1.0, "top_k": -1, "min_p": 0.0, "repetition_penalty": 1.0}


def trajectory(i: int, turns: int, turn_bytes: int, advantage: float) -> dict:
    body = ("def f(x):\n    return x + 1\n" * (turn_bytes // 29 + 1))[:turn_bytes]
    t = [{"role": "system", "text": "You are a software engineer."}, {"role": "user", "text": f"Issue {i}: fix f"}]
    for k in range(turns):
        t.append({"role": "assistant", "text": f"Step {k}.\n```\ncat f.py\n```", "format_error": False})
        t.append({"role": "tool", "text": body + "\n(Open file: f.py) (Current directory: /repo) bash-$"})
    return {"episode_id": f"ep-{i}", "advantage": advantage, "decoding": DECODING, "turns": t}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--preset", default="tiny")
    p.add_argument("--samples", type=int, default=4)
    p.add_argument("--turns", type=int, default=4)
    p.add_argument("--turn-bytes", type=int, default=300)
    p.add_argument("--steps", type=int, default=2)
    p.add_argument("--micro-batch-tokens", type=int, default=4096)
    p.add_argument("--gen-tokens", type=int, default=128)
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    p.add_argument("--hf", default=None, help="bench a Hugging Face base of this architecture (qwen2 | llama) instead")
    p.add_argument("--hf-size", default="small")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    root = Path(tempfile.mkdtemp(prefix="swerl-bench-"))
    if a.hf:
        from swerl_trainer import hf

        hf.create_base(root / "base", arch=a.hf, size=a.hf_size, seed=0, max_seq_len=4096)
        a.preset = f"hf-{a.hf}-{a.hf_size}"
    else:
        ckpt.create_base(root, "base", preset=a.preset)
    hyper = {"lr": 1e-4, "weight_decay": 0.1, "grad_clip": 1.0, "micro_batch_tokens": a.micro_batch_tokens, "eps_low": 0.2, "eps_high": 0.3}
    results: dict = {"preset": a.preset, "torch": torch.__version__, "threads": torch.get_num_threads(),
                     "cpu": platform.processor() or platform.machine(), "loadavg_1m": os.getloadavg()[0]}
    for kind in ("sft", "rl"):
        base, runs = "base", []
        for step in range(a.steps):
            samples = [trajectory(i, a.turns, a.turn_bytes, 1.0 if i % 2 else -1.0) for i in range(a.samples)]
            inp = {"step_key": {"run": "bench", "stage": kind, "iteration": 0, "step": step}, "base_checkpoint": base,
                   "batch": {"kind": "inline", "samples": samples}, "hyper": hyper, "decoding_expected": DECODING}
            t0 = time.monotonic()
            out = run_step(root, kind, inp)
            m = out["metrics"]
            runs.append({"wall_sec": time.monotonic() - t0, "train_sec": m["seconds"], "sequence_tokens": m["sequence_tokens"],
                         "loss_tokens": m["tokens"], "tokens_per_sec": m["tokens_per_sec"], "micro_batches": m["micro_batches"]})
            base = out["checkpoint_id"]
        best = max(runs, key=lambda r: r["tokens_per_sec"])
        results[kind] = {"steps": runs, "tokens_per_sec_best": best["tokens_per_sec"],
                         "checkpoint_write_sec": best["wall_sec"] - best["train_sec"]}
    c = ckpt.load(root, "base")
    prompt = c.tokenizer.encode_prompt([ChatMessage("user", "Fix the failing test in f.py")])
    t0 = time.monotonic()
    out = generate(c.model, c.tokenizer, prompt, Decoding(seed=0, temperature=1.0), a.gen_tokens)
    # The random base rarely emits <|end|>; a short completion is still a valid timing.
    results["sample"] = {"tokens": len(out.token_ids), "tokens_per_sec": len(out.token_ids) / (time.monotonic() - t0)}
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
