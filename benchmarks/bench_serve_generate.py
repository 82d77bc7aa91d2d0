"""Batched greedy generation: our ragged-cache ``generate_batch`` vs transformers'
``generate`` on the same weights (``LlamaForCausalLM`` via ``to_hf_llama``).

Same prompts (random lengths), same batch, same number of new tokens (no early
stop), measured interleaved in the same run. Time is the process's CPU time on
one thread, which background load distorts far less than wall-clock time.
Prints tokens per CPU-second for both and the ratio ours / transformers (> 1 is
faster), plus the share of rows whose greedy tokens agree. The model has the
book's shape with random weights (speed does not depend on the values).

    .venv/bin/python benchmarks/bench_serve_generate.py
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from transformers import LlamaForCausalLM

from llm_from_scratch.model import ModelConfig, Transformer, to_hf_llama
from llm_from_scratch.serve.batch import generate_batch


def hf_generate(ref: LlamaForCausalLM, prompts: list[list[int]], n: int) -> list:
    """Left-padded batch with an attention mask: how transformers batches."""
    T = max(len(p) for p in prompts)
    ids = torch.zeros(len(prompts), T, dtype=torch.long)
    mask = torch.zeros(len(prompts), T, dtype=torch.long)
    for i, p in enumerate(prompts):
        ids[i, T - len(p):] = torch.tensor(p)
        mask[i, T - len(p):] = 1
    out = ref.generate(
        input_ids=ids, attention_mask=mask, max_new_tokens=n, min_new_tokens=n,
        do_sample=False, pad_token_id=0, eos_token_id=None,
    )
    return out[:, T:].tolist()


def cpu_time(fn) -> tuple[float, object]:  # type: ignore[no-untyped-def]
    start = time.process_time()
    out = fn()
    return time.process_time() - start, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--new", type=int, default=32, help="new tokens per row")
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    cfg = ModelConfig(vocab_size=4096, d_model=128, n_layers=4, n_heads=4,
                      max_seq_len=256, tie_embeddings=True, fast=True)
    ours = Transformer(cfg).eval()
    hf_config, state = to_hf_llama(ours)
    hf_config._attn_implementation = "sdpa"
    ref = LlamaForCausalLM(hf_config).eval()
    ref.load_state_dict(state)
    g = torch.Generator().manual_seed(1)
    lengths = torch.randint(8, 64, (args.batch,), generator=g).tolist()
    prompts = [torch.randint(0, 4096, (n,), generator=g).tolist() for n in lengths]
    times: dict[str, list[float]] = {"ours": [], "hf": []}
    with torch.no_grad():
        for rep in range(args.reps + 1):  # the first round warms up
            t_ours, a = cpu_time(lambda: generate_batch(ours, prompts, args.new))
            t_hf, b = cpu_time(lambda: hf_generate(ref, prompts, args.new))
            if rep:
                times["ours"].append(t_ours)
                times["hf"].append(t_hf)
    same = sum(x == y for x, y in zip(a, b, strict=True)) / len(a)  # type: ignore
    n_tok = args.batch * args.new
    ours_tps = n_tok / statistics.median(times["ours"])
    hf_tps = n_tok / statistics.median(times["hf"])
    print(f"torch {torch.__version__}, 1 thread, batch {args.batch}, prompts "
          f"{min(lengths)}-{max(lengths)} tokens, {args.new} new tokens each")
    print(f"ours generate_batch: {ours_tps:.0f} tokens/CPU-s | transformers "
          f"generate: {hf_tps:.0f} tokens/CPU-s | ratio {ours_tps / hf_tps:.2f}x "
          f"(goal >= 1.0) | greedy rows identical: {same:.0%}")


if __name__ == "__main__":
    main()
