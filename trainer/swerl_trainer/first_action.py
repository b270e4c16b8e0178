"""What a checkpoint's first action does on `learn` tasks: a probe of the one skill the learning
demo needs (read the line number in the issue, copy it into `sed -i 'Nd' app.py`), without a run.

  python -m swerl_trainer.first_action --checkpoints DIR --id CKPT --prompts validation.jsonl \\
      [--samples 4] [--temperature 1.0] [--max-tokens 48] [--threads 2]

Prompts: JSONL written by `npx tsx tasks/learn/generate.ts --prompts validation FILE`, one task a
line: {"task_id", "line", "def_line", "messages": [system, user]}. For each task the policy samples
`--samples` first actions (seeds 1000·task + k; temperature 0 is greedy, once) and each is
classified (`classify`). stdout: one JSON object with the share of each class and the counts.
Only the validation split is for tuning: never probe test.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import torch

from . import checkpoint as ckpt
from .sampling import Decoding, generate
from .tokenizer import ChatMessage, Tokenizer

CLASSES = ("gold", "line-below", "def-line", "other-line", "submit", "other")
_SED = re.compile(r"```\nsed -i '(\d+)d' app\.py\n```")


def classify(text: str, line: int, def_line: int) -> str:
    """gold: deletes the issue's line; line-below: the next one (a noise mode of the corpus);
    def-line: the line the issue says the function starts on (a distractor); other-line: any other
    line; submit: submits without editing; other: anything else."""
    m = _SED.fullmatch(text)
    if m:
        n = int(m.group(1))
        return "gold" if n == line else "line-below" if n == line + 1 else "def-line" if n == def_line else "other-line"
    return "submit" if text == "```\nsubmit\n```" else "other"


def probe_policy(model: torch.nn.Module, tokenizer: Tokenizer, tasks: list[dict], samples: int, temperature: float, max_tokens: int) -> dict:
    """The classes of `model`'s first actions on `tasks` (see the module doc); `model` is left in eval mode."""
    model.eval()
    counts = dict.fromkeys(CLASSES, 0)
    for ti, t in enumerate(tasks):
        prompt = tokenizer.encode_prompt([ChatMessage(m["role"], m["content"]) for m in t["messages"]])
        for k in range(samples if temperature > 0 else 1):
            out = generate(model, tokenizer, prompt, Decoding(temperature=temperature, seed=1000 * ti + k), max_tokens)
            text = tokenizer.decode(i for i in out.token_ids if i != tokenizer.end_id)
            counts[classify(text, t["line"], t["def_line"])] += 1
    n = sum(counts.values())
    return {"tasks": len(tasks), "actions": n, "temperature": temperature, "share": {k: v / n for k, v in counts.items()}, "counts": counts}


def read_prompts(path: Path) -> list[dict]:
    """The JSONL of `tasks/learn/generate.ts --prompts SPLIT FILE`."""
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def probe(c: ckpt.Checkpoint, tasks: list[dict], samples: int, temperature: float, max_tokens: int) -> dict:
    return {"checkpoint": c.id, **probe_policy(c.model, c.tokenizer, tasks, samples, temperature, max_tokens)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="swerl_trainer.first_action", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoints", required=True)
    p.add_argument("--id", required=True)
    p.add_argument("--prompts", required=True)
    p.add_argument("--samples", type=int, default=4)
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--max-tokens", type=int, default=48)
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    tasks = read_prompts(Path(a.prompts))
    c = ckpt.load(Path(a.checkpoints).resolve(), a.id)
    print(json.dumps(probe(c, tasks, a.samples, a.temperature, a.max_tokens)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
