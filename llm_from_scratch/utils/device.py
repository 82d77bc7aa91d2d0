"""Device detection and a one-screen report of the environment."""

from __future__ import annotations

import os
import platform
import sys

import torch


def detect_device(preferred: str | None = None) -> torch.device:
    """Pick the best available device: CUDA, then Apple MPS, then CPU.

    ``preferred`` (or the ``LLMFS_DEVICE`` environment variable) forces one,
    and fails loudly when it is not available rather than falling back quietly.
    """
    choice = preferred or os.environ.get("LLMFS_DEVICE")
    if choice:
        device = torch.device(choice)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise RuntimeError(f"device {choice!r} requested but CUDA is not available")
        if device.type == "mps" and not torch.backends.mps.is_available():
            raise RuntimeError(f"device {choice!r} requested but MPS is not available")
        return device
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def environment_report() -> dict[str, str]:
    """What a bug report needs: versions, threads and the device in use."""
    import llm_from_scratch

    device = detect_device()
    report = {
        "llm_from_scratch": llm_from_scratch.__version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "torch": torch.__version__,
        "torch threads": str(torch.get_num_threads()),
        "cpu cores": str(os.cpu_count()),
        "device": str(device),
    }
    if device.type == "cuda":
        report["gpu"] = torch.cuda.get_device_name(device)
        report["bf16 supported"] = str(torch.cuda.is_bf16_supported())
    return report
