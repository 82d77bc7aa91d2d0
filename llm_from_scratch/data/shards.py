"""Binary token shards: the format every training run reads.

Tokenizing on the fly wastes the training loop's time, so the corpus is
tokenized once and written as flat arrays of token ids. Each document is
*preceded* by the end-of-text token (as in nanoGPT's and llm.c's FineWeb
scripts), so a model always sees a delimiter before a new document starts.

One shard file is a 32-byte header followed by the raw token ids::

    magic  b"LLMFSHRD"   8 bytes
    version              uint32 (little endian)
    itemsize             uint32: 2 (uint16 ids) or 4 (uint32 ids)
    num_tokens           uint64
    reserved             8 zero bytes

A JSON manifest lists the shards in order with their token counts and SHA-256.
Writing the manifest last makes it the commit point: a shard set without a
manifest is unfinished. The reader memory-maps the shards, so a corpus larger
than RAM is sampled without ever being loaded whole.
"""

from __future__ import annotations

import hashlib
import json
import struct
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np
import torch

MAGIC = b"LLMFSHRD"
VERSION = 1
HEADER = struct.Struct("<8sIIQ8x")  # 32 bytes
MANIFEST_FORMAT = "llm-from-scratch/token-shards"
DTYPES = {2: np.dtype("<u2"), 4: np.dtype("<u4")}


class SupportsEncode(Protocol):
    """What the shard writer needs from a tokenizer (the book's, or any other)."""

    eot_id: int
    vocab_size: int

    def encode_ordinary(self, text: str) -> list[int]: ...


def itemsize_for(vocab_size: int) -> int:
    """2 bytes per token when every id fits in uint16, else 4 (uint32)."""
    if vocab_size <= 0:
        raise ValueError(f"vocab_size must be positive, got {vocab_size}")
    if vocab_size <= 2**16:
        return 2
    if vocab_size <= 2**32:
        return 4
    raise ValueError(f"vocab_size {vocab_size} does not fit in uint32")


def _write_shard(path: Path, tokens: np.ndarray) -> str:
    """Write one shard (header + ids) and return its SHA-256."""
    header = HEADER.pack(MAGIC, VERSION, tokens.dtype.itemsize, len(tokens))
    payload = header + tokens.tobytes()
    path.write_bytes(payload)
    return hashlib.sha256(payload).hexdigest()


def _token_lists(
    docs: Iterable[str | Sequence[int]], tokenizer: SupportsEncode
) -> Iterator[Sequence[int]]:
    """Turn texts into id lists; pass pre-tokenized documents through."""
    for i, doc in enumerate(docs):
        if isinstance(doc, str):
            yield tokenizer.encode_ordinary(doc)
        elif isinstance(doc, (list, tuple, np.ndarray)):
            yield doc
        else:
            raise TypeError(
                f"document {i} is a {type(doc).__name__}; expected str or a list of ids"
            )


