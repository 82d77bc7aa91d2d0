"""``llm-from-scratch tokenizer train|encode|decode``: the tokenizer from a shell.

    llm-from-scratch tokenizer train corpus.txt --vocab-size 4096 -o my.tok
    echo "To be" | llm-from-scratch tokenizer encode --tokenizer my.tok
    echo "2514 387" | llm-from-scratch tokenizer decode --tokenizer my.tok

``--tokenizer book`` (the default) uses the book's cached tokenizer. Training
and ``encode --input`` show a progress bar on a terminal; ``encode`` streams
its input, so a file larger than memory can be encoded.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Iterator
from itertools import islice
from pathlib import Path

from tqdm import tqdm

from llm_from_scratch.tokenizer.book import BOOK_SPECIAL_TOKENS, book_tokenizer
from llm_from_scratch.tokenizer.tokenizer import Tokenizer
from llm_from_scratch.tokenizer.train import train_bpe


def _load(name: str) -> Tokenizer:
    return book_tokenizer() if name == "book" else Tokenizer.load(name)


def _file_lines(path: str) -> Iterator[str]:
    """A file's lines, as written (no newline translation), with a progress bar."""
    if not Path(path).is_file():
        raise SystemExit(f"error: no such file: {path}")
    size = Path(path).stat().st_size
    bar = tqdm(total=size, unit="B", unit_scale=True, disable=not sys.stderr.isatty())
    with open(path, encoding="utf-8", newline="") as file, bar:
        for line in file:
            bar.update(len(line.encode("utf-8")))
            yield line


def cmd_train(args: argparse.Namespace) -> int:
    missing = [p for p in args.inputs if not Path(p).is_file()]
    if missing:
        raise SystemExit(f"error: no such file: {missing[0]}")
    paths = [Path(p) for p in args.inputs]  # streamed, counted in parallel
    try:
        vocab, merges = train_bpe(
            paths, args.vocab_size, args.special, args.pattern, progress=not args.quiet
        )
    except ValueError as err:  # not UTF-8, vocab_size too small or too large
        raise SystemExit(f"error: {err}") from None
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
        texts = _file_lines(args.input)  # streamed: files larger than memory
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
        raise SystemExit("error: ids must be whitespace-separated integers") from None
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
    commands.choices["decode"].add_argument("--ids", help="ids (default: stdin)")
