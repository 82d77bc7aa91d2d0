"""Every alignment loss against hand-computed values and torch references."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from llm_from_scratch.align.batching import IGNORE
from llm_from_scratch.align.losses import (
    bradley_terry_loss,
    dpo_loss,
    entropy,
    group_advantages,
    kl_estimate,
    masked_mean,
    sequence_logprob,
    sft_loss,
    token_logprobs,
)
from llm_from_scratch.align.pg import clipped_surrogate
from llm_from_scratch.train import cross_entropy

TOL = dict(rtol=1e-5, atol=1e-6)


def test_masked_mean_hand_values() -> None:
    x = torch.tensor([[1.0, 2.0, 3.0, 4.0], [10.0, 20.0, 30.0, 40.0]])
    mask = torch.tensor([[1, 0, 1, 0], [0, 0, 0, 1]])
    assert masked_mean(x, mask).item() == pytest.approx((1 + 3 + 40) / 3)
    torch.testing.assert_close(masked_mean(x, mask, dim=1), torch.tensor([2.0, 40.0]))


def test_masked_mean_rejects_empty_mask() -> None:
    with pytest.raises(ValueError, match="empty mask"):
        masked_mean(torch.ones(2, 3), torch.zeros(2, 3), empty="raise")
    with pytest.raises(ValueError, match="empty mask"):
        masked_mean(torch.ones(2, 3), torch.tensor([[1, 0, 0], [0, 0, 0]]), dim=1,
                    empty="raise")


def test_token_logprobs_match_cross_entropy() -> None:
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(3, 5, 11, generator=g)
    targets = torch.randint(11, (3, 5), generator=g)
    targets[0, :2] = IGNORE
    ce = F.cross_entropy(
        logits.transpose(1, 2), targets, ignore_index=IGNORE, reduction="none"
    )
    torch.testing.assert_close(token_logprobs(logits, targets), -ce, **TOL)
    assert (token_logprobs(logits, targets)[0, :2] == 0).all()
    torch.testing.assert_close(sequence_logprob(logits, targets), -ce.sum(1), **TOL)


def test_sft_loss_is_mean_over_learned_tokens_only() -> None:
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(2, 6, 7, generator=g)
    targets = torch.randint(7, (2, 6), generator=g)
    targets[:, :3] = IGNORE  # the prompt
    expected = F.cross_entropy(logits.reshape(-1, 7), targets.reshape(-1))
    torch.testing.assert_close(sft_loss(logits, targets), expected, **TOL)
    torch.testing.assert_close(
        sft_loss(logits, targets), cross_entropy(logits, targets)
    )
    with pytest.raises(ValueError, match="nothing to learn"):
        sft_loss(logits, torch.full_like(targets, IGNORE))


def test_entropy_hand_values_and_reference() -> None:
    uniform = torch.zeros(1, 1, 8)
    assert entropy(uniform).item() == pytest.approx(math.log(8), rel=1e-6)
    peaked = torch.tensor([[[100.0, 0.0, 0.0]]])
    assert entropy(peaked).item() == pytest.approx(0.0, abs=1e-6)
    logits = torch.randn(4, 3, 9, generator=torch.Generator().manual_seed(2))
    reference = torch.distributions.Categorical(logits=logits).entropy()
    torch.testing.assert_close(entropy(logits), reference, **TOL)


def test_bradley_terry_hand_values() -> None:
    loss, acc = bradley_terry_loss(torch.tensor([2.0, 0.0]), torch.tensor([0.0, 1.0]))
    expected = (math.log1p(math.exp(-2.0)) + math.log1p(math.exp(1.0))) / 2
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    assert acc.item() == 0.5
    # a huge margin stays finite (logsigmoid, not log(sigmoid))
    loss, _ = bradley_terry_loss(torch.tensor([-1000.0]), torch.tensor([1000.0]))
    assert loss.item() == pytest.approx(2000.0)


def test_dpo_hand_values() -> None:
    out = dpo_loss(
        torch.tensor([-1.0]), torch.tensor([-3.0]), torch.tensor([-2.0]),
        torch.tensor([-2.0]), beta=0.5,
    )
    assert out.chosen_reward.item() == pytest.approx(0.5)
    assert out.rejected_reward.item() == pytest.approx(-0.5)
    assert out.margin.item() == pytest.approx(1.0)
    assert out.loss.item() == pytest.approx(math.log1p(math.exp(-1.0)), rel=1e-6)
    assert out.accuracy.item() == 1.0


def test_dpo_at_the_reference_is_log2_and_gradient_signs() -> None:
    pi_w = torch.tensor([-4.0, -2.0], requires_grad=True)
    pi_l = torch.tensor([-3.0, -5.0], requires_grad=True)
    out = dpo_loss(pi_w, pi_l, pi_w.detach(), pi_l.detach(), beta=0.1)
    assert out.loss.item() == pytest.approx(math.log(2), rel=1e-6)
    out.loss.backward()
    # raise the chosen reply, lower the rejected one
    assert (pi_w.grad < 0).all() and (pi_l.grad > 0).all()
    with pytest.raises(ValueError, match="beta"):
        dpo_loss(pi_w, pi_l, pi_w, pi_l, beta=0.0)


@settings(derandomize=True, max_examples=30, deadline=None)
@given(st.integers(0, 10_000), st.floats(0.01, 2.0))
def test_dpo_equals_bradley_terry_on_implicit_rewards(seed: int, beta: float) -> None:
    g = torch.Generator().manual_seed(seed)
    pi_w, pi_l, ref_w, ref_l = (torch.randn(5, generator=g) * 3 for _ in range(4))
    out = dpo_loss(pi_w, pi_l, ref_w, ref_l, beta)
    bt, _ = bradley_terry_loss(beta * (pi_w - ref_w), beta * (pi_l - ref_l))
    torch.testing.assert_close(out.loss, bt, **TOL)


def test_kl_estimators_are_unbiased_under_the_policy() -> None:
    g = torch.Generator().manual_seed(3)
    p_logits, q_logits = torch.randn(7, generator=g), torch.randn(7, generator=g)
    logp, logq = F.log_softmax(p_logits, -1), F.log_softmax(q_logits, -1)
    exact = torch.distributions.kl_divergence(
        torch.distributions.Categorical(logits=p_logits),
        torch.distributions.Categorical(logits=q_logits),
    )
    for kind in ("k1", "k3"):  # E_p[k] over every token, weighted by p
        expectation = (logp.exp() * kl_estimate(logp, logq, kind)).sum()
        torch.testing.assert_close(expectation, exact, **TOL)
    assert (kl_estimate(logp, logq, "k3") >= 0).all()
    assert (kl_estimate(logp, logq, "k2") >= 0).all()
    with pytest.raises(ValueError, match="kind"):
        kl_estimate(logp, logq, "k4")


def test_kl_estimate_hand_values() -> None:
    logp, ref = torch.tensor([math.log(0.5)]), torch.tensor([math.log(0.25)])
    assert kl_estimate(logp, ref, "k1").item() == pytest.approx(math.log(2))
    assert kl_estimate(logp, ref, "k2").item() == pytest.approx(0.5 * math.log(2) ** 2)
    assert kl_estimate(logp, ref, "k3").item() == pytest.approx(0.5 - 1 + math.log(2))


def test_group_advantages_hand_values() -> None:
    adv = group_advantages(torch.tensor([[1.0, 0.0, 0.0, 1.0], [3.0, 3.0, 3.0, 3.0]]))
    s = math.sqrt(1 / 3)  # unbiased std of {1, 0, 0, 1}
    torch.testing.assert_close(
        adv[0], torch.tensor([0.5, -0.5, -0.5, 0.5]) / (s + 1e-6), **TOL
    )
    assert (adv[1] == 0).all()  # all equal: nothing to learn from this group
    with pytest.raises(ValueError, match="samples>=2"):
        group_advantages(torch.ones(4))


@pytest.mark.parametrize(
    ("ratio", "advantage", "loss", "grad_is_zero"),
    [
        (1.5, 1.0, -1.2, True),  # good action already pushed up: clipped
        (0.5, 1.0, -0.5, False),  # good action made rarer: full gradient
        (0.5, -1.0, 0.8, True),  # bad action already pushed down: clipped
        (1.5, -1.0, 1.5, False),  # bad action made likelier: full gradient
        (1.1, 1.0, -1.1, False),  # inside the trust region
    ],
)
def test_clipped_surrogate_hand_values(
    ratio: float, advantage: float, loss: float, grad_is_zero: bool
) -> None:
    logp = torch.tensor([[math.log(ratio)]], requires_grad=True)
    out, clip_rate = clipped_surrogate(
        logp, torch.zeros(1, 1), torch.tensor([advantage]), torch.ones(1, 1), 0.2
    )
    assert out.item() == pytest.approx(loss, rel=1e-6)
    out.backward()
    assert (logp.grad.abs().item() == 0) == grad_is_zero
    assert clip_rate.item() == float(abs(ratio - 1) > 0.2)


def test_clipped_surrogate_averages_over_mask_only() -> None:
    logp = torch.zeros(2, 3)
    adv = torch.tensor([1.0, -2.0])
    mask = torch.tensor([[1, 1, 0], [1, 0, 0]])
    loss, _ = clipped_surrogate(logp, logp, adv, mask)
    assert loss.item() == pytest.approx(-(1 + 1 - 2) / 3)
    with pytest.raises(ValueError, match="cliprange must be > 0"):
        clipped_surrogate(logp, logp, adv, mask, clip=0.0)


def test_clipped_surrogate_accepts_clip_ranges_of_one_and_more() -> None:
    # clip 1.5: the lower bound 1 - 1.5 < 0 never binds, the upper 2.5 does
    ratio = torch.tensor([[0.2, 3.0]])
    adv = torch.tensor([-1.0])
    loss, clip_rate = clipped_surrogate(ratio.log(), torch.zeros(1, 2), adv,
                                        torch.ones(1, 2), clip=1.5)
    # -min(r A, clip(r) A) with A = -1: max(r, clip(r)) = 0.2 and 3.0
    assert loss.item() == pytest.approx((0.2 + 3.0) / 2)
    assert clip_rate.item() == 0.5  # |3.0 - 1| > 1.5, |0.2 - 1| is not
