"""Mixture of experts: shapes, the dense special case, the auxiliary loss,
capacity dropping, gradients, the model option and ``train --set moe_experts=8``."""

from __future__ import annotations

import json
import math

import pytest
import torch

from llm_from_scratch.model import FeedForward, ModelConfig, Transformer
from llm_from_scratch.model.moe import (
    MoEFeedForward,
    capacity,
    load_balancing_loss,
)


def test_shapes_and_router_weights() -> None:
    torch.manual_seed(0)
    moe = MoEFeedForward(16, 32, n_experts=4, top_k=2)
    x = torch.randn(3, 5, 16)
    assert moe(x).shape == (3, 5, 16)
    w, e, p = moe.router(x.reshape(-1, 16))
    assert w.shape == e.shape == (15, 2) and p.shape == (15, 4)
    torch.testing.assert_close(w.sum(-1), torch.ones(15))
    assert int(moe.load.sum()) == 15 * 2 and moe.dropped == 0.0


def test_one_expert_top1_equals_dense_swiglu() -> None:
    torch.manual_seed(1)
    dense = FeedForward(16, 40, n_layers=2)
    moe = MoEFeedForward(16, 40, n_experts=1, top_k=1, n_layers=2)
    moe.experts[0].load_state_dict(dense.state_dict())
    x = torch.randn(2, 7, 16)
    torch.testing.assert_close(moe(x), dense(x), rtol=0, atol=0)


def test_output_is_the_weighted_sum_of_chosen_experts() -> None:
    torch.manual_seed(2)
    moe = MoEFeedForward(8, 16, n_experts=4, top_k=2)
    x = torch.randn(6, 8)
    w, e, _ = moe.router(x)
    expected = torch.stack([
        sum(w[n, j] * moe.experts[int(e[n, j])](x[n]) for j in range(2))
        for n in range(6)
    ])
    torch.testing.assert_close(moe(x[None])[0], expected, rtol=1e-5, atol=1e-6)


def test_aux_loss_is_one_when_balanced_and_larger_when_collapsed() -> None:
    E, N = 4, 8
    uniform = torch.full((N, E), 1 / E)
    balanced = torch.arange(N)[:, None] % E  # top-1 spread evenly
    assert float(load_balancing_loss(uniform, balanced, E)) == pytest.approx(1.0)
    collapsed_p = torch.zeros(N, E)
    collapsed_p[:, 0] = 1.0
    collapsed = torch.zeros(N, 1, dtype=torch.long)
    assert float(load_balancing_loss(collapsed_p, collapsed, E)) == pytest.approx(E)


def test_router_gradients_are_finite_and_nonzero() -> None:
    torch.manual_seed(3)
    moe = MoEFeedForward(8, 16, n_experts=4, top_k=2)
    out = moe(torch.randn(2, 6, 8))
    (out.square().mean() + 0.01 * moe.aux_loss).backward()
    g = moe.router.gate.weight.grad
    assert g is not None and torch.isfinite(g).all() and g.abs().sum() > 0


def test_router_gradient_matches_finite_differences() -> None:
    torch.manual_seed(4)
    moe = MoEFeedForward(4, 8, n_experts=3, top_k=2).double()
    x = torch.randn(5, 4, dtype=torch.float64)

    def f(weight: torch.Tensor) -> torch.Tensor:
        params = {"router.gate.weight": weight}
        return torch.func.functional_call(moe, params, (x[None],)).sum()

    w0 = moe.router.gate.weight.detach().clone()
    assert torch.autograd.gradcheck(f, (w0.requires_grad_(),))


def test_capacity_drops_overflow_in_token_order() -> None:
    moe = MoEFeedForward(4, 8, n_experts=2, top_k=1, capacity_factor=1.0)
    experts = torch.zeros(6, 1, dtype=torch.long)  # all to expert 0
    assert capacity(6, 1, 2, 1.0) == 3
    keep = moe.within_capacity(experts)
    assert keep[:, 0].tolist() == [True] * 3 + [False] * 3


def test_model_option_reports_aux_loss_and_defaults_are_dense() -> None:
    base = dict(vocab_size=40, d_model=16, n_layers=2, n_heads=2)
    dense = ModelConfig(**base)
    assert dense.moe_experts == 0 and "moe_experts" not in dense.to_dict()
    torch.manual_seed(0)
    model = Transformer(ModelConfig(**base, moe_experts=4, moe_top_k=2))
    logits = model(torch.randint(0, 40, (2, 9)))
    assert logits.shape == (2, 9, 40) and model.aux_loss.ndim == 0
    config = ModelConfig.from_dict(json.loads(json.dumps(model.config.to_dict())))
    assert config == model.config
    with pytest.raises(ValueError, match="moe_top_k"):
        ModelConfig(**base, moe_experts=2, moe_top_k=3)


@pytest.mark.slow
def test_cli_trains_with_eight_experts(tmp_path) -> None:
    from llm_from_scratch.cli import main
    from llm_from_scratch.corpora import shakespeare
    from llm_from_scratch.train.sources import byte_shards

    texts = [t.text[:30_000] for t in shakespeare()[:2]]
    train_m, val_m = byte_shards(texts, tmp_path / "data", val_fraction=0.25)
    sets = ["d_model=32", "n_layers=1", "n_heads=2", "batch_size=4", "seq_len=32",
            "steps=6", "lr=1e-2", "eval_every=3", "eval_batches=1", "log_every=3",
            "data=manifests", f"train_manifest={train_m}", f"val_manifest={val_m}",
            "moe_experts=8", "ffn_hidden=32"]
    out = tmp_path / "run"
    args = ["train", "--out-dir", str(out), "--no-progress"]
    for item in sets:
        args += ["--set", item]
    assert main(args) in (0, None)
    records = [json.loads(line) for line in (out / "metrics.jsonl").open()]
    assert len(records) == 6 and all(math.isfinite(r["loss"]) for r in records)
    from llm_from_scratch.train import load_model

    model, config = load_model(out)
    assert config.moe_experts == 8 and len(model.layers[0].feed_forward.experts) == 8


def test_transformer_default_is_unchanged_by_the_new_fields() -> None:
    """Same seed, same weights and logits as before the MoE/muP options existed:
    the dense path draws the same random numbers in the same order."""
    c = ModelConfig(vocab_size=30, d_model=16, n_layers=1, n_heads=2)
    torch.manual_seed(5)
    model = Transformer(c)
    torch.manual_seed(5)
    emb = torch.empty(30, 16)
    torch.nn.init.trunc_normal_(emb, std=0.02, a=-0.06, b=0.06)
    torch.testing.assert_close(model.tok_embeddings.weight.detach(), emb)
    assert isinstance(model.layers[0].feed_forward, FeedForward)
    assert model.aux_loss is None
    model(torch.zeros(1, 3, dtype=torch.long))
    assert model.aux_loss is None
