"""Muon: the update equals the published pseudo-code, Newton-Schulz orthogonalises,
AdamW handles the rest, and ``train --set optimizer=muon`` runs from the CLI."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from llm_from_scratch.corpora import shakespeare
from llm_from_scratch.model import ModelConfig, Transformer
from llm_from_scratch.train.muon import Muon, muon_param_groups, newton_schulz
from llm_from_scratch.train.sources import byte_shards


def reference_zeropower(G: torch.Tensor, steps: int) -> torch.Tensor:
    """zeropower_via_newtonschulz5 from Jordan et al. (2024), in float32."""
    a, b, c = (3.4445, -4.7750, 2.0315)
    X = G.float()
    if G.size(-2) > G.size(-1):
        X = X.mT
    X = X / (X.norm(dim=(-2, -1), keepdim=True) + 1e-7)
    for _ in range(steps):
        A = X @ X.mT
        B = b * A + c * A @ A
        X = a * X + B @ X
    if G.size(-2) > G.size(-1):
        X = X.mT
    return X


def reference_muon_step(p, g, buf, lr, momentum, wd, steps=5):
    """Moonlight's Muon step (Liu et al., 2025, Algorithm 1), written out."""
    buf.mul_(momentum).add_(g)
    g = g.add(buf, alpha=momentum)  # Nesterov
    u = reference_zeropower(g, steps)
    adjusted_lr = lr * 0.2 * math.sqrt(max(p.shape[0], p.shape[1]))
    p.mul_(1 - lr * wd)
    p.add_(u, alpha=-adjusted_lr)


@pytest.mark.parametrize("shape", [(16, 24), (40, 12), (8, 8)])
def test_newton_schulz_matches_reference_and_is_nearly_orthogonal(shape) -> None:
    g = torch.randn(*shape, generator=torch.Generator().manual_seed(0))
    x = newton_schulz(g)
    torch.testing.assert_close(x, reference_zeropower(g, 5), rtol=0, atol=0)
    s = torch.linalg.svdvals(x)
    assert 0.6 < s.min() and s.max() < 1.25, s  # tuned for speed: not exactly 1
    u, _, vh = torch.linalg.svd(g, full_matrices=False)
    polar = u @ vh  # the exact orthogonal factor Muon approximates
    cosine = (x * polar).sum() / (x.norm() * polar.norm())
    assert cosine > 0.98


def test_newton_schulz_bf16_is_close_to_fp32() -> None:
    g = torch.randn(32, 48, generator=torch.Generator().manual_seed(1))
    lo = newton_schulz(g, dtype=torch.bfloat16)
    assert lo.dtype == torch.float32
    assert (lo - newton_schulz(g)).abs().max() < 0.05


def test_muon_steps_equal_the_reference_on_fixed_tensors() -> None:
    gen = torch.Generator().manual_seed(2)
    w = torch.nn.Parameter(torch.randn(12, 20, generator=gen))
    ref, buf = w.detach().clone(), torch.zeros(12, 20)
    opt = Muon([{"params": [w], "use_muon": True}], lr=0.02, momentum=0.95,
               weight_decay=0.1)
    for _ in range(3):
        g = torch.randn(12, 20, generator=gen)
        w.grad = g.clone()
        opt.step()
        reference_muon_step(ref, g, buf, lr=0.02, momentum=0.95, wd=0.1)
        torch.testing.assert_close(w.detach(), ref, rtol=1e-6, atol=1e-7)


def test_non_muon_groups_get_torch_adamw() -> None:
    gen = torch.Generator().manual_seed(3)
    a = torch.nn.Parameter(torch.randn(7, generator=gen))
    b = torch.nn.Parameter(a.detach().clone())
    ours = Muon([{"params": [a]}], lr=1e-2, betas=(0.9, 0.95), weight_decay=0.1)
    torchs = torch.optim.AdamW([b], lr=1e-2, betas=(0.9, 0.95), weight_decay=0.1)
    for _ in range(4):
        g = torch.randn(7, generator=gen)
        a.grad, b.grad = g.clone(), g.clone()
        ours.step()
        torchs.step()
    torch.testing.assert_close(a, b)


def test_param_groups_put_only_hidden_matrices_under_muon() -> None:
    model = Transformer(ModelConfig(vocab_size=50, d_model=16, n_layers=2, n_heads=2))
    groups = muon_param_groups(model, 0.1)
    names = {id(p): n for n, p in model.named_parameters()}
    muon = {names[id(p)] for g in groups if g["use_muon"] for p in g["params"]}
    rest = {names[id(p)] for g in groups if not g["use_muon"] for p in g["params"]}
    assert "tok_embeddings.weight" in rest and "output.weight" in rest
    assert "layers.0.attention.wq.weight" in muon
    assert "layers.1.feed_forward.w2.weight" in muon
    assert not any("norm" in n for n in muon)
    assert muon | rest == set(names.values()) and not muon & rest


def test_muon_rejects_bad_groups() -> None:
    with pytest.raises(ValueError, match="2-D"):
        Muon([{"params": [torch.nn.Parameter(torch.ones(3))], "use_muon": True}])
    with pytest.raises(ValueError, match="momentum"):
        Muon([torch.nn.Parameter(torch.ones(3, 3))], momentum=1.0)
    with pytest.raises(ValueError, match="optimizer"):
        from llm_from_scratch.train import TrainConfig

        TrainConfig(optimizer="sgd")


@pytest.fixture(scope="module")
def manifests(tmp_path_factory) -> tuple[Path, Path]:
    texts = [t.text[:30_000] for t in shakespeare()[:2]]
    return byte_shards(texts, tmp_path_factory.mktemp("bytes"), val_fraction=0.25)


def tiny_cli_args(manifests: tuple[Path, Path], out: Path, *sets: str) -> list[str]:
    base = ["d_model=32", "n_layers=1", "n_heads=2", "batch_size=4", "seq_len=32",
            "steps=6", "lr=1e-2", "eval_every=3", "eval_batches=1", "log_every=3",
            "data=manifests", f"train_manifest={manifests[0]}",
            f"val_manifest={manifests[1]}"]
    args = ["train", "--out-dir", str(out), "--no-progress"]
    for item in base + list(sets):
        args += ["--set", item]
    return args


def test_cli_trains_with_muon(manifests, tmp_path) -> None:
    from llm_from_scratch.cli import main

    assert main(tiny_cli_args(manifests, tmp_path, "optimizer=muon")) in (0, None)
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").open()]
    assert len(records) == 6 and all(math.isfinite(r["loss"]) for r in records)
    assert records[-1]["loss"] < records[0]["loss"]
    assert json.loads((tmp_path / "config.json").read_text())["optimizer"] == "muon"
