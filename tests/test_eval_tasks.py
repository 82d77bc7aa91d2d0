"""Task format, loaders and their errors, evaluation, benchmarks, contamination,
the eval command and the exercise solutions."""

import json

import numpy as np
import pytest
import torch

from llm_from_scratch.eval import (
    Item,
    Task,
    build_cloze,
    build_parity,
    build_quotes,
    choice_picks,
    clean_score,
    contamination,
    evaluate_task,
    grade,
    load_jsonl,
    minimum_detectable_difference,
    pass_at_k,
)
from llm_from_scratch.eval.solutions import (
    items_needed,
    mutual_info_pick,
    pass_at_k_by_sampling,
)
from llm_from_scratch.model import ModelConfig, Transformer
from llm_from_scratch.tokenizer import book_tokenizer


@pytest.fixture(scope="module")
def tok():
    return book_tokenizer()


@pytest.fixture(scope="module")
def model(tok):
    torch.manual_seed(0)
    return Transformer(ModelConfig(vocab_size=tok.vocab_size, d_model=32,
                                   n_layers=2, n_heads=2, max_seq_len=64)).eval()


def write(path, *objs):
    path.write_text("".join((o if isinstance(o, str) else json.dumps(o)) + "\n"
                            for o in objs))
    return path


MC = {"type": "multiple_choice", "context": "a", "choices": ["b", "c"], "gold": 1}


@pytest.mark.parametrize("obj, message", [
    ({"type": "multiple_choice", "context": "a", "gold": 0}, "lacks field 'choices'"),
    ({**MC, "gold": "1"}, "field 'gold' must be int"),
    ({**MC, "gold": 2}, "not an index"),
    ({**MC, "choices": ["x"]}, ">= 2 options"),
    ({**MC, "choices": ["x", 3]}, "list of str"),
    ({"type": "cloze"}, "field 'type' must be one of"),
    ({"type": "generate", "target": "x"}, "lacks field 'prompt'"),
    ({"type": "generate", "prompt": "p", "target": "x", "grader": "f"}, "grader"),
    ({"type": "generate", "messages": [{"role": "user"}], "target": "x"}, "messages"),
    ({"type": "rolling"}, "lacks field 'text'"),
    ("[1, 2]", "expected a JSON object"),
    ("{not json", "not valid JSON"),
])
def test_loader_errors_name_file_line_and_field(tmp_path, obj, message):
    path = write(tmp_path / "t.jsonl", MC, "", obj)
    with pytest.raises(ValueError, match=message) as e:
        load_jsonl(path)
    assert f"{path}:3" in str(e.value)


def test_loader_reads_all_types(tmp_path):
    path = write(tmp_path / "t.jsonl", MC, {**MC, "id": "x", "delimiter": ""})
    task = load_jsonl(path)
    assert task.name == "t" and [i.id for i in task.items] == [f"{path}:1", "x"]
    with pytest.raises(FileNotFoundError, match="no task file"):
        load_jsonl(tmp_path / "missing.jsonl")
    with pytest.raises(ValueError, match="mixes item types"):
        Task("m", (Item("a", "rolling", text="x"), Item("b", **{**MC})))
    with pytest.raises(ValueError, match="no items"):
        load_jsonl(write(tmp_path / "e.jsonl", ""))


def test_normalisations_disagree_as_defined():
    # a long option with a higher total but lower per-character score
    ll = np.array([-10.0, -12.0])
    picks = choice_picks(ll, ("ab", "abcdefghij"), np.array([2.0, 6.0]))
    assert picks == {"acc": 0, "acc_norm": 1, "acc_bytes": 1, "acc_token": 1}
    picks = choice_picks(np.array([-3.0, -3.3]), ("éé", "abc"), np.array([1.0, 1.0]))
    assert picks["acc_norm"] == 1 and picks["acc_bytes"] == 0  # é is 2 bytes


