"""How big is the model, and how much compute does one training token cost?

``flops_per_token`` follows the accounting of Chowdhery et al. (PaLM, 2022, app. B),
the one used to report model FLOPs utilisation (MFU):

    flops_per_token = 6 N + 12 L d T

* 6 N: each weight of a matrix multiply does one multiply-add (2 FLOPs) per token in
  the forward pass and two in the backward pass (gradients for the input and for the
  weight). N counts the weights used in matrix multiplies: every block's
  projections plus the output head. The input embedding is a lookup (no FLOPs) and
  the norms' gains are negligible, so neither is in N.
* 12 L d T: attention's own matmuls, q k^T and (softmax) v, each 2 d T FLOPs per token
  per layer forward, times 3 for forward + backward (T = context length, L layers,
  d = n_heads * head_dim). Causal masking could halve this; like PaLM we do not.
"""

from __future__ import annotations

from torch import nn

from llm_from_scratch.model.config import ModelConfig


def _layer_matmul_params(c: ModelConfig) -> int:
    attention = 2 * c.d_model * c.d_model + 2 * c.d_model * c.n_kv_heads * c.head_dim
    feed_forward = 3 * c.d_model * c.ffn_hidden
    return attention + feed_forward


def count_parameters(config_or_model: ModelConfig | nn.Module) -> int:
    """Trainable parameters; a tied embedding/output matrix is counted once."""
    if isinstance(config_or_model, nn.Module):
        return sum(p.numel() for p in config_or_model.parameters())
    if not isinstance(config_or_model, ModelConfig):
        raise TypeError(
            f"expected a ModelConfig or nn.Module, got {type(config_or_model).__name__}"
        )
    c = config_or_model
    per_layer = _layer_matmul_params(c) + 2 * c.d_model  # + two RMSNorm gains
    embeddings = c.vocab_size * c.d_model * (1 if c.tie_embeddings else 2)
    return embeddings + c.n_layers * per_layer + c.d_model


def matmul_parameters(config: ModelConfig) -> int:
    """N in 6N: weights used in matrix multiplies (blocks plus output head)."""
    return (
        config.n_layers * _layer_matmul_params(config)
        + config.vocab_size * config.d_model
    )


def flops_per_token(config: ModelConfig, seq_len: int) -> int:
    """Training FLOPs (forward + backward) per token at context length ``seq_len``."""
    if isinstance(seq_len, bool) or not isinstance(seq_len, int) or seq_len < 1:
        raise ValueError(f"seq_len must be a positive int, got {seq_len!r}")
    attention = 12 * config.n_layers * config.d_model * seq_len
    return 6 * matmul_parameters(config) + attention
