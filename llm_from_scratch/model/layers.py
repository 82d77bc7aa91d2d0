"""The small building blocks, each a few lines: Linear, Embedding, RMSNorm, SwiGLU.

They hold their weights under the same names and shapes as ``torch.nn`` (``weight`` of
shape ``(out, in)`` for a linear map), so optimisers, state dicts and tensor-parallel
sharding treat them like the built-in modules.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


class Linear(nn.Module):
    """y = x W^T, no bias (modern LLMs drop them: no quality loss, fewer parameters)."""

    def __init__(self, in_features: int, out_features: int, std: float = 0.02) -> None:
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.weight = nn.Parameter(torch.empty(out_features, in_features))
        self.std = std
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.trunc_normal_(
            self.weight, std=self.std, a=-3 * self.std, b=3 * self.std
        )

    def forward(self, x: Tensor) -> Tensor:  # (..., in) -> (..., out)
        return x @ self.weight.mT

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}"


class Embedding(nn.Module):
    """A lookup table: row i of ``weight`` (V, d) is the vector of token i."""

    def __init__(self, num_embeddings: int, dim: int, std: float = 0.02) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(num_embeddings, dim))
        self.std = std
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.trunc_normal_(
            self.weight, std=self.std, a=-3 * self.std, b=3 * self.std
        )

    def forward(self, idx: Tensor) -> Tensor:  # (...) int64 -> (..., d)
        # region checks
        if idx.dtype not in (torch.int32, torch.int64):
            raise TypeError(f"token ids must be an integer tensor, got {idx.dtype}")
        # endregion
        return self.weight[idx]


class RMSNorm(nn.Module):
    """x / sqrt(mean(x^2) + eps) * g: LayerNorm without the mean and the bias.

    Computed in float32 and cast back, so bf16 training does not lose the small
    differences the normalisation divides by.
    """

    def __init__(self, dim: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def reset_parameters(self) -> None:
        nn.init.ones_(self.weight)

    def forward(self, x: Tensor) -> Tensor:
        x32 = x.float()
        x32 = x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * x32.to(x.dtype)


def silu(x: Tensor) -> Tensor:
    """SiLU (swish): x * sigmoid(x), a smooth ReLU that lets small negatives through."""
    return x * torch.sigmoid(x)


class _Softmax(torch.autograd.Function):
    """Softmax with its backward written out: for y = softmax(x) and upstream
    gradient g, dL/dx = y * (g - sum(g * y)). One line instead of autograd
    differentiating max, exp, sum and divide separately (and saving each input)."""

    @staticmethod
    def forward(ctx, x: Tensor, dim: int) -> Tensor:  # type: ignore[override]
        x_max = x.amax(dim=dim, keepdim=True)
        # a row of only -inf (nothing to attend to) gives 0, not 0/0
        x_max = torch.where(torch.isfinite(x_max), x_max, torch.zeros_like(x_max))
        e = torch.exp(x - x_max)
        y = e / e.sum(dim=dim, keepdim=True).clamp_min(torch.finfo(e.dtype).tiny)
        ctx.save_for_backward(y)
        ctx.dim = dim
        return y

    @staticmethod
    def backward(ctx, g: Tensor) -> tuple[Tensor, None]:  # type: ignore[override]
        (y,) = ctx.saved_tensors
        return y * (g - (g * y).sum(dim=ctx.dim, keepdim=True)), None


def softmax(x: Tensor, dim: int = -1) -> Tensor:
    """exp(x - max) / sum: subtracting the max keeps exp() from overflowing.

    Rows that are all -inf (nothing to attend to) return 0 instead of NaN.
    """
    return _Softmax.apply(x, dim)


class FeedForward(nn.Module):
    """SwiGLU: down( silu(gate(x)) * up(x) ). The gate decides, per hidden unit and
    per token, how much of the "up" signal passes (Shazeer, 2020)."""

    def __init__(self, d_model: int, hidden: int, n_layers: int = 1) -> None:
        super().__init__()
        self.w1 = Linear(d_model, hidden)  # gate
        self.w3 = Linear(d_model, hidden)  # up
        # the down projection writes into the residual stream: scale its init so the
        # stream's variance does not grow with depth (GPT-2)
        self.w2 = Linear(hidden, d_model, std=0.02 / math.sqrt(2 * n_layers))

    def forward(self, x: Tensor) -> Tensor:
        return self.w2(silu(self.w1(x)) * self.w3(x))
