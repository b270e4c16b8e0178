"""Loss values and gradients against numbers computed by hand (eps_low 0.2, eps_high 0.3)."""
import math

import pytest
import torch

from swerl_trainer.losses import dapo_policy_loss, policy_loss, sft_loss

EPS_LOW, EPS_HIGH = 0.2, 0.3


def _logp_pair(ratios):
    """logprobs (requiring grad) and old logprobs with exp(logp - old) == ratios."""
    old = torch.full((1, len(ratios)), -1.0, dtype=torch.float64)
    logp = (old + torch.log(torch.tensor([ratios], dtype=torch.float64))).detach().requires_grad_(True)
    return logp, old


def test_clip_on_each_side_values_and_gradients():
    # tok0: A=+1, r=1.5 -> clipped high: -1.3, grad 0
    # tok1: A=-1, r=0.5 -> clipped low: +0.8, grad 0
    # tok2: A=+1, r=0.5 -> unclipped: -0.5, d/dlogp = -A*r = -0.5
    # tok3: A=-1, r=1.5 -> unclipped: +1.5, d/dlogp = -A*r = +1.5
    logp, old = _logp_pair([1.5, 0.5, 0.5, 1.5])
    adv = torch.tensor([[1.0, -1.0, 1.0, -1.0]], dtype=torch.float64)
    mask = torch.ones(1, 4)
    loss, stats = dapo_policy_loss(logp, old, adv, mask, EPS_LOW, EPS_HIGH)
    assert loss.item() == pytest.approx((-1.3 + 0.8 - 0.5 + 1.5) / 4)
    loss.backward()
    assert logp.grad.tolist()[0] == pytest.approx([0.0, 0.0, -0.5 / 4, 1.5 / 4])
    assert stats["clip_fraction"] == pytest.approx(0.5)
    assert stats["clip_fraction_high"] == pytest.approx(0.25)
    assert stats["clip_fraction_low"] == pytest.approx(0.25)
    assert stats["approx_kl"] == pytest.approx((2 * -math.log(1.5) + 2 * -math.log(0.5)) / 4)
    assert stats["ratio_max"] == pytest.approx(1.5)
    assert stats["tokens"] == 4


def test_ratio_inside_the_band_is_not_clipped():
    # r = 1.2 with A>0 is inside (0.8, 1.3): plain PG, grad -A*r.
    logp, old = _logp_pair([1.2, 0.9])
    adv = torch.tensor([[2.0, -1.0]], dtype=torch.float64)
    loss, stats = dapo_policy_loss(logp, old, adv, torch.ones(1, 2), EPS_LOW, EPS_HIGH)
    assert loss.item() == pytest.approx((-2.4 + 0.9) / 2)
    loss.backward()
    assert logp.grad.tolist()[0] == pytest.approx([-2.4 / 2, 0.9 / 2])
    assert stats["clip_fraction"] == 0.0


def test_mask_removes_tokens_from_value_gradient_and_count():
    logp, old = _logp_pair([1.5, 0.5, 0.5, 1.5])
    adv = torch.tensor([[1.0, -1.0, 1.0, -1.0]], dtype=torch.float64)
    mask = torch.tensor([[1.0, 1.0, 1.0, 0.0]])
    loss, stats = dapo_policy_loss(logp, old, adv, mask, EPS_LOW, EPS_HIGH)
    assert loss.item() == pytest.approx((-1.3 + 0.8 - 0.5) / 3)
    loss.backward()
    assert logp.grad.tolist()[0] == pytest.approx([0.0, 0.0, -0.5 / 3, 0.0])
    assert stats["clip_fraction"] == pytest.approx(2 / 3)
    assert stats["tokens"] == 3


