"""Forward + backward time per step: our Transformer vs transformers' LlamaForCausalLM.

Same config, same weights (converted with ``to_hf_llama``), same batch, measured in
the same run and interleaved so background load hits both alike; the time is the
process's CPU time (all threads), which a shared machine distorts far less than
wall-clock time. Two pairings:
from-scratch attention vs Hugging Face "eager"; our fast path (SDPA) vs Hugging
Face "sdpa". Prints median CPU milliseconds per step over ``--reps`` steps (9,
after one warm-up step) and the ratio ours / reference (< 1 is faster).
``--full`` uses a ~124M-parameter config.

    .venv/bin/python benchmarks/bench_model_vs_llama.py
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F
from transformers import LlamaForCausalLM

from llm_from_scratch.model import (
    ModelConfig,
    Transformer,
    count_parameters,
    to_hf_llama,
)


def step_time(model: torch.nn.Module, idx: torch.Tensor, hf: bool) -> float:
    start = time.process_time()
    logits = model(idx).logits if hf else model(idx)
    loss = F.cross_entropy(logits.flatten(0, 1).float(), idx.flatten())
    loss.backward()
    model.zero_grad(set_to_none=True)
    return time.process_time() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="~124M params, T=1024")
    parser.add_argument(
        "--reps", type=int, default=9, help="timed steps after one warm-up step"
    )
    args = parser.parse_args()
    if args.full:
        shape = dict(vocab_size=32000, d_model=768, n_layers=12, n_heads=12)
        batch, seq = 4, 1024
    else:
        shape = dict(vocab_size=8192, d_model=256, n_layers=4, n_heads=8, n_kv_heads=4)
        batch, seq = 4, 256
    torch.manual_seed(0)
    idx = torch.randint(0, shape["vocab_size"], (batch, seq))
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"batch {batch} x {seq} tokens"
    )
    for fast, impl in ((False, "eager"), (True, "sdpa")):
        torch.manual_seed(0)
        ours = Transformer(ModelConfig(**shape, max_seq_len=seq, fast=fast))
        hf_config, state = to_hf_llama(ours)
        hf_config._attn_implementation = impl
        ref = LlamaForCausalLM(hf_config)
        ref.load_state_dict(state)
        ref.config.use_cache = False
        times: dict[str, list[float]] = {"ours": [], "hf": []}
        for rep in range(args.reps + 1):  # first round is warm-up
            t_ours, t_hf = step_time(ours, idx, False), step_time(ref, idx, True)
            if rep:
                times["ours"].append(t_ours)
                times["hf"].append(t_hf)
        a, b = statistics.median(times["ours"]), statistics.median(times["hf"])
        name = "fast (SDPA)" if fast else "from scratch"
        print(
            f"{count_parameters(ours) / 1e6:.1f}M params, "
            f"ours {name}: {a * 1e3:.0f} CPU-ms"
            f" | LlamaForCausalLM ({impl}): {b * 1e3:.0f} CPU-ms | ratio {a / b:.2f}x"
        )


if __name__ == "__main__":
    main()
