"""Loss functions, verl-style: small pure functions selected by name; the step loop only wires them.

Both losses are token-level means. When a batch is split into micro-batches, the caller passes the
batch's total number of loss tokens as `denominator`, so that summing the micro-batch losses gives
exactly the loss of the whole batch (a long trajectory weighs more than a short one, as in DAPO).
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F


def _denominator(loss_mask: torch.Tensor, denominator: float | None) -> float:
    if denominator is not None:
        return float(denominator)
    # An all-masked batch contributes zero loss rather than NaN.
    return max(float(loss_mask.sum().item()), 1.0)


def sft_loss(
    logits: torch.Tensor,
    target_ids: torch.Tensor,
    loss_mask: torch.Tensor,
    denominator: float | None = None,
) -> torch.Tensor:
    """Token-mean cross-entropy over masked tokens.

    logits [b, t, v] predict target_ids [b, t]; loss_mask [b, t] is 1 on the assistant tokens of
    turns without a format error (RFT masks format-error turns and observations out, PAPER.md).
    """
    mask = loss_mask.to(logits.dtype)
    nll = F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), target_ids.reshape(-1), reduction="none")
    return (nll.view_as(mask) * mask).sum() / _denominator(loss_mask, denominator)


def dapo_policy_loss(
    logprobs: torch.Tensor,
    old_logprobs: torch.Tensor,
    advantages: torch.Tensor,
    loss_mask: torch.Tensor,
    eps_low: float,
    eps_high: float,
    denominator: float | None = None,
) -> tuple[torch.Tensor, dict[str, float]]:
    """DAPO token-level clipped policy-gradient loss; no KL term, no entropy bonus (PAPER.md).

    ratio = exp(logp - old_logp); per token loss = -min(ratio * A, clip(ratio, 1 - eps_low,
    1 + eps_high) * A), averaged over all action tokens of the batch. `advantages` is per token
    ([b, t]) or per sequence ([b], broadcast over its tokens).

    Returns the loss and stats: `clip_fraction` (masked tokens where the clipped term is the one
    taken, i.e. the gradient is cut), its split by side, `approx_kl` (mean old_logp - logp),
    `ratio_mean`, `ratio_max`, and `tokens`. Stats are plain floats, computed without gradient.
    """
    if advantages.dim() == 1:
        advantages = advantages.unsqueeze(-1).expand_as(logprobs)
    mask = loss_mask.to(logprobs.dtype)
    log_ratio = logprobs - old_logprobs
    ratio = torch.exp(log_ratio)
    unclipped = -advantages * ratio
    clipped = -advantages * torch.clamp(ratio, 1.0 - eps_low, 1.0 + eps_high)
    per_token = torch.maximum(unclipped, clipped)
    denom = _denominator(loss_mask, denominator)
    loss = (per_token * mask).sum() / denom

    with torch.no_grad():
        n = max(float(mask.sum().item()), 1.0)
        clip_active = (clipped > unclipped).to(mask.dtype) * mask
        clip_high = clip_active * (ratio > 1.0 + eps_high).to(mask.dtype)
        clip_low = clip_active * (ratio < 1.0 - eps_low).to(mask.dtype)
        masked_ratio = torch.where(mask > 0, ratio, torch.zeros_like(ratio))
        stats = {
            "clip_fraction": float(clip_active.sum().item()) / n,
            "clip_fraction_high": float(clip_high.sum().item()) / n,
            "clip_fraction_low": float(clip_low.sum().item()) / n,
            "approx_kl": float((-log_ratio * mask).sum().item()) / n,
            "ratio_mean": float((ratio * mask).sum().item()) / n,
            "ratio_max": float(masked_ratio.max().item()) if mask.sum() > 0 else 0.0,
            "tokens": float(mask.sum().item()),
        }
    return loss, stats


POLICY_LOSSES: dict[str, Callable[..., tuple[torch.Tensor, dict[str, float]]]] = {
    "dapo": dapo_policy_loss,
}


def policy_loss(name: str) -> Callable[..., tuple[torch.Tensor, dict[str, float]]]:
    if name not in POLICY_LOSSES:
        raise KeyError(f"unknown policy loss {name!r} (expected one of {', '.join(POLICY_LOSSES)})")
    return POLICY_LOSSES[name]
