"""Stand-ins for the alignment tests: a byte tokenizer with the chat special tokens
and a tiny randomly initialised model, so each test runs in milliseconds and
depends on no cached artifact."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import pytest
import torch

from llm_from_scratch.align.chat import CHAT_SPECIALS
from llm_from_scratch.model import ModelConfig, Transformer


class ByteChatTokenizer:
    """Bytes are ids 0-255, the five chat special tokens 256-260."""

    def __init__(self) -> None:
        self.special_tokens = {s: 256 + i for i, s in enumerate(CHAT_SPECIALS)}
        self.inverse = {i: s for s, i in self.special_tokens.items()}
        self.vocab_size = 256 + len(CHAT_SPECIALS)
        self.eot_id = self.special_tokens["<|endoftext|>"]

    def encode_ordinary(self, text: str) -> list[int]:
        return list(text.encode("utf-8"))

    def decode(self, ids: Sequence[int]) -> str:
        out, buf = [], bytearray()
        for i in ids:
            if i in self.inverse:
                out.append(buf.decode("utf-8", errors="replace"))
                buf = bytearray()
                out.append(self.inverse[i])
            else:
                buf.append(i)
        out.append(buf.decode("utf-8", errors="replace"))
        return "".join(out)


def tiny_model(seed: int = 0, vocab_size: int = 261) -> Transformer:
    torch.manual_seed(seed)
    config = ModelConfig(
        vocab_size=vocab_size, d_model=32, n_layers=1, n_heads=2, max_seq_len=256
    )
    return Transformer(config)


def test_byte_tokenizer_round_trip() -> None:
    tok = ByteChatTokenizer()
    text = "caf\u00e9 <|user|>"
    assert tok.decode(tok.encode_ordinary(text)) == text
    assert tok.decode([tok.special_tokens["<|end|>"]]) == "<|end|>"


@pytest.fixture(autouse=True)
def single_thread() -> Iterator[None]:
    """Tiny models run fastest on one thread (and do not fight other processes)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
