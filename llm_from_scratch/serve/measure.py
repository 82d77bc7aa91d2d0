"""What inference costs, from the model's shapes and from the clock.

* ``kv_bytes_per_token``: 2 (keys and values) * L * H_kv * d_h * bytes.
* ``decode_intensity``: FLOPs per byte moved by one decode step. A step reads
  every weight once and the whole KV cache, and does two FLOPs per weight per
  row; below the hardware's FLOPs/bandwidth ratio it is memory-bound.
* ``heldout_bpb``: bits per byte of several models on the *same* held-out
  windows, so differences come with a paired standard error.
* ``time_call``: the median wall-clock of a few repeats.
* ``speculative_sweep``: acceptance and CPU-time speedup of speculative decoding
  against the target alone, for several draft lengths k.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from llm_from_scratch.model import ModelConfig, matmul_parameters


def kv_bytes_per_token(config: ModelConfig, bytes_per_value: int = 4) -> int:
    """Cache bytes one token adds: 2 * n_layers * n_kv_heads * head_dim * bytes."""
    c = config
    return 2 * c.n_layers * c.n_kv_heads * c.head_dim * bytes_per_value


def decode_intensity(
    config: ModelConfig, batch: int, context: int, bytes_per_value: int = 4
) -> dict[str, float]:
    """FLOPs, bytes and their ratio for one decode step of ``batch`` rows, each
    attending ``context`` cached tokens (weights and cache read once per step).

    FLOPs: 2 per matmul weight per row, plus 4 * L * H * d_h * context per row
    for q k^T and the weighted sum of values.
    """
    c = config
    n = matmul_parameters(c)
    flops = batch * (2 * n + 4 * c.n_layers * c.n_heads * c.head_dim * context)
    weight_bytes = n * bytes_per_value
    kv = batch * context * kv_bytes_per_token(c, bytes_per_value)
    total = weight_bytes + kv
    return {
        "flops": float(flops),
        "weight_bytes": float(weight_bytes),
        "kv_bytes": float(kv),
        "intensity": flops / total,
    }


@torch.no_grad()
def heldout_bpb(
    models: Mapping[str, nn.Module],
    tokens: torch.Tensor,
    bytes_per_token: float,
    seq_len: int = 128,
    max_windows: int | None = None,
) -> dict[str, dict[str, float]]:
    """Bits per byte of each model on consecutive windows of ``tokens`` (1-D).

    Returns, per model, ``bpb`` (mean over windows), ``se`` (its standard error
    over windows) and, against the first model, ``delta`` with its paired
    standard error ``delta_se`` and the relative change ``rel``.
    """
    if not models:
        raise ValueError("models must not be empty")
    n_win = (len(tokens) - 1) // seq_len
    if max_windows is not None:
        n_win = min(n_win, max_windows)
    if n_win < 2:
        raise ValueError(f"need at least 2 windows of {seq_len + 1} tokens")
    x = tokens[: n_win * seq_len].reshape(n_win, seq_len).long()
    y = tokens[1 : n_win * seq_len + 1].reshape(n_win, seq_len).long()
    per: dict[str, torch.Tensor] = {}
    for name, m in models.items():
        m.eval()
        losses = []
        for i in range(0, n_win, 8):
            logits = m(x[i : i + 8]).float()
            ce = F.cross_entropy(logits.mT, y[i : i + 8], reduction="none")
            losses.append(ce.mean(dim=1))
        per[name] = torch.cat(losses) / math.log(2) / bytes_per_token
    base_name = next(iter(per))
    base = per[base_name]
    out = {}
    for name, v in per.items():
        d = v - base
        out[name] = {
            "bpb": float(v.mean()),
            "se": float(v.std() / math.sqrt(n_win)),
            "delta": float(d.mean()),
            "delta_se": float(d.std() / math.sqrt(n_win)),
            "rel": float(d.mean() / base.mean()),
        }
    return out


def time_call(fn: Callable[[], object], repeats: int = 3, warmup: int = 1) -> float:
    """Median seconds of ``fn()`` over ``repeats`` runs after ``warmup`` runs."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


@torch.no_grad()
def speculative_sweep(
    target: nn.Module,
    draft: nn.Module,
    prompts: Sequence[Sequence[int]],
    max_new_tokens: int,
    ks: Sequence[int],
    temperature: float,
    repeats: int = 3,
    seed: int = 0,
) -> dict[str, list[float]]:
    """Speculative decoding against the target alone, for each k in ``ks``.

    Returns ``acceptance`` (share of draft tokens kept, over all prompts) and
    ``speedup`` (median over ``repeats`` of the target alone's process CPU time,
    ``target.generate`` with its KV cache, over speculative decoding's, on the
    same prompts and seeds; the two are timed in turn, so background load hits
    both alike).
    """
    from llm_from_scratch.serve.speculative import speculative_generate

    def alone() -> None:
        g = torch.Generator().manual_seed(seed)
        for p in prompts:
            target.generate(torch.tensor([list(p)]), max_new_tokens,
                            temperature=temperature, generator=g)

    def spec(k: int) -> float:
        g = torch.Generator().manual_seed(seed)
        kept = proposed = 0
        for p in prompts:
            _, st = speculative_generate(target, draft, list(p), max_new_tokens, k,
                                         temperature=temperature, generator=g)
            kept, proposed = kept + st.accepted, proposed + st.proposed
        return kept / proposed

    alone()  # warm up
    acceptance, speedup = [], []
    for k in ks:
        t_alone, t_spec = [], []
        for _ in range(repeats):
            t0 = time.process_time()
            alone()
            t1 = time.process_time()
            kept = spec(k)
            t_alone.append(t1 - t0)
            t_spec.append(time.process_time() - t1)
        acceptance.append(kept)
        speedup.append(statistics.median(t_alone) / statistics.median(t_spec))
    return {"acceptance": acceptance, "speedup": speedup}
