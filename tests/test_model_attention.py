"""Attention against torch.nn.functional.scaled_dot_product_attention."""

import pytest
import torch
import torch.nn.functional as F

from llm_from_scratch.model import Attention, causal_mask, scaled_dot_product_attention
from llm_from_scratch.model.rope import RotaryEmbedding


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """These models are tiny: one thread is faster than several waiting on each
    other at every small matmul, especially on a shared machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_sdpa_matches_torch_with_leading_dims_and_rectangular_mask():
    torch.manual_seed(0)
    q = torch.randn(2, 3, 4, 5, 8)  # three leading batch dims, Tq = 5
    k, v = torch.randn(2, 3, 4, 9, 8), torch.randn(2, 3, 4, 9, 6)  # Tk = 9
    mask = torch.rand(5, 9) > 0.3
    mask[:, 0] = True
    got = scaled_dot_product_attention(q, k, v, mask)
    want = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(
        scaled_dot_product_attention(q, k, v),
        F.scaled_dot_product_attention(q, k, v),
        rtol=1e-5,
        atol=1e-6,
    )


def test_sdpa_rejects_float_masks():
    q = torch.randn(1, 2, 4)
    with pytest.raises(TypeError, match="boolean"):
        scaled_dot_product_attention(q, q, q, torch.zeros(2, 2))


def test_causal_mask_with_offset():
    m = causal_mask(2, start=3)
    assert m.shape == (2, 5)
    assert m.tolist() == [[True] * 4 + [False], [True] * 5]
    assert torch.equal(causal_mask(4), torch.ones(4, 4, dtype=torch.bool).tril())


@pytest.mark.parametrize("n_kv_heads", [4, 2, 1])
def test_gqa_equals_mha_with_repeated_kv_heads(n_kv_heads):
    torch.manual_seed(0)
    d, H, T = 32, 4, 6
    attn = Attention(d, H, n_kv_heads)
    rope = RotaryEmbedding(d // H, 16)
    cos, sin = rope.window(0, T)
    x = torch.randn(2, T, d)
    got = attn(x, cos, sin, None)
    # reference: torch's SDPA on explicitly repeated k/v heads
    from llm_from_scratch.model.rope import apply_rotary

    hd, g = d // H, H // n_kv_heads
    q = apply_rotary(attn.wq(x).view(2, T, H, hd).transpose(1, 2), cos, sin)
    k = apply_rotary(attn.wk(x).view(2, T, n_kv_heads, hd).transpose(1, 2), cos, sin)
    v = attn.wv(x).view(2, T, n_kv_heads, hd).transpose(1, 2)
    k, v = k.repeat_interleave(g, dim=1), v.repeat_interleave(g, dim=1)
    o = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    want = attn.wo(o.transpose(1, 2).reshape(2, T, d))
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)
    attn.fast = True
    torch.testing.assert_close(attn(x, cos, sin, None), want, rtol=1e-5, atol=1e-6)
