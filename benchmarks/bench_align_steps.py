"""Speed of the alignment stages on the book-sized model (random weights).

Prints tokens/s of an SFT step and a DPO step, each against a plain
next-token pretraining step on the same tokens (torch's cross-entropy and
AdamW: the reference), and the time of one GRPO iteration split into sampling
and update.  Quick by default; ``--repeats`` for steadier numbers.

    .venv/bin/python benchmarks/bench_align_steps.py
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F

from llm_from_scratch.align import (
    ChatExample,
    DPOConfig,
    GRPOConfig,
    SFTConfig,
    frozen_copy,
    grpo_train,
    pad_batch,
    sft_loss,
)
from llm_from_scratch.align.dpo import dpo_batch
from llm_from_scratch.align.training import make_optimizer, optimizer_step
from llm_from_scratch.model import ModelConfig, Transformer

VOCAB, END, PAD = 4096, 4095, 4091


def timed(fn, repeats: int) -> float:  # noqa: ANN001
    fn()  # warm-up
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - start) / repeats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
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

    def sft_step() -> None:
        loss = sft_loss(model(inputs), targets)
        optimizer_step(opt, model, loss, 5, lr=1e-4, total_steps=10, warmup_steps=0,
                       grad_clip=1.0)

    ref = frozen_copy(model)
    beta = DPOConfig().beta

    def dpo_step() -> None:  # 16 pairs = 32 sequences, plus the reference forward
        out = dpo_batch(model, ref, examples, examples[::-1], beta, PAD)
        optimizer_step(opt, model, out.loss, 5, lr=1e-4, total_steps=10,
                       warmup_steps=0, grad_clip=1.0)

    t_ref = timed(pretrain_step, args.repeats)
    t_sft = timed(sft_step, args.repeats)
    t_dpo = timed(dpo_step, args.repeats)
    print(f"threads {args.threads}, batch 16 x {inputs.shape[1]} tokens")
    print(f"pretraining step (reference) {tokens / t_ref:8.0f} tokens/s")
    print(f"SFT step                     {tokens / t_sft:8.0f} tokens/s "
          f"({t_sft / t_ref:.2f}x the reference's time)")
    print(f"DPO step (16 pairs)          {2 * tokens / t_dpo:8.0f} tokens/s "
          f"({t_dpo / t_ref:.2f}x the reference's time for 2x the tokens)")

    prompt = torch.randint(4000, (12,), generator=g).tolist()
    rl_cfg = GRPOConfig(iterations=2, prompts_per_iteration=8, group_size=8,
                        max_new_tokens=4, epochs=2)
    def longer_is_better(prompt: list[int], comps: list[list[int]]) -> list[float]:
        return [float(len(c)) for c in comps]

    history = grpo_train(model, ref, [prompt], longer_is_better, rl_cfg, END, PAD)
    it = history[-1]
    print(f"GRPO iteration (64 samples x 4 tokens): {it['seconds']:.2f} s, "
          f"sampling {it['sample_seconds'] / it['seconds']:.0%}")


if __name__ == "__main__":
    main()
