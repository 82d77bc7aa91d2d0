"""The ``tokenizer`` command line: train, encode, decode through ``cli.main``."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from llm_from_scratch.cli import main
from llm_from_scratch.tokenizer import BOOK_SPECIAL_TOKENS, Tokenizer


def test_train_encode_decode(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("to be or not to be, that is the question\n" * 30)
    model = tmp_path / "small.tok"
    args = ["tokenizer", "train", str(corpus), "--vocab-size", "280", "-o", str(model)]
    assert main([*args, "-q"]) == 0
    assert "vocab_size 280" in capsys.readouterr().out
    tok = Tokenizer.load(model)
    assert tok.vocab_size == 280 and tok.eot_id == 275

    assert main(["tokenizer", "encode", "--tokenizer", str(model),
                 "--text", "to be<|endoftext|>"]) == 0
    ids = capsys.readouterr().out.split()
    assert [int(i) for i in ids] == tok.encode("to be<|endoftext|>")
    assert int(ids[-1]) == tok.eot_id

    assert main(["tokenizer", "decode", "--tokenizer", str(model),
                 "--ids", " ".join(ids)]) == 0
    assert capsys.readouterr().out == "to be<|endoftext|>"


def test_encode_ordinary_and_file_input(tmp_path: Path, capsys) -> None:
    corpus = tmp_path / "c.txt"
    corpus.write_text("abc abc abd<|user|>" * 10)
    model = tmp_path / "m.tok"
    main(["tokenizer", "train", str(corpus), "--vocab-size", "265", "-o", str(model),
          "-q"])
    capsys.readouterr()
    main(["tokenizer", "encode", "--tokenizer", str(model), "--input", str(corpus),
          "--ordinary"])
    ids = [int(i) for i in capsys.readouterr().out.split()]
    assert ids == Tokenizer.load(model).encode_ordinary(corpus.read_text())
    big = tmp_path / "big.txt"  # many lines and more ids than one output batch
    big.write_text("abc abd, abc!\n" * 5000)
    main(["tokenizer", "encode", "--tokenizer", str(model), "--input", str(big)])
    ids = [int(i) for i in capsys.readouterr().out.split()]
    assert ids == Tokenizer.load(model).encode(big.read_text())


def test_train_streams_several_files(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Files go through ``read_chunks`` (cut at specials, counted in parallel),
    never ``read_text``; each file is one document; a progress bar is shown."""
    import llm_from_scratch.tokenizer.train as train_module
    from llm_from_scratch.tokenizer import train_bpe

    texts = [
        "to be or not to be<|endoftext|>that is the question, whether " * 20,
        "tis nobler in the mind\r\nto suffer the slings and arrows " * 20,
    ]
    paths = []
    for i, text in enumerate(texts):
        paths.append(tmp_path / f"part{i}.txt")
        paths[-1].write_bytes(text.encode("utf-8"))  # keep \r\n as is
    streamed: list[Path] = []
    real_read_chunks = train_module.read_chunks

    def spy(path, special_tokens=(), *args, **kwargs):
        streamed.append(Path(path))
        assert "<|endoftext|>" in special_tokens
        return real_read_chunks(path, special_tokens, *args, **kwargs)

    def no_whole_reads(self, *args, **kwargs):
        raise AssertionError(f"{self} was read whole")

    monkeypatch.setattr(train_module, "read_chunks", spy)
    monkeypatch.setattr(Path, "read_text", no_whole_reads)
    model = tmp_path / "two.tok"
    args = ["tokenizer", "train", *map(str, paths), "--vocab-size", "290", "-o",
            str(model)]
    assert main(args) == 0
    assert capsys.readouterr().err == ""  # not a terminal: no progress bars
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    streamed.clear()
    assert main(args) == 0
    assert streamed == paths
    err = capsys.readouterr().err
    assert "counting" in err and "merges" in err  # the progress bars
    monkeypatch.undo()
    vocab, _ = train_bpe(texts, 290, BOOK_SPECIAL_TOKENS)  # one document per file
    assert Tokenizer.load(model).vocab == vocab
    assert train_bpe(paths, 290, BOOK_SPECIAL_TOKENS)[0] == vocab


def _fails(args: list[str], match: str, capsys: pytest.CaptureFixture) -> None:
    """A user error: exit code 2 and one ``error:`` line on stderr, no traceback."""
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and match in err and "Traceback" not in err


def test_errors(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    _fails(["tokenizer", "train", str(tmp_path / "missing.txt"),
            "--vocab-size", "300", "-o", str(tmp_path / "x.tok")], "no such file",
           capsys)
    _fails(["tokenizer", "encode", "--input", str(tmp_path / "missing.txt")],
           "no such file", capsys)
    _fails(["tokenizer", "decode", "--tokenizer", "book", "--ids", "1 two"],
           "integers", capsys)
    with pytest.raises(SystemExit):
        main(["tokenizer"])  # a subcommand is required
    assert "required" in capsys.readouterr().err
    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes("caf\u00e9 au lait".encode("latin-1"))
    _fails(["tokenizer", "train", str(latin1), "--vocab-size", "300", "-o",
            str(tmp_path / "x.tok"), "-q"], "not valid UTF-8", capsys)
    small = tmp_path / "small.txt"
    small.write_text("to be or not to be")
    _fails(["tokenizer", "train", str(small), "--vocab-size", "100", "-o",
            str(tmp_path / "x.tok"), "-q"], "vocab_size must be >= 256", capsys)
    assert not (tmp_path / "x.tok").exists()  # nothing half-written
