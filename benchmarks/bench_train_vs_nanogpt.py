"""Training efficiency on this machine: the book's trainer vs nanoGPT's baby GPT.

    .venv/bin/python benchmarks/bench_train_vs_nanogpt.py              # 90 s each
    .venv/bin/python benchmarks/bench_train_vs_nanogpt.py --seconds 600
    .venv/bin/python benchmarks/bench_train_vs_nanogpt.py --ours "" --ours fast=false

Both train for the same wall-clock budget on the same text: the book's
Shakespeare corpus split 90/10 at the character where nanoGPT's
``shakespeare_char/prepare.py`` splits (``int(n * 0.9)``), characters for
nanoGPT (its vocabulary: the sorted set of characters), UTF-8 bytes for ours.

* nanoGPT: its model (``nanogpt_ref.py``) with the README's CPU command
  (4 layers, 4 heads, width 128, batch 12 x 64, lr 1e-3 -> 1e-4 cosine after 100
  warmup iterations, AdamW betas (0.9, 0.99), weight decay 0.1, clip 1.0, no
  dropout). Its iteration count (max_iters = lr_decay_iters, 2000 in the README)
  is fitted to the budget, so its schedule ends on time too.
* ours: ``llm_from_scratch.train.train`` with ``TrainConfig`` defaults (or the
  ``--ours`` overrides), its ``steps`` fitted to the budget the same way.

Fitting: by default each run's step time is measured first, in three short
runs taken in turn (a change in the machine's load hits every run alike), and
each then trains for the steps that fit (``time_budget.fit_steps``): the result
does not depend on what else the machine does while they train, and the table
shows the planned and the actual seconds. ``--live`` fits each run while it
trains instead (``TrainConfig.budget_seconds``: right for a quiet machine).

One evaluator scores both: every validation position predicted once, in
non-overlapping windows of each model's context, summed negative log-likelihood
in bits divided by the UTF-8 bytes predicted (bits per byte). It prints both and
their ratio (ours / nanoGPT: below 1 means ours learned more per second).
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

sys.path.insert(0, str(Path(__file__).parent))
from nanogpt_ref import GPT, GPTConfig, get_lr  # noqa: E402

from llm_from_scratch.corpora import shakespeare  # noqa: E402
from llm_from_scratch.data import TokenShards, write_shards  # noqa: E402
from llm_from_scratch.train import TrainConfig, train  # noqa: E402
from llm_from_scratch.train.sources import ByteTokenizer, TrainData  # noqa: E402
from llm_from_scratch.train.time_budget import (  # noqa: E402
    CALIBRATION_STEPS,
    fit_steps,
)

NANO = dict(n_layer=4, n_head=4, n_embd=128, block_size=64, batch_size=12,
            learning_rate=1e-3, min_lr=1e-4, warmup_iters=100, beta2=0.99,
            weight_decay=0.1, grad_clip=1.0)


def corpus_split() -> tuple[str, str]:
    """nanoGPT's split of one text: the first 90% of characters train."""
    text = "\n".join(doc.text for doc in shakespeare())
    n = len(text)
    return text[: int(n * 0.9)], text[int(n * 0.9):]


@torch.no_grad()
def bits_per_byte(logits_fn, ids: torch.Tensor, byte_len: torch.Tensor,
                  context: int, batch: int = 64) -> float:
    """Summed NLL (bits) of every position but the first, over UTF-8 bytes.

    ``ids`` (N,) is the validation stream, ``byte_len`` (N,) the UTF-8 length of
    each id's text; windows of ``context`` inputs overlap by one id, so each
    position is predicted exactly once with up to ``context - 1`` ids before it.
    """
    n = len(ids) - 1  # positions 1..n are predicted
    starts = list(range(0, n, context))
    full = [s for s in starts if s + context <= n]
    groups = [(full[i: i + batch], context) for i in range(0, len(full), batch)]
    if len(full) < len(starts):  # the shorter last window
        groups.append(([starts[-1]], n - starts[-1]))
    nll, n_bytes = 0.0, 0
    for group, t in groups:
        x = torch.stack([ids[s: s + t] for s in group])
        y = torch.stack([ids[s + 1: s + t + 1] for s in group])
        logits = logits_fn(x).float()
        nll += float(F.cross_entropy(logits.flatten(0, 1), y.flatten(), reduction="sum"))
        n_bytes += int(sum(int(byte_len[s + 1: s + t + 1].sum()) for s in group))
    return nll / math.log(2) / n_bytes


