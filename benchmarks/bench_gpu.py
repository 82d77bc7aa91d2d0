"""GPU speed of the book's model: tokens/s and MFU of a ~124M-parameter config.

    python benchmarks/bench_gpu.py [--shape 124m] [--batch 16] [--json out.json]

Needs a CUDA GPU. The model is GPT-2 small's shape in the book's architecture
(12 layers, d_model 768, 12 heads, vocabulary 50,304, context 1,024, tied
embeddings), in bf16 autocast; ``--shape 350m``/``774m`` are GPT-2 medium and
large. All numbers come from the same run:

1. the device's measured bf16 matmul rate (8192^3), the practical ceiling;
2. forward + backward of our from-scratch attention, our fast path (SDPA),
   ``transformers.LlamaForCausalLM`` (sdpa) on the same weights, and our fast
   path under ``torch.compile``;
3. a full training step (forward, backward, clipping, optimizer) with bf16,
   SDPA and compile, at each of ``--train-batches``: our AdamW one tensor at a
   time, our multi-tensor AdamW, and ``torch.optim.AdamW(fused=True)``.

MFU = achieved model FLOP/s / the datasheet dense bf16 peak of the device
(``llm_from_scratch.train.PEAK_FLOPS``); also given against the measured matmul.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable

import torch

from llm_from_scratch.model import ModelConfig, Transformer, flops_per_token
from llm_from_scratch.train import (
    AdamW,
    clip_grad_norm,
    cross_entropy,
    measure_matmul_flops,
    param_groups,
    peak_flops,
)

GPT2_SMALL = dict(vocab_size=50304, d_model=768, n_layers=12, n_heads=12,
                  max_seq_len=1024, tie_embeddings=True)
SHAPES = {  # GPT-2's sizes in the book's architecture
    "124m": GPT2_SMALL,
    "350m": {**GPT2_SMALL, "d_model": 1024, "n_layers": 24, "n_heads": 16},
    "774m": {**GPT2_SMALL, "d_model": 1280, "n_layers": 36, "n_heads": 20},
}


SMOKE = dict(vocab_size=512, d_model=64, n_layers=2, n_heads=4, max_seq_len=64,
             tie_embeddings=True)


def sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def timed(step: Callable[[], None], warmup: int, repeats: int) -> float:
    """Median seconds of ``step`` over ``repeats`` runs (after ``warmup``)."""
    for _ in range(warmup):
        step()
    sync()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        sync()
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", choices=SHAPES, default="124m")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--seq", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--train-batches", default=None,
                        help="batch sizes of the training step, e.g. 16,32,64 "
                             "(default: --batch)")
    parser.add_argument("--train-only", action="store_true",
                        help="skip the forward+backward comparisons")
    parser.add_argument("--skip-hf", action="store_true")
    parser.add_argument("--json", default=None, help="write the results here")
    parser.add_argument("--smoke", action="store_true",
                        help="a tiny model on any device: checks the script runs")
    args = parser.parse_args()
    if not torch.cuda.is_available() and not args.smoke:
        print("bench_gpu.py needs a CUDA GPU; skipped (see bench_train_step.py)")
        return
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    shape = SMOKE if args.smoke else SHAPES[args.shape]
    if args.smoke:
        args.seq = min(args.seq, SMOKE["max_seq_len"])
    results: dict = {"gpu": name, "torch": torch.__version__, "batch": args.batch,
                     "seq": args.seq, "runs": {}}

    def save() -> None:
        if args.json:
            with open(args.json, "w") as f:
                json.dump(results, f, indent=1)

    matmul = measure_matmul_flops(device, torch.bfloat16,
                                  size=256 if args.smoke else 8192, repeats=10)
    peak = peak_flops(name, "bfloat16")
    results.update(matmul_flops=matmul, peak_flops=peak)
    print(f"{name}, torch {torch.__version__}: bf16 matmul 8192^3 "
          f"{matmul / 1e12:.0f} TFLOP/s measured, datasheet peak "
          f"{(peak or 0) / 1e12:.0f} TFLOP/s", flush=True)

    B, T = args.batch, args.seq
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, shape["vocab_size"], (B, T), generator=g).to(device)
    y = torch.randint(0, shape["vocab_size"], (B, T), generator=g).to(device)
    config = ModelConfig(**shape, fast=True)
    fpt = flops_per_token(config, T)

    def report(label: str, seconds: float, batch: int = B) -> None:
        tps = batch * T / seconds
        achieved = tps * fpt
        results["runs"][label] = dict(ms=seconds * 1e3, tokens_per_s=tps,
                                      tflops=achieved / 1e12,
                                      mfu=achieved / peak if peak else None,
                                      of_matmul=achieved / matmul)
        mfu_text = f"MFU {achieved / peak:5.1%}" if peak else "MFU n/a"
        print(f"{label:<58} {seconds * 1e3:7.1f} ms  {tps:>9,.0f} tok/s  "
              f"{achieved / 1e12:6.1f} TFLOP/s  {mfu_text}  "
              f"({achieved / matmul:.0%} of measured matmul)", flush=True)
        save()

    def fwd_bwd(model: torch.nn.Module, hf: bool = False) -> Callable[[], None]:
        def step() -> None:
            with torch.autocast(device.type, torch.bfloat16):
                out = model(x)
                logits = out.logits if hf else out
            cross_entropy(logits, y).backward()
            model.zero_grad(set_to_none=True)
        return step

    # 2. forward + backward
    torch.manual_seed(0)
    fast = Transformer(config).to(device)
    n = sum(p.numel() for p in fast.parameters())
    results["params"] = n
    print(f"model: {n / 1e6:.1f}M parameters, batch {B} x {T}, bf16 autocast, "
          f"{fpt / 1e6:.0f} MFLOP per token", flush=True)
    if not args.train_only:
        scratch = Transformer(ModelConfig(**shape, fast=False)).to(device)
        scratch.load_state_dict(fast.state_dict())
        report("fwd+bwd, ours from scratch (eager)", timed(fwd_bwd(scratch), 2,
                                                           args.repeats))
        del scratch
        report("fwd+bwd, ours fast=True / SDPA (eager)", timed(fwd_bwd(fast), 2,
                                                              args.repeats))
    if not (args.skip_hf or args.train_only):
        try:
            from transformers import LlamaForCausalLM

            from llm_from_scratch.model import to_hf_llama

            hf_config, state = to_hf_llama(fast)
            hf_config._attn_implementation = "sdpa"
            ref = LlamaForCausalLM(hf_config).to(device)  # fp32 weights, as ours
            ref.load_state_dict(state)
            ref.config.use_cache = False
            report("fwd+bwd, LlamaForCausalLM sdpa (eager)",
                   timed(fwd_bwd(ref, hf=True), 2, args.repeats))
            del ref
        except Exception as e:  # a reference that fails must not hide our numbers
            print(f"LlamaForCausalLM skipped: {type(e).__name__}: {e}", flush=True)
    began = time.perf_counter()
    # static shapes: each batch size gets its own graph (no dynamic-shape code)
    compiled: torch.nn.Module = torch.compile(fast, dynamic=False)
    try:
        fwd_bwd(compiled)()
        sync()
        results["compile_seconds"] = time.perf_counter() - began
        print(f"torch.compile: first step {results['compile_seconds']:.0f} s",
              flush=True)
        report("fwd+bwd, ours fast=True + compile", timed(fwd_bwd(compiled), 2,
                                                          args.repeats))
    except Exception as e:  # report it, and measure the rest without compile
        print(f"torch.compile failed: {type(e).__name__}: {e}", flush=True)
        results["compile_error"] = f"{type(e).__name__}: {e}"
        compiled = fast
    mode = "compile" if compiled is not fast else "eager"

    # 3. full training step
    # the loss compiled too (as the training loop does with compile=True): its
    # float32 logits, (B*T) x 50304, are the largest tensors of the step
    loss_fn = torch.compile(cross_entropy, dynamic=False) if mode == "compile" else (
        cross_entropy)
    variants = {  # label: (optimizer, loss)
        "AdamW ours per tensor": (lambda gr: AdamW(gr, lr=6e-4, foreach=False),
                                  loss_fn),
        "AdamW ours multi-tensor, loss eager": (
            lambda gr: AdamW(gr, lr=6e-4, foreach=True), cross_entropy),
        "AdamW ours multi-tensor": (lambda gr: AdamW(gr, lr=6e-4, foreach=True),
                                    loss_fn),
        "AdamW torch fused": (lambda gr: torch.optim.AdamW(gr, lr=6e-4, fused=True),
                              loss_fn),
    }
    batches = [int(b) for b in (args.train_batches or str(B)).split(",")]
    for batch in batches:
        xb = torch.randint(0, shape["vocab_size"], (batch, T), generator=g).to(device)
        yb = torch.randint(0, shape["vocab_size"], (batch, T), generator=g).to(device)
        for label, (make, loss_of) in variants.items():
            opt = make(param_groups(fast, 0.1))

            def step(opt=opt, loss_of=loss_of) -> None:
                with torch.autocast(device.type, torch.bfloat16):
                    loss = loss_of(compiled(xb), yb)
                loss.backward()
                clip_grad_norm(fast.parameters(), 1.0)
                opt.step()
                opt.zero_grad(set_to_none=True)

            report(f"train step, batch {batch} ({mode}, {label})",
                   timed(step, 3, args.repeats), batch)
            del opt
    if device.type == "cuda":
        results["max_memory_gb"] = torch.cuda.max_memory_allocated() / 1e9
        print(f"peak GPU memory {results['max_memory_gb']:.1f} GB", flush=True)
    save()


if __name__ == "__main__":
    main()
