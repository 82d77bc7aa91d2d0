"""AdamW from scratch against torch.optim.AdamW, and the decay/no-decay split."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from llm_from_scratch.train import AdamW, param_groups


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny tensors: a second thread only adds sync overhead on a busy CPU."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


class Tiny(nn.Module):
    """Every kind of parameter the split must classify."""

    def __init__(self) -> None:
        super().__init__()
        self.emb = nn.Embedding(10, 8)
        self.norm = nn.LayerNorm(8)
        self.fc = nn.Linear(8, 8)
        self.head = nn.Linear(8, 10, bias=False)
        self.head.weight = self.emb.weight  # tied

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        return self.head(torch.tanh(self.fc(self.norm(self.emb(idx)))))


def _twin_models(seed: int = 0) -> tuple[nn.Module, nn.Module]:
    torch.manual_seed(seed)
    a = nn.Sequential(nn.Linear(6, 16), nn.GELU(), nn.LayerNorm(16), nn.Linear(16, 3))
    b = nn.Sequential(nn.Linear(6, 16), nn.GELU(), nn.LayerNorm(16), nn.Linear(16, 3))
    b.load_state_dict(a.state_dict())
    return a, b


def test_adamw_matches_torch_over_1000_steps() -> None:
    ours_model, ref_model = _twin_models()
    kw = dict(lr=3e-3, betas=(0.9, 0.95), eps=1e-8)
    ours = AdamW(param_groups(ours_model, 0.1), **kw)
    ref = torch.optim.AdamW(param_groups(ref_model, 0.1), foreach=False, **kw)
    g = torch.Generator().manual_seed(1)
    for step in range(1000):
        x = torch.randn(32, 6, generator=g)
        y = torch.randn(32, 3, generator=g)
        lr = 3e-3 * (0.5 + 0.5 * (step % 7) / 7)  # a changing lr, like a schedule
        for model, opt in ((ours_model, ours), (ref_model, ref)):
            for group in opt.param_groups:
                group["lr"] = lr
            opt.zero_grad()
            nn.functional.mse_loss(model(x), y).backward()
            opt.step()
    for p, q in zip(ours_model.parameters(), ref_model.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)
    ours_state, ref_state = ours.state_dict()["state"], ref.state_dict()["state"]
    for i in ref_state:
        for key in ("step", "exp_avg", "exp_avg_sq"):
            torch.testing.assert_close(ours_state[i][key], ref_state[i][key])


def test_adamw_state_dict_round_trip_continues_identically() -> None:
    a, b = _twin_models(2)
    opt_a = AdamW(a.parameters(), lr=1e-2, weight_decay=0.1)
    x = torch.randn(8, 6)
    for _ in range(3):
        opt_a.zero_grad()
        a(x).square().mean().backward()
        opt_a.step()
    b.load_state_dict(a.state_dict())
    opt_b = AdamW(b.parameters(), lr=1e-2, weight_decay=0.1)
    opt_b.load_state_dict(copy.deepcopy(opt_a.state_dict()))  # no shared moments
    for model, opt in ((a, opt_a), (b, opt_b)):
        opt.zero_grad()
        model(x).square().mean().backward()
        opt.step()
    for p, q in zip(a.parameters(), b.parameters()):
        assert torch.equal(p, q)


def test_decoupled_decay_shrinks_weights_without_gradient_signal() -> None:
    p = nn.Parameter(torch.full((3,), 2.0))
    opt = AdamW([p], lr=0.1, weight_decay=0.5)
    p.grad = torch.zeros(3)
    opt.step()
    # m = v = 0: the adaptive part is 0, only the decay acts: p * (1 - lr * wd)
    torch.testing.assert_close(p.detach(), torch.full((3,), 2.0 * (1 - 0.05)))


def test_adamw_rejects_bad_hyperparameters() -> None:
    params = [nn.Parameter(torch.zeros(1))]
    for kw, word in [({"lr": -1}, "lr"), ({"betas": (0.9, 1.0)}, "betas"),
                     ({"eps": 0}, "eps"), ({"weight_decay": -0.1}, "weight_decay")]:
        with pytest.raises(ValueError, match=word):
            AdamW(params, **kw)
    p = nn.Parameter(torch.zeros(3))
    p.grad = torch.zeros(3).to_sparse()
    with pytest.raises(RuntimeError, match="sparse"):
        AdamW([p]).step()


def test_param_groups_split() -> None:
    model = Tiny()
    decay, no_decay = param_groups(model, 0.1)
    assert decay["weight_decay"] == 0.1 and no_decay["weight_decay"] == 0.0
    ids = lambda ps: {id(p) for p in ps}  # noqa: E731
    assert ids(decay["params"]) == {id(model.fc.weight)}
    assert ids(no_decay["params"]) == ids(
        [model.emb.weight, model.norm.weight, model.norm.bias, model.fc.bias]
    )  # the tied head appears once, with its embedding
    decay_e, _ = param_groups(model, 0.1, decay_embeddings=True)
    assert id(model.emb.weight) in ids(decay_e["params"])
    with pytest.raises(ValueError, match="weight_decay"):
        param_groups(model, -1.0)


def test_param_groups_on_the_book_transformer() -> None:
    from llm_from_scratch.model import ModelConfig, Transformer

    model = Transformer(ModelConfig(vocab_size=50, d_model=16, n_layers=2, n_heads=2))
    decay, no_decay = param_groups(model, 0.1)
    n = sum(p.numel() for g in (decay, no_decay) for p in g["params"])
    assert n == sum(p.numel() for p in model.parameters())
    assert all(p.ndim == 2 for p in decay["params"])
    assert id(model.tok_embeddings.weight) in {id(p) for p in no_decay["params"]}
    assert all(p.ndim == 1 or p is model.tok_embeddings.weight
               for p in no_decay["params"])


def test_foreach_update_is_bitwise_the_per_tensor_one() -> None:
    """The multi-tensor path (GPU default) computes exactly the readable one."""
    a, b = _twin_models(3)
    c, _ = _twin_models(3)
    kw = dict(lr=3e-3, betas=(0.9, 0.95), eps=1e-8)
    each = AdamW(param_groups(a, 0.1), foreach=False, **kw)
    multi = AdamW(param_groups(b, 0.1), foreach=True, **kw)
    ref = torch.optim.AdamW(param_groups(c, 0.1), foreach=True, **kw)
    g = torch.Generator().manual_seed(4)
    for step in range(200):
        x, y = torch.randn(16, 6, generator=g), torch.randn(16, 3, generator=g)
        for model, opt in ((a, each), (b, multi), (c, ref)):
            for group in opt.param_groups:
                group["lr"] = 3e-3 * (1 + step % 5) / 5
            opt.zero_grad()
            nn.functional.mse_loss(model(x), y).backward()
            if step % 7 == 3:  # a parameter without a gradient is skipped
                model[0].bias.grad = None
            opt.step()
    for p, q, r in zip(a.parameters(), b.parameters(), c.parameters()):
        assert torch.equal(p, q)
        torch.testing.assert_close(p, r, rtol=1e-6, atol=1e-7)
    assert each.state_dict()["param_groups"] == multi.state_dict()["param_groups"]


def test_foreach_auto_picks_the_per_tensor_path_on_cpu(monkeypatch) -> None:
    import llm_from_scratch.train.optim as optim

    calls = []
    monkeypatch.setattr(optim, "adamw_update", lambda *a: calls.append("each"))
    monkeypatch.setattr(optim, "adamw_update_foreach", lambda *a: calls.append("multi"))
    p = nn.Parameter(torch.zeros(3))
    p.grad = torch.ones(3)
    AdamW([p]).step()
    AdamW([p], foreach=True).step()
    assert calls == ["each", "multi"]
