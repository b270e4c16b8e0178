"""Shared fixtures: a checkpoints root holding a seeded `test`-preset base policy, and trajectories."""
from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import torch

from swerl_trainer import checkpoint as ckpt

torch.set_num_threads(2)

BASE_ID = "base"
PAPER_DECODING = {"temperature": 1.0, "top_p": 1.0, "top_k": -1, "min_p": 0.0, "repetition_penalty": 1.0}


@pytest.fixture
def root(tmp_path: Path) -> Path:
    ckpt.create_base(tmp_path, BASE_ID, preset="test", seed=0)
    return tmp_path


def trajectory(episode_id: str = "ep-1", advantage: float | None = None, answer: str = "ls -la") -> dict:
    sample = {
        "episode_id": episode_id,
        "decoding": dict(PAPER_DECODING),
        "turns": [
            {"role": "system", "text": "You are a software engineer."},
            {"role": "user", "text": "Fix the bug in x.py"},
            {"role": "assistant", "text": "two blocks", "format_error": True},
            {"role": "tool", "text": "Format error: exactly one command block expected."},
            {"role": "assistant", "text": f"Let me look.\n```\n{answer}\n```", "format_error": False},
            {"role": "tool", "text": "x.py\n(Open file: n/a) (Current directory: /repo) bash-$"},
        ],
    }
    if advantage is not None:
        sample["advantage"] = advantage
    return sample


def step_input(step: int = 0, samples: list | None = None, lr: float = 1e-3, base: str = BASE_ID, **extra) -> dict:
    return {
        "step_key": {"run": "run-1", "stage": "rft", "iteration": 0, "step": step},
        "base_checkpoint": base,
        "batch": {"kind": "inline", "samples": samples or [trajectory()]},
        "hyper": {"lr": lr, "weight_decay": 0.1, "grad_clip": 1.0, "micro_batch_tokens": 2048, "eps_low": 0.2, "eps_high": 0.3},
        "decoding_expected": dict(PAPER_DECODING),
        **extra,
    }


def http_json(url: str, body: dict | None = None, timeout: float = 300) -> tuple[int, dict]:
    """(status, JSON body) of a GET (no body) or POST; an HTTP error status is returned, not raised."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data, {"content-type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


SED_SYSTEM = "Reply with one command in a ``` block."


def sed_demo(i: int) -> dict:
    """A learn-style sed demonstration: the issue names line n, the assistant deletes it."""
    n = 2 + i % 7
    return {"task_id": f"sed-{i}", "mode": "gold", "messages": [
        {"role": "system", "content": SED_SYSTEM},
        {"role": "user", "content": f"<issue>\napp.py line {n}: f() returns the wrong value\n</issue>"},
        {"role": "assistant", "content": f"```\nsed -i '{n}d' app.py\n```"},
        {"role": "tool", "content": "Your command ran successfully and did not produce any output."},
        {"role": "assistant", "content": "```\nsubmit\n```"}]}
