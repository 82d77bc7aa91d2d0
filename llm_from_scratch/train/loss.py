"""The pretraining objective: next-token cross-entropy, from scratch.

``log softmax`` is computed with the log-sum-exp trick: subtracting the row
maximum before exponentiating keeps every ``exp`` in ``[0, 1]``, so logits of
1e4 (or bf16 activations) neither overflow nor lose the answer. The loss is
accumulated in float32 whatever the logits' dtype.
"""

from __future__ import annotations

import math

import torch


def cross_entropy(
    logits: torch.Tensor, targets: torch.Tensor, ignore_index: int = -100
) -> torch.Tensor:
    """Mean negative log-likelihood of ``targets`` under ``softmax(logits)``.

    ``logits`` is ``(..., V)``, ``targets`` the matching ``(...)`` integer ids.
    Positions whose target is ``ignore_index`` (a masked prompt, padding) do not
    count. Like ``F.cross_entropy``, a batch where every target is ignored gives
    NaN (0 / 0) rather than a silent zero.
    """
    # region checks
    if logits.ndim < 1 or logits.shape[:-1] != targets.shape:
        raise ValueError(
            f"logits {tuple(logits.shape)} must be targets {tuple(targets.shape)} "
            "plus a trailing vocabulary dimension"
        )
    if targets.dtype not in (torch.int64, torch.int32):
        raise TypeError(f"targets must be int64/int32 ids, got {targets.dtype}")
    # endregion
    vocab = logits.shape[-1]
    targets = targets.reshape(-1).long()
    keep = targets != ignore_index
    # region checks
    # Under torch.compile this data-dependent check would split the graph; an
    # out-of-range id then fails in ``gather`` below instead (never silently).
    if not torch.compiler.is_compiling():
        bad = keep & ((targets < 0) | (targets >= vocab))
        if bool(bad.any()):
            raise ValueError(
                f"target id {int(targets[bad][0])} is outside [0, {vocab}) "
                f"and is not ignore_index={ignore_index}"
            )
    # endregion
    logits = logits.reshape(-1, vocab).float()
    row_max = logits.max(dim=-1, keepdim=True).values.detach()
    shifted = logits - row_max
    log_z = shifted.exp().sum(dim=-1).log()  # log sum exp, minus the max
    picked = shifted.gather(1, torch.where(keep, targets, 0).unsqueeze(1)).squeeze(1)
    nll = (log_z - picked) * keep
    return nll.sum() / keep.sum()


def perplexity(loss_nats: float) -> float:
    """``exp(loss)``: the effective number of equally likely next tokens."""
    return math.exp(loss_nats)


def bits_per_byte(loss_nats: float, bytes_per_token: float) -> float:
    """Convert a per-token loss in nats to bits per byte of text.

    A token covers ``bytes_per_token`` bytes on average, so
    ``bpb = loss / ln 2 / bytes_per_token``. Unlike the per-token loss, it does
    not depend on the tokenizer: models with different vocabularies compare.
    """
    if not bytes_per_token > 0:
        raise ValueError(f"bytes_per_token must be > 0, got {bytes_per_token}")
    return loss_nats / math.log(2) / bytes_per_token
