"""Global-norm gradient clipping.

One unlucky batch can produce a gradient many times larger than usual; with
Adam the *direction* of that step is still trusted, so rescaling the whole
gradient vector to a maximum L2 norm keeps the step sane without changing its
direction. The norm is taken over all parameters together (not per tensor),
as in ``torch.nn.utils.clip_grad_norm_``.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch


@torch.no_grad()
def clip_grad_norm(params: Iterable[torch.nn.Parameter], max_norm: float) -> float:
    """Scale gradients in place so their global L2 norm is at most ``max_norm``.

    Returns the norm *before* clipping (what one plots to watch training
    health). A non-finite norm is returned as is and the gradients are left
    untouched: the caller decides whether to skip the step or stop.
    """
    if not max_norm > 0:
        raise ValueError(f"max_norm must be > 0, got {max_norm}")
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return 0.0
    norms = torch.stack([g.detach().float().norm(2) for g in grads])
    total = norms.norm(2)
    if hasattr(total, "full_tensor"):  # sharded (FSDP) gradients: a global norm
        total = total.full_tensor()
    if not torch.isfinite(total):
        return float(total)
    scale = (max_norm / (total + 1e-6)).clamp(max=1.0)
    for g in grads:
        g.mul_(scale.to(g.dtype))
    return float(total)
