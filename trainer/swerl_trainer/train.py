"""One optimizer step (SFT or DAPO) on one batch: micro-batched to a token budget, gradients
accumulated with the batch's token count as the shared denominator, clipped, AdamW.

No I/O here: the caller loads the base checkpoint and persists the result (see steps.py).
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, Callable

import torch

from .batch import EncodedSample, MicroBatch, check_decoding, encode_sample, micro_batches
from .errors import TRAINER_BAD_BATCH, TrainerFault
from .losses import policy_loss, sft_loss
from .model import token_logprobs
from .tokenizer import Tokenizer

Progress = Callable[[dict[str, Any]], None]


@dataclass
class Hyper:
    lr: float
    weight_decay: float
    grad_clip: float
    micro_batch_tokens: int
    eps_low: float = 0.2
    eps_high: float = 0.3
    loss: str = "dapo"
    mask_format_errors: bool | None = None  # default: True for SFT (PAPER.md RFT), False for RL

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "Hyper":
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})


def _tensors(mb: MicroBatch, pad_id: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Right-padded inputs, targets, loss mask, old logprobs and per-sequence advantages."""
    t = max(s.length for s in mb.samples)
    b = len(mb.samples)
    inputs = torch.full((b, t), pad_id, dtype=torch.long)
    targets = torch.full((b, t), pad_id, dtype=torch.long)
    mask = torch.zeros(b, t)
    old = torch.full((b, t), math.nan)
    for i, s in enumerate(mb.samples):
        n = s.length
        inputs[i, :n] = torch.tensor(s.ids[:-1])
        targets[i, :n] = torch.tensor(s.ids[1:])
        mask[i, :n] = torch.tensor(s.loss_mask, dtype=torch.float)
        old[i, :n] = torch.tensor(s.old_logprobs)
    adv = torch.tensor([s.advantage for s in mb.samples])
    return inputs, targets, mask, old, adv


def _optimizer(model: torch.nn.Module, hyper: Hyper, state: dict[str, torch.Tensor] | None) -> torch.optim.AdamW:
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": hyper.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=hyper.lr,
    )
    if state:
        for name, p in model.named_parameters():
            if f"{name}.exp_avg" in state:
                opt.state[p] = {
                    "step": state[f"{name}.step"].clone(),
                    "exp_avg": state[f"{name}.exp_avg"].to(p.device, copy=True),
                    "exp_avg_sq": state[f"{name}.exp_avg_sq"].to(p.device, copy=True),
                }
    return opt


def optimizer_state(model: torch.nn.Module, opt: torch.optim.AdamW) -> dict[str, torch.Tensor]:
    """AdamW moments keyed by parameter name, so they survive in safetensors between steps."""
    out: dict[str, torch.Tensor] = {}
    for name, p in model.named_parameters():
        st = opt.state.get(p)
        if st:
            out[f"{name}.step"] = torch.as_tensor(st["step"], dtype=torch.float32).reshape(())
            out[f"{name}.exp_avg"] = st["exp_avg"].cpu().contiguous()
            out[f"{name}.exp_avg_sq"] = st["exp_avg_sq"].cpu().contiguous()
    return out


def encode_batch(
    kind: str,
    tok: Tokenizer,
    samples: list[dict[str, Any]],
    max_seq_len: int,
    hyper: Hyper,
    decoding_expected: dict[str, Any] | None,
) -> list[EncodedSample]:
    mask_fmt = hyper.mask_format_errors if hyper.mask_format_errors is not None else kind == "sft"
    if not samples:
        raise TrainerFault(TRAINER_BAD_BATCH, f"{kind} batch is empty")
    encoded = []
    for s in samples:
        if decoding_expected is not None:
            check_decoding(str(s.get("episode_id", "?")), s.get("decoding"), decoding_expected)
        if kind == "rl" and "advantage" not in s:
            raise TrainerFault(TRAINER_BAD_BATCH, f"rl sample {s.get('episode_id', '?')} has no advantage", {"episode_id": s.get("episode_id")})
        encoded.extend(encode_sample(tok, s, max_seq_len, mask_fmt))
    if sum(e.loss_tokens for e in encoded) == 0:
        raise TrainerFault(TRAINER_BAD_BATCH, f"{kind} batch of {len(samples)} samples has no trainable tokens")
    return encoded


