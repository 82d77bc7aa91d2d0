"""The Inference chapter's exercise solutions (engine part)."""

from __future__ import annotations

import pytest
import torch

from llm_from_scratch.serve.quant import dequantize, quantize
from llm_from_scratch.serve.solutions import (
    kv_cache_tokens,
    per_tensor_int8,
    prompt_lookup_propose,
    static_batching_waste,
)


def test_kv_cache_tokens_llama3_8b():
    # 32 layers, 8 KV heads of 128, bf16: 128 KiB per token
    n = kv_cache_tokens(80e9, 16e9, 32, 8, 128)
    assert n == int(64e9 // (128 * 1024))
    with pytest.raises(ValueError, match="weights"):
        kv_cache_tokens(1e9, 2e9, 32, 8, 128)


def test_per_tensor_loses_to_per_channel_with_an_outlier_row():
    torch.manual_seed(0)
    w = torch.randn(16, 64)
    w[3] *= 100
    mse_tensor = (per_tensor_int8(w) - w).pow(2)[torch.arange(16) != 3].mean()
    q, s = quantize(w, 8)
    mse_channel = (dequantize(q, s, 8) - w).pow(2)[torch.arange(16) != 3].mean()
    assert mse_tensor > 100 * mse_channel
    # without the outlier both are close to the same error
    v = torch.randn(16, 64)
    assert (per_tensor_int8(v) - v).abs().max() <= v.abs().max() / 127 / 2 + 1e-6


def test_static_batching_waste():
    assert static_batching_waste([4, 4, 4, 4], 2) == 0.0
    assert static_batching_waste([1, 3], 2) == pytest.approx(1 - 4 / 6)
    assert static_batching_waste([1, 3], 1) == 0.0
    with pytest.raises(ValueError):
        static_batching_waste([], 2)


def test_prompt_lookup_propose():
    assert prompt_lookup_propose([5, 6, 7, 8, 5, 6], 3) == [7, 8, 5]
    assert prompt_lookup_propose([1, 2, 3], 2) == []
    assert prompt_lookup_propose([9, 1, 9, 1], 5) == [9, 1]
    assert prompt_lookup_propose([1, 2], 4) == []