def write_shards(
    docs: Iterable[str | Sequence[int]],
    tokenizer: SupportsEncode,
    out_dir: str | Path,
    shard_tokens: int = 2**20,
    prefix: str = "shard",
    metadata: dict | None = None,
) -> Path:
    """Tokenize documents into fixed-size shards; return the manifest's path.

    ``docs`` yields texts (tokenized with ``tokenizer.encode_ordinary``) or
    lists of ids. Every document is preceded by ``tokenizer.eot_id``. Each
    shard holds exactly ``shard_tokens`` ids except the last. The output is a
    pure function of the inputs (no timestamps), so re-running it produces
    byte-identical files.
    """
    if shard_tokens < 2:
        raise ValueError(f"shard_tokens must be >= 2, got {shard_tokens}")
    vocab_size, eot = int(tokenizer.vocab_size), int(tokenizer.eot_id)
    if not 0 <= eot < vocab_size:
        raise ValueError(f"eot_id {eot} is outside the vocabulary [0, {vocab_size})")
    dtype = DTYPES[itemsize_for(vocab_size)]
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    manifest_path = out / f"{prefix}_manifest.json"
    manifest_path.unlink(missing_ok=True)  # uncommitted until rewritten at the end

    buffer = np.empty(shard_tokens, dtype=dtype)
    fill, shards, num_docs = 0, [], 0

    def flush() -> None:
        nonlocal fill
        name = f"{prefix}_{len(shards):05d}.bin"
        digest = _write_shard(out / name, buffer[:fill])
        shards.append({"file": name, "num_tokens": fill, "sha256": digest})
        fill = 0

    for ids in _token_lists(docs, tokenizer):
        arr = np.asarray(ids, dtype=np.int64)
        if arr.size and (arr.min() < 0 or arr.max() >= vocab_size):
            bad = arr[(arr < 0) | (arr >= vocab_size)][0]
            raise ValueError(
                f"document {num_docs} has token id {bad} outside [0, {vocab_size})"
            )
        arr = np.concatenate([np.array([eot], dtype=np.int64), arr]).astype(dtype)
        num_docs += 1
        while arr.size:
            take = min(shard_tokens - fill, arr.size)
            buffer[fill : fill + take] = arr[:take]
            fill, arr = fill + take, arr[take:]
            if fill == shard_tokens:
                flush()
    if fill or not shards:
        flush()

    manifest = {
        "format": MANIFEST_FORMAT,
        "version": VERSION,
        "dtype": dtype.name,
        "vocab_size": vocab_size,
        "eot_id": eot,
        "num_documents": num_docs,
        "num_tokens": sum(s["num_tokens"] for s in shards),
        "shards": shards,
        "metadata": metadata or {},
    }
    tmp = manifest_path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    tmp.replace(manifest_path)
    return manifest_path


