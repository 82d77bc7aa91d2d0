"""muP: at the base width it is standard parametrisation bit for bit; wider,
init, learning rates and logits follow the table of model/mup.py."""

from __future__ import annotations

import math

import pytest
import torch

from llm_from_scratch.model import ModelConfig, Transformer
from llm_from_scratch.model.mup import hidden_matrices, width_multiplier
from llm_from_scratch.train import TrainConfig
from llm_from_scratch.train.loop import build_optimizer
from llm_from_scratch.train.loss import cross_entropy


def model(d: int, heads: int, base: int | None, seed: int = 0) -> Transformer:
    torch.manual_seed(seed)
    return Transformer(ModelConfig(vocab_size=64, d_model=d, n_layers=2,
                                   n_heads=heads, mup_base_width=base))


def train_steps(m: Transformer, config: TrainConfig, steps: int = 3) -> None:
    opt = build_optimizer(m, config)
    gen = torch.Generator().manual_seed(1)
    for _ in range(steps):
        for group in opt.param_groups:
            group["lr"] = config.lr * group.get("lr_scale", 1.0)
        x = torch.randint(0, 64, (2, 12), generator=gen)
        cross_entropy(m(x), x).backward()
        opt.step()
        opt.zero_grad()


@pytest.mark.parametrize("optimizer", ["adamw", "muon"])
def test_base_width_equals_standard_parametrisation_exactly(optimizer) -> None:
    sp, mup = model(32, 4, None), model(32, 4, 32)
    for (name, a), b in zip(sp.state_dict().items(), mup.state_dict().values()):
        assert torch.equal(a, b), name
    x = torch.randint(0, 64, (2, 10), generator=torch.Generator().manual_seed(2))
    assert torch.equal(sp(x), mup(x))
    c_sp = TrainConfig(optimizer=optimizer, lr=1e-2)
    c_mup = TrainConfig(optimizer=optimizer, lr=1e-2, mup_base_width=32)
    train_steps(sp, c_sp)
    train_steps(mup, c_mup)
    for (name, a), b in zip(sp.state_dict().items(), mup.state_dict().values()):
        assert torch.equal(a, b), name


def test_wider_model_follows_the_table() -> None:
    sp, mup = model(64, 8, None), model(64, 8, 32)
    assert width_multiplier(mup.config) == 2.0
    hidden = {name for name, _ in hidden_matrices(mup)}
    assert "layers.0.attention.wq.weight" in hidden and "output.weight" not in hidden
    for (name, a), b in zip(sp.state_dict().items(), mup.state_dict().values()):
        scale = 1 / math.sqrt(2) if name in hidden else 1.0
        torch.testing.assert_close(b, a * scale, rtol=0, atol=0)
    opt = build_optimizer(mup, TrainConfig(lr=1e-2, mup_base_width=32))
    names = {id(p): n for n, p in mup.named_parameters()}
    for group in opt.param_groups:
        for p in group["params"]:
            expected = 0.5 if names[id(p)] in hidden else 1.0
            assert group["lr_scale"] == expected, names[id(p)]


def test_readout_multiplier_scales_logits() -> None:
    mup = model(64, 8, 32)
    x = torch.randint(0, 64, (1, 6))
    logits = mup(x)
    mup.config = ModelConfig(**{**mup.config.to_dict(), "mup_base_width": None})
    torch.testing.assert_close(logits, 0.5 * mup(x))


def test_bad_base_width_is_refused() -> None:
    with pytest.raises(ValueError, match="mup_base_width"):
        ModelConfig(vocab_size=8, d_model=8, n_layers=1, n_heads=2, mup_base_width=0)
    with pytest.raises(ValueError, match="mup_base_width"):
        TrainConfig(mup_base_width=0)
