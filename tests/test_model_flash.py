"""FlashAttention-2 (model/flash.py): outputs and gradients equal PyTorch's
scaled_dot_product_attention; the backward saves Q, K, V, O, L only, so saved
memory grows with T, not T^2; the model's fast="flash" path equals the default."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from llm_from_scratch.model import (
    ModelConfig,
    Transformer,
    flash_attention,
    saved_tensor_bytes,
    scaled_dot_product_attention,
)

# (B, H, Hkv, Tq, Tk, d): odd lengths, Tq != Tk, grouped-query and multi-query
SHAPES = [(2, 4, 4, 17, 17, 8), (1, 4, 2, 13, 29, 6), (2, 6, 1, 5, 40, 4)]
BLOCKS = [(1, 1), (4, 7), (16, 5), (64, 64)]  # most do not divide the lengths


def qkv(B, H, Hkv, Tq, Tk, d, dtype=torch.float64, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [
        torch.randn(*shape, generator=g, dtype=dtype).requires_grad_()
        for shape in ((B, H, Tq, d), (B, Hkv, Tk, d), (B, Hkv, Tk, d))
    ]


def reference(q, k, v, causal):
    """SDPA with the queries as the last Tq of Tk positions (bottom-right causal)."""
    Tq, Tk = q.shape[-2], k.shape[-2]
    mask = torch.ones(Tq, Tk, dtype=torch.bool).tril(Tk - Tq) if causal else None
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, enable_gqa=True)


def outputs_and_grads(fn, q, k, v, grad):
    out = fn(q, k, v)
    return (out, *torch.autograd.grad(out, (q, k, v), grad))


@pytest.mark.parametrize("causal", [True, False])
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("blocks", BLOCKS)
def test_float64_output_and_gradients_equal_sdpa(causal, shape, blocks):
    q, k, v = qkv(*shape)
    grad = torch.randn(q.shape[:-1] + (v.shape[-1],), dtype=torch.float64)
    ours = outputs_and_grads(
        lambda q, k, v: flash_attention(q, k, v, causal, *blocks), q, k, v, grad
    )
    want = outputs_and_grads(lambda q, k, v: reference(q, k, v, causal), q, k, v, grad)
    for name, a, b in zip(("out", "dq", "dk", "dv"), ours, want):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12, msg=name)


@pytest.mark.parametrize("causal", [True, False])
def test_float32_output_and_gradients_equal_sdpa(causal):
    q, k, v = qkv(2, 4, 2, 33, 70, 16, dtype=torch.float32, seed=1)
    grad = torch.randn(q.shape, dtype=torch.float32)
    ours = outputs_and_grads(
        lambda q, k, v: flash_attention(q, k, v, causal, 8, 16), q, k, v, grad
    )
    want = outputs_and_grads(lambda q, k, v: reference(q, k, v, causal), q, k, v, grad)
    for a, b in zip(ours, want):
        assert a.dtype == torch.float32
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("causal", [True, False])
def test_gradcheck(causal):
    q, k, v = qkv(1, 2, 1, 3, 5, 4)
    assert torch.autograd.gradcheck(
        lambda q, k, v: flash_attention(q, k, v, causal, 2, 2), (q, k, v)
    )


def test_bfloat16_is_computed_in_float32_and_returned_in_bfloat16():
    q, k, v = qkv(1, 2, 2, 40, 40, 16, dtype=torch.float32, seed=2)
    low = [t.detach().bfloat16().requires_grad_() for t in (q, k, v)]
    out = flash_attention(*low, True, 16, 16)
    out.float().sum().backward()
    assert out.dtype == torch.bfloat16
    assert all(t.grad.dtype == torch.bfloat16 for t in low)
    want = reference(*(t.detach().float() for t in low), causal=True)
    torch.testing.assert_close(out.float(), want, rtol=2e-2, atol=2e-2)


def saved_by_autograd(fn):
    saved = []

    def pack(t):
        saved.append(t)
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = fn()
    return out, saved


def test_saves_exactly_q_k_v_o_and_the_logsumexp():
    q, k, v = qkv(2, 4, 2, 19, 19, 8, dtype=torch.float32)
    out, saved = saved_by_autograd(lambda: flash_attention(q, k, v, True, 8, 8))
    assert len(saved) == 5
    for got, want in zip(saved[:4], (q, k, v, out)):
        assert got.data_ptr() == want.data_ptr() and got.shape == want.shape
    lse = saved[4]
    assert lse.shape == (2, 4, 19) and lse.dtype == torch.float32
    scores = (q @ k.repeat_interleave(2, dim=1).mT / 8**0.5).detach()
    causal = torch.ones(19, 19, dtype=torch.bool).tril()
    scores = scores.masked_fill(~causal, -torch.inf)
    torch.testing.assert_close(lse, torch.logsumexp(scores, -1))


def test_saved_bytes_grow_linearly_while_naive_attention_grows_quadratically():
    def saved(fn, T):
        q, k, v = qkv(1, 2, 2, T, T, 16, dtype=torch.float32)
        return saved_tensor_bytes(lambda: fn(q, k, v))[1]

    def flash(q, k, v):
        return flash_attention(q, k, v, True, 32, 32)

    def naive(q, k, v):
        return scaled_dot_product_attention(q, k, v, torch.ones(
            q.shape[-2], q.shape[-2], dtype=torch.bool).tril())

    f1, f2 = saved(flash, 128), saved(flash, 256)
    # q, k, v, o: 4 * T * 16 floats per head, L: T floats per head; no T^2 term
    assert f1 == 2 * (4 * 128 * 16 + 128) * 4
    assert f2 == 2 * f1
    # naive: n(T) = a T^2 + b T exactly, so n(2T) - 2 n(T) = 2 a T^2
    n1, n2, n4 = (saved(naive, T) for T in (128, 256, 512))
    assert n4 - 2 * n2 == 4 * (n2 - 2 * n1)
    a = (n2 - 2 * n1) / (2 * 128**2)
    assert a >= 2 * 4  # at least the two heads' float32 probabilities


def test_bad_arguments_are_named():
    q, k, v = qkv(1, 2, 2, 8, 4, 4)
    with pytest.raises(ValueError, match="Tq <= Tk"):
        flash_attention(q, k, v, causal=True)
    with pytest.raises(ValueError, match="block_q"):
        flash_attention(q, k, v, causal=False, block_q=0)
    with pytest.raises(ValueError, match="multiple of kv heads"):
        flash_attention(q, *qkv(1, 3, 3, 8, 4, 4)[1:], causal=False)
    with pytest.raises(ValueError, match="4-d"):
        flash_attention(q[0], k[0], v[0])


def small_config(**changes) -> ModelConfig:
    values = dict(vocab_size=61, d_model=32, n_layers=2, n_heads=4, n_kv_heads=2,
                  max_seq_len=64)
    return ModelConfig(**{**values, **changes})


def test_model_with_flash_gives_the_default_logits_and_gradients():
    torch.manual_seed(0)
    default = Transformer(small_config())
    flash = Transformer(small_config(fast="flash"))
    flash.load_state_dict(default.state_dict())
    idx = torch.randint(0, 61, (3, 45))
    logits = []
    for model in (default, flash):
        out = model(idx)
        out.square().mean().backward()
        logits.append(out)
    torch.testing.assert_close(logits[1], logits[0], rtol=1e-5, atol=1e-5)
    for (name, a), b in zip(default.named_parameters(), flash.parameters()):
        torch.testing.assert_close(b.grad, a.grad, rtol=1e-4, atol=1e-6, msg=name)


def test_model_with_flash_generates_like_the_default():
    torch.manual_seed(0)
    default = Transformer(small_config())
    flash = Transformer(small_config(fast="flash"))
    flash.load_state_dict(default.state_dict())
    prompt = torch.randint(0, 61, (2, 7))
    with torch.no_grad():  # prefill through flash, decoding through SDPA
        assert torch.equal(
            flash.generate(prompt, 10, temperature=0.0),
            default.generate(prompt, 10, temperature=0.0),
        )


def test_fast_accepts_flash_and_round_trips():
    config = small_config(fast="flash")
    assert ModelConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match="fast must be a bool or 'flash'"):
        small_config(fast="triton")


def test_attention_saved_bytes_rows_for_the_chapter_plot():
    from llm_from_scratch.model import attention_saved_bytes

    rows = attention_saved_bytes([32, 64], heads=2, head_dim=8, block=16)
    assert [r["T"] for r in rows] == [32, 64]
    assert rows[1]["flash_bytes"] == 2 * rows[0]["flash_bytes"]
    assert rows[1]["naive_bytes"] > 3 * rows[0]["naive_bytes"]


def test_flash_triton_imports_without_triton_and_refuses_cpu_tensors():
    from llm_from_scratch.model import flash_triton

    q, k, v = qkv(1, 2, 2, 8, 8, 16, dtype=torch.float32)
    if flash_triton.triton is None:
        assert not flash_triton.available()
        with pytest.raises(RuntimeError, match="triton"):
            flash_triton.triton_flash_forward(q, k, v)
    else:
        with pytest.raises(RuntimeError, match="CUDA"):
            flash_triton.triton_flash_forward(q, k, v)


@pytest.mark.parametrize("causal", [True, False])
def test_triton_forward_matches_sdpa_in_bfloat16(causal):
    pytest.importorskip("triton")
    if not torch.cuda.is_available():
        pytest.skip("the Triton kernel needs a CUDA GPU")
    from llm_from_scratch.model.flash_triton import triton_flash_attention

    q, k, v = (t.detach().cuda().bfloat16().requires_grad_()
               for t in qkv(2, 8, 2, 200, 333, 64, dtype=torch.float32))
    out = triton_flash_attention(q, k, v, causal)
    want = reference(*(t.detach().float() for t in (q, k, v)), causal=causal)
    torch.testing.assert_close(out.float(), want, rtol=2e-2, atol=2e-2)
    out.float().sum().backward()
    q2, k2, v2 = (t.detach().float().requires_grad_() for t in (q, k, v))
    reference(q2, k2, v2, causal).sum().backward()
    for a, b in ((q.grad, q2.grad), (k.grad, k2.grad), (v.grad, v2.grad)):
        torch.testing.assert_close(a.float(), b, rtol=5e-2, atol=5e-2)
