"""``llm-from-scratch tokenizer train|encode|decode``: the tokenizer from a shell.

    llm-from-scratch tokenizer train corpus.txt --vocab-size 4096 -o my.tok
    echo "To be" | llm-from-scratch tokenizer encode --tokenizer my.tok
    echo "2514 387" | llm-from-scratch tokenizer decode --tokenizer my.tok

``--tokenizer book`` (the default) uses the book's cached tokenizer. Training
takes text files, ``.jsonl`` files or a ``curate --out`` folder. Training
and ``encode --input`` show a progress bar on a terminal; ``encode`` streams
its input in 1 MiB pieces, so a file larger than memory can be encoded.
"""

from __future__ import annotations

import argparse
import codecs
import json
import sys
from collections.abc import Iterable, Iterator
from itertools import islice
from pathlib import Path

from tqdm import tqdm

from llm_from_scratch.tokenizer.book import BOOK_SPECIAL_TOKENS, book_tokenizer
from llm_from_scratch.tokenizer.tokenizer import Tokenizer
from llm_from_scratch.tokenizer.train import train_bpe


def _load(name: str) -> Tokenizer:
    if name == "book":
        return book_tokenizer()
    if not Path(name).is_file():
        raise FileNotFoundError(f"--tokenizer {name} does not exist")
    return Tokenizer.load(name)


CHUNK_BYTES = 1 << 20  # encode --input reads 1 MiB at a time, whatever the lines


def _file_chunks(path: str, errors: str = "strict") -> Iterator[str]:
    """A file's text in bounded pieces (a single 47 MB line never sits in memory
    whole), with a progress bar on a terminal. Invalid UTF-8 is an error naming
    the file and the byte offset, unless ``errors="replace"``."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"no such file: {path}")
    decoder = codecs.getincrementaldecoder("utf-8")(errors)
    size = Path(path).stat().st_size
    bar = tqdm(total=size, unit="B", unit_scale=True, disable=not sys.stderr.isatty())
    offset = 0  # bytes handed to the decoder before this piece
    with open(path, "rb") as file, bar:
        while True:
            raw = file.read(CHUNK_BYTES)
            held = len(decoder.getstate()[0])  # an unfinished character, carried
            try:
                text = decoder.decode(raw, final=not raw)
            except UnicodeDecodeError as e:
                raise ValueError(
                    f"{path} is not valid UTF-8 at byte {offset - held + e.start}; "
                    "--errors replace decodes it with U+FFFD"
                ) from None
            offset += len(raw)
            bar.update(len(raw))
            if text:
                yield text
            if not raw:
                return


def _training_texts(paths: list[Path]) -> Iterator[str]:
    """Documents of text files, ``.jsonl`` files (their ``text`` field) and
    ``curate`` output folders (their ``curated.jsonl``)."""
    for path in paths:
        if path.is_dir():
            path = path / "curated.jsonl"
        if path.suffix != ".jsonl":
            yield path.read_text(encoding="utf-8")
            continue
        with open(path, encoding="utf-8") as f:
            for n, line in enumerate(f, start=1):
                if line.strip():
                    record = json.loads(line)
                    if not isinstance(record, dict) or not isinstance(
                        record.get("text"), str
                    ):
                        raise ValueError(f"{path}:{n} has no string field 'text'")
                    yield record["text"]


def _corpus_path(name: str) -> Path:
    path = Path(name)
    if not path.exists():
        raise FileNotFoundError(f"no such file: {path}")
    if path.is_dir() and not (path / "curated.jsonl").is_file():
        raise FileNotFoundError(f"{path} is a folder without curated.jsonl: give text "
                                "files, .jsonl files or a `curate --out` folder")
    return path


def cmd_train(args: argparse.Namespace) -> int:
    paths = [_corpus_path(p) for p in args.inputs]
    if Path(args.output).is_dir():
        raise IsADirectoryError(f"-o {args.output} is a folder; give a file name")
    corpus: list[Path] | Iterator[str] = paths  # text files: streamed in parallel
    if any(p.is_dir() or p.suffix == ".jsonl" for p in paths):
        corpus = _training_texts(paths)
    vocab, merges = train_bpe(  # ValueError: not UTF-8, vocab_size out of range
        corpus, args.vocab_size, args.special, args.pattern,
        progress=not args.quiet and sys.stderr.isatty(),
    )
    tokenizer = Tokenizer.from_vocab(vocab, args.special, args.pattern)
    tokenizer.save(args.output)
    print(f"{len(merges)} merges, vocab_size {tokenizer.vocab_size} -> {args.output}")
    return 0


def cmd_encode(args: argparse.Namespace) -> int:
    tokenizer = _load(args.tokenizer)
    allowed: str | set[str] = set() if args.ordinary else "all"
    if args.text is not None:
        texts: Iterable[str] = [args.text]
    elif args.input is not None:
        texts = _file_chunks(args.input, args.errors)  # bounded memory
    else:
        texts = sys.stdin
    ids = iter(tokenizer.encode_iterable(texts, allowed_special=allowed))
    separator = ""
    while batch := list(islice(ids, 1 << 14)):  # written as they come
        sys.stdout.write(separator + " ".join(map(str, batch)))
        separator = " "
    sys.stdout.write("\n")
    return 0


def cmd_decode(args: argparse.Namespace) -> int:
    tokenizer = _load(args.tokenizer)
    raw = args.ids if args.ids is not None else sys.stdin.read()
    try:
        ids = [int(x) for x in raw.split()]
    except ValueError:
        raise ValueError("ids must be whitespace-separated integers") from None
    sys.stdout.write(tokenizer.decode(ids))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("tokenizer", help="train, encode, decode (BPE)")
    commands = parser.add_subparsers(dest="tokenizer_command", required=True)

    train = commands.add_parser("train", help="train byte-level BPE on text files")
    train.add_argument("inputs", nargs="+", help="UTF-8 text files (one document each)")
    train.add_argument("--vocab-size", type=int, required=True)
    train.add_argument("-o", "--output", required=True, help="where to save (.tok)")
    train.add_argument(
        "--special", nargs="*", default=BOOK_SPECIAL_TOKENS, help="special tokens"
    )
    train.add_argument("--pattern", default="gpt4", help="gpt2, gpt4 or a regex")
    train.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    train.set_defaults(func=cmd_train)

    for name, func in (("encode", cmd_encode), ("decode", cmd_decode)):
        sub = commands.add_parser(name, help=f"{name} with a saved tokenizer")
        sub.add_argument("--tokenizer", default="book", help="a .tok file or 'book'")
        sub.set_defaults(func=func)
    encode = commands.choices["encode"]
    source = encode.add_mutually_exclusive_group()
    source.add_argument("--text", help="text to encode (default: stdin)")
    source.add_argument("--input", help="file to encode")
    encode.add_argument(
        "--ordinary", action="store_true", help="treat special-token text as text"
    )
    encode.add_argument(
        "--errors", choices=("strict", "replace"), default="strict",
        help="invalid UTF-8 in --input: an error (strict) or U+FFFD (replace)",
    )
    commands.choices["decode"].add_argument("--ids", help="ids (default: stdin)")
