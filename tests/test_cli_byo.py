"""Bring your own corpus (issue 21): a new user's folder of text to a model that
samples, is aligned and chats, with the command line alone, in a clean ``$HOME``
and cache (no book corpus, no book tokenizer, nothing downloaded)."""

from __future__ import annotations

import inspect
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

TINY = ["--set", "d_model=32", "--set", "n_layers=1", "--set", "n_heads=2",
        "--set", "seq_len=64", "--set", "batch_size=4", "--set", "eval_every=3",
        "--set", "eval_batches=1", "--device", "cpu"]
RECIPE = """\
max_tokens: 64
task_copies: 1
sft: {steps: 3, batch_size: 4, warmup_steps: 1}
dpo: {steps: 2, batch_size: 4, warmup_steps: 1, max_tokens: 64}
reward: {max_tokens: 64}
grpo: {iterations: 1, prompts_per_iteration: 2, group_size: 2, max_new_tokens: 3,
       epochs: 1}
"""


def user_folder(root: Path) -> Path:
    """English prose under names without extensions, one .txt, a nested folder,
    a binary file and a hidden one: what a real folder of texts looks like."""
    import argparse
    import collections
    import json as json_module
    import logging
    import pathlib

    root.mkdir()
    (root / "nested").mkdir()
    for i, module in enumerate((argparse, collections, json_module, logging,
                                pathlib)):
        text = inspect.getdoc(module) or ""
        for name, obj in vars(module).items():
            if inspect.isclass(obj) and obj.__doc__ and not name.startswith("_"):
                text += "\n\n" + inspect.getdoc(obj)
        folder = root / "nested" if i == 4 else root
        (folder / module.__name__.upper()).write_text(text)
    (root / "notes.txt").write_text(
        "These are my own notes about the programs I use every day. " * 20)
    (root / "photo").write_bytes(bytes(range(256)) * 8)  # binary: rejected, listed
    (root / ".cache-file").write_text("hidden")
    return root


def subprocess_cli(args: list[str], env: dict[str, str], cwd: Path) -> str:
    """The installed command, as a new user types it; returns stdout."""
    exe = Path(sys.executable).with_name("llm-from-scratch")
    command = [str(exe)] if exe.is_file() else [sys.executable, "-m",
                                                "llm_from_scratch"]
    result = subprocess.run([*command, *args], env=env, cwd=cwd,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, (args, result.stderr[-3000:])
    assert "Traceback" not in result.stderr
    return result.stdout


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:.*truncated to 64 tokens")
def test_folder_to_sample_align_and_chat(tmp_path: Path, monkeypatch, capsys) -> None:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("LLMFS_") and k != "HOME"}
    env.update(HOME=str(tmp_path / "home"), LLMFS_CACHE=str(tmp_path / "cache"),
               PYTHONHASHSEED="0", OMP_NUM_THREADS="1")
    for key in [k for k in os.environ if k.startswith("LLMFS_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("HOME", env["HOME"])
    monkeypatch.setenv("LLMFS_CACHE", env["LLMFS_CACHE"])
    (tmp_path / "home").mkdir()
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)

    def cli(args: list[str]) -> tuple[str, str]:
        """The command line in this process (one torch import for the test)."""
        from llm_from_scratch.cli import main

        code = main(args)
        out, err = capsys.readouterr()
        assert code == 0, (args, err[-3000:])
        return out, err

    texts = user_folder(tmp_path / "my texts")

    out, err = cli(["curate", "--input", str(texts), "--out", "cur", "--no-toxicity",
                    "--workers", "1"])
    summary = json.loads(out.splitlines()[-1])
    assert summary["docs_in"] == 7  # the hidden file is not an input
    ledger = [json.loads(x) for x in (work / "cur" / "ledger.jsonl").open()]
    assert {r["id"]: r["reason"] for r in ledger}["photo"] == "malformed: binary"
    assert "curate pass 1:" in err and "\r" not in err  # a log gets plain lines

    cli(["tokenizer", "train", "cur", "--vocab-size", "320", "-o", "my.tok"])
    cli(["curate", "--input", str(texts), "--out", "cur", "--overwrite",
         "--no-toxicity", "--workers", "1", "--tokenizer", "my.tok"])
    manifest = json.loads((work / "cur" / "val" / "shard_manifest.json").read_text())
    assert manifest["vocab_size"] == 320
    assert manifest["metadata"]["tokenizer"]["file"] == "../tokenizer.tok"

    out, _ = cli(["train", "--data", "cur", "--out-dir", "run", "--steps", "3",
                  *TINY])
    assert json.loads(out.splitlines()[-1])["steps"] == 3
    (work / "recipe.yaml").write_text(RECIPE)
    out, _ = cli(["align", "--checkpoint", "run", "--config", "recipe.yaml",
                  "--out", "aligned"])
    stages = json.loads(out.splitlines()[-1])
    assert [s["stage"] for s in stages] == ["sft", "dpo", "rl"]
    assert all((work / "aligned" / s / "state.json").is_file() for s in
               ("sft", "dpo", "rl"))

    # the installed command, in a fresh process: no tokenizer given to sample
    out = subprocess_cli(["sample", "--checkpoint", "run", "--prompt", "The program",
                          "--max-new-tokens", "12"], env, work)
    assert out.startswith("The program") and len(out) > len("The program\n")
    (work / "prompts.txt").write_text("Hello\nWhat is a program?\n")
    out, _ = cli(["chat", "--checkpoint", "aligned/rl", "--tokenizer", "my.tok",
                  "--prompts-file", "prompts.txt", "--max-new-tokens", "8"])
    replies = out.splitlines()
    assert len(replies) == 2 and not any("cannot answer" in r for r in replies)

    # eval finds it too (the book's tokenizer would not fit the model)
    out, _ = cli(["eval", "--checkpoint", "aligned/rl", "--task", "parity", "--limit",
                  "4", "--no-progress"])
    assert "task parity: 4 items" in out

    # export finds the run's tokenizer from its data, as sample does
    cli(["export", "--checkpoint", "aligned/rl", "--format", "hf", "--out", "hf"])
    exported = json.loads((work / "hf" / "tokenizer.json").read_text())
    assert len(exported["model"]["vocab"]) + len(exported["added_tokens"]) == 320

    # a clean cache: only the alignment stages were cached, nothing downloaded
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == ["align"]
    assert not list((work / "cur").glob(".*tmp*")) and not list(work.glob(".*tmp*"))
