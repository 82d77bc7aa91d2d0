"""The payoff experiment: the same tiny model, trained on raw vs curated text.

Same architecture, seed, number of steps and tokens per step; the only
difference is the data. Both are scored on the same clean held-out text:
validation plays, untouched by the noise injector. Held out means more than a
different id: a copy of a validation play can sit in the training side of
either arm (the raw crawl plants near copies, and near-dedup may keep the
copy rather than the original), so both arms are decontaminated by n-gram
overlap against the validation text. The loop is plain AdamW on
cross-entropy: the training chapter owns the real loop.
"""

from __future__ import annotations

import multiprocessing as mp
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from llm_from_scratch.data.corpus import BookShards, is_validation, split_documents
from llm_from_scratch.data.decontam import decontaminate
from llm_from_scratch.data.documents import Document
from llm_from_scratch.data.pipeline import CurationConfig, CurationReport
from llm_from_scratch.data.pipeline import default_documents
from llm_from_scratch.data.shards import TokenShards, write_shards
from llm_from_scratch.data.toxicity import torch_threads

PAYOFF_VERSION = 2  # 2: both arms decontaminated; the curated arm has own shards
CONTAMINATION_THRESHOLD = 0.5  # 8-gram overlap with a validation document


@dataclass(frozen=True)
class PayoffConfig:
    """A model that trains in seconds on one CPU thread."""

    steps: int = 150
    batch_size: int = 12
    seq_len: int = 64
    d_model: int = 64
    n_layers: int = 2
    n_heads: int = 4
    lr: float = 3e-3
    eval_every: int = 50
    eval_batches: int = 16  # of batch_size windows, spread over all validation text
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "seq_len", "eval_every", "eval_batches"):
            if getattr(self, name) < 1:
                raise ValueError(f"PayoffConfig.{name} must be >= 1")


@dataclass(frozen=True)
class PayoffData:
    """The documents of both arms and of the clean validation set."""

    raw: list[Document]
    curated: list[Document]
    clean_val: list[Document]
    removed: dict[str, list[str]]  # arm -> ids removed as copies of validation text


def payoff_documents(
    raw_docs: Sequence[Document], curated_docs: Sequence[Document],
    val_fraction: float = 0.1, threshold: float = CONTAMINATION_THRESHOLD,
) -> PayoffData:
    """Split both corpora like ``book_shards`` and decontaminate both arms.

    Validation: held-out Shakespeare without any injected noise. Raw arm: the
    raw corpus minus held-out ids; curated arm: the curated training split.
    Then each arm loses every document whose 8-gram overlap with a validation
    document reaches ``threshold``: the same rule on both sides, and one that
    looks at text, not at the injector's labels.
    """
    held_out = {d.id for d in raw_docs if is_validation(d.id, val_fraction)}
    clean_val = [d for d in raw_docs if d.id in held_out
                 and d.source == "shakespeare" and not d.meta.get("labels")]
    raw = [d for d in raw_docs if d.id not in held_out]
    curated, _ = split_documents(curated_docs, val_fraction)
    raw, raw_removed = decontaminate(raw, clean_val, threshold)
    curated, curated_removed = decontaminate(curated, clean_val, threshold)
    return PayoffData(raw, curated, clean_val,
                      {"raw": raw_removed, "curated": curated_removed})


def payoff_shards(
    shards: BookShards, out_dir: str | Path | None = None,
    config: CurationConfig | None = None, val_fraction: float = 0.1,
) -> dict[str, Path]:
    """Token shards of the raw and curated training arms and of the clean
    validation text; each manifest's metadata lists its documents and, for
    the arms, the ids removed as copies of validation text.

    By default they are cached next to ``shards`` (same key); pass ``config``
    and ``val_fraction`` as given to ``book_shards``.
    """
    config = config or CurationConfig()
    root = shards.train.parent.parent / f"payoff-v{PAYOFF_VERSION}"
    out = Path(out_dir) if out_dir else root
    names = ("raw", "curated", "clean_val")
    cached = {name: out / name / "shard_manifest.json" for name in names}
    if out_dir is None and all(p.is_file() for p in cached.values()):
        return cached
    curated = CurationReport.load(shards.report).curated_documents()
    data = payoff_documents(default_documents(config), list(curated), val_fraction)
    tok = shards.tokenizer
    encode = getattr(tok, "encode_batch", None)
    paths = {}
    for name in names:
        docs = getattr(data, name)
        texts = [d.text for d in docs]
        ids = encode(texts, num_workers=2) if encode else texts
        meta = {"documents": [d.id for d in docs],
                "contaminated_removed": data.removed.get(name, [])}
        paths[name] = write_shards(ids, tok, out / name, metadata=meta)
    return paths