def test_evaluate_multiple_choice_and_empty_choice(model, tok):
    items = tuple(Item(f"i{n}", "multiple_choice", context="To be or not",
                       choices=(" to be", " a fish", " ok"), gold=0, delimiter="")
                  for n in range(5))
    r = evaluate_task(model, tok, Task("t", items), batch_size=2)
    assert set(r.metrics) == {"acc", "acc_norm", "acc_bytes", "acc_token"}
    assert r.n_items == 5 and all(len(v) == 5 for v in r.per_item.values())
    acc, se = r.metrics["acc"]
    assert acc in (0.0, 1.0) and se == 0.0  # five copies of one item
    bad = Task("t", (Item("hollow", "multiple_choice", context="x", choices=("", "y"),
                          gold=0, delimiter=""),))
    with pytest.raises(ValueError, match="item hollow: choice '' tokenizes to nothing"):
        evaluate_task(model, tok, bad)
    assert evaluate_task(model, tok, Task("t", items), limit=2).n_items == 2


def test_long_items_are_skipped_and_counted(model, tok):
    long = Item("long", "multiple_choice", context="x",
                choices=("y " * 100, "z"), gold=1)
    r = evaluate_task(model, tok, Task("t", (long, Item("ok", **MC))))
    assert r.n_items == 1 and r.skipped[0][0] == "long"
    gen = Item("g", "generate", prompt="x " * 70, target="y", max_new_tokens=4)
    with pytest.raises(ValueError, match="every item was skipped .item g: prompt"):
        evaluate_task(model, tok, Task("g", (gen,)))


def test_generate_and_grade(model, tok):
    item = Item("g", "generate", prompt="Once upon a time", target="x",
                max_new_tokens=6)
    r = evaluate_task(model, tok, Task("g", (item,)))
    assert r.metrics["exact_match"][0] == 0.0 and len(r.outputs) == 1
    assert grade(Item("a", "generate", prompt="p", target="odd"), " Odd.") == 1.0
    assert grade(Item("a", "generate", prompt="p", target="#### 12",
                      grader="gsm8k"), "so 12") == 1.0
    assert grade(Item("a", "generate", prompt="p", target="B", grader="choice"),
                 "The answer is (b)") == 1.0


def test_parity_benchmark_and_chat_prompt(model, tok):
    task = build_parity([(4, 7), (1, 2)])
    assert [i.target for i in task.items] == ["odd", "even"]
    assert task.items[0].messages == (("user", "Even or odd: 47"),)
    r = evaluate_task(model, tok, task)
    assert r.n_items == 2 and "parity" in task.card
    assert len(build_parity().items) == 27


DOCS = [" ".join(f"w{d}x{i}" for i in range(400)) for d in range(6)]


def test_cloze_is_deterministic_and_well_formed():
    a, b = build_cloze(DOCS, n_items=30), build_cloze(DOCS, n_items=30)
    assert a == b and len(a.items) == 30
    for item in a.items:
        assert len(set(item.choices)) == 4
        doc = item.context.split()[0].split("x")[0]
        assert item.choices[item.gold].split()[0].startswith(doc)  # true next words
        assert sum(c.split()[0].startswith(doc) for c in item.choices) == 1
    with pytest.raises(ValueError, match=">= 4 documents"):
        build_cloze(DOCS[:3])


def test_quotes_are_mmlu_format():
    works = [(f"play_{n}", "\n".join(f"line {n} {i} of the play here" for i in
                                     range(50))) for n in range(5)]
    task = build_quotes(works, n_items=20)
    item = task.items[0]
    assert item.choices == ("A", "B", "C", "D") and item.context.endswith("\nAnswer:")
    gold_title = item.meta["work"].replace("_", " ").title()
    assert f"\n{'ABCD'[item.gold]}. {gold_title}\n" in item.context


