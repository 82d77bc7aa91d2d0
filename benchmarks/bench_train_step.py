"""Training-step speed: our AdamW vs torch.optim.AdamW, tokens/s and MFU.

    .venv/bin/python benchmarks/bench_train_step.py            # quick, CPU or GPU
    .venv/bin/python benchmarks/bench_train_step.py --gpt2     # ~124M model (GPU)

1. Optimizer step alone on the same model: our per-tensor AdamW vs torch's
   for-loop and foreach (multi-tensor) implementations, as a ratio.
2. A full training step (forward, backward, clip, AdamW): tokens/s, and MFU
   against the device's datasheet peak (a GPU in the table) or, on a CPU,
   against the measured matmul throughput of this machine.
"""

from __future__ import annotations

import argparse
import time

import torch

from llm_from_scratch.model import ModelConfig, Transformer, flops_per_token
from llm_from_scratch.train import (
    AdamW,
    clip_grad_norm,
    cross_entropy,
    measure_matmul_flops,
    mfu,
    param_groups,
    peak_flops,
)
from llm_from_scratch.train.hardware import device_name
from llm_from_scratch.utils import detect_device


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def time_optimizers(model: torch.nn.Module, makers: dict, device, repeats: int) -> dict:
    """Median seconds of one step per optimizer, interleaved so that a change in
    the machine's load affects all of them alike (gradients fixed, random)."""
    for p in model.parameters():
        p.grad = torch.randn_like(p) * 1e-3
    opts = {name: make(param_groups(model, 0.1)) for name, make in makers.items()}
    for opt in opts.values():
        opt.step()  # allocate state
    times: dict[str, list[float]] = {name: [] for name in opts}
    for _ in range(repeats):
        for name, opt in opts.items():
            sync(device)
            t = time.perf_counter()
            opt.step()
            sync(device)
            times[name].append(time.perf_counter() - t)
    return {name: sorted(ts)[len(ts) // 2] for name, ts in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--gpt2", action="store_true", help="~124M model, seq 1024")
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--compile", action="store_true")
    parser.add_argument("--dtype", default=None, choices=["float32", "bfloat16"])
    args = parser.parse_args()
    device = detect_device()
    if args.gpt2:
        mc = ModelConfig(vocab_size=50304, d_model=768, n_layers=12, n_heads=12,
                         max_seq_len=1024, fast=True, tie_embeddings=True)
        batch, seq = 16, 1024
    else:
        mc = ModelConfig(vocab_size=4096, d_model=256, n_layers=4, n_heads=4,
                         max_seq_len=256, fast=True, tie_embeddings=True)
        batch, seq = 8, 256
    dtype = args.dtype or ("bfloat16" if device.type == "cuda" else "float32")
    torch.manual_seed(0)
    model = Transformer(mc).to(device)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"device {device_name(device)}, {n_params / 1e6:.1f}M parameters, "
          f"batch {batch} x {seq}, {dtype}, threads {torch.get_num_threads()}")

    medians = time_optimizers(model, {
        "ours": lambda g: AdamW(g, lr=1e-3),
        "loop": lambda g: torch.optim.AdamW(g, lr=1e-3, foreach=False),
        "foreach": lambda g: torch.optim.AdamW(g, lr=1e-3, foreach=True),
    }, device, repeats=15)
    ours, loop, multi = medians["ours"], medians["loop"], medians["foreach"]
    print(f"AdamW step: ours {ours * 1e3:.1f} ms, torch for-loop {loop * 1e3:.1f} ms "
          f"(ours/torch {ours / loop:.2f}x), torch foreach {multi * 1e3:.1f} ms "
          f"(ours/foreach {ours / multi:.2f}x)")

    opt = AdamW(param_groups(model, 0.1), lr=1e-3)
    runner = torch.compile(model) if args.compile else model
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, mc.vocab_size, (batch, seq), generator=g).to(device)
    y = torch.randint(0, mc.vocab_size, (batch, seq), generator=g).to(device)
    bf16 = dtype == "bfloat16"
    cast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16)

    def step() -> None:
        with cast:
            loss = cross_entropy(runner(x), y)
        loss.backward()
        clip_grad_norm(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)

    for _ in range(2):  # warm-up (and compilation)
        step()
    sync(device)
    t = time.perf_counter()
    for _ in range(args.steps):
        step()
    sync(device)
    seconds = (time.perf_counter() - t) / args.steps
    tps = batch * seq / seconds
    fpt = flops_per_token(mc, seq)
    peak = peak_flops(device_name(device), dtype)
    line = f"train step: {seconds * 1e3:.0f} ms, {tps:,.0f} tokens/s, "
    line += f"{tps * fpt / 1e12:.2f} TFLOP/s achieved"
    if peak is not None:
        line += f", MFU {mfu(tps, fpt, peak):.1%} of the {peak / 1e12:.0f} TFLOP/s peak"
    else:
        torch_dtype = torch.bfloat16 if dtype == "bfloat16" else torch.float32
        measured = measure_matmul_flops(device, torch_dtype, size=1024)
        line += (f"; no datasheet peak for {device_name(device)!r}: "
                 f"{mfu(tps, fpt, measured):.1%} of this machine's measured matmul "
                 f"rate ({measured / 1e9:.0f} GFLOP/s)")
    print(line)


if __name__ == "__main__":
    main()