class NanoGPTRun:
    """nanoGPT's train.py loop (CPU, no compile) on the character stream."""

    def __init__(self, train_text: str, val_text: str, seed: int) -> None:
        self.chars = sorted(set(train_text + val_text))
        self.stoi = {c: i for i, c in enumerate(self.chars)}
        self.data = torch.tensor([self.stoi[c] for c in train_text], dtype=torch.long)
        self.val_text, self.seed = val_text, seed
        self.name = "nanoGPT baby GPT (README CPU config)"

    def run(self, steps: int | None, seconds: float | None = None) -> dict:
        """``steps`` iterations (schedule over them), or fitted live to ``seconds``."""
        torch.manual_seed(self.seed)
        cfg = GPTConfig(block_size=NANO["block_size"], vocab_size=len(self.chars),
                        n_layer=NANO["n_layer"], n_head=NANO["n_head"],
                        n_embd=NANO["n_embd"])
        model = GPT(cfg)
        opt = model.configure_optimizers(NANO["weight_decay"], NANO["learning_rate"],
                                         (0.9, NANO["beta2"]))
        bs, T, data = NANO["batch_size"], NANO["block_size"], self.data
        began, starts = time.perf_counter(), []
        it, max_iters = 0, steps if steps is not None else 10**9
        while it < max_iters:
            starts.append(time.perf_counter())
            if seconds is not None and len(starts) == CALIBRATION_STEPS + 2:
                per_step = median(np.diff(starts[1:]))  # as train/time_budget.py
                max_iters = fit_steps(seconds, starts[-1] - began, it, per_step)
            lr = get_lr(it, NANO["learning_rate"], NANO["warmup_iters"], max_iters,
                        NANO["min_lr"])
            for group in opt.param_groups:
                group["lr"] = lr
            ix = torch.randint(len(data) - T, (bs,))
            x = torch.stack([data[i: i + T] for i in ix])
            y = torch.stack([data[i + 1: i + 1 + T] for i in ix])
            logits = model(x)
            loss = F.cross_entropy(logits.view(-1, logits.size(-1)), y.view(-1))
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), NANO["grad_clip"])
            opt.step()
            opt.zero_grad(set_to_none=True)
            it += 1
        starts.append(time.perf_counter())
        self.model, self.wall = model.eval(), starts[-1] - began
        return {"name": self.name, "seconds": self.wall, "steps": max_iters,
                "tokens": max_iters * bs * T, "step_s": median(np.diff(starts[1:])),
                "params": sum(p.numel() for p in model.parameters())}

    def bpb(self) -> float:
        val = torch.tensor([self.stoi[c] for c in self.val_text], dtype=torch.long)
        nbytes = torch.tensor([len(c.encode("utf-8")) for c in self.chars])[val]
        return bits_per_byte(self.model, val, nbytes, NANO["block_size"])


class OursRun:
    """``llm_from_scratch.train.train`` on the byte stream of the same split."""

    def __init__(self, train_text: str, val_text: str, seed: int, overrides: dict,
                 folder: Path) -> None:
        self.data = byte_data(train_text, val_text, folder)
        self.config = replace(TrainConfig(), seed=seed, eval_every=0, progress=False,
                              **overrides)
        self.val_text = val_text
        self.name = "ours: TrainConfig defaults" if not overrides else (
            "ours: " + ",".join(f"{k}={v}" for k, v in overrides.items()))

    def run(self, steps: int | None, seconds: float | None = None) -> dict:
        config = replace(self.config, steps=steps or self.config.steps,
                         budget_seconds=seconds)
        began = time.perf_counter()
        result = train(config, data=self.data)
        self.model, self.wall = result.model.eval(), time.perf_counter() - began
        times = [r["time"] for r in result.history]
        return {"name": self.name, "seconds": self.wall, "steps": len(times),
                "tokens": len(times) * config.tokens_per_step,
                "step_s": median(np.diff(times[1:])),
                "params": sum(p.numel() for p in self.model.parameters())}

    def bpb(self) -> float:
        val = torch.tensor(list(self.val_text.encode("utf-8")), dtype=torch.long)
        return bits_per_byte(self.model, val, torch.ones_like(val), self.config.seq_len)


