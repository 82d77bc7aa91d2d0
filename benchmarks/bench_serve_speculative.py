"""Speculative decoding with the book's model as target and a one-layer draft.

For k = 1 .. 6 draft tokens per round, greedy and at temperature 0.8: the
acceptance rate and the speedup over the target decoding alone (``Transformer.generate``
with its KV cache), same prompts and seeds, measured interleaved in the same run.
Time is the process's CPU time on one thread (robust to background load).
The draft is trained on first use (``draft_model``, under a minute).

    .venv/bin/python benchmarks/bench_serve_speculative.py
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from llm_from_scratch.data import TokenShards, book_shards
from llm_from_scratch.serve.speculative import draft_model, speculative_generate
from llm_from_scratch.train import book_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--new", type=int, default=64, help="new tokens per prompt")
    parser.add_argument("--prompts", type=int, default=4)
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    target, _ = book_model()
    draft, _ = draft_model()
    val = TokenShards(book_shards().val).tokens(0, 40_000)
    # prompts from the plays in the validation split
    prompts = [val[7978 + i * 3989 :][:32].tolist() for i in range(args.prompts)]

    def alone(temperature: float) -> None:
        g = torch.Generator().manual_seed(0)
        for p in prompts:
            target.generate(torch.tensor([p]), args.new, temperature=temperature,
                            generator=g)

    def spec(k: int, temperature: float) -> tuple[int, int]:
        g = torch.Generator().manual_seed(0)
        kept = proposed = 0
        for p in prompts:
            _, st = speculative_generate(target, draft, p, args.new, k,
                                         temperature=temperature, generator=g)
            kept, proposed = kept + st.accepted, proposed + st.proposed
        return kept, proposed

    print(f"torch {torch.__version__}, 1 thread, {args.prompts} prompts x "
          f"{args.new} new tokens")
    with torch.no_grad():
        alone(0.0)
        for temperature in (0.0, 0.8):
            best = 0.0
            for k in range(1, 7):
                t_alone, t_spec = [], []
                for _ in range(args.reps):
                    t0 = time.process_time()
                    alone(temperature)
                    t1 = time.process_time()
                    kept, proposed = spec(k, temperature)
                    t_alone.append(t1 - t0)
                    t_spec.append(time.process_time() - t1)
                speedup = statistics.median(t_alone) / statistics.median(t_spec)
                best = max(best, speedup)
                print(f"temperature {temperature}, k={k}: acceptance "
                      f"{kept / proposed:.2f}, speedup {speedup:.2f}x")
            print(f"temperature {temperature}: best speedup {best:.2f}x (goal >= 1.5)")


if __name__ == "__main__":
    main()