def train_step(
    kind: str,
    model: torch.nn.Module,  # CausalLM or hf.HFCausalLM
    tok: Tokenizer,
    opt_state: dict[str, torch.Tensor] | None,
    encoded: list[EncodedSample],
    hyper: Hyper,
    temperature: float,
    progress: Progress = lambda _: None,
    n_samples: int | None = None,
) -> tuple[dict[str, torch.Tensor], dict[str, float]]:
    """Apply one optimizer step in place; returns the new optimizer state and the step metrics."""
    started = time.monotonic()
    model.train()
    opt = _optimizer(model, hyper, opt_state)
    opt.zero_grad(set_to_none=True)
    batches = micro_batches(encoded, hyper.micro_batch_tokens)
    total = float(sum(e.loss_tokens for e in encoded))
    pg = policy_loss(hyper.loss) if kind == "rl" else None
    loss_sum, clipped, kl = 0.0, 0.0, 0.0
    dev = next(model.parameters()).device  # a Hugging Face policy may sit on a GPU
    mismatch = LogprobMismatch()
    for i, mb in enumerate(batches):
        inputs, targets, mask, old, adv = (x.to(dev) for x in _tensors(mb, tok.pad_id))
        logits, _ = model(inputs)
        if pg is None:
            loss = sft_loss(logits, targets, mask, denominator=total)
        else:
            logp = token_logprobs(logits, targets, temperature)
            # Every micro-batch runs before the one optimizer step: this is the base the rollouts
            # were sampled from, so any gap is a training-inference mismatch, not learning.
            mismatch.add(logp.detach(), old, mask)
            # Without sampler logprobs the step is on-policy: the behaviour policy is the base itself.
            old = torch.where(torch.isnan(old), logp.detach(), old)
            loss, stats = pg(logp, old, adv, mask, hyper.eps_low, hyper.eps_high, denominator=total)
            clipped += stats["clip_fraction"] * stats["tokens"]
            kl += stats["approx_kl"] * stats["tokens"]
        loss.backward()
        loss_sum += float(loss.item())
        progress({"micro_batch": i + 1, "micro_batches": len(batches), "loss_so_far": loss_sum})
    grad_norm = float(torch.nn.utils.clip_grad_norm_(model.parameters(), hyper.grad_clip).item())
    if not math.isfinite(grad_norm) or not math.isfinite(loss_sum):
        raise TrainerFault(TRAINER_BAD_BATCH, f"{kind} step produced a non-finite loss ({loss_sum}) or grad norm ({grad_norm})")
    opt.step()
    model.eval()
    elapsed = max(time.monotonic() - started, 1e-9)
    seq_tokens = sum(e.length for e in encoded)
    metrics = {
        "loss": loss_sum,
        "clip_fraction": clipped / total if pg else 0.0,
        "approx_kl": kl / total if pg else 0.0,
        "tokens": int(total),
        "sequence_tokens": seq_tokens,
        "samples": n_samples if n_samples is not None else len(encoded),
        "sequences": len(encoded),
        "micro_batches": len(batches),
        "seconds": elapsed,
        "tokens_per_sec": seq_tokens / elapsed,
        "grad_norm": grad_norm,
    }
    if pg is not None:
        metrics.update(mismatch.metrics())
    return optimizer_state(model, opt), metrics


class LogprobMismatch:
    """|rollout logprob - trainer logprob| over action tokens that carry a rollout logprob, before
    the first optimizer step: mean and max (0 when no token had one)."""

    def __init__(self) -> None:
        self.total, self.count, self.max = 0.0, 0, 0.0

    def add(self, logp: torch.Tensor, old: torch.Tensor, mask: torch.Tensor) -> None:
        sel = (mask > 0) & ~torch.isnan(old)
        if not bool(sel.any()):
            return
        gap = (old[sel] - logp[sel]).abs()
        self.total += float(gap.sum().item())
        self.count += int(sel.sum().item())
        self.max = max(self.max, float(gap.max().item()))

    def metrics(self) -> dict[str, float]:
        return {
            "logprob_mismatch_mean": self.total / self.count if self.count else 0.0,
            "logprob_mismatch_max": self.max,
            "logprob_mismatch_tokens": float(self.count),
        }
