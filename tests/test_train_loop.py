"""The training loop: it learns, resumes exactly (even after SIGKILL), runs DDP."""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from llm_from_scratch.corpora import shakespeare
from llm_from_scratch.train import TrainConfig, train
from llm_from_scratch.train.sources import ByteTokenizer, byte_shards

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def manifests(tmp_path_factory) -> tuple[Path, Path]:
    """Byte-level shards of four plays' openings (a few hundred kB)."""
    texts = [t.text[:60_000] for t in shakespeare()[:4]]
    return byte_shards(texts, tmp_path_factory.mktemp("bytes"), val_fraction=0.25)


def tiny(manifests: tuple[Path, Path], **changes) -> TrainConfig:
    values = dict(
        d_model=32, n_layers=1, n_heads=2, batch_size=4, seq_len=32, steps=12,
        lr=1e-2, eval_every=4, eval_batches=2, log_every=4, progress=False,
        data="manifests", train_manifest=str(manifests[0]),
        val_manifest=str(manifests[1]),
    )
    values.update(changes)
    return TrainConfig(**values)


def test_byte_tokenizer_round_trip() -> None:
    tok = ByteTokenizer()
    text = "caf\u00e9 \u4e2d"
    assert tok.decode(tok.encode(text) + [tok.eot_id]) == text


def test_loss_falls_and_metrics_are_written(manifests, tmp_path) -> None:
    config = tiny(manifests, steps=40, eval_every=20, out_dir=str(tmp_path),
                  sample_every=40, sample_tokens=8)
    result = train(config)
    assert len(result.losses) == 40
    first, last = result.evals[0], result.evals[-1]
    assert last["val_loss"] < first["val_loss"]
    assert last["val_loss"] < math.log(257) - 2.0  # far below uniform guessing
    assert result.losses[-1] < result.losses[0] - 1.0
    bpt = json.loads(manifests[1].read_text())["metadata"]["bytes_per_token"]
    assert 0.99 < bpt < 1.0  # one end-of-text token per document, no bytes
    assert last["val_bpb"] == pytest.approx(last["val_loss"] / math.log(2) / bpt)
    assert isinstance(result.history[-1]["sample"], str)
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(x)["loss"] for x in lines] == result.losses
    csv = (tmp_path / "metrics.csv").read_text().splitlines()
    assert csv[0].startswith("step,lr,loss,grad_norm") and len(csv) == 41
    assert result.checkpoint == tmp_path / "checkpoints" / "step_000040"


@pytest.mark.parametrize("threads", [1, 2])
def test_in_process_resume_is_exact(manifests, tmp_path, threads: int) -> None:
    torch.set_num_threads(threads)  # the autouse fixture restores it
    kw = dict(checkpoint_every=4, deterministic=True)
    full = train(tiny(manifests, out_dir=str(tmp_path / "a"), **kw))
    config = tiny(manifests, out_dir=str(tmp_path / "b"), **kw)
    crashed = train(config, callbacks=[lambda rec, model: rec["step"] == 6])
    assert len(crashed.losses) == 6  # stopped after step 6; newest checkpoint: 4
    resumed = train(config.with_overrides(["resume=true"]))
    assert resumed.losses == full.losses  # bit for bit, not approximately
    assert [r.get("val_loss") for r in resumed.history] == [
        r.get("val_loss") for r in full.history
    ]


def test_bf16_autocast_run_and_cli_sample(manifests, tmp_path, capsys) -> None:
    from llm_from_scratch.cli import main

    result = train(tiny(manifests, steps=3, dtype="bfloat16", out_dir=str(tmp_path)))
    assert all(math.isfinite(x) for x in result.losses)
    assert main(["sample", "--checkpoint", str(tmp_path), "--prompt", "To be",
                 "--max-new-tokens", "5", "--seed", "1"]) == 0
    first = capsys.readouterr().out
    main(["sample", "--checkpoint", str(tmp_path), "--prompt", "To be",
          "--max-new-tokens", "5", "--seed", "1"])
    assert first.startswith("To be") and capsys.readouterr().out == first  # seeded


def test_resume_refuses_a_changed_config(manifests, tmp_path) -> None:
    train(tiny(manifests, steps=4, out_dir=str(tmp_path)))
    with pytest.raises(ValueError, match=r"config changed in \['lr'\]"):
        train(tiny(manifests, steps=4, lr=2e-2, out_dir=str(tmp_path), resume=True))


