"""The capstone speedrun: every stage through the package's commands, a kill
and a resume that redoes nothing finished, and a self-contained report."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from llm_from_scratch.capstone import STAGES, SpeedrunConfig, speedrun, write_report
from llm_from_scratch.capstone.speedrun import Speedrun, fitted_config

# A model small enough that the whole run takes about a minute on 2 cores.
TINY = ("d_model=32", "n_layers=1", "n_heads=2", "seq_len=64", "batch_size=8")


def tiny(**changes) -> SpeedrunConfig:
    settings = dict(budget_minutes=0.5, reserve_seconds=0.0, reserve_fraction=0.0,
                    eval_limit=4, train_set=TINY, checkpoint_every=10,
                    vocab_size=300, toxicity=False)
    return SpeedrunConfig(**{**settings, **changes})


def test_config_refuses_bad_values_by_name(tmp_path):
    with pytest.raises(ValueError, match="budget_minutes"):
        SpeedrunConfig(budget_minutes=0)
    with pytest.raises(ValueError, match="vocab_size"):
        SpeedrunConfig(vocab_size=100)
    with pytest.raises(ValueError, match="eval_limit"):
        SpeedrunConfig(eval_limit=0)
    with pytest.raises(FileNotFoundError, match="nowhere"):
        SpeedrunConfig(inputs=(str(tmp_path / "nowhere"),))


def test_budget_leaves_the_reserve_and_refuses_too_little():
    run = Speedrun(SpeedrunConfig(budget_minutes=30), "unused")
    assert run.pretrain_budget(60.0) == pytest.approx(1800 - 60 - 90)
    with pytest.raises(ValueError, match="larger budget"):
        Speedrun(SpeedrunConfig(budget_minutes=1.5), "unused").pretrain_budget(10.0)


def test_other_settings_in_the_same_folder_are_refused(tmp_path):
    Speedrun(tiny(), tmp_path / "run").open_state(overwrite=False)
    with pytest.raises(ValueError, match="vocab_size"):
        Speedrun(tiny(vocab_size=512), tmp_path / "run").open_state(overwrite=False)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "mine.txt").write_text("not a speedrun")
    with pytest.raises(FileExistsError, match="not a speedrun"):
        Speedrun(tiny(), tmp_path / "other").open_state(overwrite=False)
    assert (tmp_path / "other" / "mine.txt").is_file()


def _child(out: Path) -> subprocess.Popen:
    code = ("import sys; from tests.test_capstone import tiny; "
            "from llm_from_scratch.capstone import speedrun; "
            f"speedrun(tiny(budget_minutes=0.8), {str(out)!r})")
    return subprocess.Popen([sys.executable, "-c", code], cwd=Path(__file__).parents[1],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)


@pytest.mark.slow
def test_killed_during_pretraining_resumes_and_writes_both_reports(tmp_path):
    out = tmp_path / "run"
    child = _child(out)
    deadline = time.monotonic() + 300
    while fitted_config(out / "pretrain") is None:  # a checkpoint after the fit
        assert child.poll() is None, child.stderr.read().decode()[-2000:]
        assert time.monotonic() < deadline, "no checkpoint within 300 s"
        time.sleep(0.5)
    os.killpg(child.pid, signal.SIGKILL)  # mid-stage, as a reader's Ctrl-\ would
    child.wait()
    before = json.loads((out / "speedrun.json").read_text())
    assert list(before["stages"]) == ["curate", "tokenizer", "shards"]

    lines: list[str] = []
    state = speedrun(tiny(budget_minutes=0.8), out, echo=lines.append)
    assert list(state.stages) == list(STAGES)
    assert lines[0].startswith(f"resuming {out}: 3 of {len(STAGES)} stages done")
    assert state.stages["pretrain"]["resumed"] is True
    # finished stages were not redone: one curate command in its log
    log = (out / "logs" / "curate.log").read_text()
    assert log.count("$ llm-from-scratch curate") == 1
    assert "resuming from" in (out / "logs" / "pretrain.log").read_text()
    for model in ("pretrained", "aligned"):
        for task in ("cloze", "quotes", "parity"):
            result = json.loads((out / "eval" / f"{model}-{task}.json").read_text())
            assert result["n_items"] == 4
    chats = json.loads((out / "chats.json").read_text())
    assert len(chats) == 4 and all("reply" in c for c in chats)

    md, html = write_report(out)
    text = md.read_text()
    for section in ("Stages", "Data curation", "Tokenizer and shards", "Pretraining",
                    "Alignment", "Evaluation", "Sample chats", "Environment"):
        assert f"## {section}" in text
    for name in ("funnel", "pretrain", "align", "eval"):
        assert f"report_files/{name}.png" in text
        assert (out / "report_files" / f"{name}.png").read_bytes()[:4] == b"\x89PNG"
    page = html.read_text()
    sources = re.findall(r"src='([^']*)'", page)
    assert len(sources) == 4
    assert all(s.startswith("data:image/png;base64,") for s in sources)
    assert "http://" not in page and "https://" not in page  # nothing fetched
    assert "<table>" in page and "stderr" in page

    again = speedrun(tiny(budget_minutes=0.8), out, echo=lines.append)
    assert again.stages == state.stages  # a finished run does nothing more


def test_command_line_errors_name_the_input(tmp_path, capsys):
    from llm_from_scratch.cli import main

    assert main(["speedrun", "--inputs", str(tmp_path / "absent"), "--out",
                 str(tmp_path / "run")]) == 2
    assert "absent does not exist" in capsys.readouterr().err
    argv = ["speedrun", "--budget-minutes", "0", "--out", str(tmp_path / "r")]
    assert main(argv) == 2
    assert "budget_minutes must be > 0" in capsys.readouterr().err
    assert main(["speedrun-report", str(tmp_path)]) == 2
    assert "speedrun.json does not exist" in capsys.readouterr().err


def test_a_checkpoint_from_before_the_fit_is_not_resumed(tmp_path):
    from llm_from_scratch.model import ModelConfig, Transformer
    from llm_from_scratch.train.checkpoint import save_checkpoint

    model = Transformer(ModelConfig(vocab_size=16, d_model=8, n_layers=1, n_heads=2,
                                    max_seq_len=8))
    run = tmp_path / "pretrain"
    assert fitted_config(run) is None
    save_checkpoint(run / "checkpoints" / "step_000010", model, None, 10,
                    {"steps": 5000, "budget_seconds": 60.0})
    assert fitted_config(run) is None  # calibration was not over: start again
    save_checkpoint(run / "checkpoints" / "step_000020", model, None, 20,
                    {"steps": 1234})
    assert fitted_config(run) == {"steps": 1234}
