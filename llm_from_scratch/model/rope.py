"""Rotary position embedding (RoPE, Su et al. 2021), precomputed cos/sin cache.

Each pair of channels (x[2i], x[2i+1]) of a query or key is read as a complex number
and multiplied by e^{i m theta_i}, where m is the token's position and
theta_i = theta^(-2i/d). A dot product of a rotated query at position m and a rotated
key at position n then depends on m - n only: attention sees relative positions.
This is the pairing of Meta's Llama code; Hugging Face's Llama pairs channel i with
channel i + d/2 instead, and ``hf.py`` permutes the weights to match.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from llm_from_scratch.model.config import RopeScaling


def rope_frequencies(
    head_dim: int, theta: float = 10000.0, scaling: RopeScaling | None = None
) -> Tensor:
    """The d/2 angular frequencies theta_i = theta^(-2i/d), in float64.

    Linear scaling (position interpolation) divides them by the factor, which is the
    same as dividing positions; NTK-aware scaling raises the base instead, stretching
    the slow (long-range) frequencies while leaving the fast ones almost unchanged;
    Llama 3's scaling does that per band (see :func:`llama3_frequencies`).
    """
    if scaling is not None and scaling.kind == "ntk":
        theta = theta * scaling.factor ** (head_dim / (head_dim - 2))
    # always on the CPU, even inside a ``torch.device("meta")`` block (hf.py)
    exponents = torch.arange(0, head_dim, 2, dtype=torch.float64, device="cpu")
    exponents = exponents / head_dim
    freqs = theta**-exponents
    if scaling is not None and scaling.kind == "linear":
        freqs = freqs / scaling.factor
    if scaling is not None and scaling.kind == "llama3":
        freqs = llama3_frequencies(freqs, scaling)
    return freqs


def llama3_frequencies(freqs: Tensor, scaling: RopeScaling) -> Tensor:
    """Llama 3.1's rescaling: slow pairs interpolated, fast pairs kept, a blend between.

    A pair that turns many times within the original context (wavelength under
    ``original / high_freq_factor`` tokens) carries local detail and is kept; one
    that turns less than once (wavelength over ``original / low_freq_factor``) would
    meet unseen angles beyond it, so it is slowed by ``factor`` as in position
    interpolation; in between, the frequency moves smoothly from one to the other.
    """
    assert scaling.original_max_seq_len is not None  # checked by RopeScaling
    original = float(scaling.original_max_seq_len)
    low, high = scaling.low_freq_factor, scaling.high_freq_factor
    wavelength = 2 * math.pi / freqs
    smooth = (original / wavelength - low) / (high - low)
    blended = (1 - smooth) * freqs / scaling.factor + smooth * freqs
    keep = wavelength < original / high
    slow = wavelength > original / low
    return torch.where(keep, freqs, torch.where(slow, freqs / scaling.factor, blended))


def apply_rotary(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    """Rotate channel pairs of ``x`` (..., T, d) by the angles whose cos/sin (T, d/2)
    broadcast against ``x[..., ::2]``. Done in float32, returned in x's dtype."""
    x32 = x.float()
    x1, x2 = x32[..., 0::2], x32[..., 1::2]
    out = torch.stack((x1 * cos - x2 * sin, x1 * sin + x2 * cos), dim=-1)
    return out.flatten(-2).to(x.dtype)


class RotaryEmbedding(nn.Module):
    """Holds cos/sin for every position up to ``max_positions`` and looks them up."""

    def __init__(
        self,
        head_dim: int,
        max_positions: int,
        theta: float = 10000.0,
        scaling: RopeScaling | None = None,
    ) -> None:
        super().__init__()
        self.max_positions = max_positions
        self.freqs = rope_frequencies(head_dim, theta, scaling)
        cos, sin = self._table(torch.device("cpu"))
        # derived, not learned: kept out of the state dict
        self.register_buffer("cos", cos, persistent=False)
        self.register_buffer("sin", sin, persistent=False)

    def _table(self, device: torch.device) -> tuple[Tensor, Tensor]:
        positions = torch.arange(self.max_positions, dtype=torch.float64, device="cpu")
        angles = torch.outer(positions, self.freqs)
        return angles.cos().float().to(device), angles.sin().float().to(device)

    def _apply(self, fn, recurse=True):  # type: ignore[no-untyped-def]
        # model.to(torch.bfloat16) would round the angles' cos/sin to 8 bits of
        # mantissa and blur far positions; keep the table in float32 on any device
        super()._apply(fn, recurse)
        if self.cos.dtype != torch.float32:
            self.cos, self.sin = self._table(self.cos.device)
        return self

    def window(self, start: int, length: int) -> tuple[Tensor, Tensor]:
        """cos and sin (length, d/2) for positions start, ..., start + length - 1."""
        # region checks
        if start < 0 or start + length > self.max_positions:
            raise ValueError(
                f"positions {start}..{start + length - 1} exceed the rotary cache of "
                f"{self.max_positions} positions (ModelConfig.max_positions); raise "
                "max_seq_len or set rope_scaling"
            )
        # endregion
        return self.cos[start : start + length], self.sin[start : start + length]

    def forward(self, positions: Tensor) -> tuple[Tensor, Tensor]:
        """cos and sin of shape positions.shape + (d/2,)."""
        # region checks
        if positions.dtype not in (torch.int32, torch.int64):
            raise TypeError(f"positions must be integers, got {positions.dtype}")
        if positions.numel() and (
            int(positions.min()) < 0 or int(positions.max()) >= self.max_positions
        ):
            raise ValueError(
                f"positions must lie in [0, {self.max_positions}) "
                f"(ModelConfig.max_positions), got [{int(positions.min())}, "
                f"{int(positions.max())}]; raise max_seq_len or set rope_scaling"
            )
        # endregion
        return self.cos[positions], self.sin[positions]
