"""Raw text to a chat model in one command, within a time budget, resumable.

``speedrun`` runs the book's command line, stage after stage, exactly as a
reader would type it (README, "Bring your own corpus"): every stage is the
stage's own public entry point, so nothing here is a second implementation.

    curate -> tokenizer -> shards -> pretrain -> sft -> dpo -> rl -> eval -> chat

The pretraining budget is what is left of the total after the stages before it
and a reserve for the stages after it (measured: alignment, evaluation and the
sample chats take 35-75 s on 2 CPU cores). State lives in
``OUT/speedrun.json``, rewritten atomically after each stage: a rerun skips
finished stages, and a killed pretraining resumes from its last checkpoint.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from llm_from_scratch.capstone.config import (
    CHAT_PROMPTS,
    EVAL_TASKS,
    STAGES,
    STATE_FILE,
    SpeedrunConfig,
    SpeedrunState,
)


def run_cli(argv: Sequence[str], log: Path) -> str:
    """Run ``llm-from-scratch ARGV`` in this process; its stdout and stderr go to
    ``log`` (appended); return its stdout. A failure raises, naming the log."""
    from llm_from_scratch.cli import main

    log.parent.mkdir(parents=True, exist_ok=True)
    out_file = log.with_suffix(".out")
    with open(log, "a") as err, open(out_file, "w") as out:
        err.write(f"$ llm-from-scratch {' '.join(argv)}\n")
        err.flush()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(list(argv))
    stdout = out_file.read_text()
    with open(log, "a") as err:
        err.write(stdout)
    if code != 0:
        tail = "".join(log.read_text().splitlines(keepends=True)[-5:]).strip()
        raise RuntimeError(f"`llm-from-scratch {argv[0]}` failed (exit {code}); "
                           f"see {log}:\n{tail}")
    return stdout


def last_json(stdout: str) -> Any:
    """The JSON summary a stage command prints on its last line."""
    lines = [line for line in stdout.splitlines() if line.strip()]
    return json.loads(lines[-1]) if lines else None


def fitted_config(run_dir: Path) -> dict[str, Any] | None:
    """The training config to resume ``run_dir`` with, or None to start again.

    A budget run fixes its length after timing its first steps; a checkpoint
    saved before that still holds ``budget_seconds`` and no final length, so
    there is no schedule to continue (``train`` refuses to resume it).
    """
    from llm_from_scratch.train.checkpoint import latest_checkpoint, load_checkpoint

    latest = latest_checkpoint(run_dir)
    if latest is None:
        return None
    config = load_checkpoint(latest).config
    return None if config.get("budget_seconds") is not None else config


class Speedrun:
    """One run into ``out``; ``run()`` does the stages not yet done."""

    def __init__(self, config: SpeedrunConfig, out: str | Path,
                 echo: Callable[[str], None] = print) -> None:
        self.config, self.out, self.echo = config, Path(out), echo
        self.state_path = self.out / STATE_FILE
        self.logs = self.out / "logs"

    # --- bookkeeping -------------------------------------------------------------
    def open_state(self, overwrite: bool) -> SpeedrunState:
        state = SpeedrunState.load(self.state_path)
        settings = self.config.settings()
        if state is not None and state.settings != settings:
            if not overwrite:
                changed = sorted(k for k in settings
                                 if state.settings.get(k) != settings[k])
                raise ValueError(f"{self.out} holds a speedrun with other settings "
                                 f"({', '.join(changed)}); pass --overwrite to start "
                                 "again, or choose another --out")
            shutil.rmtree(self.out)
            state = None
        if state is None:
            if self.out.exists() and any(self.out.iterdir()):
                if not overwrite:
                    raise FileExistsError(f"--out {self.out} holds files that are not "
                                          "a speedrun; choose another folder")
                shutil.rmtree(self.out)
            self.out.mkdir(parents=True, exist_ok=True)
            state = SpeedrunState(settings)
            state.save(self.state_path)
        return state

    def run(self, overwrite: bool = False) -> SpeedrunState:
        state = self.open_state(overwrite)
        began, before = time.perf_counter(), state.seconds
        todo = [s for s in STAGES if s not in state.stages]
        if len(todo) < len(STAGES):
            self.echo(f"resuming {self.out}: {len(STAGES) - len(todo)} of "
                      f"{len(STAGES)} stages done")
        for number, name in enumerate(STAGES, 1):
            if name in state.stages:
                continue
            elapsed = before + time.perf_counter() - began
            self.echo(f"[{number}/{len(STAGES)}] {name:<9} ({elapsed / 60:5.1f} of "
                      f"{self.config.budget_minutes:g} min used)")
            t0 = time.perf_counter()
            record = getattr(self, f"stage_{name}")(elapsed)
            record["seconds"] = round(time.perf_counter() - t0, 1)
            state.stages[name] = record
            state.seconds = round(before + time.perf_counter() - began, 1)
            state.save(self.state_path)
            self.echo(f"      done in {record['seconds']:.1f} s: {record['summary']}")
        state.seconds = round(before + time.perf_counter() - began, 1)
        state.save(self.state_path)
        return state

    # --- the stages: each the command a reader would type --------------------------
    def stage_curate(self, elapsed: float) -> dict[str, Any]:
        out = self.out / "curated"
        for stale in self.out.glob(".curated.tmp-*"):  # left by a kill
            shutil.rmtree(stale, ignore_errors=True)
        argv = ["curate", "--out", str(out), "--overwrite", "--no-progress"]
        argv += [a for path in self.config.inputs for a in ("--input", path)]
        if not self.config.toxicity:
            argv.append("--no-toxicity")
        summary = last_json(run_cli(argv, self.logs / "curate.log"))
        return {"outputs": str(out), "summary": f"{summary['docs_in']} -> "
                f"{summary['docs_out']} documents"}

    def stage_tokenizer(self, elapsed: float) -> dict[str, Any]:
        tok = self.out / "tokenizer.tok"
        run_cli(["tokenizer", "train", str(self.out / "curated"), "--vocab-size",
                 str(self.config.vocab_size), "-o", str(tok), "--quiet"],
                self.logs / "tokenizer.log")
        return {"outputs": str(tok), "summary": f"{self.config.vocab_size} tokens"}

    def stage_shards(self, elapsed: float) -> dict[str, Any]:
        from llm_from_scratch.data.corpus import write_split_shards
        from llm_from_scratch.data.pipeline import CurationReport
        from llm_from_scratch.tokenizer import Tokenizer

        out, tmp = self.out / "shards", self.out / ".shards.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        shutil.copyfile(self.out / "tokenizer.tok", tmp / "tokenizer.tok")
        report = CurationReport.load(self.out / "curated" / "report.json")
        train, _ = write_split_shards(report.curated_documents(),
                                      Tokenizer.load(tmp / "tokenizer.tok"), tmp,
                                      0.1, tmp / "tokenizer.tok")
        meta = json.loads(train.read_text()).get("metadata", {})
        shutil.rmtree(out, ignore_errors=True)
        os.replace(tmp, out)
        bpt = meta.get("bytes_per_token")
        return {"outputs": str(out), "summary": f"{bpt:.2f} bytes per token"
                if bpt else "train and val shards"}

    def pretrain_budget(self, elapsed: float) -> float:
        """Seconds for pretraining: the total less what is spent and the reserve."""
        total = self.config.budget_seconds
        reserve = max(self.config.reserve_seconds, self.config.reserve_fraction * total)
        left = total - elapsed - reserve
        if left < 10:
            raise ValueError(f"--budget-minutes {self.config.budget_minutes:g} "
                             f"leaves {left:.0f} s for pretraining after "
                             f"{elapsed:.0f} s spent and {reserve:.0f} s reserved: "
                             "give a larger budget")
        return left

    def stage_pretrain(self, elapsed: float) -> dict[str, Any]:
        out = self.out / "pretrain"
        argv = ["train", "--data", str(self.out / "shards"), "--out-dir", str(out),
                "--no-progress"]
        fitted = fitted_config(out)
        if fitted is not None:  # a killed run: continue its fitted schedule
            path = out / "resume_config.json"
            path.write_text(json.dumps(fitted, indent=1))
            argv += ["--config", str(path), "--resume"]
        else:  # nothing yet, or only checkpoints from before the fit: start again
            budget = self.pretrain_budget(elapsed)
            argv += ["--overwrite", "--budget-seconds", f"{budget:.0f}"]
            argv += [a for s in self.config.model_overrides() for a in ("--set", s)]
        summary = last_json(run_cli(argv, self.logs / "pretrain.log"))
        if not summary.get("checkpoint"):
            raise RuntimeError(f"pretraining saved no checkpoint; see "
                               f"{self.logs / 'pretrain.log'}")
        bpb = summary.get("val_bpb")
        return {"outputs": summary["checkpoint"], "resumed": fitted is not None,
                "summary": f"{summary['steps']} steps"
                + (f", val {bpb:.3f} bits per byte" if bpb is not None else "")}

    def _align(self, stage: str, start: str) -> dict[str, Any]:
        env = {"LLMFS_FULL": "1"} if self.config.full else {}
        with _environ(env):
            rows = last_json(run_cli(
                ["align", "--checkpoint", start, "--stages", stage, "--out",
                 str(self.out / "aligned"), "--overwrite"], self.logs / f"{stage}.log"))
        row = rows[0]
        loss = row.get("final_loss")
        summary = f"{row['steps']} steps"
        if loss is not None:
            summary += f", final loss {loss:.3f}"
        return {"outputs": str(self.out / "aligned" / stage), "summary": summary}

    def stage_sft(self, elapsed: float) -> dict[str, Any]:
        return self._align("sft", str(self.out / "pretrain"))

    def stage_dpo(self, elapsed: float) -> dict[str, Any]:
        return self._align("dpo", str(self.out / "aligned" / "sft"))

    def stage_rl(self, elapsed: float) -> dict[str, Any]:
        return self._align("rl", str(self.out / "aligned" / "dpo"))

    def stage_eval(self, elapsed: float) -> dict[str, Any]:
        from llm_from_scratch.capstone.report import headline_metric

        folder = self.out / "eval"
        folder.mkdir(exist_ok=True)
        models = {"pretrained": self.out / "pretrain",
                  "aligned": self.out / "aligned" / "rl"}
        scores = []
        for model, checkpoint in models.items():
            for task in EVAL_TASKS:
                target = folder / f"{model}-{task}.json"
                if not target.is_file():  # finished pairs survive a kill
                    argv = ["eval", "--checkpoint", str(checkpoint), "--task", task,
                            "--no-progress", "--output", str(target) + ".tmp"]
                    if self.config.eval_limit:
                        argv += ["--limit", str(self.config.eval_limit)]
                    run_cli(argv, self.logs / "eval.log")
                    os.replace(str(target) + ".tmp", target)
                metrics = json.loads(target.read_text())["metrics"]
                if model == "aligned":
                    name = headline_metric(metrics)
                    scores.append(f"{task} {name} {metrics[name]['value']:.2f}")
        return {"outputs": str(folder), "summary": "aligned: " + ", ".join(scores)}

    def stage_chat(self, elapsed: float) -> dict[str, Any]:
        prompts = self.out / "chat_prompts.txt"
        prompts.write_text("\n".join(CHAT_PROMPTS) + "\n")
        stdout = run_cli(["chat", "--checkpoint", str(self.out / "aligned" / "rl"),
                          "--prompts-file", str(prompts), "--max-new-tokens", "48",
                          "--temperature", "0.7"], self.logs / "chat.log")
        replies = stdout.splitlines()
        if len(replies) != len(CHAT_PROMPTS):
            raise RuntimeError(f"chat answered {len(replies)} of {len(CHAT_PROMPTS)} "
                               f"prompts; see {self.logs / 'chat.log'}")
        chats = [{"prompt": p, "reply": r.replace("\\n", "\n").replace("\\\\", "\\")}
                 for p, r in zip(CHAT_PROMPTS, replies)]
        (self.out / "chats.json").write_text(json.dumps(chats, indent=1) + "\n")
        return {"outputs": str(self.out / "chats.json"),
                "summary": f"{len(chats)} sample chats"}


@contextlib.contextmanager
def _environ(values: dict[str, str]):
    """Set environment variables for the duration of a block."""
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def speedrun(config: SpeedrunConfig, out: str | Path, overwrite: bool = False,
             echo: Callable[[str], None] = print) -> SpeedrunState:
    """Run (or resume) every stage into ``out``; return the final state."""
    return Speedrun(config, out, echo).run(overwrite)


if __name__ == "__main__":  # pragma: no cover
    sys.exit("use: llm-from-scratch speedrun --help")