def test_zero_advantage_row_has_no_gradient_but_counts_in_the_mean():
    logp, old = _logp_pair([1.0, 1.0])
    logp = torch.cat([logp, logp.detach().clone()]).detach().requires_grad_(True)
    old = torch.cat([old, old])
    adv = torch.tensor([1.0, 0.0], dtype=torch.float64)  # per sequence
    loss, _ = dapo_policy_loss(logp, old, adv, torch.ones(2, 2), EPS_LOW, EPS_HIGH)
    assert loss.item() == pytest.approx((-1 - 1 + 0 + 0) / 4)
    loss.backward()
    assert logp.grad.flatten().tolist() == pytest.approx([-0.25, -0.25, 0.0, 0.0])


def test_token_mean_weighs_a_long_sequence_more_than_a_short_one():
    # Row 0: 3 action tokens, A=+1. Row 1: 1 action token (then padding), A=-1. Ratio 1.
    # Token mean: (-3 + 1) / 4 = -0.5 (a per-sequence mean would give 0).
    logp = torch.full((2, 3), -1.0, dtype=torch.float64, requires_grad=True)
    old = torch.full((2, 3), -1.0, dtype=torch.float64)
    mask = torch.tensor([[1.0, 1.0, 1.0], [1.0, 0.0, 0.0]])
    adv = torch.tensor([1.0, -1.0], dtype=torch.float64)
    loss, _ = dapo_policy_loss(logp, old, adv, mask, EPS_LOW, EPS_HIGH)
    assert loss.item() == pytest.approx(-0.5)
    loss.backward()
    assert logp.grad.flatten().tolist() == pytest.approx([-0.25, -0.25, -0.25, 0.25, 0.0, 0.0])


def test_micro_batches_with_a_shared_denominator_sum_to_the_batch_loss():
    torch.manual_seed(0)
    logp = torch.randn(4, 5, dtype=torch.float64)
    old = logp + 0.3 * torch.randn(4, 5, dtype=torch.float64)
    adv = torch.tensor([1.0, -0.5, 2.0, -1.0], dtype=torch.float64)
    mask = (torch.rand(4, 5) > 0.3).float()
    full, _ = dapo_policy_loss(logp, old, adv, mask, EPS_LOW, EPS_HIGH)
    n = float(mask.sum())
    a, _ = dapo_policy_loss(logp[:2], old[:2], adv[:2], mask[:2], EPS_LOW, EPS_HIGH, denominator=n)
    b, _ = dapo_policy_loss(logp[2:], old[2:], adv[2:], mask[2:], EPS_LOW, EPS_HIGH, denominator=n)
    assert (a + b).item() == pytest.approx(full.item())


def test_sft_loss_values_and_gradients():
    # tok0: logits [0, 0], target 1 -> CE ln 2, d/dlogits = softmax - onehot = [0.5, -0.5]
    # tok1: logits [ln 3, 0], target 0 -> CE -ln(3/4), grad [-0.25, 0.25]
    # tok2: masked (an observation or a format-error turn): no value, no gradient
    logits = torch.tensor([[[0.0, 0.0], [math.log(3), 0.0], [5.0, -5.0]]], dtype=torch.float64, requires_grad=True)
    targets = torch.tensor([[1, 0, 1]])
    mask = torch.tensor([[1.0, 1.0, 0.0]])
    loss = sft_loss(logits, targets, mask)
    assert loss.item() == pytest.approx((math.log(2) - math.log(0.75)) / 2)
    loss.backward()
    assert logits.grad.flatten().tolist() == pytest.approx([0.25, -0.25, -0.125, 0.125, 0.0, 0.0])


def test_sft_loss_all_masked_is_zero_not_nan():
    logits = torch.zeros(1, 2, 3, requires_grad=True)
    loss = sft_loss(logits, torch.zeros(1, 2, dtype=torch.long), torch.zeros(1, 2))
    assert loss.item() == 0.0


def test_policy_loss_is_selected_by_name():
    assert policy_loss("dapo") is dapo_policy_loss
    with pytest.raises(KeyError, match="unknown policy loss 'grpo'"):
        policy_loss("grpo")
