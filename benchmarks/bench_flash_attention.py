"""FlashAttention-2 in PyTorch tiles vs PyTorch's SDPA: time and saved memory.

    .venv/bin/python benchmarks/bench_flash_attention.py            # CPU, quick
    .venv/bin/python benchmarks/bench_flash_attention.py --lengths 512,1024,2048

``model/flash.py`` is a teaching implementation: its tiles are Python loops of
small matmuls, so on a CPU it is *slower* than SDPA's math backend (one big matmul
per product). What it shows is the memory: the backward needs only Q, K, V, O and
the per-row logsumexp, so the bytes saved for the backward grow with T, while the
from-scratch formula and SDPA's math backend save the T x T probabilities. On a
GPU the speed comes from a fused kernel (``flash_triton.py``, SDPA's flash
backend), which this script also times when CUDA is present.

Per length: median forward + backward time of each path (interleaved, so load on
the machine affects all alike) and its saved bytes, as ratios against SDPA.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

from llm_from_scratch.model import (
    causal_mask,
    flash_attention,
    flash_triton,
    saved_tensor_bytes,
    scaled_dot_product_attention,
)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def paths(device: torch.device, block: int) -> dict[str, Callable]:
    def sdpa(q, k, v):
        cpu = device.type == "cpu"
        backend = SDPBackend.MATH if cpu else SDPBackend.FLASH_ATTENTION
        with sdpa_kernel(backend):
            return F.scaled_dot_product_attention(q, k, v, is_causal=True)

    def naive(q, k, v):
        return scaled_dot_product_attention(q, k, v, causal_mask(q.shape[-2], 0,
                                                                 device))

    def ours(q, k, v):
        return flash_attention(q, k, v, True, block, block)

    found = {"sdpa": sdpa, "from-scratch formula": naive, "flash (ours, tiles)": ours}
    if device.type == "cuda" and flash_triton.available():
        found["flash (ours, triton)"] = flash_triton.triton_flash_attention
    return found


def fwd_bwd(fn: Callable, q, k, v, grad, device) -> float:
    sync(device)
    began = time.perf_counter()
    fn(q, k, v).backward(grad)
    sync(device)
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lengths", default="256,512,1024")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--head-dim", type=int, default=64)
    parser.add_argument("--block", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    print(f"device {device}, {dtype}, batch {args.batch}, {args.heads} heads of "
          f"{args.head_dim}, causal, blocks {args.block}; torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads")
    fns = paths(device, args.block)
    for T in (int(t) for t in args.lengths.split(",")):
        g = torch.Generator(device=device).manual_seed(T)
        shape = (args.batch, args.heads, T, args.head_dim)
        q, k, v, grad = (torch.randn(*shape, generator=g, device=device, dtype=dtype)
                         for _ in range(4))
        q, k, v = (t.requires_grad_() for t in (q, k, v))
        saved = {name: saved_tensor_bytes(lambda: fn(q, k, v))[1]
                 for name, fn in fns.items()}
        times: dict[str, list[float]] = {name: [] for name in fns}
        for name, fn in fns.items():  # warm-up
            fwd_bwd(fn, q, k, v, grad, device)
        for _ in range(args.repeats):
            for name, fn in fns.items():
                times[name].append(fwd_bwd(fn, q, k, v, grad, device))
        base_t = statistics.median(times["sdpa"])
        print(f"\nT = {T}")
        print(f"  {'path':22s} {'fwd+bwd ms':>10s} {'x sdpa':>7s} "
              f"{'saved MiB':>10s} {'x sdpa':>7s}")
        for name in fns:
            t = statistics.median(times[name])
            print(f"  {name:22s} {1e3 * t:10.1f} {t / base_t:7.2f} "
                  f"{saved[name] / 2**20:10.2f} {saved[name] / saved['sdpa']:7.2f}")
        ratio = saved["from-scratch formula"] / saved["flash (ours, tiles)"]
        print(f"  saved bytes, from-scratch formula / flash: {ratio:.1f}x")


if __name__ == "__main__":
    main()
