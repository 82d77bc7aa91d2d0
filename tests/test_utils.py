"""Shared helpers: seeding, cache paths, device choice, the CLI front door."""

import subprocess
import sys

import pytest
import torch

import llm_from_scratch
from llm_from_scratch.cli import main
from llm_from_scratch.utils import cache_dir, detect_device, full_size, seed_everything, source


def test_seed_everything_is_reproducible():
    g1 = seed_everything(123)
    a = torch.randn(3), torch.randn(3, generator=g1)
    g2 = seed_everything(123)
    b = torch.randn(3), torch.randn(3, generator=g2)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])


def test_seed_rejects_negative():
    with pytest.raises(ValueError, match="seed"):
        seed_everything(-1)


def test_cache_dir_honours_env(tmp_path, monkeypatch):
    monkeypatch.setenv("LLMFS_CACHE", str(tmp_path))
    path = cache_dir("a", "b")
    assert path == tmp_path / "a" / "b" and path.is_dir()


@pytest.mark.parametrize("value,expected", [("1", True), ("0", False), ("", False), ("true", True)])
def test_full_size_switch(monkeypatch, value, expected):
    monkeypatch.setenv("LLMFS_FULL", value)
    assert full_size() is expected


def test_full_size_rejects_garbage(monkeypatch):
    monkeypatch.setenv("LLMFS_FULL", "maybe")
    with pytest.raises(ValueError, match="LLMFS_FULL"):
        full_size()


def test_detect_device_refuses_unavailable_cuda():
    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    with pytest.raises(RuntimeError, match="CUDA"):
        detect_device("cuda")
    assert detect_device("cpu").type == "cpu"


def test_source_returns_the_code():
    assert "def seed_everything" in source(seed_everything)


def test_cli_version_and_info(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert llm_from_scratch.__version__ in capsys.readouterr().out
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    assert "torch" in out and "device" in out


def test_console_script_help():
    result = subprocess.run(
        [sys.executable, "-m", "llm_from_scratch", "--help"],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "usage: llm-from-scratch" in result.stdout
