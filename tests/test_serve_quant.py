"""Weight-only int8/int4 quantization against torch's fake-quantize ops and
against torchao.

Exact reference: torch's own ``torch.fake_quantize_per_channel_affine``
(symmetric: zero point 0), applied per output channel (int8) or per group of
inputs (int4), plus a plain fake-quant written here. Library reference:
torchao's ``Int8WeightOnlyConfig`` and ``IntxWeightOnlyConfig`` (int4, per
group) on CPU; torchao maps absmax to the full signed range (int4: [-8, 7],
scale absmax / 7.5) where ours keeps it symmetric ([-7, 7], absmax / 7), so
the two agree to within a quantization step, with errors of the same size.
"""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from safetensors.torch import load_file, save_model

from llm_from_scratch.model import ModelConfig, Transformer
from llm_from_scratch.serve.quant import (
    QuantLinear,
    dequantize,
    pack_int4,
    quantize,
    quantize_model,
    unpack_int4,
    weight_bytes,
)


def torch_fake_quant(w: torch.Tensor, bits: int, group: int) -> torch.Tensor:
    """torch's fake-quantize, one channel per group of ``group`` inputs."""
    qmax = 2 ** (bits - 1) - 1
    rows = w.reshape(-1, group)
    scale = rows.abs().amax(dim=1) / qmax
    zero = torch.zeros(rows.shape[0], dtype=torch.int32)
    fq = torch.fake_quantize_per_channel_affine(rows, scale, zero, 0, -qmax, qmax)
    return fq.reshape(w.shape)


def plain_fake_quant(w: torch.Tensor, bits: int, group: int) -> torch.Tensor:
    qmax = 2 ** (bits - 1) - 1
    out = torch.empty_like(w)
    for i in range(w.shape[0]):
        for j in range(0, w.shape[1], group):
            g = w[i, j : j + group]
            s = g.abs().max() / qmax
            out[i, j : j + group] = torch.round(g / s).clamp(-qmax, qmax) * s
    return out


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(0, 15), max_size=64).filter(lambda v: len(v) % 2 == 0))
def test_pack_unpack_round_trip(values):
    q = torch.tensor(values, dtype=torch.uint8).reshape(1, -1)
    packed = pack_int4(q)
    assert packed.dtype == torch.uint8 and packed.shape[-1] == q.shape[-1] // 2
    assert torch.equal(unpack_int4(packed), q)


def test_pack_layout_and_errors():
    assert pack_int4(torch.tensor([[1, 2]], dtype=torch.uint8)).item() == 0x21
    with pytest.raises(ValueError, match="even"):
        pack_int4(torch.tensor([[1, 2, 3]], dtype=torch.uint8))
    with pytest.raises(ValueError, match=r"\[0, 15\]"):
        pack_int4(torch.tensor([[16, 0]], dtype=torch.uint8))


@pytest.mark.parametrize(("bits", "group"), [(8, None), (8, 32), (4, 32), (4, 128)])
def test_matches_torch_fake_quant_and_error_bound(bits, group):
    torch.manual_seed(0)
    w = torch.randn(48, 256)
    q, scale = quantize(w, bits, group)
    deq = dequantize(q, scale, bits)
    g = 256 if group is None else group
    ref = torch_fake_quant(w, bits, g)
    torch.testing.assert_close(deq, ref, atol=1e-6, rtol=0)
    torch.testing.assert_close(deq, plain_fake_quant(w, bits, g), atol=1e-6, rtol=0)
    # round to nearest: off by at most half a step of the group's scale
    step = scale.repeat_interleave(g, dim=1)
    assert bool(((deq - w).abs() <= step / 2 + 1e-7).all())
    assert q.dtype == (torch.int8 if bits == 8 else torch.uint8)
    assert q.shape == ((48, 256) if bits == 8 else (48, 128))


def test_quant_linear_forward_and_rows():
    torch.manual_seed(1)
    w = torch.randn(16, 64)
    lin = QuantLinear(w, bits=4, group_size=32)
    x = torch.randn(3, 5, 64)
    ref = x @ torch_fake_quant(w, 4, 32).mT
    torch.testing.assert_close(lin(x), ref, atol=1e-5, rtol=1e-5)
    idx = torch.tensor([[3, 0], [15, 3]])
    torch.testing.assert_close(lin.weight_rows(idx), lin.weight_rows()[idx])