def test_one_step_matches_a_hand_written_reference(manifests) -> None:
    """A step with accumulation = one torch.optim.AdamW step on the mean gradient."""
    import torch.nn.functional as F

    from llm_from_scratch.data import TokenShards
    from llm_from_scratch.train import lr_at, param_groups
    from llm_from_scratch.train.loop import build_model, step_generator

    config = tiny(manifests, steps=5, grad_accum=3, eval_every=0, clip=0.05)
    result = train(config, callbacks=[lambda rec, model: True])  # stop after step 1
    torch.manual_seed(config.seed)
    ref = build_model(config, 257)
    shards = TokenShards(manifests[0])
    for micro in range(3):
        g = step_generator(config.seed, 0, 0, micro)
        x, y = shards.sample_batch(4, 32, g)
        (F.cross_entropy(ref(x).flatten(0, 1), y.flatten()) / 3).backward()
    norm = torch.nn.utils.clip_grad_norm_(ref.parameters(), 0.05)
    lr = lr_at(0, max_lr=config.lr, total_steps=5, warmup_steps=config.warmup_steps)
    opt = torch.optim.AdamW(param_groups(ref, config.weight_decay), lr=lr,
                            betas=(config.beta1, config.beta2), eps=config.eps)
    opt.step()
    assert result.history[0]["grad_norm"] == pytest.approx(float(norm), rel=1e-5)
    assert result.history[0]["tokens"] == 3 * 4 * 32
    # Adam's first step is about lr * sign(g): a coordinate whose gradient is
    # near eps amplifies float rounding, so allow 1% of lr (1e-2) absolutely.
    for a, b in zip(result.model.parameters(), ref.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-4)


def _cli(out: Path, manifests, *extra: str) -> list[str]:
    sets = [
        "d_model=32", "n_layers=1", "n_heads=2", "batch_size=4", "seq_len=32",
        "steps=60", "eval_every=0", "checkpoint_every=5", "data=manifests",
        "deterministic=true",
        f"train_manifest={manifests[0]}", f"val_manifest={manifests[1]}",
    ]
    cmd = [sys.executable, "-m", "llm_from_scratch", "train", "--no-progress",
           "--out-dir", str(out)]
    for s in sets:
        cmd += ["--set", s]
    return cmd + list(extra)


def _env() -> dict[str, str]:
    return dict(os.environ, OMP_NUM_THREADS="2", PYTHONPATH=str(ROOT))


def _losses(out: Path) -> list[float]:
    lines = (out / "metrics.jsonl").read_text().splitlines()
    return [json.loads(line)["loss"] for line in lines]


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_sigkill_mid_run_then_resume_matches_uninterrupted(manifests, tmp_path) -> None:
    ref = tmp_path / "ref"
    subprocess.run(_cli(ref, manifests), env=_env(), check=True, timeout=200,
                   capture_output=True)
    out = tmp_path / "killed"
    proc = subprocess.Popen(_cli(out, manifests), env=_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 150
    while not list((out / "checkpoints").glob("step_*/state.json")):
        assert proc.poll() is None, "the run ended before it could be killed"
        assert time.time() < deadline, "no checkpoint appeared"
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)  # no clean-up: like a power cut
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    killed_at = int(max(p.name for p in (out / "checkpoints").glob("step_*"))[5:])
    assert killed_at < 60
    done = subprocess.run(_cli(out, manifests, "--resume"), env=_env(),
                          capture_output=True, text=True, timeout=200)
    assert done.returncode == 0, done.stderr[-2000:]
    assert _losses(out) == _losses(ref)
    assert len(_losses(ref)) == 60


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_torchrun_two_processes_gloo(manifests, tmp_path) -> None:
    torchrun = Path(sys.executable).with_name("torchrun")
    cmd = _cli(tmp_path, manifests, "--set", "steps=6", "--set", "eval_every=3")
    cmd = [str(torchrun), "--standalone", "--nproc_per_node=2", "-m", *cmd[2:]]
    done = subprocess.run(cmd, env=_env(), capture_output=True, text=True,
                          timeout=280)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["steps"] == 6  # printed once, by rank 0 only
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    records = [json.loads(x) for x in lines]
    assert records[-1]["tokens"] == 6 * 4 * 32 * 2  # two processes' batches per step
    assert "val_loss" in records[2]
    from llm_from_scratch.train import load_checkpoint

    assert load_checkpoint(tmp_path / "checkpoints" / "step_000006").step == 6


