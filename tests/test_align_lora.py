"""LoRA from scratch (align/lora.py): the formula, the book Transformer, and
parity with Hugging Face ``peft`` on a small ``LlamaForCausalLM``."""

from __future__ import annotations

import copy
import math
from collections.abc import Iterator

import pytest
import torch
from torch import nn

from llm_from_scratch.align import (
    LoRALinear,
    apply_lora,
    merge_lora,
    train_token_rows,
    trainable_parameters,
    unmerge_lora,
)
from llm_from_scratch.model import ModelConfig, Transformer
from llm_from_scratch.model.layers import Linear


@pytest.fixture(autouse=True)
def single_thread() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def randomize_b(model: nn.Module, seed: int = 0) -> None:
    """B starts at zero (the adapter is a no-op); give it values to test with."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, LoRALinear):
                m.lora_B.copy_(torch.randn(m.lora_B.shape, generator=g) * 0.1)


@pytest.mark.parametrize("make", [nn.Linear, Linear])
def test_lora_linear_init_and_formula(make: type[nn.Module]) -> None:
    torch.manual_seed(0)
    base = make(6, 5)
    layer = LoRALinear(base, r=2, alpha=6.0, generator=torch.Generator().manual_seed(0))
    assert layer.scaling == 3.0
    assert layer.lora_A.shape == (2, 6) and layer.lora_B.shape == (5, 2)
    assert torch.equal(layer.lora_B, torch.zeros(5, 2))
    # Kaiming-uniform with a = sqrt(5), like nn.Linear and peft: bound 1/sqrt(in)
    expected = torch.empty(2, 6)
    torch.nn.init.kaiming_uniform_(
        expected, a=math.sqrt(5), generator=torch.Generator().manual_seed(0)
    )
    assert torch.equal(layer.lora_A, expected)
    assert layer.lora_A.abs().max() <= 1 / math.sqrt(6)
    x = torch.randn(3, 4, 6)
    assert torch.equal(layer(x), base(x))  # B = 0: the pretrained map exactly
    randomize_b(layer)
    W, A, Bm = base.weight, layer.lora_A, layer.lora_B
    reference = base(x) + 3.0 * x @ A.T @ Bm.T
    torch.testing.assert_close(layer(x), reference)
    torch.testing.assert_close(layer(x), x @ (W + 3.0 * Bm @ A).T + (
        base.bias if isinstance(base, nn.Linear) else 0.0
    ))
    assert [n for n, p in layer.named_parameters() if p.requires_grad] == [
        "lora_A", "lora_B"
    ]


def test_lora_linear_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="r must be >= 1, got 0"):
        LoRALinear(nn.Linear(3, 3), r=0)
    with pytest.raises(ValueError, match="alpha must be > 0"):
        LoRALinear(nn.Linear(3, 3), alpha=0.0)
    with pytest.raises(ValueError, match=r"dropout must be in \[0, 1\)"):
        LoRALinear(nn.Linear(3, 3), dropout=1.0)
    with pytest.raises(TypeError, match="2-D weight, got LayerNorm"):
        LoRALinear(nn.LayerNorm(3))


def tiny_transformer() -> Transformer:
    torch.manual_seed(0)
    return Transformer(
        ModelConfig(vocab_size=32, d_model=16, n_layers=2, n_heads=2, ffn_hidden=24)
    )


def test_apply_lora_on_the_book_transformer() -> None:
    model = tiny_transformer()
    ids = torch.randint(32, (2, 7), generator=torch.Generator().manual_seed(1))
    before = model(ids)
    _, total = trainable_parameters(model)
    apply_lora(model, r=4, alpha=8.0)
    adapters = [n for n, m in model.named_modules() if isinstance(m, LoRALinear)]
    assert len(adapters) == 2 * 7  # wq wk wv wo w1 w2 w3 in each of 2 layers
    assert "layers.0.attention.wq" in adapters
    assert "layers.1.feed_forward.w2" in adapters
    assert torch.equal(model(ids), before)  # B = 0: the same model
    # r (in + out) per matrix: 4 attention (16 -> 16), w1 w3 (16 -> 24), w2 (24 -> 16)
    per_layer = 4 * 4 * (16 + 16) + 3 * 4 * (16 + 24)
    trainable, with_adapters = trainable_parameters(model)
    assert trainable == 2 * per_layer == 1984
    assert with_adapters == total + trainable
    assert all(("lora_" in n) == p.requires_grad for n, p in model.named_parameters())
    randomize_b(model)
    model(ids).square().mean().backward()
    for name, p in model.named_parameters():
        assert (p.grad is not None) == ("lora_" in name), name
    with pytest.raises(ValueError, match="already has LoRA adapters"):
        apply_lora(model)


def test_apply_lora_on_chosen_targets_and_bad_targets() -> None:
    model = apply_lora(tiny_transformer(), r=2, alpha=2.0, target_modules=("wq", "wv"))
    assert trainable_parameters(model)[0] == 2 * 2 * 2 * (16 + 16)
    with pytest.raises(ValueError, match=r"\['q_proj'\] match no submodule"):
        apply_lora(tiny_transformer(), target_modules=("q_proj",))


def test_merge_and_unmerge() -> None:
    model = apply_lora(tiny_transformer(), r=4, alpha=8.0)
    randomize_b(model)
    ids = torch.randint(32, (2, 7), generator=torch.Generator().manual_seed(2))
    wq = model.layers[0].attention.wq
    original = wq.base.weight.clone()
    adapted = model(ids)
    merge_lora(model)
    assert wq.merged
    torch.testing.assert_close(wq.base.weight, original + 2.0 * wq.lora_B @ wq.lora_A)
    torch.testing.assert_close(model(ids), adapted, rtol=1e-5, atol=1e-5)
    merge_lora(model)  # a second merge is a no-op
    torch.testing.assert_close(model(ids), adapted, rtol=1e-5, atol=1e-5)
    unmerge_lora(model)
    assert not wq.merged
    torch.testing.assert_close(wq.base.weight, original, rtol=0, atol=1e-7)
    torch.testing.assert_close(model(ids), adapted, rtol=1e-5, atol=1e-5)


# --- parity with peft ----------------------------------------------------------------

TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def tiny_llama() -> nn.Module:
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(0)
    config = transformers.LlamaConfig(
        vocab_size=32, hidden_size=16, intermediate_size=32, num_hidden_layers=2,
        num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=32,
    )
    config._attn_implementation = "eager"
    return transformers.LlamaForCausalLM(config).eval()


def test_matches_peft_outputs_and_gradients() -> None:
    peft = pytest.importorskip("peft")
    base = tiny_llama()
    ours = apply_lora(copy.deepcopy(base), r=4, alpha=8.0, target_modules=TARGETS)
    theirs = peft.get_peft_model(
        copy.deepcopy(base),
        peft.LoraConfig(r=4, lora_alpha=8, target_modules=TARGETS, lora_dropout=0.0),
    )
    ours_by_name = {n: m for n, m in ours.named_modules() if isinstance(m, LoRALinear)}
    g = torch.Generator().manual_seed(3)
    pairs = []
    with torch.no_grad():
        for name, module in theirs.named_modules():
            if not isinstance(getattr(module, "lora_A", None), nn.ModuleDict):
                continue
            mine = ours_by_name.pop(name.removeprefix("base_model.model."))
            a, b = module.lora_A["default"].weight, module.lora_B["default"].weight
            assert torch.equal(b, torch.zeros_like(b))  # both start B at 0
            assert a.shape == mine.lora_A.shape and b.shape == mine.lora_B.shape
            assert module.scaling["default"] == mine.scaling == 2.0
            for theirs_p, ours_p in ((a, mine.lora_A), (b, mine.lora_B)):
                value = torch.randn(theirs_p.shape, generator=g) * 0.2
                theirs_p.copy_(value)
                ours_p.copy_(value)
            pairs.append((a, b, mine))
    assert not ours_by_name and len(pairs) == 2 * len(TARGETS)
    # per layer r (in + out): q o 4 (16 + 16), k v 4 (16 + 8), gate up down 4 (16 + 32)
    assert trainable_parameters(ours)[0] == theirs.get_nb_trainable_parameters()[0] == 2048

    ids = torch.randint(32, (2, 9), generator=g)
    ours_logits, theirs_logits = ours(ids).logits, theirs(ids).logits
    torch.testing.assert_close(ours_logits, theirs_logits, rtol=1e-5, atol=1e-6)
    assert not torch.allclose(ours_logits, base(ids).logits, atol=1e-3)
    labels = torch.roll(ids, -1, 1)
    for logits in (ours_logits, theirs_logits):
        nn.functional.cross_entropy(logits.flatten(0, 1), labels.flatten()).backward()
    for a, b, mine in pairs:
        torch.testing.assert_close(mine.lora_A.grad, a.grad, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(mine.lora_B.grad, b.grad, rtol=1e-5, atol=1e-6)
        assert mine.lora_A.grad.abs().max() > 0

    merged = theirs.merge_and_unload()
    merge_lora(ours)
    ours_weights = {
        n.replace(".base.", "."): p for n, p in ours.state_dict().items()
        if "lora_" not in n
    }
    theirs_weights = merged.state_dict()
    assert ours_weights.keys() == theirs_weights.keys()
    for name, p in theirs_weights.items():
        torch.testing.assert_close(ours_weights[name], p, rtol=1e-5, atol=1e-6)


def test_train_token_rows_moves_only_those_rows_of_a_tied_embedding():
    torch.manual_seed(0)
    model = Transformer(ModelConfig(vocab_size=32, d_model=16, n_layers=1, n_heads=2,
                                    tie_embeddings=True))
    apply_lora(model, r=2, alpha=4)
    handle = train_token_rows(model.tok_embeddings, [3, 30])
    before = model.tok_embeddings.weight.detach().clone()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad],
                            lr=1e-2, weight_decay=0.0)
    idx = torch.randint(0, 32, (4, 8))
    for _ in range(3):
        opt.zero_grad()
        logits = model(idx)
        nn.functional.cross_entropy(logits.flatten(0, 1), idx.flatten()).backward()
        opt.step()
    moved = (model.tok_embeddings.weight.detach() != before).any(1)
    assert moved.nonzero().flatten().tolist() == [3, 30]
    handle.remove()
    with pytest.raises(ValueError, match="token_ids"):
        train_token_rows(model.tok_embeddings, [32])
