"""Saving and loading tokenizers as plain text, and reading GPT-2-style files.

The book's format (``.tok``) is tiktoken's ``.tiktoken`` format with a header:

    llm-from-scratch-bpe 2
    {"name": "...", "pattern": "...", "special_tokens": {"<|endoftext|>": 4091},
     "tokens": 4091, "sha256": "9f2c..."}
    IA== 32
    ...

Line 1 names the format and its version; line 2 is one JSON object (one line
in the file, wrapped here); every further line is a token's bytes in base64, a
space and its id. Plain text is diffable, needs no pickle and cannot execute
anything when read.

Version 2 adds ``tokens`` (how many token lines follow) and ``sha256`` (of
those lines, each ending in ``\n``): a file cut at a line boundary would
otherwise load as a valid but smaller vocabulary, silently changing every id
after the cut. Version 1 files (no count, no checksum) still load.

GPT-2 (and Hugging Face byte-level BPE) ships ``vocab.json`` (token string to
id) and ``merges.txt``; their token strings map each byte to a printable
character (``bytes_to_unicode``) so that JSON can hold arbitrary bytes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from llm_from_scratch.tokenizer.pretokenize import GPT2_PATTERN

if TYPE_CHECKING:
    from llm_from_scratch.tokenizer.tokenizer import Tokenizer

MAGIC = "llm-from-scratch-bpe"
VERSION = 2
READABLE_VERSIONS = (1, 2)


def _checksum(token_lines: list[str]) -> str:
    """SHA-256 of the token lines, each with ``\n`` (line endings normalised)."""
    digest = hashlib.sha256()
    for line in token_lines:
        digest.update(line.encode("ascii") + b"\n")
    return digest.hexdigest()


def save_tokenizer(tokenizer: Tokenizer, path: Path) -> Path:
    """Write ``tokenizer`` atomically (a reader never sees half a file)."""
    ranked = sorted(tokenizer.ranks.items(), key=lambda kv: kv[1])
    body = [f"{base64.b64encode(t).decode('ascii')} {rank}" for t, rank in ranked]
    header = {
        "name": tokenizer.name,
        "pattern": tokenizer.pattern,
        "special_tokens": tokenizer.special_tokens,
        "tokens": len(body),
        "sha256": _checksum(body),
    }
    lines = [f"{MAGIC} {VERSION}", json.dumps(header, ensure_ascii=True), *body]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text("\n".join(lines) + "\n", encoding="ascii")
    os.replace(tmp, path)
    return path


def _read_version(path: Path, first_line: str) -> int:
    magic, _, version = first_line.partition(" ")
    if magic != MAGIC or not version.isdigit():
        raise ValueError(f"{path}: line 1 must be '{MAGIC} <version>'")
    if int(version) not in READABLE_VERSIONS:
        raise ValueError(
            f"{path}: format version {version} is not one of {READABLE_VERSIONS} "
            "(written by a newer llm_from_scratch?)"
        )
    return int(version)


def _verify(path: Path, header: dict, token_lines: list[str]) -> None:
    """Version 2: the file must hold exactly the token lines the header promises."""
    try:
        expected, checksum = int(header["tokens"]), str(header["sha256"])
    except (KeyError, TypeError, ValueError):
        raise ValueError(f"{path}: line 2 lacks 'tokens' and 'sha256'") from None
    if len(token_lines) != expected:
        raise ValueError(
            f"{path}: the header promises {expected} token lines, the file has "
            f"{len(token_lines)} (truncated or edited)"
        )
    if _checksum(token_lines) != checksum:
        raise ValueError(
            f"{path}: sha256 of the token lines does not match the header "
            "(the file was edited or damaged)"
        )


def load_tokenizer(path: Path) -> Tokenizer:
    """Read a ``.tok`` file, naming the line of any corruption."""
    from llm_from_scratch.tokenizer.tokenizer import Tokenizer

    if not path.is_file():
        raise FileNotFoundError(f"tokenizer file {path} does not exist")
    try:
        lines = path.read_text(encoding="ascii").splitlines()
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not a tokenizer file (non-ASCII bytes)") from None
    version = _read_version(path, lines[0] if lines else "")
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
    if version >= 2:
        _verify(path, header, lines[2:])
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


def _split_below(token: bytes, ranks: Mapping[bytes, int], limit: int) -> list[bytes]:
    """BPE of ``token`` with only the merges ranked below ``limit``."""
    parts = [token[i : i + 1] for i in range(len(token))]
    while len(parts) > 1:
        best = min(
            (
                (ranks.get(parts[i] + parts[i + 1], limit), i)
                for i in range(len(parts) - 1)
            ),
        )
        if best[0] >= limit:
            break
        i = best[1]
        parts[i : i + 2] = [parts[i] + parts[i + 1]]
    return parts


def merges_from_ranks(ranks: Mapping[bytes, int]) -> list[tuple[bytes, bytes]]:
    """The ordered merge list behind ranks.

    tiktoken-style ranks store no merge list, but GPT-2's ``merges.txt``, a
    ``tokenizer.json`` and GGUF need one. Each multi-byte token was made by
    merging two earlier tokens; encoding its bytes with only the earlier merges
    stops at exactly those two parts.
    """
    merges = []
    for token, rank in sorted(ranks.items(), key=lambda kv: kv[1]):
        if len(token) < 2:
            continue
        parts = _split_below(token, ranks, rank)
        if len(parts) != 2:
            raise ValueError(f"token {token!r} (rank {rank}) is not one merge")
        merges.append((parts[0], parts[1]))
    return merges