def test_contamination_flags_copied_items():
    training = [DOCS[0], DOCS[1]]
    task = build_cloze(DOCS, n_items=40)
    report = contamination(task, training)
    from_training = np.array([i.context.startswith(("w0x", "w1x")) for i in task.items])
    assert (report.dirty == from_training).all()
    scores = np.arange(40) % 2
    mean, se, n = clean_score(scores, report)
    assert n == int((~from_training).sum()) and 0 <= mean <= 1
    short = contamination(build_parity([(4, 7)]), training)
    assert short.summary()["checkable"] == 0


def test_eval_command(tmp_path, capsys, model, tok):
    from llm_from_scratch.cli import main
    from llm_from_scratch.train import TrainConfig, save_checkpoint

    ckpt = save_checkpoint(tmp_path / "ck", model, None, 1, TrainConfig().to_dict(),
                           model_config=model.config.to_dict())
    data = write(tmp_path / "t.jsonl", MC, {**MC, "gold": 0})
    out = tmp_path / "r.json"
    assert main(["eval", "--checkpoint", str(ckpt), "--task", str(data),
                 "--output", str(out), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "| acc_norm |" in printed and "stderr" in printed
    result = json.loads(out.read_text())
    assert result["n_items"] == 2 and "acc" in result["metrics"]
    assert main(["eval", "--checkpoint", str(ckpt), "--task", str(data),
                 "--mutual-info", "--no-progress"]) == 0
    assert "| acc_mutual_info |" in capsys.readouterr().out
    assert main(["eval", "--checkpoint", str(ckpt), "--task", "nope"]) == 2
    assert "unknown task 'nope'" in capsys.readouterr().err
    assert main(["eval", "--checkpoint", str(tmp_path / "none"), "--task",
                 str(data)]) == 2
    assert "does not exist" in capsys.readouterr().err
    bad = write(tmp_path / "bad.jsonl", {"type": "multiple_choice"})
    assert main(["eval", "--checkpoint", str(ckpt), "--task", str(bad)]) == 2
    assert "bad.jsonl:1" in capsys.readouterr().err


def test_solutions(model, tok):
    for n, c, k in [(10, 2, 3), (5, 0, 2), (8, 8, 1), (20, 3, 10)]:
        assert pass_at_k_by_sampling(n, c, k, draws=20000) == pytest.approx(
            pass_at_k(n, c, k), abs=0.015)
    n = items_needed(0.05)
    assert minimum_detectable_difference(n) <= 0.05 < \
        minimum_detectable_difference(n - 1)
    item = Item("m", "multiple_choice", context="To be or not", choices=("to", "a"),
                gold=0)
    assert mutual_info_pick(model, tok, item) in (0, 1)


def test_cached_evaluate_returns_the_same(tmp_path, monkeypatch, model, tok):
    from llm_from_scratch.eval import cached_evaluate

    monkeypatch.setenv("LLMFS_CACHE", str(tmp_path))
    task = Task("t", (Item("a", **MC), Item("b", **{**MC, "gold": 0})))
    first = cached_evaluate(model, tok, task)
    assert list(tmp_path.rglob("*.json"))
    second = cached_evaluate(model, tok, task)
    assert second.metrics == first.metrics and second.per_item == first.per_item


def test_cloze_unmatched_lengths_vary():
    task = build_cloze(DOCS, n_items=30, continuation_words=(2, 12),
                       match_length=False, name="mixed")
    lengths = {len(c.split()) for i in task.items for c in i.choices}
    assert min(lengths) <= 3 and max(lengths) >= 11
    assert task.items[0].id.startswith("mixed-") and "at random" in task.card


def test_mutual_info_matches_the_solution(model, tok):
    items = tuple(Item(f"i{n}", "multiple_choice", context=c,
                       choices=("the king", "a fish of the sea", "and"), gold=g)
                  for n, (c, g) in enumerate([("Long live", 0), ("He caught", 1),
                                              ("Bread", 2)]))
    r = evaluate_task(model, tok, Task("t", items), mutual_info=True)
    picks = [mutual_info_pick(model, tok, i, prefix="") for i in items]
    assert r.per_item["acc_mutual_info"] == [float(p == i.gold)
                                             for p, i in zip(picks, items)]
