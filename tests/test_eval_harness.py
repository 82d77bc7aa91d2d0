"""The lm-evaluation-harness bridge: a local YAML task over local JSON lines,
offline, scored by the harness through ``BookLM`` and by our own evaluator."""

import json
import math
import os
import subprocess
import sys

import pytest
import torch

from llm_from_scratch.eval import Item, Task, evaluate_task, load_jsonl
from llm_from_scratch.model import ModelConfig, Transformer
from llm_from_scratch.tokenizer import book_tokenizer
from llm_from_scratch.train import TrainConfig, save_checkpoint

ITEMS = [
    ("The quality of mercy", ["is not strained", "was a fish", "of the", "runs"], 0),
    ("To be, or not to be:", ["that is the question", "yes", "the", "and so on"], 0),
    ("Now is the winter of our", ["discontent", "summer", "spring madness", "cat"], 0),
    ("import os\nos.path.", ["join(a, b)", "exists(p)", "x", "sep"], 1),
    ("Friends, Romans,", ["countrymen", "lend me", "bread", "dogs and cats"], 0),
    ("All the world's a", ["stage", "play", "big round ball of", "map"], 0),
]


@pytest.fixture(scope="module")
def tok():
    return book_tokenizer()


@pytest.fixture(scope="module")
def checkpoint(tok, tmp_path_factory):
    torch.manual_seed(0)
    model = Transformer(ModelConfig(vocab_size=tok.vocab_size, d_model=32,
                                    n_layers=2, n_heads=2, max_seq_len=64))
    path = tmp_path_factory.mktemp("ckpt") / "step_000001"
    save_checkpoint(path, model, None, 1, TrainConfig().to_dict(),
                    model_config=model.config.to_dict())
    return path


def write_task(root):
    """The same items as a JSON-lines file of ours and a harness YAML task."""
    data = root / "items.jsonl"
    with open(data, "w") as f:
        for n, (ctx, choices, gold) in enumerate(ITEMS):
            f.write(json.dumps({"id": f"i{n}", "type": "multiple_choice",
                                "context": ctx, "choices": choices, "gold": gold,
                                "delimiter": " "}) + "\n")
    texts = root / "texts.jsonl"
    with open(texts, "w") as f:
        for ctx, choices, _ in ITEMS:
            f.write(json.dumps({"type": "rolling", "text": ctx + " " + choices[0]})
                    + "\n")
    tasks = root / "tasks"
    tasks.mkdir()
    (tasks / "book_mc.yaml").write_text(f"""\
task: book_mc
dataset_path: json
dataset_kwargs:
  data_files:
    test: {data}
test_split: test
output_type: multiple_choice
doc_to_text: context
doc_to_choice: choices
doc_to_target: gold
target_delimiter: " "
metric_list:
  - metric: acc
  - metric: acc_norm
""")
    (tasks / "book_bpb.yaml").write_text(f"""\
task: book_bpb
dataset_path: json
dataset_kwargs:
  data_files:
    test: {texts}
test_split: test
output_type: loglikelihood_rolling
doc_to_text: ""
doc_to_target: text
metric_list:
  - metric: bits_per_byte
""")
    return data, texts, tasks


@pytest.fixture()
def offline(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf" / "datasets"))
    return tmp_path


@pytest.mark.slow
def test_harness_scores_equal_ours(offline, checkpoint, tok):
    import lm_eval
    from lm_eval.tasks import TaskManager

    from llm_from_scratch.eval.harness import BookLM, load_for_eval

    data, texts, tasks = write_task(offline)
    out = lm_eval.simple_evaluate(
        model="llm-from-scratch", model_args=f"checkpoint={checkpoint}",
        tasks=["book_mc", "book_bpb"],
        task_manager=TaskManager(include_path=str(tasks)),
        batch_size=4,
    )
    model, tok = load_for_eval(checkpoint)
    ours = evaluate_task(model, tok, load_jsonl(data))
    mc = out["results"]["book_mc"]
    for metric in ("acc", "acc_norm"):
        value, se = ours.metrics[metric]
        assert mc[f"{metric},none"] == pytest.approx(value, abs=1e-12)
        assert mc[f"{metric}_stderr,none"] == pytest.approx(se, abs=1e-9)
    bpb = evaluate_task(model, tok, load_jsonl(texts)).metrics["bits_per_byte"][0]
    assert out["results"]["book_bpb"]["bits_per_byte,none"] == pytest.approx(
        bpb, rel=1e-6)
    assert isinstance(BookLM(model=model, tok=tok), lm_eval.api.model.LM)


def test_generate_until_stops_at_until(checkpoint, tok):
    from llm_from_scratch.eval.harness import BookLM

    class Req:
        def __init__(self, *args):
            self.args = args

    lm = BookLM(checkpoint=str(checkpoint), max_gen_toks=8)
    free = lm.generate_until([Req("Once upon", {"until": []})])[0]
    assert free and len(tok.encode_ordinary(free)) <= 8
    cut = free[len(free) // 2:len(free) // 2 + 1]
    stopped = lm.generate_until([Req("Once upon", {"until": [cut]})])[0]
    assert stopped == free[: free.index(cut)]
    rolling = lm.loglikelihood_rolling([Req("To be or not to be")])
    assert rolling[0] < 0 and math.isfinite(rolling[0])
    with pytest.raises(ValueError, match="checkpoint=DIR"):
        BookLM()


@pytest.mark.slow
def test_lm_eval_command_line(offline, checkpoint, tmp_path):
    """`python -m llm_from_scratch.eval.harness` is lm_eval's own CLI with the
    book's model registered: it runs the local task offline and writes results."""
    data, _, tasks = write_task(tmp_path)
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    cmd = [sys.executable, "-m", "llm_from_scratch.eval.harness",
           "--model", "llm-from-scratch", "--model_args", f"checkpoint={checkpoint}",
           "--tasks", "book_mc", "--include_path", str(tasks),
           "--output_path", str(tmp_path / "out"), "--batch_size", "4"]
    run = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "book_mc" in run.stdout and "acc_norm" in run.stdout
    files = list((tmp_path / "out").rglob("results_*.json"))
    assert files
    acc = json.loads(files[0].read_text())["results"]["book_mc"]["acc,none"]
    from llm_from_scratch.eval.harness import load_for_eval

    model, tok = load_for_eval(checkpoint)
    assert acc == pytest.approx(evaluate_task(model, tok, load_jsonl(data))
                                .metrics["acc"][0])


def test_task_objects_roundtrip(tmp_path):
    task = Task("t", tuple(Item(f"i{n}", "multiple_choice", context=c,
                                choices=tuple(ch), gold=g)
                           for n, (c, ch, g) in enumerate(ITEMS)))
    from llm_from_scratch.eval import save_jsonl

    back = load_jsonl(save_jsonl(task, tmp_path / "t.jsonl"))
    assert back.items == task.items
