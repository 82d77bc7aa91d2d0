"""Where training batches come from: the data chapter's token shards.

The loop needs little from a dataset: random ``(x, y)`` windows for training,
fixed windows for evaluation, the vocabulary size, and how many bytes of text a
token covers on average (to report bits per byte). ``TrainData`` bundles that,
for the book's shards or for any pair of shard manifests.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import torch

from llm_from_scratch.train.config import TrainConfig


class Batches(Protocol):
    """What the loop needs from a token stream (``data.TokenShards`` has it)."""

    num_tokens: int

    def sample_batch(
        self, batch_size: int, seq_len: int, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]: ...


@dataclass
class TrainData:
    """Train/validation streams and what is needed to interpret their losses."""

    train: Batches
    val: Batches
    vocab_size: int
    bytes_per_token: float | None = None
    tokenizer: Any = None  # with encode/decode, for sample generations


def bytes_per_token(val: Any, tokenizer: Any, limit: int = 200_000) -> float:
    """Average UTF-8 bytes of text per token over (up to ``limit``) val tokens.

    End-of-text markers separate documents and are not text, so they count as
    tokens (the model must predict them) but contribute no bytes.
    """
    ids = val.tokens(0, min(limit, val.num_tokens)).tolist()
    eot = getattr(tokenizer, "eot_id", None)
    text_ids = [i for i in ids if i != eot]
    if not text_ids:
        raise ValueError("the validation stream holds no text tokens")
    return len(tokenizer.decode(text_ids).encode("utf-8")) / len(ids)


def open_data(config: TrainConfig) -> TrainData:
    """The run's data: the book's shards, or two shard manifests from the config."""
    from llm_from_scratch.data import TokenShards

    if config.data == "book":
        from llm_from_scratch.data import book_shards

        shards = book_shards()
        train, val = TokenShards(shards.train), TokenShards(shards.val)
        tokenizer = shards.tokenizer
        bpt = config.bytes_per_token or bytes_per_token(val, tokenizer)
    else:
        train = TokenShards(config.train_manifest)
        val = TokenShards(config.val_manifest)
        tokenizer = None
        meta = val.manifest.get("metadata", {})
        bpt = config.bytes_per_token or meta.get("bytes_per_token")
    if train.vocab_size != val.vocab_size:
        raise ValueError(
            f"train vocab_size {train.vocab_size} != val vocab_size {val.vocab_size}"
        )
    for name, stream in (("train", train), ("val", val)):
        if stream.num_tokens <= config.seq_len:
            raise ValueError(
                f"the {name} stream has {stream.num_tokens} tokens, fewer than "
                f"seq_len + 1 = {config.seq_len + 1}"
            )
    return TrainData(train, val, train.vocab_size, bpt, tokenizer)
