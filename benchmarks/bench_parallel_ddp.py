"""Step time of our DataParallel vs torch's DistributedDataParallel.

Same model, same world size (2 gloo ranks on CPU), same batches, measured in
the same run with the two wrappers alternating, so machine load hits both.
Also prints the gradient traffic our collective wrappers account for (the
ring formula's bytes for each all-reduce our buckets issued, not bytes
measured on the wire) against the cost model's prediction.

    .venv/bin/python benchmarks/bench_parallel_ddp.py [--steps 10] [--world 2]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from llm_from_scratch.model import ModelConfig, Transformer
from llm_from_scratch.parallel import (
    COMM_LOG,
    DataParallel,
    comm_bytes_per_step,
    run_parallel,
)
from llm_from_scratch.parallel.production import ddp


def bench(rank: int, world: int, steps: int, d_model: int) -> dict[str, float]:
    config = ModelConfig(vocab_size=2048, d_model=d_model, n_layers=4, n_heads=4,
                         max_seq_len=128)
    models = {}
    for name, wrap in (("ours", lambda m: DataParallel(m, bucket_mb=4)),
                       ("torch", lambda m: ddp(m, torch.device("cpu")))):
        torch.manual_seed(0)
        models[name] = wrap(Transformer(config))
    times: dict[str, list[float]] = {"ours": [], "torch": []}
    sent = 0
    g = torch.Generator().manual_seed(rank)
    for step in range(steps + 2):
        ids = torch.randint(0, config.vocab_size, (8, 129), generator=g)
        for name, model in models.items():
            COMM_LOG.reset()
            torch.distributed.barrier()
            start = time.perf_counter()
            logits = model(ids[:, :-1])
            loss = F.cross_entropy(logits.flatten(0, 1), ids[:, 1:].flatten())
            loss.backward()
            elapsed = time.perf_counter() - start
            if step >= 2:  # the first steps build buckets and connections
                times[name].append(elapsed)
            if name == "ours":
                sent = COMM_LOG.total()  # ring-formula bytes of our all-reduces
            for p in model.parameters():
                p.grad = None
    n = sum(p.numel() for p in models["ours"].parameters())
    return {
        "ours": statistics.median(times["ours"]),
        "torch": statistics.median(times["torch"]),
        "sent": sent,
        "predicted": comm_bytes_per_step(n, "ddp", world),
        "params": n,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--world", type=int, default=2)
    parser.add_argument("--d-model", type=int, default=256)
    args = parser.parse_args()
    r = run_parallel(bench, args.world, args.steps, args.d_model, timeout=600)[0]
    print(f"{r['params'] / 1e6:.1f} M parameters, {args.world} gloo ranks, "
          f"forward+backward+gradient sync, median of {args.steps} steps")
    print(f"ours  {r['ours'] * 1e3:8.1f} ms")
    print(f"torch {r['torch'] * 1e3:8.1f} ms")
    print(f"ratio ours/torch: {r['ours'] / r['torch']:.2f}x")
    print(f"gradient bytes per rank our wrappers account for, by the ring formula: "
          f"{r['sent'] / 1e6:.2f} MB; cost model: {r['predicted'] / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
