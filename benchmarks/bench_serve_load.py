"""Throughput of the HTTP server under concurrent streaming clients.

Starts the OpenAI-compatible server on loopback twice on the same model
(``--checkpoint``, or random weights of a small model's size): once
with the continuous batcher decoding up to ``--batch`` requests together, once
with ``max_batch_size=1`` (one request at a time: the reference). Prints latency
percentiles and aggregate tokens/s of each, and the ratio.

    .venv/bin/python benchmarks/bench_serve_load.py [--requests 32] [--batch 8]
"""

from __future__ import annotations

import argparse

import torch

from llm_from_scratch.model import ModelConfig, Transformer
from llm_from_scratch.serve import create_app, load_test, running_server
from llm_from_scratch.tokenizer import book_tokenizer


def model_for(checkpoint: str | None, vocab_size: int) -> Transformer:
    if checkpoint:
        from llm_from_scratch.train import load_model

        return load_model(checkpoint)[0]
    torch.manual_seed(0)
    return Transformer(ModelConfig(vocab_size=vocab_size, d_model=128, n_layers=4,
                                   n_heads=4, max_seq_len=128)).eval()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=32)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--checkpoint", help="model to serve (default: random "
                        "weights, 4 layers of width 128)")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    tok = book_tokenizer()
    model = model_for(args.checkpoint, tok.vocab_size)
    rows = {}
    for batch in (1, args.batch):
        with running_server(create_app(model, tok, max_batch_size=batch)) as url:
            rows[batch] = load_test(url, args.requests, args.concurrency,
                                    max_tokens=args.max_tokens)
    print(f"{args.requests} streaming chat requests, {args.concurrency} at once, "
          f"{args.max_tokens} tokens each")
    print(f"{'max_batch_size':>14} {'tokens/s':>9} {'first p50':>9} {'p90':>7} "
          f"{'total p50':>9} {'p90':>7} {'p99':>7}")
    for batch, r in rows.items():
        f, t = r.first_token_s, r.latency_s
        print(f"{batch:>14} {r.tokens_per_s:>9.1f} {f['p50']:>9.2f} {f['p90']:>7.2f} "
              f"{t['p50']:>9.2f} {t['p90']:>7.2f} {t['p99']:>7.2f}")
    ratio = rows[args.batch].tokens_per_s / rows[1].tokens_per_s
    print(f"continuous batching ({args.batch}) / one at a time: {ratio:.2f}x tokens/s")


if __name__ == "__main__":
    main()
