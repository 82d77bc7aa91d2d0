"""What the training loop measures besides the training loss.

``evaluate`` computes the validation loss (with perplexity and, when the
tokenizer's bytes per token are known, bits per byte) on ``eval_batches``
fixed batches: they come from a stream of their own (``EVAL_STREAM``, a step
no run reaches), so they are the same at every evaluation and never a
training batch. ``sample_text`` generates a short text from a fixed seed, so
samples are comparable over a run.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from llm_from_scratch.train.config import TrainConfig
from llm_from_scratch.train.distributed import DistInfo, mean_across
from llm_from_scratch.train.loss import bits_per_byte, cross_entropy
from llm_from_scratch.train.micro_batch import autocast, step_generator
from llm_from_scratch.train.sources import TrainData

# A "step" no run reaches: evaluation batches are never training batches.
EVAL_STREAM = 2**40


@torch.no_grad()
def evaluate(
    model: nn.Module,
    data: TrainData,
    config: TrainConfig,
    device: torch.device,
    info: DistInfo = DistInfo(),
) -> dict[str, float]:
    """Validation loss on ``eval_batches`` fixed batches (the same every time)."""
    was_training = model.training
    model.eval()
    total = 0.0
    for i in range(config.eval_batches):
        g = step_generator(config.seed, info.rank, EVAL_STREAM, i)
        x, y = data.val.sample_batch(config.batch_size, config.seq_len, g)
        with autocast(config, device):
            logits = model(x.to(device))
        total += float(cross_entropy(logits, y.to(device)))
    model.train(was_training)
    loss = mean_across(total / config.eval_batches, info, device)
    out = {"val_loss": loss, "val_ppl": math.exp(min(loss, 50.0))}
    if data.bytes_per_token:
        out["val_bpb"] = bits_per_byte(loss, data.bytes_per_token)
    return out


def sample_text(model: nn.Module, data: TrainData, config: TrainConfig,
                device: torch.device, prompt: str = "\n") -> str | None:
    """A short generation from ``prompt`` (fixed seed, so comparable over time)."""
    tok = data.tokenizer
    if tok is None or not hasattr(model, "generate"):
        return None
    was_training = model.training
    model.eval()
    ids = torch.tensor([tok.encode(prompt)], dtype=torch.long, device=device)
    g = torch.Generator(device=device).manual_seed(config.seed)
    with torch.no_grad():
        out = model.generate(ids, config.sample_tokens, temperature=0.8, top_k=50,
                             generator=g)
    model.train(was_training)
    return tok.decode(out[0, ids.shape[1]:].tolist())