def read_shard(path: str | Path) -> np.ndarray:
    """Memory-map one shard after checking its header against the file size."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"shard {path} does not exist")
    size = path.stat().st_size
    if size < HEADER.size:
        raise ValueError(f"shard {path} is truncated: {size} bytes < 32-byte header")
    with path.open("rb") as f:
        magic, version, itemsize, n = HEADER.unpack(f.read(HEADER.size))
    if magic != MAGIC:
        raise ValueError(f"shard {path} has bad magic {magic!r} (expected {MAGIC!r})")
    if version != VERSION:
        raise ValueError(
            f"shard {path} has format version {version}, expected {VERSION}"
        )
    if itemsize not in DTYPES:
        raise ValueError(
            f"shard {path} has invalid itemsize {itemsize} (expected 2 or 4)"
        )
    expected = HEADER.size + n * itemsize
    if size != expected:
        raise ValueError(
            f"shard {path} is {size} bytes but its header promises {n} tokens "
            f"({expected} bytes): truncated or corrupt"
        )
    if n == 0:
        return np.empty(0, dtype=DTYPES[itemsize])
    return np.memmap(path, dtype=DTYPES[itemsize], mode="r", offset=HEADER.size)


class TokenShards:
    """A memory-mapped view of a shard set as one long stream of token ids.

    ``sample_batch`` draws random windows using only the generator passed in,
    so a run resumed with the generator's saved state sees exactly the batches
    it would have seen.
    """

    def __init__(self, manifest_path: str | Path) -> None:
        self.manifest_path = Path(manifest_path)
        if not self.manifest_path.is_file():
            raise FileNotFoundError(f"manifest {self.manifest_path} does not exist")
        try:
            manifest = json.loads(self.manifest_path.read_text())
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise ValueError(f"manifest {self.manifest_path} is not valid JSON: {e}")
        if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
            raise ValueError(f"{self.manifest_path} is not a token-shard manifest")
        self.manifest = manifest
        self.vocab_size: int = manifest["vocab_size"]
        self.eot_id: int = manifest["eot_id"]
        self.dtype = np.dtype(manifest["dtype"])
        self.shards: list[np.ndarray] = []
        for entry in manifest["shards"]:
            path = self.manifest_path.parent / entry["file"]
            arr = read_shard(path)
            if arr.dtype != self.dtype:
                raise ValueError(
                    f"shard {path} holds {arr.dtype.name} ids but the manifest says "
                    f"{self.dtype.name}"
                )
            if len(arr) != entry["num_tokens"]:
                raise ValueError(
                    f"shard {path} holds {len(arr)} tokens, manifest says "
                    f"{entry['num_tokens']}"
                )
            self.shards.append(arr)
        sizes = [len(a) for a in self.shards]
        self.offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        self.num_tokens: int = int(self.offsets[-1])

    def __len__(self) -> int:
        return self.num_tokens

    def verify(self) -> None:
        """Recompute every shard's SHA-256 against the manifest (reads all data)."""
        for entry in self.manifest["shards"]:
            path = self.manifest_path.parent / entry["file"]
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            if digest != entry["sha256"]:
                raise ValueError(f"shard {path} fails its SHA-256 check: corrupt")

    def tokens(self, start: int, stop: int) -> np.ndarray:
        """Ids ``[start, stop)`` of the whole stream, copied across shard borders."""
        if not 0 <= start <= stop <= self.num_tokens:
            raise IndexError(f"range [{start}, {stop}) outside [0, {self.num_tokens})")
        out = np.empty(stop - start, dtype=np.int64)
        first = int(np.searchsorted(self.offsets, start, side="right")) - 1
        pos = start
        for i in range(max(first, 0), len(self.shards)):
            if pos >= stop:
                break
            lo = pos - int(self.offsets[i])
            hi = min(stop, int(self.offsets[i + 1])) - int(self.offsets[i])
            out[pos - start : pos - start + hi - lo] = self.shards[i][lo:hi]
            pos += hi - lo
        return out

    def _check(self, batch_size: int, seq_len: int) -> None:
        if batch_size < 1 or seq_len < 1:
            raise ValueError(
                f"batch_size and seq_len must be >= 1, got {batch_size}, {seq_len}"
            )
        if seq_len + 1 > self.num_tokens:
            raise ValueError(
                f"seq_len {seq_len} needs {seq_len + 1} tokens; the shards hold "
                f"only {self.num_tokens}"
            )

    def locate(self, position: int) -> tuple[Path, int]:
        """The shard file and the token offset in it of a stream position."""
        i = int(np.searchsorted(self.offsets, position, side="right")) - 1
        entry = self.manifest["shards"][i]
        offset = position - int(self.offsets[i])
        return self.manifest_path.parent / entry["file"], offset

    def _check_ids(self, rows: np.ndarray, starts: Sequence[int]) -> None:
        """A corrupt shard (an id outside the vocabulary) names itself here,
        not as an IndexError deep inside the model's embedding."""
        bad = np.argwhere((rows >= self.vocab_size) | (rows < 0))
        if bad.size:
            row, col = (int(v) for v in bad[0])
            path, offset = self.locate(int(starts[row]) + col)
            raise ValueError(
                f"shard {path} holds token id {int(rows[row, col])} at token offset "
                f"{offset}, outside the vocabulary [0, {self.vocab_size}): corrupt "
                "shard, or a manifest for another tokenizer"
            )

    def _batch(self, starts: Sequence[int], seq_len: int) -> tuple[torch.Tensor, ...]:
        rows = np.stack([self.tokens(s, s + seq_len + 1) for s in starts])
        self._check_ids(rows, starts)
        xy = torch.from_numpy(rows)
        return xy[:, :-1].contiguous(), xy[:, 1:].contiguous()

    def sample_batch(
        self, batch_size: int, seq_len: int, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Random windows: ``x`` (B, T) and ``y = x`` shifted left by one."""
        self._check(batch_size, seq_len)
        high = self.num_tokens - seq_len  # start + seq_len + 1 <= num_tokens
        starts = torch.randint(0, high, (batch_size,), generator=generator)
        return self._batch(starts.tolist(), seq_len)

    def num_windows(self, seq_len: int) -> int:
        """How many non-overlapping windows ``sequential_batches`` yields."""
        return (self.num_tokens - 1) // seq_len

    def sequential_batches(
        self, batch_size: int, seq_len: int
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Every non-overlapping window once, in order (the last batch may be short).

        For evaluation: window ``i`` predicts tokens ``i*T+1 .. (i+1)*T``, so
        together the windows score every token but the first exactly once.
        """
        self._check(batch_size, seq_len)
        starts = [i * seq_len for i in range(self.num_windows(seq_len))]
        for b in range(0, len(starts), batch_size):
            yield self._batch(starts[b : b + batch_size], seq_len)
