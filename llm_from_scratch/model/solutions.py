"""Solutions to the exercises of the three model chapters (checked by the tests)."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from llm_from_scratch.model.config import ModelConfig

# --- Embeddings and attention --------------------------------------------------------


def attention_loop(q: Tensor, k: Tensor, v: Tensor) -> Tensor:
    """Causal attention for one head, (T, d) each, one query at a time: the formula
    with nothing vectorised, to compare against the matrix form."""
    T, d = q.shape
    out = torch.empty(T, v.shape[-1], dtype=v.dtype)
    for t in range(T):
        scores = torch.stack([q[t] @ k[s] / math.sqrt(d) for s in range(t + 1)])
        weights = torch.exp(scores - scores.max())
        weights = weights / weights.sum()
        out[t] = sum(w * v[s] for s, w in enumerate(weights))
    return out


def kv_cache_bytes(
    config: ModelConfig, batch_size: int, seq_len: int, bytes_per_value: int = 2
) -> int:
    """Memory of a full KV cache: keys and values, every layer, every kv head."""
    per_token = 2 * config.n_layers * config.n_kv_heads * config.head_dim
    return per_token * batch_size * seq_len * bytes_per_value


def sliding_window_mask(length: int, window: int) -> Tensor:
    """Causal mask where each query sees only the last ``window`` keys (itself
    included), as in Mistral 7B: True = attend."""
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}")
    i = torch.arange(length)[:, None]
    j = torch.arange(length)[None, :]
    return (j <= i) & (j > i - window)


# --- RoPE ----------------------------------------------------------------------


def rotate_half_rope(x: Tensor, positions: Tensor, theta: float = 10000.0) -> Tensor:
    """RoPE in the Hugging Face convention: channel i pairs with channel i + d/2."""
    d = x.shape[-1]
    freqs = theta ** (-torch.arange(0, d, 2, dtype=torch.float64) / d)
    angles = torch.outer(positions.double(), freqs).float()
    cos, sin = angles.cos().repeat(1, 2), angles.sin().repeat(1, 2)
    x1, x2 = x[..., : d // 2], x[..., d // 2 :]
    return x * cos + torch.cat((-x2, x1), dim=-1) * sin


def rope_wavelengths(head_dim: int, theta: float = 10000.0) -> Tensor:
    """Tokens per full turn of each channel pair: 2 pi / theta_i."""
    return (
        2
        * math.pi
        * theta ** (torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim)
    )


def theta_for_context(head_dim: int, context: int) -> float:
    """Smallest base whose slowest pair turns at most once over ``context`` tokens:
    2 pi theta^((d-2)/d) = context."""
    return (context / (2 * math.pi)) ** (head_dim / (head_dim - 2))


# --- SwiGLU and RMSNorm --------------------------------------------------------


def layer_norm(x: Tensor, weight: Tensor, bias: Tensor, eps: float = 1e-5) -> Tensor:
    """LayerNorm from scratch: subtract the mean, divide by the standard deviation."""
    mean = x.mean(-1, keepdim=True)
    var = (x - mean).pow(2).mean(-1, keepdim=True)  # biased, as in the paper
    return (x - mean) / torch.sqrt(var + eps) * weight + bias


def geglu(x: Tensor, w1: Tensor, w3: Tensor, w2: Tensor) -> Tensor:
    """GeGLU (Shazeer, 2020): SwiGLU with GELU as the gate's nonlinearity."""
    gate = x @ w1.mT
    gelu = 0.5 * gate * (1 + torch.erf(gate / math.sqrt(2)))
    return (gelu * (x @ w3.mT)) @ w2.mT


def parameter_breakdown(config: ModelConfig) -> dict[str, int]:
    """Parameters by kind: where does a model's size go?"""
    c = config
    kv = c.n_kv_heads * c.head_dim
    return {
        "embeddings": c.vocab_size * c.d_model,
        "attention": c.n_layers * (2 * c.d_model * c.d_model + 2 * c.d_model * kv),
        "feed_forward": c.n_layers * 3 * c.d_model * c.ffn_hidden,
        "norms": (2 * c.n_layers + 1) * c.d_model,
        "output": 0 if c.tie_embeddings else c.vocab_size * c.d_model,
    }