def _torchrun_train(out: Path, manifests, parallel: str, *extra: str) -> list[float]:
    torchrun = Path(sys.executable).with_name("torchrun")
    cmd = _cli(out, manifests, "--set", "steps=6", "--set", "checkpoint_every=3",
               "--set", "n_layers=2", "--set", "eval_every=3", "--set", "sample_every=3",
               "--set", "sample_tokens=8", "--parallel", parallel, *extra)
    cmd = [str(torchrun), "--standalone", "--nproc_per_node=2", "-m", *cmd[2:]]
    done = subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=200)
    assert done.returncode == 0, done.stderr[-3000:]
    return _losses(out)


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_torchrun_fsdp_trains_checkpoints_and_resumes_like_ddp(manifests, tmp_path):
    """``parallel=fsdp`` shards the model over the two processes (FSDP2): the
    same losses, evaluations and samples as DDP; its checkpoints hold whole
    tensors (the same files as DDP's); a run resumed from one re-shards the
    optimizer state and continues exactly."""
    from safetensors.torch import load_file

    ddp = _torchrun_train(tmp_path / "ddp", manifests, "ddp")
    fsdp = _torchrun_train(tmp_path / "fsdp", manifests, "fsdp")
    assert len(fsdp) == 6
    assert fsdp == pytest.approx(ddp, abs=1e-5)
    records = [json.loads(x) for x in (tmp_path / "fsdp" / "metrics.jsonl")
               .read_text().splitlines()]
    assert "val_loss" in records[2] and records[2]["sample"] is not None
    for name in ("model", "optimizer"):
        a, b = (load_file(tmp_path / run / "checkpoints" / "step_000006" /
                          f"{name}.safetensors") for run in ("ddp", "fsdp"))
        assert a.keys() == b.keys()
        for key in a:
            torch.testing.assert_close(b[key], a[key], atol=1e-6, rtol=0)
    # "kill" after step 3: drop the later checkpoint and resume from step 3
    shutil.rmtree(tmp_path / "fsdp" / "checkpoints" / "step_000006")
    resumed = _torchrun_train(tmp_path / "fsdp", manifests, "fsdp", "--resume")
    assert resumed == fsdp


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_torch_compile_matches_eager(manifests) -> None:
    eager = train(tiny(manifests, steps=4, eval_every=0))
    compiled = train(tiny(manifests, steps=4, eval_every=0, compile=True))
    for a, b in zip(eager.losses, compiled.losses):
        assert a == pytest.approx(b, rel=1e-5)  # fused kernels round differently


def test_metrics_are_streamed_per_step_and_resume_truncates_them(
    manifests, tmp_path
) -> None:
    """metrics.jsonl grows by one record per step, before any checkpoint; a
    resumed run drops what the crashed run wrote after its last checkpoint."""
    config = tiny(manifests, out_dir=str(tmp_path), checkpoint_every=4)
    path = tmp_path / "metrics.jsonl"
    lines: list[int] = []

    def watch(record, model) -> bool:
        lines.append(len(path.read_text().splitlines()))
        assert json.loads(path.read_text().splitlines()[-1]) == record
        return record["step"] == 6  # "crash" after step 6; checkpoint at 4

    train(config, callbacks=[watch])
    assert lines == [1, 2, 3, 4, 5, 6]
    assert len((tmp_path / "metrics.csv").read_text().splitlines()) == 1 + 4
    lines.clear()
    resumed = train(config.with_overrides(["resume=true"]),
                    callbacks=[lambda rec, model: watch(rec, model) and False])
    assert lines == list(range(5, 13))  # steps 5 and 6 were not kept twice
    records = [json.loads(x) for x in path.read_text().splitlines()]
    assert [r["step"] for r in records] == list(range(1, 13))
    assert [r["loss"] for r in records] == resumed.losses
    assert len((tmp_path / "metrics.csv").read_text().splitlines()) == 1 + 12
    train(config)  # a fresh run in the same directory starts the file anew
    assert len(path.read_text().splitlines()) == 12


def test_bf16_where_unsupported_fails_naming_the_field(manifests, monkeypatch) -> None:
    import contextlib
    import warnings

    from llm_from_scratch.train import loop
    from llm_from_scratch.train.hardware import bf16_supported

    assert bf16_supported(torch.device("cpu"))
    # a GPU without bf16 (pre-Ampere), simulated on this CPU machine
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda *a, **k: "Tesla T4")
    assert not bf16_supported(torch.device("cuda", 0))
    monkeypatch.setattr(loop, "resolve_device", lambda c, i: torch.device("cuda", 0))
    with pytest.raises(ValueError, match=r"TrainConfig\.dtype='bfloat16' .* Tesla T4"):
        train(tiny(manifests, steps=2, dtype="bfloat16"))

    # elsewhere torch only warns and disables autocast: that counts as unsupported
    @contextlib.contextmanager
    def disabled_autocast(*args, **kwargs):
        warnings.warn("In XPU autocast, but the target dtype is not supported. "
                      "Disabling autocast.", UserWarning, stacklevel=2)
        yield

    monkeypatch.setattr(torch, "autocast", disabled_autocast)
    assert not bf16_supported(torch.device("cpu"))


def test_parallel_field_is_checked_by_name() -> None:
    with pytest.raises(ValueError, match="parallel"):
        TrainConfig(parallel="zero")
