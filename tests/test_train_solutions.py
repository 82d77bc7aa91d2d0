"""The chapter's exercise solutions, checked against references."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from llm_from_scratch.train import AdamW, lr_at
from llm_from_scratch.train.solutions import AdamL2, unigram_bits_per_byte, wsd_lr_at


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_adam_l2_matches_torch_adam_with_weight_decay() -> None:
    torch.manual_seed(0)
    a = nn.Linear(5, 3)
    b = nn.Linear(5, 3)
    b.load_state_dict(a.state_dict())
    ours = AdamL2(a.parameters(), lr=1e-2, weight_decay=0.1)
    ref = torch.optim.Adam(b.parameters(), lr=1e-2, weight_decay=0.1, foreach=False)
    for _ in range(100):
        x = torch.randn(8, 5)
        for model, opt in ((a, ours), (b, ref)):
            opt.zero_grad()
            model(x).square().mean().backward()
            opt.step()
    for p, q in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)


def test_coupled_decay_is_weaker_than_decoupled_for_large_gradients() -> None:
    """With a big, steady gradient, L2 decay divided by sqrt(v) nearly vanishes."""
    finals = {}
    for name, cls in (("l2", AdamL2), ("adamw", AdamW)):
        p = nn.Parameter(torch.tensor([1.0]))
        opt = cls([p], lr=1e-2, weight_decay=1.0)
        for _ in range(200):
            p.grad = torch.tensor([100.0]) * torch.sign(torch.randn(1))
            opt.step()
        finals[name] = abs(p.item())
    assert finals["adamw"] < finals["l2"] * 0.5


def test_wsd_schedule() -> None:
    kw = dict(max_lr=1.0, total_steps=100, warmup_steps=10, decay_frac=0.2)
    assert wsd_lr_at(9, **kw) == 1.0
    assert wsd_lr_at(50, **kw) == 1.0 and wsd_lr_at(79, **kw) == 1.0
    assert wsd_lr_at(90, **kw) == pytest.approx(0.5)
    assert wsd_lr_at(100, **kw) == 0.0
    lrs = [wsd_lr_at(s, **kw) for s in range(10, 101)]
    assert all(x >= y for x, y in zip(lrs, lrs[1:]))
    # same warmup as the cosine schedule
    assert wsd_lr_at(3, **kw) == lr_at(3, max_lr=1.0, total_steps=100, warmup_steps=10)
    with pytest.raises(ValueError):
        wsd_lr_at(0, max_lr=1.0, total_steps=10, warmup_steps=20)


def test_unigram_bits_per_byte_equals_the_entropy() -> None:
    rng = np.random.default_rng(0)
    p = np.array([0.5, 0.25, 0.125, 0.125])
    train = rng.choice(4, size=200_000, p=p)
    val = rng.choice(4, size=200_000, p=p)
    entropy_bits = -(p * np.log2(p)).sum()  # 1.75 bits per token
    bpb = unigram_bits_per_byte(train, val, 4, 1.0)
    assert bpb == pytest.approx(entropy_bits, rel=1e-2)
    assert unigram_bits_per_byte(train, val, 4, 2.0) == pytest.approx(
        entropy_bits / 2, rel=1e-2
    )
    assert math.isfinite(unigram_bits_per_byte(train, np.array([3, 3]), 10, 1.0))