def eval_windows(
    val: TokenShards, config: PayoffConfig
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Fixed evaluation batches: windows spread evenly over the validation text.

    The first windows alone would score only the opening of one play; evenly
    spaced ones cover every validation document, and being fixed, every
    evaluation of every run scores the same tokens.
    """
    n = val.num_windows(config.seq_len)
    k = min(n, config.eval_batches * config.batch_size)
    starts = np.linspace(0, n - 1, k).round().astype(np.int64) * config.seq_len
    rows = np.stack([val.tokens(s, s + config.seq_len + 1) for s in starts])
    xy = torch.from_numpy(rows)
    x, y = xy[:, :-1], xy[:, 1:]
    return list(zip(x.split(config.batch_size), y.split(config.batch_size)))


@torch.no_grad()
def evaluate(
    model: torch.nn.Module, batches: Sequence[tuple[torch.Tensor, torch.Tensor]]
) -> float:
    """Mean cross-entropy (nats/token) over ``batches``."""
    model.eval()
    total, count = 0.0, 0
    for x, y in batches:
        logits = model(x)
        total += F.cross_entropy(logits.flatten(0, 1), y.flatten(),
                                 reduction="sum").item()
        count += y.numel()
    model.train()
    return total / count


def train_tiny(
    train: TokenShards, val: TokenShards, config: PayoffConfig = PayoffConfig()
) -> list[tuple[int, float]]:
    """Train a fresh tiny transformer; return (step, validation loss) pairs."""
    from llm_from_scratch.model import ModelConfig, Transformer

    batches = eval_windows(val, config)
    with torch_threads(1):
        torch.manual_seed(config.seed)
        model = Transformer(ModelConfig(
            vocab_size=train.vocab_size, d_model=config.d_model,
            n_layers=config.n_layers, n_heads=config.n_heads,
            max_seq_len=config.seq_len,
        ))
        opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=0.1)
        gen = torch.Generator().manual_seed(config.seed)
        curve = [(0, evaluate(model, batches))]
        for step in range(1, config.steps + 1):
            x, y = train.sample_batch(config.batch_size, config.seq_len, gen)
            loss = F.cross_entropy(model(x).flatten(0, 1), y.flatten())
            opt.zero_grad()
            loss.backward()
            opt.step()
            if step % config.eval_every == 0 or step == config.steps:
                curve.append((step, evaluate(model, batches)))
    return curve


def _train_job(job: tuple[str, str, PayoffConfig]) -> list[tuple[int, float]]:
    train, val, config = job
    return train_tiny(TokenShards(train), TokenShards(val), config)


def train_many(
    jobs: Sequence[tuple[str | Path, str | Path, PayoffConfig]], workers: int = 2
) -> list[list[tuple[int, float]]]:
    """``train_tiny`` for each (train manifest, validation manifest, config), in
    ``workers`` processes. Each run is single-threaded and seeded, so the
    curves do not depend on ``workers``; two processes use both cores of a
    small machine where one multi-threaded run could not.
    """
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    args = [(str(t), str(v), c) for t, v, c in jobs]
    if workers == 1 or len(args) < 2:
        return [_train_job(a) for a in args]
    ctx = mp.get_context("spawn")  # a fresh interpreter: safe after torch threads
    with ctx.Pool(min(workers, len(args))) as pool:
        return pool.map(_train_job, args, chunksize=1)
