"""Saving and loading tokenizers as plain text, and reading GPT-2-style files.

The book's format (``.tok``) is tiktoken's ``.tiktoken`` format with a header:

    llm-from-scratch-bpe 1
    {"name": "...", "pattern": "...", "special_tokens": {"<|endoftext|>": 4091}}
    IA== 32
    ...

Line 1 names the format and its version; line 2 is one JSON object; every
further line is a token's bytes in base64, a space and its id. Plain text is
diffable, needs no pickle and cannot execute anything when read.

GPT-2 (and Hugging Face byte-level BPE) ships ``vocab.json`` (token string to
id) and ``merges.txt``; their token strings map each byte to a printable
character (``bytes_to_unicode``) so that JSON can hold arbitrary bytes.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

from llm_from_scratch.tokenizer.pretokenize import GPT2_PATTERN

if TYPE_CHECKING:
    from llm_from_scratch.tokenizer.tokenizer import Tokenizer

MAGIC = "llm-from-scratch-bpe"
VERSION = 1


def save_tokenizer(tokenizer: Tokenizer, path: Path) -> Path:
    """Write ``tokenizer`` atomically (a reader never sees half a file)."""
    header = {
        "name": tokenizer.name,
        "pattern": tokenizer.pattern,
        "special_tokens": tokenizer.special_tokens,
    }
    lines = [f"{MAGIC} {VERSION}", json.dumps(header, ensure_ascii=True)]
    for token, rank in sorted(tokenizer.ranks.items(), key=lambda kv: kv[1]):
        lines.append(f"{base64.b64encode(token).decode('ascii')} {rank}")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text("\n".join(lines) + "\n", encoding="ascii")
    os.replace(tmp, path)
    return path


def load_tokenizer(path: Path) -> Tokenizer:
    """Read a ``.tok`` file, naming the line of any corruption."""
    from llm_from_scratch.tokenizer.tokenizer import Tokenizer

    if not path.is_file():
        raise FileNotFoundError(f"tokenizer file {path} does not exist")
    try:
        lines = path.read_text(encoding="ascii").splitlines()
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not a tokenizer file (non-ASCII bytes)") from None
    if not lines or lines[0] != f"{MAGIC} {VERSION}":
        raise ValueError(f"{path}: line 1 must be '{MAGIC} {VERSION}'")
    try:
        header = json.loads(lines[1])
        name, pattern = header["name"], header["pattern"]
        specials = {str(k): int(v) for k, v in header["special_tokens"].items()}
    except (IndexError, json.JSONDecodeError, KeyError, TypeError, AttributeError):
        raise ValueError(f"{path}: line 2 must be the JSON header") from None
    ranks: dict[bytes, int] = {}
    for number, line in enumerate(lines[2:], start=3):
        try:
            encoded, rank = line.split(" ")
            token = base64.b64decode(encoded, validate=True)
            ranks[token] = int(rank)
        except (ValueError, binascii.Error):
            raise ValueError(f"{path}: line {number} is not '<base64> <id>'") from None
    if len(ranks) != len(lines) - 2:
        raise ValueError(f"{path}: the same token bytes appear on two lines")
    return Tokenizer(ranks, specials, pattern, name)


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's map from each byte to a printable character.

    Printable Latin-1 bytes map to themselves; the other 68 bytes (controls,
    space, ...) map to characters from U+0100 on, in byte order.
    """
    printable = [
        *range(ord("!"), ord("~") + 1),
        *range(ord("\u00a1"), ord("\u00ac") + 1),
        *range(ord("\u00ae"), ord("\u00ff") + 1),
    ]
    mapping, extra = {}, 0
    for b in range(256):
        if b in printable:
            mapping[b] = chr(b)
        else:
            mapping[b] = chr(256 + extra)
            extra += 1
    return mapping


def load_gpt2_files(
    vocab_json: str | os.PathLike,
    merges_txt: str | os.PathLike,
    special_tokens: tuple[str, ...] = ("<|endoftext|>",),
    pattern: str = GPT2_PATTERN,
) -> Tokenizer:
    """A ``Tokenizer`` from GPT-2-style ``vocab.json`` + ``merges.txt``.

    Our encoder merges by rank (token id), so the ids of merged tokens must
    follow the order of ``merges.txt``; this is checked, not assumed.
    """
    from llm_from_scratch.tokenizer.tokenizer import Tokenizer

    decode = {c: b for b, c in bytes_to_unicode().items()}
    encoder = json.loads(Path(vocab_json).read_text(encoding="utf-8"))
    if not isinstance(encoder, dict):
        raise ValueError(f"{vocab_json}: expected a JSON object of token -> id")
    ranks: dict[bytes, int] = {}
    specials: dict[str, int] = {}
    for text, token_id in encoder.items():
        if text in special_tokens:
            specials[text] = int(token_id)
            continue
        try:
            ranks[bytes(decode[c] for c in text)] = int(token_id)
        except KeyError:
            raise ValueError(
                f"{vocab_json}: token {text!r} is not byte-level"
            ) from None
    merge_lines = Path(merges_txt).read_text(encoding="utf-8").splitlines()
    last = -1
    for number, line in enumerate(merge_lines, start=1):
        if not line or line.startswith("#version"):
            continue
        parts = line.split(" ")
        if len(parts) != 2:
            raise ValueError(f"{merges_txt}: line {number} is not 'left right'")
        merged = bytes(decode[c] for c in parts[0] + parts[1])
        if merged not in ranks or ranks[merged] <= last:
            raise ValueError(
                f"{merges_txt}: line {number}: {line!r} is missing from vocab.json "
                "or its id is out of merge order"
            )
        last = ranks[merged]
    return Tokenizer(ranks, specials, pattern, Path(vocab_json).stem)
