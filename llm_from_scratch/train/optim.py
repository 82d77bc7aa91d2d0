"""AdamW from scratch, and which parameters should be decayed.

Adam keeps two running averages per parameter: the gradient ``m`` (momentum)
and its elementwise square ``v``. Each step moves by ``m / sqrt(v)``, so every
coordinate takes a step of about ``lr`` regardless of its gradient's scale.
Both averages start at zero, so early on they are biased towards zero; dividing
by ``1 - beta**t`` removes that bias.

Plain L2 regularisation adds ``wd * p`` to the gradient, but Adam then divides
it by ``sqrt(v)``: parameters with large gradients are barely regularised.
AdamW (Loshchilov and Hutter) *decouples* the decay: it shrinks the weights
directly, ``p <- p - lr * wd * p``, outside the adaptive update.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import nn


class AdamW(torch.optim.Optimizer):
    """Adam with decoupled weight decay; the same update as ``torch.optim.AdamW``.

    Per parameter ``p`` with gradient ``g`` at step ``t`` (1-based)::

        p <- p * (1 - lr * wd)                  # decoupled decay
        m <- beta1 * m + (1 - beta1) * g
        v <- beta2 * v + (1 - beta2) * g * g
        p <- p - lr / (1 - beta1**t) * m / (sqrt(v / (1 - beta2**t)) + eps)

    ``step`` is kept as a float tensor per parameter, like torch's, so the
    state dict holds only tensors and saves cleanly to safetensors.

    ``foreach=True`` runs the same arithmetic as a handful of multi-tensor
    operations over all parameters (``torch._foreach_*``, what torch's own
    AdamW does on GPUs) instead of several small kernels per tensor; ``None``
    picks it when the parameters live on a GPU, where launch overhead matters.
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.01,
        foreach: bool | None = None,
    ) -> None:
        # region checks
        if not lr >= 0:
            raise ValueError(f"lr must be >= 0, got {lr}")
        if not all(0.0 <= b < 1.0 for b in betas) or len(betas) != 2:
            raise ValueError(f"betas must be two values in [0, 1), got {betas}")
        if not eps > 0:
            raise ValueError(f"eps must be > 0, got {eps}")
        if not weight_decay >= 0:
            raise ValueError(f"weight_decay must be >= 0, got {weight_decay}")
        # endregion
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay)
        super().__init__(params, defaults)
        # How the update is executed, not what it computes: kept out of the
        # param groups so a checkpoint never pins it.
        self.foreach = foreach

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            for p in params:
                # region checks
                if p.grad.is_sparse:
                    raise RuntimeError("AdamW does not support sparse gradients")
                # endregion
                state = self.state[p]
                if not state:
                    state["step"] = torch.tensor(0.0)
                    state["exp_avg"] = torch.zeros_like(p)
                    state["exp_avg_sq"] = torch.zeros_like(p)
                state["step"] += 1
            foreach = self.foreach
            if foreach is None:
                foreach = bool(params) and all(p.is_cuda for p in params)
            if not foreach:
                adamw_update(params, [self.state[p] for p in params], group)
                continue
            # one multi-tensor call needs tensors of one kind, device and dtype
            # (tensor parallelism mixes sharded DTensors with plain tensors)
            buckets: dict[tuple, list[torch.Tensor]] = {}
            for p in params:
                key = (type(p.data), p.device, p.dtype)
                buckets.setdefault(key, []).append(p)
            for bucket in buckets.values():
                adamw_update_foreach(bucket, [self.state[p] for p in bucket], group)
        return loss


def adamw_update(params: list[torch.Tensor], states: list[dict], group: dict) -> None:
    """The update, one parameter at a time: the version to read."""
    lr, wd, eps = group["lr"], group["weight_decay"], group["eps"]
    beta1, beta2 = group["betas"]
    for p, state in zip(params, states):
        m, v, g = state["exp_avg"], state["exp_avg_sq"], p.grad
        t = float(state["step"])
        p.mul_(1.0 - lr * wd)
        m.lerp_(g, 1.0 - beta1)
        v.mul_(beta2).addcmul_(g, g, value=1.0 - beta2)
        bias1 = 1.0 - beta1**t
        bias2_sqrt = math.sqrt(1.0 - beta2**t)
        denom = (v.sqrt() / bias2_sqrt).add_(eps)
        p.addcdiv_(m, denom, value=-lr / bias1)


def adamw_update_foreach(
    params: list[torch.Tensor], states: list[dict], group: dict
) -> None:
    """The same update as ``adamw_update``, each line one call over all tensors."""
    if not params:
        return
    lr, wd, eps = group["lr"], group["weight_decay"], group["eps"]
    beta1, beta2 = group["betas"]
    grads = [p.grad for p in params]
    ms = [s["exp_avg"] for s in states]
    vs = [s["exp_avg_sq"] for s in states]
    ts = [float(s["step"]) for s in states]
    torch._foreach_mul_(params, 1.0 - lr * wd)
    torch._foreach_lerp_(ms, grads, 1.0 - beta1)
    torch._foreach_mul_(vs, beta2)
    torch._foreach_addcmul_(vs, grads, grads, value=1.0 - beta2)
    denom = torch._foreach_sqrt(vs)
    torch._foreach_div_(denom, [math.sqrt(1.0 - beta2**t) for t in ts])
    torch._foreach_add_(denom, eps)
    torch._foreach_addcdiv_(params, ms, denom, [-lr / (1.0 - beta1**t) for t in ts])


def _is_norm(module: nn.Module) -> bool:
    """Norm layers, including hand-written ones (any class named ``*Norm``)."""
    norms = (nn.LayerNorm, nn.RMSNorm)
    return isinstance(module, norms) or type(module).__name__.endswith("Norm")


def _is_embedding(module: nn.Module) -> bool:
    """Lookup tables, including hand-written ones (a class named ``Embedding``)."""
    return isinstance(module, nn.Embedding) or type(module).__name__ == "Embedding"


def param_groups(
    model: nn.Module, weight_decay: float, *, decay_embeddings: bool = False
) -> list[dict[str, Any]]:
    """Split trainable parameters into a decayed and a non-decayed group.

    Decay pulls weights towards zero. That is a useful prior for the matrices
    of linear layers, but not for norm gains (whose neutral value is 1), biases
    (shifts, not capacities) or embeddings (rows of rare tokens get few
    gradients, and decay would erase them). Tied weights appear once.
    """
    # region checks
    if not weight_decay >= 0:
        raise ValueError(f"weight_decay must be >= 0, got {weight_decay}")
    # endregion
    exempt: set[int] = set()
    for module in model.modules():
        is_embedding = _is_embedding(module)
        if _is_norm(module) or (is_embedding and not decay_embeddings):
            exempt.update(id(p) for p in module.parameters(recurse=False))
    decay, no_decay, seen = [], [], set()
    for name, p in model.named_parameters():
        if not p.requires_grad or id(p) in seen:
            continue
        seen.add(id(p))
        if id(p) in exempt or p.ndim < 2 or name.endswith("bias"):
            no_decay.append(p)
        else:
            decay.append(p)
    groups = [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    return [g for g in groups if g["params"]]
