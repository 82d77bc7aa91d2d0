"""``torchrun --nproc_per_node=2 -m llm_from_scratch parallel-train`` trains the
book's model with DDP and with FSDP on CPU (gloo). Both are data parallel on
the same batches, so their losses must agree (float32: within 1e-4)."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from llm_from_scratch.cli import build_parser


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _torchrun(parallel: str) -> list[float]:
    torchrun = Path(sys.executable).with_name("torchrun")
    cmd = [str(torchrun), "--nproc_per_node=2", f"--master-port={_free_port()}",
           "-m", "llm_from_scratch", "parallel-train", "--parallel", parallel,
           "--steps", "3", "--d-model", "32", "--vocab-size", "128", "--seq-len", "32",
           "--tie-embeddings"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    return [float(x) for x in re.findall(r"loss (\d+\.\d+)", done.stdout)]


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_torchrun_ddp_and_fsdp_train_the_same():
    ddp, fsdp = _torchrun("ddp"), _torchrun("fsdp")
    assert len(ddp) == 3
    assert fsdp == pytest.approx(ddp, abs=1e-4)
    assert ddp[-1] < ddp[0]  # it learns something


def test_cli_registers_parallel_train():
    args = build_parser().parse_args(["parallel-train", "--parallel", "tp-scratch"])
    assert args.parallel == "tp-scratch"
    with pytest.raises(SystemExit):
        build_parser().parse_args(["parallel-train", "--parallel", "zero9"])
