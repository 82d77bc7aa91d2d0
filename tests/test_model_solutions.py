"""The exercise solutions, against torch references and the model's own modules."""

import math

import pytest
import torch
import torch.nn.functional as F

from llm_from_scratch.model import (
    ModelConfig,
    RotaryEmbedding,
    Transformer,
    apply_rotary,
)
from llm_from_scratch.model import count_parameters
from llm_from_scratch.model.hf import interleaved_to_half
from llm_from_scratch.model.inspect import attention_maps
from llm_from_scratch.model.flash import blockwise_attention
from llm_from_scratch.model.solutions import (
    attention_loop,
    geglu,
    kv_cache_bytes,
    layer_norm,
    parameter_breakdown,
    rope_wavelengths,
    rotate_half_rope,
    sliding_window_mask,
    theta_for_context,
)


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """These models are tiny: one thread is faster than several waiting on each
    other at every small matmul, especially on a shared machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_attention_loop_matches_sdpa():
    torch.manual_seed(0)
    q, k, v = torch.randn(7, 4), torch.randn(7, 4), torch.randn(7, 3)
    want = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    torch.testing.assert_close(attention_loop(q, k, v), want, rtol=1e-5, atol=1e-6)


def test_kv_cache_bytes_matches_allocated_cache():
    c = ModelConfig(vocab_size=10, d_model=32, n_layers=3, n_heads=4, n_kv_heads=2)
    cache = Transformer(c).init_kv_cache(batch_size=2, capacity=50)
    allocated = sum(t.nbytes for t in cache.k + cache.v)
    assert kv_cache_bytes(c, 2, 50, bytes_per_value=4) == allocated


def test_sliding_window_mask():
    m = sliding_window_mask(6, 3)
    assert m.sum(1).tolist() == [1, 2, 3, 3, 3, 3]
    assert torch.equal(
        sliding_window_mask(6, 6), torch.ones(6, 6, dtype=torch.bool).tril()
    )


def test_rotate_half_is_our_rope_up_to_a_channel_permutation():
    torch.manual_seed(0)
    x = torch.randn(5, 16)
    pos = torch.arange(5) * 7
    cos, sin = RotaryEmbedding(16, 64)(pos)
    ours = apply_rotary(x, cos, sin)
    # permuting channels (2i, 2i+1) -> (i, i + d/2) commutes with the rotation
    perm = interleaved_to_half(torch.arange(16.0)[:, None], 1).long().squeeze(1)
    torch.testing.assert_close(
        rotate_half_rope(x[:, perm], pos), ours[:, perm], rtol=1e-5, atol=1e-5
    )


def test_wavelengths_and_theta_for_context():
    w = rope_wavelengths(64, 10000.0)
    assert w[0] == 2 * math.pi and w[-1] < 2 * math.pi * 10000
    theta = theta_for_context(64, 8192)
    assert math.isclose(float(rope_wavelengths(64, theta)[-1]), 8192, rel_tol=1e-9)


def test_layer_norm_and_geglu_match_torch():
    torch.manual_seed(0)
    x, w, b = torch.randn(3, 8) * 5 + 2, torch.randn(8), torch.randn(8)
    torch.testing.assert_close(
        layer_norm(x, w, b), F.layer_norm(x, (8,), w, b), rtol=1e-5, atol=1e-5
    )
    w1, w3, w2 = torch.randn(12, 8), torch.randn(12, 8), torch.randn(8, 12)
    want = F.linear(F.gelu(F.linear(x, w1)) * F.linear(x, w3), w2)
    torch.testing.assert_close(geglu(x, w1, w3, w2), want, rtol=1e-4, atol=1e-4)


def test_parameter_breakdown_sums_to_count():
    for tie in (False, True):
        c = ModelConfig(
            vocab_size=50,
            d_model=32,
            n_layers=2,
            n_heads=4,
            n_kv_heads=1,
            tie_embeddings=tie,
        )
        assert sum(parameter_breakdown(c).values()) == count_parameters(Transformer(c))


def test_blockwise_attention_equals_sdpa():
    torch.manual_seed(0)
    q, k, v = (
        torch.randn(2, 3, 20, 8),
        torch.randn(2, 3, 45, 8),
        torch.randn(2, 3, 45, 5),
    )
    mask = torch.ones(20, 45, dtype=torch.bool).tril(25)  # last 20 of 45 positions
    want = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    for block in (1, 7, 64):
        torch.testing.assert_close(
            blockwise_attention(q, k, v, block), want, rtol=1e-5, atol=1e-6
        )
    torch.testing.assert_close(
        blockwise_attention(q, k, v, 8, causal=False),
        F.scaled_dot_product_attention(q, k, v),
        rtol=1e-5,
        atol=1e-6,
    )


def test_attention_maps_are_causal_distributions_that_reproduce_the_output():
    torch.manual_seed(0)
    m = Transformer(
        ModelConfig(vocab_size=30, d_model=32, n_layers=2, n_heads=4, n_kv_heads=2)
    )
    idx = torch.randint(0, 30, (2, 9))
    maps = attention_maps(m, idx)
    assert len(maps) == 2 and maps[0].shape == (2, 4, 9, 9)
    torch.testing.assert_close(maps[1].sum(-1), torch.ones(2, 4, 9))
    assert maps[0].triu(1).abs().max() == 0
    # layer 0: probabilities @ values, through wo, equals the attention sub-layer
    layer = m.layers[0]
    x = layer.attention_norm(m.tok_embeddings(idx))
    v = layer.attention.wv(x).view(2, 9, 2, 8).transpose(1, 2).repeat_interleave(2, 1)
    out = layer.attention.wo((maps[0] @ v).transpose(1, 2).reshape(2, 9, 32))
    cos, sin = m.rope.window(0, 9)
    torch.testing.assert_close(
        out, layer.attention(x, cos, sin, None), rtol=1e-5, atol=1e-6
    )
