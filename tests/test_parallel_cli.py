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


SMALL = ["--steps", "3", "--d-model", "32", "--vocab-size", "128", "--seq-len", "32",
         "--tie-embeddings"]


def _torchrun(parallel: str, *extra: str) -> list[float]:
    torchrun = Path(sys.executable).with_name("torchrun")
    cmd = [str(torchrun), "--nproc_per_node=2", f"--master-port={_free_port()}",
           "-m", "llm_from_scratch", "parallel-train", "--parallel", parallel,
           *(extra or SMALL)]
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


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_torchrun_pipeline_trains_like_tensor_parallel():
    """Two pipeline stages (torch.distributed.pipelining over our stage modules)
    and two tensor-parallel ranks both train the whole model on the same
    batches: the same losses."""
    pp = _torchrun("pp", *SMALL, "--micro-batches", "2", "--schedule", "gpipe")
    tp = _torchrun("tp")
    assert len(pp) == 3
    assert pp == pytest.approx(tp, abs=1e-4)


def test_pipeline_run_rejects_a_batch_the_micro_batches_do_not_divide():
    from llm_from_scratch.model import ModelConfig
    from llm_from_scratch.parallel import ParallelRun

    TINY = ModelConfig(vocab_size=64, d_model=32, n_layers=2, n_heads=4)
    with pytest.raises(ValueError, match="multiple of micro_batches 3"):
        ParallelRun(model=TINY, parallel="pp", batch_size=8, micro_batches=3)
    with pytest.raises(ValueError, match="schedule must be one of"):
        ParallelRun(model=TINY, parallel="pp", schedule="zb")


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_book_training_loop_takes_our_data_parallel_as_wrap_model():
    """``train(config, wrap_model=...)`` on the book's shards: our DataParallel
    gives the losses of torch's DDP (the loop's default under torchrun)."""
    extra = ("--loop", "book", "--steps", "2", "--batch-size", "2", "--seq-len", "32")
    ours, torch_ddp = _torchrun("ddp-scratch", *extra), _torchrun("ddp", *extra)
    assert len(ours) == 2
    assert ours == pytest.approx(torch_ddp, abs=1e-4)


def test_cli_registers_parallel_train():
    args = build_parser().parse_args(["parallel-train", "--parallel", "tp-scratch"])
    assert args.parallel == "tp-scratch"
    with pytest.raises(SystemExit):
        build_parser().parse_args(["parallel-train", "--parallel", "zero9"])
    args = build_parser().parse_args(["parallel-train", "--loop", "book"])
    assert args.loop == "book"


def test_bf16_and_fused_attention_options_train_alone():
    """``--dtype bfloat16 --fast`` (what a GPU run uses) in one process: the
    losses stay within bf16 rounding of the float32 run's."""
    base = ["parallel-train", "--parallel", "none", *SMALL]
    runs = {}
    for extra in ((), ("--dtype", "bfloat16", "--fast")):
        done = subprocess.run([sys.executable, "-m", "llm_from_scratch", *base, *extra],
                              capture_output=True, text=True, timeout=240)
        assert done.returncode == 0, done.stderr[-3000:]
        runs[extra] = [float(x) for x in re.findall(r"loss (\d+\.\d+)", done.stdout)]
    fp32, bf16 = runs.values()
    assert len(bf16) == 3 and bf16 != fp32
    assert bf16 == pytest.approx(fp32, abs=0.05)


def test_parallel_run_rejects_an_unknown_dtype():
    from llm_from_scratch.model import ModelConfig
    from llm_from_scratch.parallel.trainer import ParallelRun

    model = ModelConfig(vocab_size=16, d_model=8, n_layers=1, n_heads=2)
    with pytest.raises(ValueError, match="dtype"):
        ParallelRun(model=model, dtype="float16")