def byte_data(train_text: str, val_text: str, out: Path) -> TrainData:
    tok = ByteTokenizer()
    streams = []
    for name, text in (("train", train_text), ("val", val_text)):
        meta = {"tokenizer": "bytes", "bytes_per_token": 1.0}
        streams.append(TokenShards(write_shards([text], tok, out, prefix=name,
                                                metadata=meta)))
    return TrainData(streams[0], streams[1], tok.vocab_size, 1.0, tok)


def median(values) -> float:
    values = sorted(float(v) for v in values)
    return values[len(values) // 2]


def planned_steps(runs: list, seconds: float, rounds: int = 3) -> list[int]:
    """Steps that fit in ``seconds`` for each run, from step times measured in
    turn (``rounds`` short runs each, interleaved so that a change in the
    machine's load affects every run alike)."""
    times: list[list[float]] = [[] for _ in runs]
    for _ in range(rounds):
        for i, run in enumerate(runs):
            times[i].append(run.run(3 * CALIBRATION_STEPS + 2)["step_s"])
    return [fit_steps(seconds, 0.0, 0, median(t)) for t in times]


def parse_overrides(text: str | None) -> dict:
    if not text:
        return {}
    config = TrainConfig().with_overrides(text.split(","))
    base = TrainConfig()
    return {k: v for k, v in config.to_dict().items() if base.to_dict().get(k) != v}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=90.0)
    parser.add_argument("--seed", type=int, default=1337)
    parser.add_argument("--ours", action="append", default=[],
                        help="TrainConfig overrides of one of our runs, comma-separated "
                             "key=value (repeat for several; none: the defaults)")
    parser.add_argument("--live", action="store_true",
                        help="fit each run to the budget while it trains (a quiet "
                             "machine); default: plan the steps from interleaved "
                             "timings first, then train each for its planned steps")
    parser.add_argument("--skip-nanogpt", action="store_true")
    args = parser.parse_args()
    train_text, val_text = corpus_split()
    print(f"threads {torch.get_num_threads()}, budget {args.seconds:.0f} s, "
          f"train {len(train_text) / 1e6:.2f} M chars, val {len(val_text) / 1e6:.2f} M")
    with tempfile.TemporaryDirectory() as tmp:
        runs: list = [OursRun(train_text, val_text, args.seed, parse_overrides(o),
                              Path(tmp) / str(i))
                      for i, o in enumerate(args.ours or [""])]
        if not args.skip_nanogpt:
            runs.append(NanoGPTRun(train_text, val_text, args.seed))
        if args.live:
            rows = [run.run(None, args.seconds) for run in runs]
        else:
            steps = planned_steps(runs, args.seconds)
            rows = [run.run(n) for run, n in zip(runs, steps)]
        for run, row in zip(runs, rows):
            row["bpb"] = run.bpb()
    print(f"{'':44s} {'step ms':>7s} {'steps':>6s} {'planned s':>9s} {'wall s':>7s} "
          f"{'tokens':>7s} {'params':>7s} {'bpb':>6s}")
    for r in rows:
        planned = r["steps"] * r["step_s"]
        print(f"{r['name'][:44]:44s} {1000 * r['step_s']:7.1f} {r['steps']:6d} "
              f"{planned:9.1f} {r['seconds']:7.1f} {r['tokens'] / 1e6:6.2f}M "
              f"{r['params'] / 1e6:6.2f}M {r['bpb']:6.3f}")
    if not args.skip_nanogpt:
        ref = rows[-1]["bpb"]
        for r in rows[:-1]:
            print(f"ratio {r['name']} / nanoGPT bits per byte: {r['bpb'] / ref:.3f}"
                  " (< 1: ours learned more in the same wall time)")


if __name__ == "__main__":
    main()
