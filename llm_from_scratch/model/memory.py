"""How much memory a forward leaves behind for the backward.

Autograd keeps the tensors each operation needs for its gradient (the inputs of a
matmul, the probabilities of a softmax) until the backward has used them: these
*activations*, not the weights, usually fill the memory in training. We count
them exactly with ``torch.autograd.graph.saved_tensors_hooks``, which sees every
tensor autograd saves; a storage shared by several saved views is counted once.
Activation checkpointing (``torch.utils.checkpoint``) keeps only each block's
input and recomputes the rest in the backward; its own hooks hide the block's
tensors from ours, so the block inputs it holds are added explicitly.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import Tensor, nn


def _storage(t: Tensor) -> tuple[int, int]:
    s = t.untyped_storage()
    return s.data_ptr(), s.nbytes()


def _saved_storages(
    fn: Callable[[], Any], exclude: Iterable[Tensor]
) -> tuple[Any, dict[int, int]]:
    """Run ``fn()``; the storages autograd saved meanwhile, {address: bytes}."""
    skip = {_storage(t)[0] for t in exclude}
    seen: dict[int, int] = {}

    def pack(t: Tensor) -> Tensor:
        ptr, nbytes = _storage(t)
        if ptr not in skip:
            seen[ptr] = nbytes
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        result = fn()
    return result, seen


def saved_tensor_bytes(
    fn: Callable[[], Any], exclude: Iterable[Tensor] = ()
) -> tuple[Any, int]:
    """Run ``fn()`` and return (its result, bytes autograd saved for backward).

    Each storage counts once, whole; storages of ``exclude`` (e.g. the weights)
    are left out.
    """
    result, seen = _saved_storages(fn, exclude)
    return result, sum(seen.values())


def activation_bytes(model: nn.Module, idx: Tensor) -> int:
    """Bytes of activations one forward of ``model`` on ``idx`` (B, T) keeps for
    the backward: saved tensors that are not parameters or buffers, plus, with
    ``model.activation_checkpointing``, the input each checkpointed block holds."""
    weights = [*model.parameters(), *model.buffers()]
    held: dict[int, int] = {}

    def remember_input(module: nn.Module, args: tuple) -> None:
        ptr, nbytes = _storage(args[0])  # the residual stream h (B, T, d)
        held[ptr] = nbytes

    hooks = []
    if getattr(model, "activation_checkpointing", False):
        hooks = [b.register_forward_pre_hook(remember_input) for b in model.layers]
    try:
        _, saved = _saved_storages(lambda: model(idx), weights)
    finally:
        for h in hooks:
            h.remove()
    return sum({**saved, **held}.values())


def attention_saved_bytes(
    lengths: Iterable[int], heads: int = 4, head_dim: int = 32, block: int = 64
) -> list[dict[str, int]]:
    """Bytes one causal attention call (batch 1, float32) saves for the backward,
    per sequence length T: the from-scratch formula (its T x T probabilities)
    against FlashAttention-2 (Q, K, V, O and the logsumexp)."""
    from llm_from_scratch.model.attention import causal_mask
    from llm_from_scratch.model.attention import scaled_dot_product_attention as naive
    from llm_from_scratch.model.flash import flash_attention

    rows = []
    for T in lengths:
        g = torch.Generator().manual_seed(T)
        q, k, v = (torch.randn(1, heads, T, head_dim, generator=g).requires_grad_()
                   for _ in range(3))
        _, full = saved_tensor_bytes(lambda: naive(q, k, v, causal_mask(T)))
        _, flash = saved_tensor_bytes(lambda: flash_attention(q, k, v, True, block,
                                                              block))
        rows.append({"T": T, "naive_bytes": full, "flash_bytes": flash})
    return rows
