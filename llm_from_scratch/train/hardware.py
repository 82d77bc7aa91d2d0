"""Model FLOPs utilisation (MFU): how much of the device's peak a run uses.

MFU = achieved model FLOP/s / the device's peak FLOP/s. The peak depends on
the device *and* the dtype (tensor cores run bf16 ~15x faster than fp32), so
it comes from a table keyed by device name, never from one hard-coded GPU.
Numbers are vendors' dense (no 2:4 sparsity) datasheet peaks. An unknown
device gives ``None``, not a made-up MFU; ``measure_matmul_flops`` gives an
*achievable* peak on any device (the honest yardstick for a CPU).
"""

from __future__ import annotations

import time
import warnings

import torch

# Substring of torch.cuda.get_device_name() -> peak dense FLOP/s by dtype.
# Longer, more specific names are matched first ("H100 PCIe" before "H100").
PEAK_FLOPS: dict[str, dict[str, float]] = {
    "H200": {"bfloat16": 989e12, "float32": 67e12},
    "H100 PCIe": {"bfloat16": 756e12, "float32": 51e12},
    "H100 NVL": {"bfloat16": 835e12, "float32": 60e12},
    "H100": {"bfloat16": 989e12, "float32": 67e12},  # SXM5
    "GH200": {"bfloat16": 989e12, "float32": 67e12},
    "B200": {"bfloat16": 2250e12, "float32": 80e12},
    "A100": {"bfloat16": 312e12, "float32": 19.5e12},
    "A10G": {"bfloat16": 70e12, "float32": 31.2e12},
    "A10": {"bfloat16": 125e12, "float32": 31.2e12},
    "L40S": {"bfloat16": 362e12, "float32": 91.6e12},
    "L4": {"bfloat16": 121e12, "float32": 30.3e12},
    "RTX 4090": {"bfloat16": 165e12, "float32": 82.6e12},
    "RTX 3090": {"bfloat16": 71e12, "float32": 35.6e12},
    "V100": {"float32": 15.7e12},  # no bf16 tensor cores
    "T4": {"float32": 8.1e12},
}


def device_name(device: torch.device) -> str:
    """A human-readable name: the GPU model, or the device type."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return device.type


def bf16_supported(device: torch.device) -> bool:
    """Whether ``device`` can run bf16 autocast.

    A CUDA GPU needs hardware bf16 (Ampere or newer; torch also accepts
    emulation on some older cards), which ``torch.cuda.is_bf16_supported``
    reports. Elsewhere (CPU, MPS) torch warns and silently *disables*
    autocast for a dtype it cannot do, so we try it and listen for that.
    """
    if device.type == "cuda":
        return bool(torch.cuda.is_bf16_supported())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            with torch.autocast(device.type, dtype=torch.bfloat16):
                pass
        except RuntimeError:
            return False
    return not any("autocast" in str(w.message).lower() for w in caught)


def check_dtype(
    dtype: str, device: torch.device, field: str = "TrainConfig.dtype"
) -> None:
    """Fail before training, naming the config ``field``, if ``dtype`` cannot
    run on ``device`` (rather than crash or silently train in float32)."""
    if dtype == "bfloat16" and not bf16_supported(device):
        raise ValueError(
            f"{field}='bfloat16' is not supported on {device_name(device)} "
            f"({device}): bf16 autocast needs e.g. an Ampere or newer GPU or a CPU; "
            "use 'float32'"
        )


def peak_flops(name: str, dtype: str = "bfloat16") -> float | None:
    """Datasheet peak FLOP/s for a device name and dtype, or None if unknown."""
    for key in sorted(PEAK_FLOPS, key=len, reverse=True):
        if key.lower() in name.lower():
            return PEAK_FLOPS[key].get(dtype)
    return None


def mfu(
    tokens_per_second: float, flops_per_token: float, peak: float | None
) -> float | None:
    """Fraction of ``peak`` used; None when the peak is unknown."""
    if peak is None:
        return None
    if not peak > 0:
        raise ValueError(f"peak FLOP/s must be > 0, got {peak}")
    return tokens_per_second * flops_per_token / peak


def measure_matmul_flops(
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
    size: int = 1024,
    repeats: int = 10,
) -> float:
    """Achieved FLOP/s of a square matmul: a practical peak for this machine."""
    device = torch.device(device)
    a = torch.randn(size, size, device=device, dtype=dtype)
    b = torch.randn(size, size, device=device, dtype=dtype)
    for _ in range(2):  # warm up (kernel selection, caches)
        a @ b
    _sync(device)
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    _sync(device)
    seconds = time.perf_counter() - start
    return 2 * size**3 * repeats / seconds


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()
