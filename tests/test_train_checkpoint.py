"""Checkpoints: exact round trips, atomic writes, no code execution on load."""

from __future__ import annotations

import json

import pytest
import torch

from llm_from_scratch.model import ModelConfig, Transformer
from llm_from_scratch.train import (
    AdamW,
    TrainConfig,
    latest_checkpoint,
    load_checkpoint,
    load_model,
    param_groups,
    save_checkpoint,
)
from llm_from_scratch.train import checkpoint as ckpt


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _trained(tie: bool = True) -> tuple[Transformer, AdamW]:
    torch.manual_seed(0)
    mc = ModelConfig(vocab_size=40, d_model=16, n_layers=2, n_heads=2,
                     tie_embeddings=tie, max_seq_len=16)
    model = Transformer(mc)
    opt = AdamW(param_groups(model, 0.1), lr=1e-2)
    x = torch.randint(0, 40, (2, 8))
    for _ in range(2):
        opt.zero_grad()
        model(x).logsumexp(-1).mean().backward()
        opt.step()
    return model, opt


@pytest.mark.parametrize("tie", [True, False])
def test_round_trip_restores_model_optimizer_and_rng(tmp_path, tie: bool) -> None:
    model, opt = _trained(tie)
    config = TrainConfig(d_model=16, n_layers=2, n_heads=2)
    g = torch.Generator().manual_seed(5)
    g.manual_seed(7)
    path = save_checkpoint(
        tmp_path / "ck", model, opt, 2, config.to_dict(), {"data": g.get_state()},
        model_config=model.config.to_dict(), metadata={"history": [{"loss": 1.5}]},
    )
    expected_next = torch.rand(3)  # the global RNG after the save
    state = load_checkpoint(path)
    assert state.step == 2 and state.metadata["history"] == [{"loss": 1.5}]
    gens = ckpt.restore_rng(state)
    assert torch.equal(torch.rand(3), expected_next)
    g2 = torch.Generator()
    g2.set_state(gens["data"])
    assert torch.equal(torch.rand(4, generator=g2), torch.rand(4, generator=g))

    loaded, cfg = load_model(path)
    assert cfg == config
    for (k, a), b in zip(model.state_dict().items(), loaded.state_dict().values()):
        assert torch.equal(a, b), k
    if tie:
        assert loaded.output.weight is loaded.tok_embeddings.weight
    opt2 = AdamW(param_groups(loaded, 0.1), lr=1e-2)
    opt2.load_state_dict(state.optimizer_state)
    before, after = opt.state_dict(), opt2.state_dict()
    assert before["param_groups"] == after["param_groups"]
    assert before["state"].keys() == after["state"].keys()
    for i, s1 in before["state"].items():
        for key in s1:
            assert torch.equal(s1[key], after["state"][i][key]), (i, key)


def test_files_are_safetensors_and_json_only(tmp_path) -> None:
    model, opt = _trained()
    path = save_checkpoint(tmp_path / "ck", model, opt, 1, {})
    names = sorted(p.name for p in path.iterdir())
    assert names == ["model.safetensors", "optimizer.safetensors", "rng.safetensors",
                     "state.json"]
    json.loads((path / "state.json").read_text())
    for f in path.glob("*.safetensors"):
        header_len = int.from_bytes(f.read_bytes()[:8], "little")  # safetensors layout
        json.loads(f.read_bytes()[8 : 8 + header_len])


def test_crash_during_write_leaves_old_checkpoint_intact(tmp_path, monkeypatch) -> None:
    model, opt = _trained()
    path = save_checkpoint(tmp_path / "ck", model, opt, 1, {"v": 1})

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(ckpt, "save_file", boom)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(tmp_path / "ck", model, opt, 2, {"v": 2})
    assert load_checkpoint(path).step == 1  # the complete old one is still there


def test_latest_and_prune(tmp_path) -> None:
    model, _ = _trained()
    root = tmp_path / "checkpoints"
    for step in (2, 10, 4):
        save_checkpoint(root / f"step_{step:06d}", model, None, step, {})
    (root / ".step_000012.tmp-1").mkdir()  # a crashed write: ignored
    assert latest_checkpoint(tmp_path).name == "step_000010"
    ckpt.prune_checkpoints(tmp_path, keep=2)
    assert sorted(p.name for p in root.glob("step_*")) == ["step_000004", "step_000010"]
    assert latest_checkpoint(tmp_path / "nothing") is None


def test_bad_checkpoints_fail_clearly(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="not a checkpoint"):
        load_checkpoint(tmp_path)
    (tmp_path / "state.json").write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_checkpoint(tmp_path)
    (tmp_path / "state.json").write_text(json.dumps({"format": "other"}))
    with pytest.raises(ValueError, match="not an llm-from-scratch checkpoint"):
        load_checkpoint(tmp_path)
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        load_model(tmp_path / "empty")
    model, _ = _trained()
    with pytest.raises(ValueError, match="does not fit"):
        ckpt.restore_model(model, {"bogus": torch.zeros(1)})
