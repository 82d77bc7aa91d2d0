"""Speculative decoding with the book's model as target and a small draft.

For k = 1 .. 6 draft tokens per round, greedy and at temperature 0.8: the
acceptance rate and the speedup over the target decoding alone (``Transformer.generate``
with its KV cache), same prompts and seeds, measured interleaved in the same run.
Time is the process's CPU time on one thread (robust to background load).
The default draft is the zero-layer model distilled from the target
(``distilled_draft``, trained on first use in about two CPU minutes);
``--draft data`` takes the one-layer model trained on the data (``draft_model``).

    .venv/bin/python benchmarks/bench_serve_speculative.py
"""

from __future__ import annotations

import argparse

import torch

from llm_from_scratch.data import TokenShards, book_shards
from llm_from_scratch.serve.distill import distilled_draft
from llm_from_scratch.serve.measure import speculative_sweep
from llm_from_scratch.serve.speculative import draft_model
from llm_from_scratch.train import book_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--new", type=int, default=64, help="new tokens per prompt")
    parser.add_argument("--prompts", type=int, default=4)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--draft", choices=("distilled", "data"), default="distilled")
    args = parser.parse_args()
    torch.set_num_threads(1)
    target, _ = book_model()
    draft, _ = distilled_draft() if args.draft == "distilled" else draft_model()
    val = TokenShards(book_shards().val).tokens(0, 40_000)
    # prompts from the plays in the validation split
    prompts = [val[7978 + i * 3989 :][:32].tolist() for i in range(args.prompts)]
    print(f"torch {torch.__version__}, 1 thread, {args.prompts} prompts x "
          f"{args.new} new tokens, {args.draft} draft "
          f"({draft.config.n_layers} layers, width {draft.config.d_model})")
    ks = list(range(1, 7))
    for temperature in (0.0, 0.8):
        r = speculative_sweep(target, draft, prompts, args.new, ks, temperature,
                              repeats=args.reps)
        for k, a, s in zip(ks, r["acceptance"], r["speedup"]):
            print(f"temperature {temperature}, k={k}: acceptance {a:.2f}, "
                  f"speedup {s:.2f}x")
        print(f"temperature {temperature}: best speedup {max(r['speedup']):.2f}x "
              "(goal >= 1.5)")


if __name__ == "__main__":
    main()
