"""Sampling with exactly the requested decoding parameters.

Order of logit processing (as in vLLM / HF): repetition penalty, temperature, top-k, top-p,
min-p, then sample. The logprob returned for a token is under the distribution it was actually
drawn from (after all processing, renormalized): the behaviour policy of the importance ratio.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch

from .tokenizer import Tokenizer


@dataclass(frozen=True)
class Decoding:
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = -1
    min_p: float = 0.0
    repetition_penalty: float = 1.0
    max_tokens: int | None = None
    seed: int | None = None

    def to_json(self) -> dict:
        return asdict(self)


@dataclass
class Completion:
    token_ids: list[int]
    logprobs: list[float]
    finish_reason: str  # "stop" (<|end|> or a stop string) | "length"


def process_logits(logits: torch.Tensor, seen: torch.Tensor, d: Decoding) -> torch.Tensor:
    """Log-probabilities [vocab] of the distribution to sample from, given raw logits [vocab]."""
    x = logits.float().clone()
    if d.repetition_penalty != 1.0 and seen.numel():
        idx = torch.unique(seen)
        v = x[idx]
        x[idx] = torch.where(v > 0, v / d.repetition_penalty, v * d.repetition_penalty)
    if d.temperature > 0:
        x = x / d.temperature
    else:  # greedy: a one-hot distribution
        hot = torch.full_like(x, float("-inf"))
        hot[x.argmax()] = 0.0
        return hot
    if d.top_k > 0 and d.top_k < x.numel():
        kth = torch.topk(x, d.top_k).values[-1]
        x = x.masked_fill(x < kth, float("-inf"))
    if d.top_p < 1.0:
        sorted_x, order = torch.sort(x, descending=True)
        probs = sorted_x.softmax(-1)
        # Keep the smallest prefix whose mass reaches top_p (the first token always stays).
        drop_sorted = (probs.cumsum(-1) - probs) >= d.top_p
        x = x.masked_fill(torch.zeros_like(drop_sorted).scatter(0, order, drop_sorted), float("-inf"))
    if d.min_p > 0.0:
        probs = x.softmax(-1)
        x = x.masked_fill(probs < d.min_p * probs.max(), float("-inf"))
    return x.log_softmax(-1)


@torch.no_grad()
def generate(
    model: torch.nn.Module,  # CausalLM or hf.HFCausalLM
    tok: Tokenizer,
    prompt: list[int],
    d: Decoding,
    max_tokens: int,
    stop: list[str] | None = None,
) -> Completion:
    gen = torch.Generator()
    gen.manual_seed(d.seed if d.seed is not None else torch.seed())
    model.eval()
    seen = torch.tensor(prompt, dtype=torch.long)
    logits, cache = model(torch.tensor([prompt]))
    out: list[int] = []
    lps: list[float] = []
    finish = "length"
    for _ in range(max_tokens):
        logp = process_logits(logits[0, -1].cpu(), seen, d)  # the seeded generator is a CPU one
        nxt = int(torch.multinomial(logp.exp(), 1, generator=gen).item())
        out.append(nxt)
        lps.append(float(logp[nxt].item()))
        if nxt == tok.end_id:
            finish = "stop"
            break
        if stop and any(s in tok.decode(out[-64:]) for s in stop):
            finish = "stop"
            break
        seen = torch.cat([seen, torch.tensor([nxt])])
        if len(prompt) + len(out) >= model.cfg.max_seq_len:
            break
        logits, cache = model(torch.tensor([[nxt]]), past=cache)
    return Completion(out, lps, finish)
