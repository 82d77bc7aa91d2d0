"""Activation checkpointing: the same gradients and losses, fewer saved bytes;
activation_memory's rows for the chapter's plot."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from llm_from_scratch.corpora import shakespeare
from llm_from_scratch.model import ModelConfig, Transformer, activation_bytes
from llm_from_scratch.train import TrainConfig, activation_memory, train
from llm_from_scratch.train.sources import byte_shards


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def model_and_batch(**changes):
    torch.manual_seed(0)
    values = dict(vocab_size=97, d_model=32, n_layers=3, n_heads=4, n_kv_heads=2,
                  max_seq_len=32)
    model = Transformer(ModelConfig(**{**values, **changes}))
    return model, torch.randint(0, 97, (4, 32), generator=torch.Generator())


@pytest.mark.parametrize("changes", [{}, {"fast": "flash"}, {"moe_experts": 4}])
def test_checkpointing_gives_the_same_gradients(changes):
    model, idx = model_and_batch(**changes)
    grads = []
    for checkpointing in (False, True):
        model.activation_checkpointing = checkpointing
        loss = model(idx).logsumexp(-1).mean()
        if model.aux_loss is not None:
            loss = loss + 0.01 * model.aux_loss
        loss.backward()
        grads.append({n: p.grad.clone() for n, p in model.named_parameters()})
        model.zero_grad(set_to_none=True)
    for name, g in grads[0].items():
        torch.testing.assert_close(grads[1][name], g, rtol=0, atol=0, msg=name)


def test_checkpointing_keeps_one_residual_tensor_per_block():
    model, idx = model_and_batch()
    full = activation_bytes(model, idx)
    model.activation_checkpointing = True
    kept = activation_bytes(model, idx)
    # each block keeps its input h (4, 32, 32) float32; then the final norm and
    # output layer save their inputs and the logits are the forward's result
    per_block = 4 * 32 * 32 * 4
    assert 3 * per_block < kept < full / 5
    with torch.no_grad():  # nothing is saved without autograd: no checkpointing
        assert torch.equal(model(idx), model(idx))


def test_activation_memory_rows_are_linear_in_batch_and_smaller_with_checkpointing():
    config = TrainConfig(d_model=32, n_layers=2, n_heads=2, seq_len=16)
    rows = activation_memory(config, [1, 2, 4], vocab_size=64, repeats=1)
    assert [(r["batch_size"], r["checkpointing"]) for r in rows] == [
        (b, c) for b in (1, 2, 4) for c in (False, True)
    ]
    for checkpointing in (False, True):
        saved = [r["saved_bytes"] for r in rows if r["checkpointing"] == checkpointing]
        # a B + c: c is the causal mask, the same for every batch size
        assert saved[2] - saved[1] == 2 * (saved[1] - saved[0]) > 0
    off, on = rows[0]["saved_bytes"], rows[1]["saved_bytes"]
    assert on < off / 3
    assert all(r["step_seconds"] > 0 for r in rows)
    with pytest.raises(ValueError, match="batch_sizes"):
        activation_memory(config, [0])


def test_config_field_is_validated_and_left_out_of_to_dict_by_default():
    assert "activation_checkpointing" not in TrainConfig().to_dict()
    on = TrainConfig(activation_checkpointing=True)
    assert TrainConfig.from_dict(on.to_dict()) == on
    with pytest.raises(ValueError, match="activation_checkpointing"):
        TrainConfig(activation_checkpointing="yes")
    assert TrainConfig().with_overrides(["activation_checkpointing=true"]) == on


def test_training_with_checkpointing_has_the_same_losses(tmp_path: Path):
    texts = [t.text[:20_000] for t in shakespeare()[:2]]
    train_m, val_m = byte_shards(texts, tmp_path, val_fraction=0.25)
    values = dict(d_model=32, n_layers=2, n_heads=2, batch_size=4, seq_len=32,
                  steps=3, eval_every=0, log_every=1, progress=False,
                  data="manifests", train_manifest=str(train_m),
                  val_manifest=str(val_m))
    plain = train(TrainConfig(**values))
    checkpointed = train(TrainConfig(**values, activation_checkpointing=True))
    assert checkpointed.model.activation_checkpointing
    assert checkpointed.losses == plain.losses
