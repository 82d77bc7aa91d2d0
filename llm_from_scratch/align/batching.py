"""Turning chat examples into training tensors: padding, and packing with a mask.

Language-model training predicts token ``t+1`` from tokens ``..t``, so inputs are
``ids[:-1]`` and targets ``ids[1:]``; a target is ``IGNORE`` (-100, the
``ignore_index`` of cross-entropy) wherever the mask says "do not learn this".

Two ways to batch short, ragged conversations:

* **Right padding** (``pad_batch``). Under a causal mask a real token never sees
  the padding after it, so the result is *exact*; the cost is compute spent on
  pad tokens.
* **Packing** (``pack_examples``). Examples are laid end to end in fixed-length
  rows: no padding wasted. Attention must then be *block*-causal
  (``block_causal_mask``) and positions restart per example, or each example
  would attend to the unrelated ones before it. Models without a mask argument
  can still train on packed rows, accepting that cross-talk (the trade-off most
  pretraining runs accept, since their documents are long).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from llm_from_scratch.align.chat import ChatExample

IGNORE = -100


def shift(example: ChatExample) -> tuple[list[int], list[int]]:
    """Inputs and next-token targets of one example, unlearned targets = IGNORE."""
    if len(example.ids) < 2:
        raise ValueError("an example needs at least two tokens to predict one")
    inputs = example.ids[:-1]
    targets = [t if m else IGNORE for t, m in zip(example.ids[1:], example.mask[1:])]
    return inputs, targets


def pad_batch(
    examples: Sequence[ChatExample], pad_id: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded ``inputs`` and ``targets`` of shape ``[B, T]`` (T = longest - 1)."""
    if not examples:
        raise ValueError("pad_batch needs at least one example")
    pairs = [shift(e) for e in examples]
    width = max(len(i) for i, _ in pairs)
    inputs = torch.full((len(pairs), width), pad_id, dtype=torch.long)
    targets = torch.full((len(pairs), width), IGNORE, dtype=torch.long)
    for row, (i, t) in enumerate(pairs):
        inputs[row, : len(i)] = torch.tensor(i)
        targets[row, : len(t)] = torch.tensor(t)
    return inputs, targets


@dataclass(frozen=True)
class PackedBatch:
    """Rows of packed examples. ``segments`` is -1 on padding, else the example index
    within its row; ``positions`` restart at 0 for every example."""

    inputs: torch.Tensor
    targets: torch.Tensor
    segments: torch.Tensor
    positions: torch.Tensor


def pack_examples(
    examples: Sequence[ChatExample], seq_len: int, pad_id: int
) -> PackedBatch:
    """Greedily lay examples end to end in rows of ``seq_len`` (order kept).

    An example that does not fit in one row is an error rather than being split:
    a conversation cut in two would lose its prompt.
    """
    if seq_len < 1:
        raise ValueError(f"seq_len must be >= 1, got {seq_len}")
    rows: list[list[tuple[list[int], list[int]]]] = [[]]
    used = 0
    for n, example in enumerate(examples):
        inputs, targets = shift(example)
        if len(inputs) > seq_len:
            raise ValueError(
                f"example {n} has {len(inputs)} inputs > seq_len={seq_len}"
            )
        if used + len(inputs) > seq_len:
            rows.append([])
            used = 0
        rows[-1].append((inputs, targets))
        used += len(inputs)
    if not rows[0]:
        raise ValueError("pack_examples needs at least one example")
    shape = (len(rows), seq_len)
    batch = PackedBatch(
        torch.full(shape, pad_id, dtype=torch.long),
        torch.full(shape, IGNORE, dtype=torch.long),
        torch.full(shape, -1, dtype=torch.long),
        torch.zeros(shape, dtype=torch.long),
    )
    for r, row in enumerate(rows):
        start = 0
        for s, (inputs, targets) in enumerate(row):
            end = start + len(inputs)
            batch.inputs[r, start:end] = torch.tensor(inputs)
            batch.targets[r, start:end] = torch.tensor(targets)
            batch.segments[r, start:end] = s
            batch.positions[r, start:end] = torch.arange(len(inputs))
            start = end
    return batch


def block_causal_mask(segments: torch.Tensor) -> torch.Tensor:
    """``[B, T, T]`` boolean mask, True where query ``i`` may attend to key ``j``:
    same example and ``j <= i``. Padding (segment -1) attends only to itself, so no
    softmax row is empty."""
    t = segments.shape[-1]
    causal = torch.ones(t, t, dtype=torch.bool).tril()
    same = segments[:, :, None] == segments[:, None, :]
    pad_self = torch.eye(t, dtype=torch.bool) & (segments[:, :, None] < 0)
    return (same & causal & (segments[:, :, None] >= 0)) | pad_self
