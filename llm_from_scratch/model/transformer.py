"""The decoder-only transformer: embed, N pre-norm blocks, normalise, project to logits.

Module and weight names follow Meta's Llama code (``attention.wq``,
``feed_forward.w1``, ...), so tensor-parallel plans and checkpoint converters can
find every matrix by name.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from llm_from_scratch.model.attention import Attention, causal_mask
from llm_from_scratch.model.config import ModelConfig
from llm_from_scratch.model.kv_cache import KVCache
from llm_from_scratch.model.layers import Embedding, FeedForward, Linear, RMSNorm
from llm_from_scratch.model.moe import MoEFeedForward
from llm_from_scratch.model.rope import RotaryEmbedding


class Block(nn.Module):
    """x + attention(norm(x)), then + feed_forward(norm(.)).

    Pre-norm keeps an unnormalised residual path from the embedding to the output,
    so gradients reach early layers undamped; post-norm (the 2017 original, kept for
    the stability experiment) normalises the sum and needs warm-up to train deep.
    """

    def __init__(self, config: ModelConfig, layer_idx: int) -> None:
        super().__init__()
        c = config
        self.pre_norm = c.norm_placement == "pre"
        self.attention_norm = RMSNorm(c.d_model, c.norm_eps)
        self.attention = Attention(
            c.d_model, c.n_heads, c.n_kv_heads, c.n_layers, c.fast, layer_idx
        )
        self.ffn_norm = RMSNorm(c.d_model, c.norm_eps)
        if c.moe_experts:  # routed experts (model/moe.py) instead of one SwiGLU
            self.feed_forward: nn.Module = MoEFeedForward(
                c.d_model, c.ffn_hidden, c.moe_experts, c.moe_top_k, c.n_layers,
                c.moe_capacity_factor,
            )
        else:
            self.feed_forward = FeedForward(c.d_model, c.ffn_hidden, c.n_layers)

    def forward(
        self,
        x: Tensor,
        cos: Tensor,
        sin: Tensor,
        mask: Tensor | None,
        kv_cache: KVCache | None = None,
    ) -> Tensor:
        if self.pre_norm:
            h = x + self.attention(self.attention_norm(x), cos, sin, mask, kv_cache)
            return h + self.feed_forward(self.ffn_norm(h))
        h = self.attention_norm(x + self.attention(x, cos, sin, mask, kv_cache))
        return self.ffn_norm(h + self.feed_forward(h))


class Transformer(nn.Module):
    """The language model: token ids (B, T) -> next-token logits (B, T, vocab)."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        if not isinstance(config, ModelConfig):
            raise TypeError(
                f"config must be a ModelConfig, got {type(config).__name__}"
            )
        self.config = c = config
        self.tok_embeddings = Embedding(c.vocab_size, c.d_model)
        self.layers = nn.ModuleList(Block(c, i) for i in range(c.n_layers))
        self.norm = RMSNorm(c.d_model, c.norm_eps)
        self.output = Linear(c.d_model, c.vocab_size)
        if c.tie_embeddings:
            self.output.weight = self.tok_embeddings.weight
        self.rope = RotaryEmbedding(
            c.head_dim, c.max_positions, c.rope_theta, c.rope_scaling
        )
        # MoE: the summed load-balancing loss of the last forward (else None)
        self.aux_loss: Tensor | None = None
        # training option: each block's activations are recomputed in the backward
        # instead of stored (TrainConfig.activation_checkpointing sets it)
        self.activation_checkpointing = False
        if c.mup_base_width is not None:
            from llm_from_scratch.model.mup import apply_mup_init

            apply_mup_init(self)

    def forward(
        self,
        idx: Tensor,
        positions: Tensor | None = None,
        kv_cache: KVCache | None = None,
        attn_mask: Tensor | None = None,
    ) -> Tensor:
        """Logits for every position.

        ``positions`` (T,) or (B, T) overrides the rotary positions (default: the
        slot in the sequence, continuing after what ``kv_cache`` holds); the causal
        mask follows slot order unless ``attn_mask`` replaces it: boolean
        (B, 1, T, Tk), True where a query may attend a key, Tk the keys held after
        this step (batched serving uses it for rows of different lengths).
        """
        if idx.dim() != 2:
            raise ValueError(f"idx must have shape (B, T), got {tuple(idx.shape)}")
        B, T = idx.shape
        if T == 0:
            raise ValueError("idx must hold at least one token")
        start = 0 if kv_cache is None else kv_cache.length
        if kv_cache is not None:
            kv_cache.check_room(B, T)
        if positions is None:
            cos, sin = self.rope.window(start, T)
        else:
            if positions.shape not in ((T,), (B, T)):
                raise ValueError(
                    f"positions must have shape ({T},) or ({B}, {T}), "
                    f"got {tuple(positions.shape)}"
                )
            cos, sin = self.rope(positions.to(idx.device))
            if (
                positions.dim() == 2
            ):  # (B, T, d/2) -> (B, 1, T, d/2): same for all heads
                cos, sin = cos[:, None], sin[:, None]
        if attn_mask is None:
            mask = None if start == 0 else causal_mask(T, start, idx.device)
        elif attn_mask.dtype != torch.bool or (
            attn_mask.dim() != 4 or attn_mask.shape[:3] != (B, 1, T)
        ):
            raise ValueError(
                f"attn_mask must be boolean of shape ({B}, 1, {T}, Tk), "
                f"got {attn_mask.dtype} {tuple(attn_mask.shape)}"
            )
        else:
            mask = attn_mask.to(idx.device)
        h = self.tok_embeddings(idx)
        recompute = self.activation_checkpointing and torch.is_grad_enabled()
        for layer in self.layers:
            if recompute and kv_cache is None:  # keep only each block's input
                h = checkpoint(layer, h, cos, sin, mask, use_reentrant=False)
            else:
                h = layer(h, cos, sin, mask, kv_cache)
        if kv_cache is not None:
            kv_cache.advance(T)
        if self.config.moe_experts:
            self.aux_loss = sum(layer.feed_forward.aux_loss for layer in self.layers)
        logits = self.output(self.norm(h))
        if self.config.mup_base_width is not None:  # muP readout multiplier 1/m
            logits = logits * (self.config.mup_base_width / self.config.d_model)
        return logits

    def init_kv_cache(self, batch_size: int, capacity: int | None = None) -> KVCache:
        """An empty cache on the model's device and dtype (capacity: max positions)."""
        c = self.config
        capacity = c.max_positions if capacity is None else capacity
        if not 0 < capacity <= c.max_positions:
            raise ValueError(
                f"cache capacity must be in [1, {c.max_positions}], got {capacity}"
            )
        w = self.tok_embeddings.weight
        return KVCache(
            c.n_layers,
            batch_size,
            c.n_kv_heads,
            c.head_dim,
            capacity,
            w.device,
            w.dtype,
        )

    def generate(
        self,
        idx: Tensor,
        max_new_tokens: int,
        temperature: float = 1.0,
        top_k: int | None = None,
        top_p: float | None = None,
        stop_tokens: list[int] | None = None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """Prompt (B, T) -> (B, T + n), n <= max_new_tokens (see generation.py)."""
        from llm_from_scratch.model.generation import generate

        return generate(
            self, idx, max_new_tokens, temperature, top_k, top_p, stop_tokens, generator
        )

    def stream(
        self,
        idx: Tensor,
        max_new_tokens: int,
        temperature: float = 1.0,
        top_k: int | None = None,
        top_p: float | None = None,
        stop_tokens: list[int] | None = None,
        generator: torch.Generator | None = None,
    ) -> Iterator[int]:
        """Yield new token ids one by one for one prompt (``generation.stream``)."""
        from llm_from_scratch.model.generation import stream

        return stream(
            self, idx, max_new_tokens, temperature, top_k, top_p, stop_tokens, generator
        )
