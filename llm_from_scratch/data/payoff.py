"""The payoff experiment: the same tiny model, trained on raw vs curated text.

Same architecture, seed, number of steps and tokens per step; the only
difference is the data. Both are scored on the same clean held-out text
(validation plays the curation never saw in training). The loop is plain
AdamW on cross-entropy: the training chapter owns the real loop.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch.nn import functional as F

from llm_from_scratch.data.corpus import BookShards, is_validation
from llm_from_scratch.data.pipeline import CurationConfig, default_documents
from llm_from_scratch.data.shards import TokenShards, write_shards
from llm_from_scratch.data.toxicity import torch_threads


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
    eval_batches: int = 4
    seed: int = 0


def payoff_shards(
    shards: BookShards, out_dir: str | Path | None = None,
    config: CurationConfig | None = None, val_fraction: float = 0.1,
) -> dict[str, Path]:
    """Raw training shards (the uncurated corpus minus validation documents and
    their planted copies) and clean validation shards (held-out Shakespeare).

    By default they are cached next to ``shards`` (same key); pass ``config``
    and ``val_fraction`` as given to ``book_shards``.
    """
    config = config or CurationConfig()
    out = Path(out_dir) if out_dir else shards.train.parent.parent / "payoff"
    cached = {name: out / name / "shard_manifest.json" for name in ("raw", "clean_val")}
    if out_dir is None and all(p.is_file() for p in cached.values()):
        return cached
    docs = default_documents(config)
    held_out = {d.id for d in docs if is_validation(d.id, val_fraction)}
    raw = [d.text for d in docs if d.id not in held_out
           and d.meta.get("dup_of") not in held_out]
    clean_val = [d.text for d in docs if d.id in held_out and d.source == "shakespeare"
                 and not d.meta.get("labels")]
    tok = shards.tokenizer
    encode = getattr(tok, "encode_batch", None)
    paths = {}
    for name, texts in (("raw", raw), ("clean_val", clean_val)):
        ids = encode(texts, num_workers=2) if encode else texts
        paths[name] = write_shards(ids, tok, out / name)
    return paths


@torch.no_grad()
def evaluate(model: torch.nn.Module, val: TokenShards, config: PayoffConfig) -> float:
    """Mean cross-entropy (nats/token) over the first windows of ``val``."""
    model.eval()
    losses = []
    batches = val.sequential_batches(config.batch_size, config.seq_len)
    for i, (x, y) in enumerate(batches):
        if i == config.eval_batches:
            break
        logits = model(x)
        losses.append(F.cross_entropy(logits.flatten(0, 1), y.flatten()).item())
    model.train()
    return sum(losses) / len(losses)


def train_tiny(
    train: TokenShards, val: TokenShards, config: PayoffConfig = PayoffConfig()
) -> list[tuple[int, float]]:
    """Train a fresh tiny transformer; return (step, validation loss) pairs."""
    from llm_from_scratch.model import ModelConfig, Transformer

    with torch_threads(1):
        torch.manual_seed(config.seed)
        model = Transformer(ModelConfig(
            vocab_size=train.vocab_size, d_model=config.d_model,
            n_layers=config.n_layers, n_heads=config.n_heads,
            max_seq_len=config.seq_len,
        ))
        opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=0.1)
        gen = torch.Generator().manual_seed(config.seed)
        curve = [(0, evaluate(model, val, config))]
        for step in range(1, config.steps + 1):
            x, y = train.sample_batch(config.batch_size, config.seq_len, gen)
            loss = F.cross_entropy(model(x).flatten(0, 1), y.flatten())
            opt.zero_grad()
            loss.backward()
            opt.step()
            if step % config.eval_every == 0 or step == config.steps:
                curve.append((step, evaluate(model, val, config)))
    return curve
