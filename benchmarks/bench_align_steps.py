"""Speed of the alignment stages on the book-sized model (random weights).

Prints tokens/s of an SFT step and a DPO step, each against a plain
next-token pretraining step on the same tokens (torch's cross-entropy and
AdamW: the reference), and the time of one GRPO iteration split into sampling
and update.  Quick by default; ``--repeats`` for steadier numbers, ``--json``
for one JSON object (the Alignment chapter reads it).

    .venv/bin/python benchmarks/bench_align_steps.py
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch
import torch.nn.functional as F

from llm_from_scratch.align import (
    ChatExample,
    DPOConfig,
    IGNORE,
    GRPOConfig,
    SFTConfig,
    frozen_copy,
    grpo_train,
    pad_batch,
    sft_microbatch_train_step,
    token_logprobs,
)
from llm_from_scratch.align.dpo import dpo_batch
from llm_from_scratch.align.training import apply_update, make_optimizer, optimizer_step
from llm_from_scratch.model import ModelConfig, Transformer

VOCAB, END, PAD = 4096, 4095, 4091


def timed(fn, repeats: int) -> float:  # noqa: ANN001
    """Median seconds of ``repeats`` calls, after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure(repeats: int, threads: int) -> dict[str, float]:
    """Tokens/s of each step and their times relative to the reference."""
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    config = ModelConfig(vocab_size=VOCAB, d_model=128, n_layers=4, n_heads=4,
                         max_seq_len=128, tie_embeddings=True)
    model = Transformer(config)
    g = torch.Generator().manual_seed(0)
    examples = []  # 16 conversations of 40 tokens, the last 15 learned
    for _ in range(16):
        ids = torch.randint(4000, (40,), generator=g).tolist()
        examples.append(ChatExample(ids, [0] * 25 + [1] * 15))
    inputs, targets = pad_batch(examples, PAD)
    mask = targets != IGNORE
    tokens = inputs.numel()

    reference_opt = torch.optim.AdamW(model.parameters(), lr=1e-4)

    def pretrain_step() -> None:
        logits = model(inputs)
        loss = F.cross_entropy(logits.flatten(0, 1), inputs.roll(-1, 1).flatten())
        reference_opt.zero_grad()
        loss.backward()
        reference_opt.step()

    sft_cfg = SFTConfig()
    opt = make_optimizer(model, sft_cfg.lr, 0.0)

    def sft_step() -> None:  # sft_train's step: the micro-batch step, then the update
        opt.zero_grad(set_to_none=True)
        logp = token_logprobs(model(inputs), targets)
        sft_microbatch_train_step(logp, mask, 1, mask.sum().item() / len(inputs))
        apply_update(opt, model, 5, lr=1e-4, total_steps=10, warmup_steps=0,
                     grad_clip=1.0)

    ref = frozen_copy(model)
    beta = DPOConfig().beta

    def dpo_step() -> None:  # 16 pairs = 32 sequences, plus the reference forward
        out = dpo_batch(model, ref, examples, examples[::-1], beta, PAD)
        optimizer_step(opt, model, out.loss, 5, lr=1e-4, total_steps=10,
                       warmup_steps=0, grad_clip=1.0)

    t_ref = timed(pretrain_step, repeats)
    t_sft = timed(sft_step, repeats)
    t_dpo = timed(dpo_step, repeats)

    prompt = torch.randint(4000, (12,), generator=g).tolist()
    rl_cfg = GRPOConfig(iterations=2, prompts_per_iteration=8, group_size=8,
                        max_new_tokens=4, epochs=2)

    def longer_is_better(prompt: list[int], comps: list[list[int]]) -> list[float]:
        return [float(len(c)) for c in comps]

    history = grpo_train(model, ref, [prompt], longer_is_better, rl_cfg, END, PAD)
    it = history[-1]
    return {
        "threads": threads, "batch": len(inputs), "seq_len": inputs.shape[1],
        "reference_tokens_per_s": tokens / t_ref,
        "sft_tokens_per_s": tokens / t_sft, "sft_time_ratio": t_sft / t_ref,
        "dpo_tokens_per_s": 2 * tokens / t_dpo, "dpo_time_ratio": t_dpo / t_ref,
        "grpo_samples": rl_cfg.prompts_per_iteration * rl_cfg.group_size,
        "grpo_new_tokens": rl_cfg.max_new_tokens,
        "grpo_iteration_s": it["seconds"],
        "grpo_sampling_share": it["sample_seconds"] / it["seconds"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    r = measure(args.repeats, args.threads)
    if args.json:
        print(json.dumps(r))
        return
    print(f"threads {r['threads']}, batch {r['batch']} x {r['seq_len']} tokens")
    print(f"pretraining step (reference) {r['reference_tokens_per_s']:8.0f} tokens/s")
    print(f"SFT step                     {r['sft_tokens_per_s']:8.0f} tokens/s "
          f"({r['sft_time_ratio']:.2f}x the reference's time)")
    print(f"DPO step (16 pairs)          {r['dpo_tokens_per_s']:8.0f} tokens/s "
          f"({r['dpo_time_ratio']:.2f}x the reference's time for 2x the tokens)")
    print(f"GRPO iteration ({r['grpo_samples']} samples x {r['grpo_new_tokens']} "
          f"tokens): {r['grpo_iteration_s']:.2f} s, "
          f"sampling {r['grpo_sampling_share']:.0%}")


if __name__ == "__main__":
    main()
