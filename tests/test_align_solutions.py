"""The exercise solutions against hand-computed values."""

from __future__ import annotations

import math

import pytest
import torch

from llm_from_scratch.align.solutions import (
    best_of_n,
    gae_advantages,
    ipo_loss,
    simpo_loss,
)


def test_ipo_hand_values() -> None:
    t = torch.tensor
    loss = ipo_loss(t([-1.0]), t([-3.0]), t([-2.0]), t([-2.0]), tau=0.25)
    assert loss.item() == pytest.approx((2.0 - 2.0) ** 2)  # margin 2 = 1 / (2 tau)
    loss = ipo_loss(t([-1.0]), t([-1.0]), t([-1.0]), t([-1.0]), tau=0.5)
    assert loss.item() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="tau"):
        ipo_loss(t([0.0]), t([0.0]), t([0.0]), t([0.0]), tau=0)


def test_gae_matches_a_hand_loop_and_limits() -> None:
    r = torch.tensor([0.0, 0.0, 1.0])
    v = torch.tensor([0.5, 0.2, 0.4])
    adv, targets = gae_advantages(r, v, gamma=0.9, lam=0.8)
    d = [0 + 0.9 * 0.2 - 0.5, 0 + 0.9 * 0.4 - 0.2, 1 - 0.4]
    a2 = d[2]
    a1 = d[1] + 0.72 * a2
    a0 = d[0] + 0.72 * a1
    torch.testing.assert_close(adv, torch.tensor([a0, a1, a2]))
    torch.testing.assert_close(targets, adv + v)
    # lam = 1, gamma = 1: advantage = return-to-go minus value
    adv, _ = gae_advantages(r, v, gamma=1.0, lam=1.0)
    torch.testing.assert_close(adv, torch.tensor([1.0, 1.0, 1.0]) - v)
    with pytest.raises(ValueError, match="shape"):
        gae_advantages(r, v[:2])


def test_best_of_n() -> None:
    text, s = best_of_n(["a", "bbb", "cc"], lambda xs: [len(x) for x in xs])
    assert (text, s) == ("bbb", 3.0)
    with pytest.raises(ValueError, match="at least one"):
        best_of_n([], lambda xs: [])


def test_simpo_hand_values() -> None:
    t = torch.tensor
    loss = simpo_loss(t([-4.0]), t([-6.0]), t([4.0]), t([3.0]), beta=2.0, gamma=0.5)
    # chosen 2 * -1 = -2, rejected 2 * -2 = -4, margin 2 - 0.5 = 1.5
    assert loss.item() == pytest.approx(math.log1p(math.exp(-1.5)))