def test_bad_settings_are_refused():
    w = torch.randn(4, 96)
    with pytest.raises(ValueError, match="bits"):
        quantize(w, 3)
    with pytest.raises(ValueError, match="group_size"):
        quantize(w, 4, 64)  # 64 does not divide 96
    with pytest.raises(TypeError, match="Transformer"):
        quantize_model(torch.nn.Linear(2, 2))


def tiny(tie: bool) -> Transformer:
    torch.manual_seed(2)
    cfg = ModelConfig(
        vocab_size=64, d_model=64, n_layers=2, n_heads=4, tie_embeddings=tie
    )
    return Transformer(cfg).eval()


@pytest.mark.parametrize("tie", [True, False])
def test_quantize_model_equals_fake_quant_model(tie, tmp_path):
    m = tiny(tie)
    q8 = quantize_model(m, bits=8)
    ref = tiny(tie)
    with torch.no_grad():
        for name, p in ref.named_parameters():
            if p.dim() == 2:
                p.copy_(torch_fake_quant(p, 8, p.shape[1]))
    idx = torch.randint(0, 64, (2, 12))
    with torch.no_grad():
        torch.testing.assert_close(q8(idx), ref(idx), atol=1e-4, rtol=1e-4)
        assert (q8(idx) - m(idx)).abs().max() < 0.05 * m(idx).abs().max()
        # the original is untouched, and generation still works
        assert type(m.output).__name__ == "Linear"
        q8.generate(idx[:1, :3], 4, temperature=0)
    f32, i8 = weight_bytes(m), weight_bytes(q8)
    assert 3.5 < f32 / i8 < 4
    assert 6 < f32 / weight_bytes(quantize_model(m, bits=4, group_size=32)) < 8
    save_model(q8, str(tmp_path / "q.safetensors"))
    back = load_file(str(tmp_path / "q.safetensors"))
    assert back["output.qweight"].dtype == torch.int8
    assert ("tok_embeddings.table.qweight" in back) == (not tie)


def _torchao_dequantized(w: torch.Tensor, bits: int, group: int | None) -> torch.Tensor:
    from torchao.quantization import (
        Int8WeightOnlyConfig,
        IntxWeightOnlyConfig,
        quantize_,
    )
    from torchao.quantization.granularity import PerGroup

    layer = torch.nn.Sequential(torch.nn.Linear(w.shape[1], w.shape[0], bias=False))
    layer[0].weight.data = w.clone()
    config = (Int8WeightOnlyConfig() if bits == 8 else
              IntxWeightOnlyConfig(weight_dtype=torch.int4, granularity=PerGroup(group)))
    quantize_(layer, config)
    return layer[0].weight.dequantize().float()


@pytest.mark.parametrize(("bits", "group"), [(8, None), (4, 32), (4, 128)])
def test_agrees_with_torchao_weight_only_quantization(bits, group):
    torch.manual_seed(0)
    w = torch.randn(64, 256) * torch.logspace(-1, 1, 64)[:, None]  # rows of many sizes
    x = torch.randn(5, 256)
    ours = QuantLinear(w, bits, group)
    ao = _torchao_dequantized(w, bits, group)
    deq = ours.weight_rows()
    # each is within half its own step of w, so within one of our steps of each other
    step = ours.scale.repeat_interleave(256 // ours.scale.shape[1], dim=1)
    assert bool(((deq - ao).abs() <= step + 1e-6).all())
    err_ours = float(((deq - w) ** 2).mean())
    err_ao = float(((ao - w) ** 2).mean())
    assert 0.8 < err_ours / err_ao < 1.5  # the same size of error (int4: 7 vs 7.5 levels)
    # and the layer's outputs: as close to torchao's as either is to float32
    y, y_ours, y_ao = x @ w.T, ours(x), x @ ao.T
    assert float((y_ours - y_ao).abs().max()) < 2.5 * float((y_ours - y).abs().max())
