"""RoPE against a direct complex-number implementation; relative-position property."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from llm_from_scratch.model import (
    RopeScaling,
    RotaryEmbedding,
    apply_rotary,
    rope_frequencies,
)


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """These models are tiny: one thread is faster than several waiting on each
    other at every small matmul, especially on a shared machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def complex_rope(
    x: torch.Tensor, positions: torch.Tensor, theta: float
) -> torch.Tensor:
    """The definition: pair (2i, 2i+1) as a complex number times e^{i m theta_i}."""
    d = x.shape[-1]
    freqs = theta ** (-torch.arange(0, d, 2, dtype=torch.float64) / d)
    rot = torch.polar(
        torch.ones(len(positions), d // 2, dtype=torch.float64),
        torch.outer(positions.double(), freqs),
    )
    z = torch.view_as_complex(x.double().reshape(*x.shape[:-1], d // 2, 2))
    return torch.view_as_real(z * rot).flatten(-2)


@pytest.mark.parametrize("theta", [10000.0, 500000.0])
def test_matches_complex_multiplication(theta):
    torch.manual_seed(0)
    rope = RotaryEmbedding(16, 4096, theta)
    positions = torch.tensor([0, 1, 5, 100, 4095])
    x = torch.randn(3, 5, 16)
    cos, sin = rope(positions)
    got = apply_rotary(x, cos, sin)
    torch.testing.assert_close(
        got.double(), complex_rope(x, positions, theta), rtol=1e-5, atol=1e-5
    )


@settings(max_examples=30, deadline=None, derandomize=True)
@given(st.integers(0, 400), st.integers(0, 400), st.integers(0, 100))
def test_score_depends_only_on_offset(m, n, shift):
    g = torch.Generator().manual_seed(0)
    q, k = torch.randn(32, generator=g), torch.randn(32, generator=g)
    rope = RotaryEmbedding(32, 512)

    def score(pm: int, pn: int) -> torch.Tensor:
        cq, sq = rope(torch.tensor([pm]))
        ck, sk = rope(torch.tensor([pn]))
        return (apply_rotary(q[None], cq, sq) * apply_rotary(k[None], ck, sk)).sum()

    torch.testing.assert_close(
        score(m, n), score(m + shift, n + shift), rtol=1e-4, atol=1e-4
    )


def test_rotation_preserves_norm_and_position_zero_is_identity():
    x = torch.randn(4, 8, 64)
    rope = RotaryEmbedding(64, 32)
    cos, sin = rope.window(0, 8)
    torch.testing.assert_close(apply_rotary(x, cos, sin).norm(dim=-1), x.norm(dim=-1))
    torch.testing.assert_close(apply_rotary(x[:, :1], cos[:1], sin[:1]), x[:, :1])


def test_scaling():
    base = rope_frequencies(64, 10000.0)
    linear = rope_frequencies(64, 10000.0, RopeScaling("linear", 4.0))
    torch.testing.assert_close(linear, base / 4)
    ntk = rope_frequencies(64, 10000.0, RopeScaling("ntk", 4.0))
    assert ntk[0] == base[0]  # the fastest frequency is untouched
    torch.testing.assert_close(ntk[-1], base[-1] / 4)  # the slowest is interpolated


def meta_llama3_frequencies(freqs, factor, low, high, original):
    """Meta's ``apply_scaling`` (llama-models, Llama 3.1), one frequency at a time."""
    low_wavelen, high_wavelen = original / low, original / high
    out = []
    for freq in freqs.tolist():
        wavelen = 2 * math.pi / freq
        if wavelen < high_wavelen:
            out.append(freq)
        elif wavelen > low_wavelen:
            out.append(freq / factor)
        else:
            smooth = (original / wavelen - low) / (high - low)
            out.append((1 - smooth) * freq / factor + smooth * freq)
    return torch.tensor(out, dtype=torch.float64)


@pytest.mark.parametrize(
    "head_dim, theta, factor, low, high, original",
    [
        (128, 500000.0, 8.0, 1.0, 4.0, 8192),  # Llama 3.1
        (64, 500000.0, 32.0, 1.0, 4.0, 8192),  # Llama 3.2 1B
        (16, 10000.0, 4.0, 1.0, 2.0, 64),
    ],
)
def test_llama3_scaling_matches_meta_reference(
    head_dim, theta, factor, low, high, original
):
    scaling = RopeScaling("llama3", factor, low, high, original_max_seq_len=original)
    base = rope_frequencies(head_dim, theta)
    got = rope_frequencies(head_dim, theta, scaling)
    want = meta_llama3_frequencies(base, factor, low, high, original)
    torch.testing.assert_close(got, want, rtol=1e-12, atol=0)
    wavelength = 2 * math.pi / base
    assert got[0] == base[0]  # the fastest pair is kept
    torch.testing.assert_close(got[-1], base[-1] / factor)  # the slowest interpolated
    between = (wavelength > original / high) & (wavelength < original / low)
    ratio = (base / got)[between]
    assert between.any() and ((ratio > 1) & (ratio < factor)).all()


def test_out_of_range_positions_are_an_error():
    rope = RotaryEmbedding(8, 16)
    with pytest.raises(ValueError, match=r"\[0, 16\)"):
        rope(torch.tensor([3, 16]))
    with pytest.raises(ValueError, match="rope_scaling"):
        rope.window(10, 7)
    with pytest.raises(TypeError, match="integers"):
        rope(torch.tensor([1.0]))


def test_table_stays_float32_when_model_is_cast():
    rope = RotaryEmbedding(8, 16).to(torch.bfloat16)
    assert rope.cos.dtype == torch.float32
    torch.testing.assert_close(rope.cos, RotaryEmbedding(8, 16).cos)
