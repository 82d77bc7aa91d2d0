"""``llm-from-scratch tokenizer train|encode|decode``: the tokenizer from a shell.

    llm-from-scratch tokenizer train corpus.txt --vocab-size 4096 -o my.tok
    echo "To be" | llm-from-scratch tokenizer encode --tokenizer my.tok
    echo "2514 387" | llm-from-scratch tokenizer decode --tokenizer my.tok

``--tokenizer book`` (the default) uses the book's cached tokenizer.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from llm_from_scratch.tokenizer.book import BOOK_SPECIAL_TOKENS, book_tokenizer
from llm_from_scratch.tokenizer.tokenizer import Tokenizer
from llm_from_scratch.tokenizer.train import train_bpe


def _load(name: str) -> Tokenizer:
    return book_tokenizer() if name == "book" else Tokenizer.load(name)


def _read_text(args: argparse.Namespace) -> str:
    if args.text is not None:
        return args.text
    if args.input is not None:
        return Path(args.input).read_text(encoding="utf-8")
    return sys.stdin.read()


def cmd_train(args: argparse.Namespace) -> int:
    missing = [p for p in args.inputs if not Path(p).is_file()]
    if missing:
        raise SystemExit(f"error: no such file: {missing[0]}")
    texts = [Path(p).read_text(encoding="utf-8") for p in args.inputs]
    vocab, merges = train_bpe(
        texts, args.vocab_size, args.special, args.pattern, progress=not args.quiet
    )
    tokenizer = Tokenizer.from_vocab(vocab, args.special, args.pattern)
    tokenizer.save(args.output)
    print(f"{len(merges)} merges, vocab_size {tokenizer.vocab_size} -> {args.output}")
    return 0


def cmd_encode(args: argparse.Namespace) -> int:
    tokenizer = _load(args.tokenizer)
    text = _read_text(args)
    ids = tokenizer.encode_ordinary(text) if args.ordinary else tokenizer.encode(text)
    print(" ".join(map(str, ids)))
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
