"""muP: scale init, learning rates and logits with width so the best learning
rate found on a narrow model holds on a wide one (Yang et al., 2022,
"Tensor Programs V").

With width multiplier ``m = d_model / mup_base_width`` the book implements
the Adam table of the ``mup`` package (TP V, Table 8 / ``MuReadout``):

=================================  ==============  =================
parameter                          init std        Adam learning rate
=================================  ==============  =================
embedding, norm gains              unchanged       lr
hidden matrices (attention, FFN,   0.02 / sqrt(m)  lr / m
  MoE experts and router)
output head                        unchanged       lr
=================================  ==============  =================

and the logits are multiplied by ``1 / m`` (the readout multiplier). Width is
grown by adding heads at a fixed head width ``d_h``, so attention keeps its
``1 / sqrt(d_h)`` scale: TP V's ``1 / d_h`` rule only matters when ``d_h``
itself grows. At ``m = 1`` every factor is exactly 1.0, and the model, its
logits and its updates are bit-for-bit those of standard parametrisation
(a test checks it).

The init is rescaled in place (``w *= m ** -0.5``): a truncated normal times a
constant is the truncated normal of the scaled std, and no random numbers
are drawn, so the same seed gives the same weights up to that factor.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


def width_multiplier(config: Any) -> float:
    """m = d_model / mup_base_width (1.0 when muP is off)."""
    base = getattr(config, "mup_base_width", None)
    return 1.0 if base is None else config.d_model / base


def hidden_matrices(model: nn.Module) -> list[tuple[str, nn.Parameter]]:
    """The 2-D weights of the blocks: everything but embedding and output head."""
    excluded = {id(p) for p in model.tok_embeddings.parameters()}
    excluded |= {id(p) for p in model.output.parameters()}
    return [
        (name, p)
        for name, p in model.named_parameters()
        if name.startswith("layers.") and p.ndim == 2 and id(p) not in excluded
    ]


@torch.no_grad()
def apply_mup_init(model: nn.Module) -> None:
    """Rescale the hidden matrices' init std by 1 / sqrt(m), in place."""
    factor = width_multiplier(model.config) ** -0.5
    for _, p in hidden_matrices(model):
        p.mul_(factor)


def mup_param_groups(model: nn.Module, groups: list[dict[str, Any]],
                     ) -> list[dict[str, Any]]:
    """Split optimizer groups so hidden matrices get ``lr_scale = 1 / m``.

    The training loop sets each group's lr to ``schedule * lr_scale``. Other
    keys of a group (weight decay, ``use_muon``) are kept. Under Muon the
    orthogonalised update already has a width-independent RMS per entry, so
    only the AdamW groups are rescaled.
    """
    m = width_multiplier(model.config)
    hidden = {id(p) for _, p in hidden_matrices(model)}
    out = []
    for group in groups:
        if group.get("use_muon"):
            out.append({**group, "lr_scale": 1.0})
            continue
        inner = [p for p in group["params"] if id(p) in hidden]
        rest = [p for p in group["params"] if id(p) not in hidden]
        if inner:
            out.append({**group, "params": inner, "lr_scale": 1.0 / m})
        if rest:
            out.append({**group, "params": rest, "lr_scale": 1.0})
    return out


def readout_multiplier(config: Any) -> float:
    """What the logits are multiplied by: 1 / m."""
    return 1.0 / width_multiplier(config)

