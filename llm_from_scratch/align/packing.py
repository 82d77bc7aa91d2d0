"""Packed SFT data: fine-tuning examples laid end to end, as pretraining does.

Padding every example to the longest one wastes the compute of the pad
positions; packing instead renders each (prompt, response) pair in a text
template, tokenizes it, joins the examples with an end-of-text token and cuts
the stream into windows of ``seq_len`` tokens. Every position of every window
is a real token, and an example may continue in the next window, exactly as
documents do in the Training chapter's shards. Attention crosses the
end-of-text boundaries inside a window; the separator tells the model where a
new example starts (``pack_examples`` in ``batching`` is the alternative that
keeps examples whole and masks attention between them).

Labels are the inputs shifted by one, over every token (prompt included), the
usual packed-SFT objective; the last ``(n - 1) mod seq_len`` tokens, which do
not fill a window, are counted in ``dropped_tokens``, not silently lost.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Protocol

import torch

# The Alpaca template (Taori et al., 2023), the usual default of packed SFT recipes.
ALPACA_TEMPLATE = (
    "Below is an instruction that describes a task. Write a response that "
    "appropriately completes the request.\n\n### Instruction:\n{prompt}\n\n"
    "### Response:\n{response}"
)


class Encodes(Protocol):
    def encode(self, text: str) -> list[int]: ...


class PackedSFTDataset(torch.utils.data.Dataset):
    """Windows of ``seq_len`` tokens cut from the packed, shuffled examples.

    ``examples`` are mappings with ``"prompt"`` and ``"response"`` strings.
    The examples are shuffled with ``seed`` (when ``shuffle``), each is
    rendered with ``template`` and encoded, and ``eos_id`` follows each one.
    Item ``i`` is ``{"input_ids": (seq_len,), "labels": (seq_len,)}``, int64,
    with ``labels[t] == input_ids[t + 1]`` across windows of the stream.
    """

    def __init__(
        self,
        tokenizer: Encodes,
        examples: Sequence[Mapping[str, Any]],
        seq_len: int,
        eos_id: int,
        *,
        template: str = ALPACA_TEMPLATE,
        shuffle: bool = True,
        seed: int = 0,
    ) -> None:
        # region checks
        if seq_len < 1:
            raise ValueError(f"seq_len must be >= 1, got {seq_len}")
        if not examples:
            raise ValueError("PackedSFTDataset needs at least one example")
        for field in ("{prompt}", "{response}"):
            if field not in template:
                raise ValueError(f"template must contain {field}")
        for i, ex in enumerate(examples):
            for field in ("prompt", "response"):
                if not isinstance(ex.get(field), str):
                    raise ValueError(
                        f"example {i}: field {field!r} must be a string, got "
                        f"{type(ex.get(field)).__name__}"
                    )
        # endregion
        order = list(range(len(examples)))
        if shuffle:
            random.Random(seed).shuffle(order)
        stream: list[int] = []
        for i in order:
            text = template.format(prompt=examples[i]["prompt"],
                                   response=examples[i]["response"])
            stream.extend(tokenizer.encode(text))
            stream.append(eos_id)
        self.seq_len = seq_len
        self.tokens = torch.tensor(stream, dtype=torch.long)
        self.num_windows = (len(stream) - 1) // seq_len
        self.dropped_tokens = len(stream) - 1 - self.num_windows * seq_len
        if self.num_windows == 0:
            raise ValueError(
                f"the {len(stream)} packed tokens do not fill one window of "
                f"seq_len={seq_len} (+1 for the shifted labels)"
            )

    def __len__(self) -> int:
        return self.num_windows

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        if not -self.num_windows <= i < self.num_windows:
            raise IndexError(f"window {i} of {self.num_windows}")
        i %= self.num_windows
        start = i * self.seq_len
        chunk = self.tokens[start : start + self.seq_len + 1]
        return {"input_ids": chunk[:-1], "labels": chunk[1:]}


def iterate_batches(
    dataset: torch.utils.data.Dataset,
    batch_size: int,
    shuffle: bool = True,
    seed: int = 0,
) -> Iterator[dict[str, torch.Tensor]]:
    """One pass over ``dataset`` in batches of ``batch_size`` items (the last
    may be smaller), in an order shuffled with ``seed``; each field stacked
    into ``(batch, ...)``."""
    # region checks
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    # endregion
    n = len(dataset)  # type: ignore[arg-type]
    order = list(range(n))
    if shuffle:
        random.Random(seed).shuffle(order)
    for start in range(0, n, batch_size):
        items = [dataset[i] for i in order[start : start + batch_size]]
        yield {key: torch.stack([item[key] for item in items]) for key in items[0]}
