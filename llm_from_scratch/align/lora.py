"""LoRA from scratch: fine-tune a low-rank update instead of the weights.

Hu et al. (2021): freeze a linear map ``W`` (out, in) and learn ``W + s B A``
with ``A`` (r, in), ``B`` (out, r) and ``s = alpha / r``. ``B`` starts at zero,
so the adapted model starts as the pretrained one; ``A`` starts like a linear
layer's weight (Kaiming-uniform, as ``peft`` does), so the first steps already
move ``B``. Only ``r (in + out)`` numbers per matrix train, and the optimizer
holds state for those alone. After training, ``merge_lora`` folds ``s B A``
into ``W``: inference costs nothing extra.

``LoRALinear`` wraps any module holding a 2-D ``weight`` (out, in) whose forward
is ``x @ W^T`` (+ bias): ``torch.nn.Linear`` and the book's ``Linear``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

# the book Transformer's attention (wq wk wv wo) and SwiGLU (w1 w2 w3) matrices
DEFAULT_TARGETS = ("wq", "wk", "wv", "wo", "w1", "w2", "w3")


class LoRALinear(nn.Module):
    """``base(x) + s * dropout(x) A^T B^T``, with ``base`` frozen.

    ``x`` (..., in) -> (..., out), in ``base``'s dtype. ``lora_A`` (r, in) and
    ``lora_B`` (out, r) are the only parameters that train. While ``merged``,
    ``base.weight`` already holds ``W + s B A`` and the adapter is skipped.
    """

    def __init__(
        self,
        base: nn.Module,
        r: int = 8,
        alpha: float = 16.0,
        dropout: float = 0.0,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        # region checks
        weight = getattr(base, "weight", None)
        if not isinstance(weight, Tensor) or weight.dim() != 2:
            raise TypeError(
                f"LoRALinear wraps a module with a 2-D weight, got "
                f"{type(base).__name__}"
            )
        if r < 1:
            raise ValueError(f"r must be >= 1, got {r}")
        if not alpha > 0:
            raise ValueError(f"alpha must be > 0, got {alpha}")
        if not 0 <= dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        # endregion
        out_features, in_features = weight.shape
        self.base = base
        for p in base.parameters():
            p.requires_grad_(False)
        self.r, self.alpha, self.scaling = r, alpha, alpha / r
        kw = dict(dtype=weight.dtype, device=weight.device)
        self.lora_A = nn.Parameter(torch.empty(r, in_features, **kw))
        self.lora_B = nn.Parameter(torch.zeros(out_features, r, **kw))
        # what nn.Linear and peft do: bound 1/sqrt(in) for a = sqrt(5)
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5), generator=generator)
        self.dropout = nn.Dropout(dropout) if dropout else nn.Identity()
        self.merged = False

    def delta_weight(self) -> Tensor:
        """The update ``s B A``, (out, in)."""
        return (self.lora_B @ self.lora_A) * self.scaling

    def forward(self, x: Tensor) -> Tensor:
        y = self.base(x)
        if self.merged:
            return y
        return y + (self.dropout(x) @ self.lora_A.mT @ self.lora_B.mT) * self.scaling

    @torch.no_grad()
    def merge(self) -> None:
        """``W <- W + s B A``: one matmul per forward again (exact up to rounding)."""
        if not self.merged:
            self.base.weight += self.delta_weight()
            self.merged = True

    @torch.no_grad()
    def unmerge(self) -> None:
        """``W <- W - s B A``: back to the frozen ``W`` (up to rounding)."""
        if self.merged:
            self.base.weight -= self.delta_weight()
            self.merged = False

    def extra_repr(self) -> str:
        return f"r={self.r}, alpha={self.alpha}, merged={self.merged}"


def apply_lora(
    model: nn.Module,
    r: int = 8,
    alpha: float = 16.0,
    dropout: float = 0.0,
    target_modules: Sequence[str] = DEFAULT_TARGETS,
    generator: torch.Generator | None = None,
) -> nn.Module:
    """Wrap every submodule whose own name is in ``target_modules`` in
    ``LoRALinear``, in place; freeze every other parameter. Returns ``model``.

    Names are matched on the last component (``layers.0.attention.wq`` is
    ``wq``), as ``peft`` does for a list of names. For a ``transformers`` Llama,
    pass e.g. ``("q_proj", "k_proj", "v_proj", "o_proj")``.
    """
    targets = set(target_modules)
    found = [
        (name, module) for name, module in model.named_modules()
        if name and name.rsplit(".", 1)[-1] in targets
    ]
    # region checks
    if lora_layers(model):
        raise ValueError("model already has LoRA adapters")
    if not found:
        raise ValueError(
            f"target_modules {sorted(targets)} match no submodule of "
            f"{type(model).__name__}"
        )
    # endregion
    for p in model.parameters():
        p.requires_grad_(False)
    for name, module in found:
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, child, LoRALinear(module, r, alpha, dropout, generator))
    return model


def train_token_rows(
    embedding: nn.Module, token_ids: Sequence[int]
) -> torch.utils.hooks.RemovableHandle:
    """Let only the rows ``token_ids`` of an embedding's ``weight`` (vocab, d)
    train, as ``peft``'s ``trainable_token_indices`` does.

    Tokens the pretrained model never saw, such as the chat template's
    markers, have untrained rows that frozen weights plus LoRA cannot fix. The
    weight is made trainable and a gradient hook zeroes every other row's
    gradient, so with Adam and no weight decay those rows never move. With tied
    embeddings the same rows of the output head train too. Returns the hook's
    handle (``handle.remove()`` lets the whole weight train again).
    """
    weight = embedding.weight
    # region checks
    bad = [t for t in token_ids if not 0 <= t < weight.shape[0]]
    if not token_ids or bad:
        raise ValueError(
            f"token_ids must be a non-empty list of ids in [0, {weight.shape[0]}), "
            f"got {list(token_ids)[:8]}"
        )
    # endregion
    rows = torch.zeros(weight.shape[0], 1, dtype=weight.dtype, device=weight.device)
    rows[list(token_ids)] = 1
    weight.requires_grad_(True)
    return weight.register_hook(lambda grad: grad * rows)


def lora_layers(model: nn.Module) -> list[LoRALinear]:
    return [m for m in model.modules() if isinstance(m, LoRALinear)]


def merge_lora(model: nn.Module) -> nn.Module:
    """Fold every adapter into its frozen weight (``LoRALinear.merge``)."""
    for layer in lora_layers(model):
        layer.merge()
    return model


def unmerge_lora(model: nn.Module) -> nn.Module:
    """Take every merged adapter back out of its weight (``LoRALinear.unmerge``)."""
    for layer in lora_layers(model):
        layer.unmerge()
    return model


def trainable_parameters(model: nn.Module) -> tuple[int, int]:
    """``(trainable, total)`` parameter counts; shared (tied) tensors count once."""
    seen: dict[int, nn.Parameter] = {id(p): p for p in model.parameters()}
    total = sum(p.numel() for p in seen.values())
    trainable = sum(p.numel() for p in seen.values() if p.requires_grad)
    return trainable, total
