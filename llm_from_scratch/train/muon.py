"""Muon: momentum whose update matrix is orthogonalised (Jordan et al., 2024).

For a weight matrix W (A, B), SGD with momentum steps along the momentum M.
M is usually dominated by a few directions (a low stable rank), so most of the
matrix barely moves. Muon replaces M by the nearest semi-orthogonal matrix
``U V^T`` (from the SVD M = U S V^T): every singular direction moves by the
same amount. An SVD is slow on accelerators, so the orthogonalisation is a
quintic Newton-Schulz iteration, matmuls only::

    X <- M / ||M||_F                      (singular values in [0, 1])
    repeat 5 times:  A = X X^T;  X <- a X + (b A + c A A) X
    a, b, c = 3.4445, -4.7750, 2.0315

The coefficients are tuned for speed, not exactness: the singular values end
up between about 0.7 and 1.2 rather than at 1.

Only the 2-D weights of the hidden layers are updated this way. Embeddings
(a lookup: each row sees only its token), the output head, norm gains and
biases keep AdamW, as in the original recipe.

Scale: we follow Moonlight (Liu et al., 2025, "Muon is scalable for LLM
training"): the orthogonal update is multiplied by ``0.2 * sqrt(max(A, B))``,
which gives it the RMS of a typical AdamW update (about 0.2), so one learning
rate and one weight decay serve both the Muon and the AdamW parameters, and a
config tuned for AdamW is a fair starting point. Momentum is Nesterov-style
on the raw gradient sum (``M <- mu M + g``, step along ``g + mu M``) with
``mu = 0.95``, and weight decay is decoupled as in AdamW.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import Tensor, nn

from llm_from_scratch.train.optim import _is_embedding, adamw_update, param_groups

NS_COEFFICIENTS = (3.4445, -4.7750, 2.0315)


def newton_schulz(g: Tensor, steps: int = 5, eps: float = 1e-7,
                  dtype: torch.dtype = torch.float32) -> Tensor:
    """Approximate ``U V^T`` of ``g`` (A, B) with the quintic iteration.

    Runs in ``dtype`` (float32 by default; bfloat16 is what GPUs use) and
    returns ``g.dtype``. A wide copy (A <= B) is iterated so ``X X^T`` is the
    smaller Gram matrix; a tall input is transposed and back.
    """
    if g.ndim != 2:
        raise ValueError(f"newton_schulz needs a 2-D matrix, got {tuple(g.shape)}")
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    a, b, c = NS_COEFFICIENTS
    x = g.to(dtype)
    tall = x.size(0) > x.size(1)
    if tall:
        x = x.mT
    x = x / (x.norm() + eps)
    for _ in range(steps):
        gram = x @ x.mT
        x = a * x + (b * gram + c * gram @ gram) @ x
    if tall:
        x = x.mT
    return x.to(g.dtype)


def muon_scale(shape: torch.Size | tuple[int, ...]) -> float:
    """Moonlight's RMS-matching factor 0.2 * sqrt(max(A, B)) for a (A, B) weight."""
    return 0.2 * math.sqrt(max(shape[0], shape[1]))


class Muon(torch.optim.Optimizer):
    """Muon for groups with ``use_muon=True``; the package's AdamW for the rest.

    Per Muon parameter ``p`` (A, B) with gradient ``g``::

        M <- mu M + g
        U <- newton_schulz(g + mu M if nesterov else M)
        p <- p * (1 - lr * wd) - lr * 0.2 * sqrt(max(A, B)) * U

    Other groups get exactly ``AdamW``'s update (``adamw_update``), with the
    group's ``betas`` and ``eps``. Build the groups with ``muon_param_groups``.
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        momentum: float = 0.95,
        nesterov: bool = True,
        ns_steps: int = 5,
        betas: tuple[float, float] = (0.9, 0.95),
        eps: float = 1e-8,
        weight_decay: float = 0.1,
        ns_dtype: torch.dtype = torch.float32,
    ) -> None:
        if not lr >= 0:
            raise ValueError(f"lr must be >= 0, got {lr}")
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"momentum must be in [0, 1), got {momentum}")
        if not all(0.0 <= b < 1.0 for b in betas) or len(betas) != 2:
            raise ValueError(f"betas must be two values in [0, 1), got {betas}")
        if not weight_decay >= 0:
            raise ValueError(f"weight_decay must be >= 0, got {weight_decay}")
        defaults = dict(lr=lr, momentum=momentum, nesterov=nesterov, ns_steps=ns_steps,
                        betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                        use_muon=False)
        super().__init__(params, defaults)
        for group in self.param_groups:
            if group["use_muon"] and any(p.ndim != 2 for p in group["params"]):
                raise ValueError("Muon groups may hold only 2-D weight matrices")
        self.ns_dtype = ns_dtype

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            if group["use_muon"]:
                for p in params:
                    self._muon_update(p, group)
                continue
            for p in params:
                state = self.state[p]
                if not state:
                    state["step"] = torch.tensor(0.0)
                    state["exp_avg"] = torch.zeros_like(p)
                    state["exp_avg_sq"] = torch.zeros_like(p)
                state["step"] += 1
            adamw_update(params, [self.state[p] for p in params], group)
        return loss

    def _muon_update(self, p: Tensor, group: dict[str, Any]) -> None:
        state = self.state[p]
        if not state:
            state["momentum_buffer"] = torch.zeros_like(p)
        buf, g, mu = state["momentum_buffer"], p.grad, group["momentum"]
        buf.mul_(mu).add_(g)
        direction = g.add(buf, alpha=mu) if group["nesterov"] else buf
        update = newton_schulz(direction, group["ns_steps"], dtype=self.ns_dtype)
        lr = group["lr"]
        p.mul_(1.0 - lr * group["weight_decay"])
        p.add_(update, alpha=-lr * muon_scale(p.shape))


def muon_param_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """Muon for the 2-D weights of hidden layers; AdamW groups for the rest.

    Excluded from Muon: embeddings (and a head tied to them), the output head
    (a module named ``output`` or ``lm_head``), and every 1-D parameter. The
    AdamW part is split as ``param_groups`` does (no decay on norms, biases,
    embeddings).
    """
    excluded: set[int] = set()
    for name, module in model.named_modules():
        leaf = name.rsplit(".", 1)[-1]
        if _is_embedding(module) or leaf in ("output", "lm_head"):
            excluded.update(id(p) for p in module.parameters(recurse=False))
    hidden, seen = [], set()
    for p in model.parameters():
        if p.requires_grad and id(p) not in seen and id(p) not in excluded:
            if p.ndim == 2:
                hidden.append(p)
        seen.add(id(p))
    hidden_ids = {id(p) for p in hidden}
    groups = [{"params": hidden, "weight_decay": weight_decay, "use_muon": True}]
    for group in param_groups(model, weight_decay):
        rest = [p for p in group["params"] if id(p) not in hidden_ids]
        if rest:
            groups.append({**group, "params": rest, "use_muon": False})
    return [g for g in groups if g["params"]]
