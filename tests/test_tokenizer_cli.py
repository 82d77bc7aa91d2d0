"""The ``tokenizer`` command line: train, encode, decode through ``cli.main``."""

from __future__ import annotations

from pathlib import Path

import pytest

from llm_from_scratch.cli import main
from llm_from_scratch.tokenizer import Tokenizer


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


def test_errors(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="no such file"):
        main(["tokenizer", "train", str(tmp_path / "missing.txt"),
              "--vocab-size", "300", "-o", str(tmp_path / "x.tok")])
    with pytest.raises(SystemExit, match="no such file"):
        main(["tokenizer", "encode", "--input", str(tmp_path / "missing.txt")])
    with pytest.raises(SystemExit, match="integers"):
        main(["tokenizer", "decode", "--tokenizer", "book", "--ids", "1 two"])
    with pytest.raises(SystemExit):
        main(["tokenizer"])  # a subcommand is required
