"""Weight-only quantization of the book's model: quality, size and decode speed.

For int8 (per output channel) and int4 (groups of 128 and 32): bits per byte on
the same held-out windows as float32 (relative change with its paired standard
error), the safetensors file size, and batched decode tokens per CPU-second (one
thread, 8 rows x 16 tokens), each as a ratio against float32 measured in the same
run. Goal for int8: at most 1% more bits per byte and at least 3.5x smaller.

    .venv/bin/python benchmarks/bench_serve_quant.py
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import torch
from safetensors.torch import save_model

from llm_from_scratch.data import TokenShards, book_shards
from llm_from_scratch.serve.batch import generate_batch
from llm_from_scratch.serve.measure import heldout_bpb
from llm_from_scratch.serve.quant import quantize_model
from llm_from_scratch.tokenizer import book_tokenizer
from llm_from_scratch.train import book_model, bytes_per_token


def main() -> None:
    torch.set_num_threads(1)
    model, _ = book_model()
    val = TokenShards(book_shards().val)
    tokens = torch.as_tensor(val.tokens(0, min(val.num_tokens, 128 * 192 + 1)))
    bpt = bytes_per_token(val, book_tokenizer())
    variants = {
        "float32": model,
        "int8": quantize_model(model, bits=8),
        "int4-g128": quantize_model(model, bits=4, group_size=128),
        "int4-g32": quantize_model(model, bits=4, group_size=32),
    }
    bpb = heldout_bpb(variants, tokens.long(), bpt, seq_len=128)
    prompts = [tokens[i * 64 : i * 64 + 32].tolist() for i in range(8)]
    size, speed = {}, {}
    with tempfile.TemporaryDirectory() as tmp, torch.no_grad():
        for name, m in variants.items():
            path = Path(tmp) / f"{name}.safetensors"
            save_model(m, str(path))
            size[name] = path.stat().st_size
            generate_batch(m, prompts, 4)  # warm-up
            t0 = time.process_time()
            for _ in range(3):
                generate_batch(m, prompts, 16)
            speed[name] = 3 * 8 * 16 / (time.process_time() - t0)
    for name in variants:
        r = bpb[name]
        print(f"{name:10s} bpb {r['bpb']:.4f} (change {r['rel']:+.3%} +- "
              f"{r['delta_se'] / r['bpb']:.3%}) | {size[name] / 1e6:.2f} MB, "
              f"{size['float32'] / size[name]:.2f}x smaller | decode "
              f"{speed[name] / speed['float32']:.2f}x float32's tokens/s")
    ok = bpb["int8"]["rel"] <= 0.01 and size["float32"] / size["int8"] >= 3.5
    print(f"int8 goal (<= 1% bpb, >= 3.5x smaller): {'met' if ok else 'NOT met'}")


if __name__ == "__main__":
    main()
