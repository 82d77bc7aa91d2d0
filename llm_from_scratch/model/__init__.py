"""The model: a Llama-style decoder-only transformer written from scratch.

Read in this order: ``layers`` (Linear, Embedding, RMSNorm, SwiGLU), ``rope``,
``attention`` (with ``kv_cache``), ``transformer``, ``generation``; then ``flops``
(sizes and compute), ``flash`` (FlashAttention-2, forward and backward),
``memory`` (activations saved for the backward), ``hf`` (to and from Hugging
Face's Llama layout) and ``hf_files`` (a Llama checkpoint folder on disk).
"""

from llm_from_scratch.model.attention import (
    Attention,
    causal_mask,
    scaled_dot_product_attention,
)
from llm_from_scratch.model.config import ModelConfig, RopeScaling, default_ffn_hidden
from llm_from_scratch.model.flash import (
    FlashAttention2,
    blockwise_attention,
    flash_attention,
)
from llm_from_scratch.model.flops import (
    count_parameters,
    flops_per_token,
    matmul_parameters,
)
from llm_from_scratch.model.generation import sample_next, sampling_probs
from llm_from_scratch.model.hf import from_hf_llama, to_hf_llama
from llm_from_scratch.model.hf_files import load_hf_llama
from llm_from_scratch.model.kv_cache import KVCache
from llm_from_scratch.model.moe import MoEFeedForward, Router, load_balancing_loss
from llm_from_scratch.model.mup import (
    apply_mup_init,
    mup_param_groups,
    width_multiplier,
)
from llm_from_scratch.model.layers import (
    Embedding,
    FeedForward,
    Linear,
    RMSNorm,
    silu,
    softmax,
)
from llm_from_scratch.model.memory import (
    activation_bytes,
    attention_saved_bytes,
    saved_tensor_bytes,
)
from llm_from_scratch.model.rope import (
    RotaryEmbedding,
    apply_rotary,
    llama3_frequencies,
    rope_frequencies,
)
from llm_from_scratch.model.transformer import Block, Transformer

__all__ = [
    "Attention",
    "Block",
    "Embedding",
    "FeedForward",
    "FlashAttention2",
    "KVCache",
    "Linear",
    "MoEFeedForward",
    "ModelConfig",
    "RMSNorm",
    "RopeScaling",
    "RotaryEmbedding",
    "Router",
    "Transformer",
    "activation_bytes",
    "apply_mup_init",
    "apply_rotary",
    "attention_saved_bytes",
    "blockwise_attention",
    "causal_mask",
    "count_parameters",
    "default_ffn_hidden",
    "flash_attention",
    "flops_per_token",
    "from_hf_llama",
    "llama3_frequencies",
    "load_balancing_loss",
    "load_hf_llama",
    "matmul_parameters",
    "mup_param_groups",
    "rope_frequencies",
    "sample_next",
    "sampling_probs",
    "saved_tensor_bytes",
    "scaled_dot_product_attention",
    "silu",
    "softmax",
    "to_hf_llama",
    "width_multiplier",
]
