"""Where training batches come from: the data chapter's token shards.

The loop needs little from a dataset: random ``(x, y)`` windows for training,
fixed windows for evaluation, the vocabulary size, and how many bytes of text a
token covers on average (to report bits per byte). ``TrainData`` bundles that,
for the book's shards or for any pair of shard manifests.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

import torch

from llm_from_scratch.train.config import TrainConfig
from llm_from_scratch.utils import cache_dir


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


class ByteTokenizer:
    """UTF-8 bytes as tokens (ids 0-255) plus an end-of-text id 256.

    The tokenizer-free baseline: with it, bits per byte is simply the loss in
    bits, and a BPE model's gain is measured against it in the same units.
    """

    vocab_size = 257
    eot_id = 256

    def encode_ordinary(self, text: str) -> list[int]:
        return list(text.encode("utf-8"))

    encode = encode_ordinary

    def decode(self, ids: Sequence[int]) -> str:
        return bytes(i for i in ids if i != self.eot_id).decode("utf-8", "replace")


def byte_shards(
    texts: Sequence[str], out_dir: str | Path, val_fraction: float = 0.1
) -> tuple[Path, Path]:
    """Write byte-level train/val shards of ``texts``; return the two manifests.

    The last ``val_fraction`` of the documents (at least one) is held out, so
    validation text is never seen in training.
    """
    from llm_from_scratch.data import write_shards

    if len(texts) < 2:
        raise ValueError(f"need at least 2 documents (train and val), got {len(texts)}")
    if not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
    n_val = max(1, round(val_fraction * len(texts)))
    out, tok, manifests = Path(out_dir), ByteTokenizer(), []
    for name, part in (("train", texts[:-n_val]), ("val", texts[-n_val:])):
        n_bytes = sum(len(t.encode("utf-8")) for t in part)
        bpt = n_bytes / (n_bytes + len(part))  # + one end-of-text per document
        meta = {"tokenizer": "bytes", "bytes_per_token": bpt}
        manifests.append(write_shards(part, tok, out, prefix=name, metadata=meta))
    return manifests[0], manifests[1]


def shakespeare_bytes() -> tuple[Path, Path]:
    """Byte-level shards of the book's Shakespeare corpus (cached)."""
    from llm_from_scratch.corpora import shakespeare

    out = cache_dir("byte-shards", "shakespeare-modern")
    train, val = out / "train_manifest.json", out / "val_manifest.json"
    if not (train.is_file() and val.is_file()):
        train, val = byte_shards([t.text for t in shakespeare()], out)
    return train, val


def manifest_tokenizer(manifest_path: str | Path) -> Any:
    """The tokenizer a shard manifest records (``curate --tokenizer``), or None.

    ``metadata.tokenizer`` is ``"bytes"``, ``"book"`` or ``{"file", "sha256"}``
    with the file relative to the manifest's folder; a file that is missing or
    was replaced since (another checksum) is an error naming it.
    """
    import hashlib
    import json

    manifest_path = Path(manifest_path)
    try:
        manifest = json.loads(manifest_path.read_text())
    except (OSError, ValueError) as e:
        raise ValueError(f"cannot read the shard manifest {manifest_path}: {e}") from e
    record = manifest.get("metadata", {}).get("tokenizer") if isinstance(
        manifest, dict) else None
    if record == "bytes":
        return ByteTokenizer()
    if record == "book":
        from llm_from_scratch.tokenizer import book_tokenizer

        return book_tokenizer()
    if not isinstance(record, dict) or "file" not in record:
        return None
    from llm_from_scratch.tokenizer import Tokenizer

    path = (manifest_path.parent / record["file"]).resolve()
    if not path.is_file():
        raise FileNotFoundError(
            f"{manifest_path} names the tokenizer {path}, which is missing"
        )
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if record.get("sha256") not in (None, digest):
        raise ValueError(f"the tokenizer {path} is not the one {manifest_path} was "
                         "made with (SHA-256 differs)")
    return Tokenizer.load(path)


def run_tokenizer(config: TrainConfig) -> Any:
    """The tokenizer of a run's data (what ``sample`` and ``chat`` decode with)."""
    if config.data == "book":
        from llm_from_scratch.tokenizer import book_tokenizer

        return book_tokenizer()
    if config.data == "bytes":
        return ByteTokenizer()
    tok = manifest_tokenizer(config.val_manifest)  # type: ignore[arg-type]
    if tok is None:
        raise ValueError(
            f"cannot tell which tokenizer made {config.val_manifest}: its metadata "
            "names none (shards written by `curate --shards` record it); pass "
            "--tokenizer FILE"
        )
    return tok


def open_data(config: TrainConfig) -> TrainData:
    """The run's data: the book's shards, Shakespeare as bytes, or two manifests."""
    from llm_from_scratch.data import TokenShards

    if config.data == "bytes":
        train_path, val_path = shakespeare_bytes()
        config = replace(config, data="manifests", train_manifest=str(train_path),
                         val_manifest=str(val_path))
    if config.data == "book":
        from llm_from_scratch.data import book_shards

        shards = book_shards()
        train, val = TokenShards(shards.train), TokenShards(shards.val)
        tokenizer = shards.tokenizer
        bpt = config.bytes_per_token or bytes_per_token(val, tokenizer)
    else:
        train = TokenShards(config.train_manifest)
        val = TokenShards(config.val_manifest)
        meta = val.manifest.get("metadata", {})
        tokenizer = manifest_tokenizer(val.manifest_path)
        bpt = config.bytes_per_token or meta.get("bytes_per_token")
        if tokenizer is not None and tokenizer.vocab_size != val.vocab_size:
            raise ValueError(
                f"the tokenizer of {val.manifest_path} has {tokenizer.vocab_size} "
                f"tokens but the manifest says vocab_size {val.vocab_size}"
            )
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
