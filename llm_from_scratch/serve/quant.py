"""Weight-only quantization: int8 per output channel, int4 in groups, packed.

A weight w is stored as an integer q and a float scale s, w ~ s * q. Symmetric
absmax scaling takes s = max|w| / q_max over a group of weights (one output
channel for int8, ``group_size`` consecutive inputs for int4), so the largest
weight is exact and every other is off by at most s / 2. Activations stay in
float: each forward dequantizes the weights on the fly. Decoding one token reads
every weight once, so reading a quarter (int8) or an eighth (int4) of the bytes
is what speeds up a memory-bound decode; on a CPU without fused kernels the
dequantization costs more than it saves, and the win is the smaller model.
"""

from __future__ import annotations

import copy

import torch
from torch import Tensor, nn

from llm_from_scratch.model import Embedding, Linear, Transformer

BITS = (8, 4)


def _check(bits: int, group_size: int | None, in_features: int) -> int:
    """The group size actually used (int8 default: the whole input row)."""
    if bits not in BITS:
        raise ValueError(f"bits must be one of {BITS}, got {bits!r}")
    if group_size is None:
        group_size = in_features if bits == 8 else 128
    if isinstance(group_size, bool) or not isinstance(group_size, int) or (
        group_size < 2
    ):
        raise ValueError(f"group_size must be an int >= 2, got {group_size!r}")
    if in_features % group_size or group_size % 2:
        raise ValueError(
            f"group_size ({group_size}) must be even and divide in_features "
            f"({in_features})"
        )
    return group_size


def pack_int4(q: Tensor) -> Tensor:
    """uint8 values in [0, 15], (..., n) with n even -> (..., n / 2) bytes:
    element 2i in the low nibble, 2i + 1 in the high nibble."""
    if q.dtype != torch.uint8 or q.shape[-1] % 2:
        raise ValueError(f"need uint8 with an even last dim, got {q.dtype} {q.shape}")
    if q.numel() and int(q.max()) > 15:
        raise ValueError("int4 values must lie in [0, 15]")
    return q[..., 0::2] | (q[..., 1::2] << 4)


def unpack_int4(packed: Tensor) -> Tensor:
    """Inverse of :func:`pack_int4`: (..., m) bytes -> (..., 2m) values in [0, 15]."""
    low, high = packed & 0xF, packed >> 4
    return torch.stack((low, high), dim=-1).flatten(-2)


def quantize(
    w: Tensor, bits: int = 8, group_size: int | None = None
) -> tuple[Tensor, Tensor]:
    """w (out, in) float -> (q, scale).

    int8: q (out, in) int8 in [-127, 127]. int4: q (out, in / 2) uint8, two
    values in [-7, 7] shifted by 8 per byte. scale (out, in / group_size) float32.
    """
    out_f, in_f = w.shape
    g = _check(bits, group_size, in_f)
    qmax = 2 ** (bits - 1) - 1
    groups = w.float().reshape(out_f, in_f // g, g)
    scale = groups.abs().amax(dim=-1) / qmax  # (out, in / g)
    scale = torch.where(scale == 0, torch.ones_like(scale), scale)  # all-zero group
    q = torch.round(groups / scale[..., None]).clamp(-qmax, qmax).reshape(out_f, in_f)
    if bits == 8:
        return q.to(torch.int8), scale
    return pack_int4((q + 8).to(torch.uint8)), scale


def dequantize(q: Tensor, scale: Tensor, bits: int) -> Tensor:
    """(q, scale) -> float32 weights (rows, in); works on any subset of rows."""
    vals = q.float() if bits == 8 else unpack_int4(q).float() - 8
    rows, in_f = vals.shape
    groups = vals.reshape(rows, scale.shape[-1], in_f // scale.shape[-1])
    return (groups * scale[..., None]).reshape(rows, in_f)


class QuantLinear(nn.Module):
    """y = x W^T with W kept as integers and scales, dequantized each forward."""

    def __init__(self, weight: Tensor, bits: int = 8, group_size: int | None = None):
        super().__init__()
        self.out_features, self.in_features = weight.shape
        self.bits = bits
        self.group_size = _check(bits, group_size, self.in_features)
        q, scale = quantize(weight.detach(), bits, self.group_size)
        self.register_buffer("qweight", q)
        self.register_buffer("scale", scale)

    def weight_rows(self, idx: Tensor | None = None) -> Tensor:
        """The dequantized weight (out, in), or only rows ``idx`` (..., in)."""
        if idx is None:
            return dequantize(self.qweight, self.scale, self.bits)
        flat = idx.reshape(-1)
        rows = dequantize(self.qweight[flat], self.scale[flat], self.bits)
        return rows.reshape(*idx.shape, self.in_features)

    def forward(self, x: Tensor) -> Tensor:
        return x @ self.weight_rows().to(x.dtype).mT

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"bits={self.bits}, group_size={self.group_size}"
        )


class QuantEmbedding(nn.Module):
    """Token lookup from a quantized (V, d) table: only the looked-up rows are
    dequantized. With tied embeddings it reads the output projection's table
    (quantized per row, which is per output channel there), stored once."""

    def __init__(self, table: QuantLinear, tied: bool) -> None:
        super().__init__()
        if tied:  # a plain attribute: the tensors live in the output module
            self._tied = (table,)
        else:
            self.table = table

    def _table(self) -> QuantLinear:
        return self._tied[0] if hasattr(self, "_tied") else self.table

    @property
    def weight(self) -> Tensor:
        """The dequantized (V, d) table (code that reads the embedding's device
        and dtype, like ``init_kv_cache``, finds them here)."""
        return self._table().weight_rows()

    def forward(self, idx: Tensor) -> Tensor:
        if idx.dtype not in (torch.int32, torch.int64):
            raise TypeError(f"token ids must be an integer tensor, got {idx.dtype}")
        return self._table().weight_rows(idx)


def quantize_model(
    model: Transformer, bits: int = 8, group_size: int | None = None
) -> Transformer:
    """A copy of ``model`` with every Linear and the embedding quantized.

    Norm gains and the rotary table stay float (d numbers per layer). The
    original model is left untouched.
    """
    if not isinstance(model, Transformer):
        raise TypeError(f"model must be a Transformer, got {type(model).__name__}")
    q = copy.deepcopy(model).eval()
    tied = q.output.weight is q.tok_embeddings.weight
    for parent in list(q.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, Linear):
                setattr(parent, name, QuantLinear(child.weight, bits, group_size))
    emb = q.tok_embeddings
    assert isinstance(emb, Embedding)
    table = q.output if tied else QuantLinear(emb.weight, bits, group_size)
    assert isinstance(table, QuantLinear)
    q.tok_embeddings = QuantEmbedding(table, tied)
    return q


def weight_bytes(model: nn.Module) -> int:
    """Bytes of parameters and persistent buffers, each shared tensor once."""
    seen: set[int] = set()
    total = 0
    for t in model.state_dict().values():
        if t.data_ptr() in seen:
            continue
        seen.add(t.data_ptr())
        total += t.numel() * t.element_size()
    return total
