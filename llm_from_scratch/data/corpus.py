"""The book's curated corpus as train/validation token shards, cached.

Later chapters call ``book_shards()`` and get the same shards whether or not
this chapter ran first. The cache key is content-addressed: the curation
settings, a hash of the exact raw documents the pipeline will read (the default
corpus as this machine's packages produce it, and the bytes of every input
file), the toxicity classifier's key (which hashes its training data), the
tokenizer's vocabulary and the format versions. Two machines whose installed
packages give different raw text (the crawl reads their documentation) get
different keys instead of sharing a corpus built from other inputs.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from llm_from_scratch.data.documents import Document, visible_files
from llm_from_scratch.data.inputs import default_documents
from llm_from_scratch.data.pipeline import CurationConfig, curate, progress
from llm_from_scratch.data.shards import VERSION, SupportsEncode, write_shards
from llm_from_scratch.utils.paths import cache_dir, cache_lock

# Bump when the pipeline code changes its output. 3: near-dup clustering checks
# every candidate pair in a bucket (two more licences removed as near copies).
# 4: the book's own README is no longer crawled (it made the corpus change with
# every README edit). 5: the wider phone pattern of PII masking (the same bytes
# on the book's corpus; its config leaves Gopher's bullet-line rule off).
CORPUS_VERSION = 5


@dataclass(frozen=True)
class BookShards:
    """Manifest paths of the train and validation shards, and their tokenizer."""

    train: Path
    val: Path
    tokenizer: Any
    report: Path  # the curation report (report.json)


def is_validation(doc_id: str, fraction: float) -> bool:
    """A stable split by document: a hash of the id, not a random draw."""
    h = int.from_bytes(hashlib.blake2b(doc_id.encode(), digest_size=8).digest())
    return h / 2**64 < fraction


def split_documents(
    docs: Iterable[Document], val_fraction: float
) -> tuple[list[Document], list[Document]]:
    """Train and validation documents; a near-copy never crosses the split
    because the curated corpus is already deduplicated."""
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
    train, val = [], []
    for doc in docs:
        (val if is_validation(doc.id, val_fraction) else train).append(doc)
    return train, val


def tokenizer_fingerprint(tokenizer: SupportsEncode) -> str:
    """Hash of how the tokenizer encodes a fixed probe plus its vocabulary size."""
    probe = "The quick brown fox, 1234 -- caf\u00e9!\nTo be, or not to be."
    ids = tokenizer.encode_ordinary(probe)
    ranks = getattr(tokenizer, "ranks", None)
    blob = json.dumps([tokenizer.vocab_size, tokenizer.eot_id, ids])
    digest = hashlib.sha256(blob.encode())
    if isinstance(ranks, dict):
        for token, rank in sorted(ranks.items(), key=lambda kv: kv[1]):
            digest.update(token + rank.to_bytes(4, "little"))
    return digest.hexdigest()[:12]


_DIGESTS: dict[str, str] = {}


def inputs_digest(config: CurationConfig) -> str:
    """SHA-256 of what ``curate(config)`` reads: every default document (id,
    source, metadata, text, after noise injection) and the bytes of every file
    under ``config.inputs``. A streamed ``hf`` dataset is named by its settings
    in ``config.key()``, not hashed (that would download it). Cached per
    process."""
    memo = json.dumps(config.key(), sort_keys=True, default=str)
    if memo not in _DIGESTS:
        digest = hashlib.sha256()
        for doc in default_documents(config):
            head = json.dumps([doc.id, doc.source, doc.meta], sort_keys=True, default=str)
            digest.update(head.encode() + b"\0")
            digest.update(doc.text.encode("utf-8", "surrogatepass") + b"\0")
        for item in config.inputs:
            path = Path(item)
            for f in visible_files(path) if path.is_dir() else [path]:
                digest.update(str(f.relative_to(path) if path.is_dir() else f.name)
                              .encode() + b"\0")
                digest.update(file_sha256(f).encode())
        _DIGESTS[memo] = digest.hexdigest()
    return _DIGESTS[memo]


def _encode(tokenizer: Any, texts: Sequence[str], workers: int) -> list[list[int]]:
    if hasattr(tokenizer, "encode_batch"):
        return tokenizer.encode_batch(list(texts), num_workers=workers)
    return [tokenizer.encode_ordinary(t) for t in texts]


def book_shards(
    config: CurationConfig | None = None,
    tokenizer: SupportsEncode | None = None,
    val_fraction: float = 0.1,
    shard_tokens: int = 2**20,
    progress: bool = False,
) -> BookShards:
    """The curated default corpus, tokenized and split by document (cached)."""
    if tokenizer is None:
        from llm_from_scratch.tokenizer import book_tokenizer

        tokenizer = book_tokenizer()
    config = config or CurationConfig(progress=progress)
    toxicity = None
    if config.toxicity_max_fraction is not None:
        from llm_from_scratch.data.toxicity import toxicity_key

        toxicity = toxicity_key()
    key_blob = json.dumps(
        {"curation": config.key(), "inputs": inputs_digest(config),
         "toxicity": toxicity, "tokenizer": tokenizer_fingerprint(tokenizer),
         "val_fraction": val_fraction, "shard_tokens": shard_tokens,
         "format": VERSION, "corpus": CORPUS_VERSION},
        sort_keys=True, default=str,
    )
    key = hashlib.sha256(key_blob.encode()).hexdigest()[:12]
    root = cache_dir("shards", key)
    train_m = root / "train" / "shard_manifest.json"
    val_m = root / "val" / "shard_manifest.json"
    report_path = root / "curation" / "report.json"
    # one builder at a time (torchrun ranks on a cold cache ask together)
    with cache_lock(root):
        if not (train_m.is_file() and val_m.is_file() and report_path.is_file()):
            run = replace(config, out_dir=str(root / "curation"), progress=progress)
            report = curate(run)
            train, val = split_documents(report.curated_documents(), val_fraction)
            for name, docs in (("train", train), ("val", val)):
                ids = _encode(tokenizer, [d.text for d in docs], run.workers)
                write_shards(ids, tokenizer, root / name, shard_tokens,
                             metadata={"documents": [d.id for d in docs],
                                       "split": name})
    return BookShards(train_m, val_m, tokenizer, report_path)


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file, read in 1 MiB pieces."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while piece := f.read(1 << 20):
            digest.update(piece)
    return digest.hexdigest()


def tokenizer_record(tokenizer_file: str | Path, manifest_dir: str | Path) -> dict:
    """How a shard manifest names its tokenizer: the file relative to the
    manifest's folder, and its SHA-256, so ``train``, ``sample`` and ``chat``
    find it (and notice when it was replaced) without being told."""
    import os

    path = Path(tokenizer_file).resolve()
    return {"file": os.path.relpath(path, Path(manifest_dir).resolve()),
            "sha256": file_sha256(path)}


def write_split_shards(
    docs: Iterable[Document],
    tokenizer: Any,
    out_dir: str | Path,
    val_fraction: float = 0.1,
    tokenizer_file: str | Path | None = None,
    shard_tokens: int = 2**20,
    show_progress: bool = False,
) -> tuple[Path, Path]:
    """Tokenize documents into ``out_dir/train`` and ``out_dir/val`` shards,
    split by document; return the two manifests. The manifests record the
    tokenizer (``tokenizer_file``, else ``"book"``) and bytes per token."""
    from llm_from_scratch.data.shards import write_shards

    train, val = split_documents(docs, val_fraction)
    if not train or not val:
        raise ValueError(
            f"{len(train) + len(val)} curated document(s) cannot be split into "
            f"train and val with val_fraction={val_fraction}: need at least one "
            "document on each side (more text, or another --val-fraction)"
        )
    manifests = []
    for name, part in (("train", train), ("val", val)):
        out = Path(out_dir) / name
        out.mkdir(parents=True, exist_ok=True)
        record = (tokenizer_record(tokenizer_file, out) if tokenizer_file
                  else "book")
        texts = [d.text for d in part]
        n_bytes = sum(len(t.encode("utf-8")) for t in texts)
        todo = progress(texts, f"shards {name}", "doc", len(texts)) if (
            show_progress) else texts
        ids = [tokenizer.encode_ordinary(t) for t in todo]
        n_tokens = sum(len(i) + 1 for i in ids)  # + the end-of-text before each
        meta = {"tokenizer": record, "bytes_per_token": n_bytes / n_tokens,
                "documents": [d.id for d in part], "split": name}
        manifests.append(write_shards(ids, tokenizer, out, shard_tokens,
                                      metadata=meta))
    return manifests[0], manifests[1]

