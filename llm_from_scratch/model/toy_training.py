"""A minimal training loop for the model chapters' small experiments.

Just enough to learn character embeddings or compare pre- and post-norm in CPU
seconds: random windows of one token stream, AdamW, cross-entropy. The book's real
trainer (schedules, mixed precision, checkpoints, data shards) is
``llm_from_scratch.train``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def encode_chars(text: str) -> tuple[Tensor, list[str]]:
    """Character-level tokens: ids into the sorted set of characters of ``text``."""
    if not text:
        raise ValueError("text is empty")
    vocab = sorted(set(text))
    index = {ch: i for i, ch in enumerate(vocab)}
    return torch.tensor([index[ch] for ch in text], dtype=torch.long), vocab


def random_windows(
    tokens: Tensor, batch_size: int, seq_len: int, generator: torch.Generator
) -> tuple[Tensor, Tensor]:
    """Inputs and next-token targets (B, T) from random offsets into ``tokens``."""
    if tokens.numel() <= seq_len:
        raise ValueError(
            f"need more than seq_len={seq_len} tokens, got {tokens.numel()}"
        )
    starts = torch.randint(
        0, tokens.numel() - seq_len, (batch_size,), generator=generator
    )
    windows = torch.stack([tokens[s : s + seq_len + 1] for s in starts.tolist()])
    return windows[:, :-1], windows[:, 1:]


def grad_norm(model: nn.Module) -> float:
    """Global L2 norm of all gradients (what clipping would look at)."""
    norms = [p.grad.norm() for p in model.parameters() if p.grad is not None]
    return float(torch.linalg.vector_norm(torch.stack(norms)))


def train_toy(
    model: nn.Module,
    tokens: Tensor,
    steps: int,
    seq_len: int = 64,
    batch_size: int = 16,
    lr: float = 3e-3,
    seed: int = 0,
    warmup: int = 0,
) -> dict[str, list[float]]:
    """Train in place; return per-step ``loss`` and pre-update ``grad_norm``.

    No gradient clipping, so instabilities show up in the curves instead of being
    hidden. ``warmup`` steps ramp the learning rate linearly from 0.
    """
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    generator = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(
        model.parameters(), lr=lr, betas=(0.9, 0.95), weight_decay=0.1
    )
    history: dict[str, list[float]] = {"loss": [], "grad_norm": []}
    model.train()
    for step in range(steps):
        for group in opt.param_groups:
            group["lr"] = lr * min(1.0, (step + 1) / warmup) if warmup else lr
        x, y = random_windows(tokens, batch_size, seq_len, generator)
        loss = F.cross_entropy(model(x).flatten(0, 1), y.flatten())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        history["loss"].append(loss.item())
        history["grad_norm"].append(grad_norm(model))
        opt.step()
    return history


@torch.no_grad()
def loss_per_position(
    model: nn.Module, tokens: Tensor, seq_len: int, n_windows: int = 16, seed: int = 0
) -> Tensor:
    """Mean next-token loss at each position 0..seq_len-1 over random windows."""
    generator = torch.Generator().manual_seed(seed)
    x, y = random_windows(tokens, n_windows, seq_len, generator)
    logits = model(x)
    loss = F.cross_entropy(logits.flatten(0, 1), y.flatten(), reduction="none")
    return loss.view(n_windows, seq_len).mean(0)
