"""``llm-from-scratch chat``: talk to a model in the terminal, token by token.

Lines typed (or piped) on stdin are user turns; ``/reset`` starts a new
conversation and ``/quit`` (or end of input) leaves. The reply is streamed as it
is sampled. When the conversation outgrows the model's context, its oldest
exchanges are dropped (and a note says so).

``--prompts-file F`` is the batch mode: every non-blank line of ``F`` is a
separate one-turn conversation, and the replies are printed one per line, in
order, with nothing else, so that a script can pair them with the prompts.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from llm_from_scratch.align.chat import END, ChatTokenizer, Message, encode_chat


@dataclass(frozen=True)
class ChatSettings:
    """Sampling settings of the chat (see the Training chapter on sampling)."""

    max_new_tokens: int = 64
    temperature: float = 0.8
    top_k: int | None = 50
    top_p: float | None = None
    system: str | None = None
    seed: int = 0


def stream_text(tok: ChatTokenizer, ids: Iterable[int], stop_id: int) -> Iterator[str]:
    """Decode a token stream into text pieces. A multi-byte character split across
    tokens is held back until complete, so no replacement character is printed."""
    done: list[int] = []
    shown = ""
    for token in ids:
        if token == stop_id:
            break
        done.append(token)
        text = tok.decode(done)
        if text.endswith("\ufffd"):
            continue
        yield text[len(shown) :]
        shown = text
    rest = tok.decode(done)[len(shown) :]
    if rest:
        yield rest


def chat_session(
    model: nn.Module,
    tok: ChatTokenizer,
    lines: Iterable[str],
    write: Callable[[str], None],
    settings: ChatSettings,
) -> int:
    """Run a conversation over ``lines``; return the number of replies given."""
    stop = tok.special_tokens[END]
    budget = model.config.max_positions - settings.max_new_tokens
    generator = torch.Generator().manual_seed(settings.seed)
    system = [Message("system", settings.system)] if settings.system else []
    messages, replies = list(system), 0
    write("you> ")
    for line in lines:
        line = line.strip()
        if line == "/quit":
            break
        if line == "/reset":
            messages = list(system)
            write("(new conversation)\nyou> ")
            continue
        if not line:
            write("you> ")
            continue
        messages.append(Message("user", line))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                prompt = encode_chat(tok, messages, max_tokens=budget, truncate=True,
                                     add_generation_prompt=True).ids
            except ValueError as e:
                messages.pop()
                write(f"(cannot answer: {e})\nyou> ")
                continue
        if caught:
            write("(context full: oldest exchanges forgotten)\n")
        write("bot> ")
        pieces = []
        tokens = model.stream(
            torch.tensor([prompt]), settings.max_new_tokens, settings.temperature,
            settings.top_k, settings.top_p, [stop], generator,
        )
        for piece in stream_text(tok, tokens, stop):
            pieces.append(piece)
            write(piece)
        reply = "".join(pieces).strip()
        if reply:
            messages.append(Message("assistant", reply))
            replies += 1
        else:
            messages.pop()  # keep the conversation well formed
            write("(empty reply)")
        write("\nyou> ")
    write("\n")
    return replies


def batch_replies(
    model: nn.Module, tok: ChatTokenizer, prompts: Iterable[str],
    settings: ChatSettings, max_batch_size: int = 8,
) -> list[str]:
    """One reply per non-blank prompt, each a fresh one-turn conversation.

    The prompts share the model through the Serving chapter's continuous batcher
    (up to ``max_batch_size`` decoded together). Every reply is sampled with its
    own generator seeded ``settings.seed``, so a prompt gets the same reply
    whatever else is in the file, and the same as the first reply of an
    interactive chat with that seed. A prompt too long for the context gets
    ``(cannot answer: ...)`` in its place, so the lines stay aligned.
    """
    # the command line is the front door to every stage, so it may use the
    # serving engine (imported here: nothing else in align depends on serve)
    from llm_from_scratch.serve.batcher import ContinuousBatcher, SamplingParams

    stop = tok.special_tokens[END]
    budget = model.config.max_positions - settings.max_new_tokens
    system = [Message("system", settings.system)] if settings.system else []
    params = SamplingParams(
        max_tokens=settings.max_new_tokens, temperature=settings.temperature,
        top_p=1.0 if settings.top_p is None else settings.top_p,
        top_k=settings.top_k, stop_token_ids=(stop,), seed=settings.seed,
    )
    batcher = ContinuousBatcher(model, max_batch_size=max_batch_size)
    replies: list[object] = []
    for line in prompts:
        if not line.strip():
            continue
        messages = [*system, Message("user", line.strip())]
        try:
            ids = encode_chat(tok, messages, max_tokens=budget,
                              add_generation_prompt=True).ids
        except ValueError as e:
            replies.append(f"(cannot answer: {e})")
            continue
        replies.append(batcher.submit(ids, params))
    batcher.run_until_idle()
    return [
        r if isinstance(r, str)
        else "".join(stream_text(tok, r.result(), stop)).strip()
        for r in replies
    ]


def cmd_chat(args: argparse.Namespace) -> int:
    from llm_from_scratch.train import load_model
    from llm_from_scratch.train.cli import chat_new_tokens, sample_tokenizer

    model, config = load_model(Path(args.checkpoint))
    # the tokenizer the checkpoint's data records, unless --tokenizer names one
    tok = sample_tokenizer(config, args.tokenizer)
    if tok.vocab_size != model.config.vocab_size:
        raise ValueError(
            f"the tokenizer has {tok.vocab_size} tokens but the model "
            f"{model.config.vocab_size}"
        )
    if args.max_new_tokens < 1:
        raise ValueError(f"--max-new-tokens must be >= 1, got {args.max_new_tokens}")
    settings = ChatSettings(
        chat_new_tokens(model.config.max_positions, args.max_new_tokens),
        args.temperature, args.top_k, args.top_p, args.system, args.seed,
    )

    if args.prompts_file:
        if args.prompts_file == "-":
            lines = sys.stdin.read().splitlines()
        else:
            lines = Path(args.prompts_file).read_text(encoding="utf-8").splitlines()
        for reply in batch_replies(model, tok, lines, settings):
            # one line per reply: a line break inside a reply is written as \n
            print(reply.replace("\\", "\\\\").replace("\n", "\\n"))
        return 0

    def write(text: str) -> None:
        sys.stdout.write(text)
        sys.stdout.flush()

    chat_session(model, tok, sys.stdin, write, settings)
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "chat", help="chat with a model in the terminal (streaming)",
        description="Interactive chat; /reset starts over, /quit or EOF leaves. "
                    "With --prompts-file, answers each line of the file instead.",
    )
    p.add_argument("--checkpoint", required=True,
                   help="checkpoint directory (an aligned stage under the cache's "
                        "align/ folder, or any training checkpoint)")
    p.add_argument("--tokenizer", help="tokenizer file (default: the one the "
                                       "checkpoint's data records)")
    p.add_argument("--system", help="system message for every conversation")
    p.add_argument("--max-new-tokens", type=int, default=64)
    p.add_argument("--temperature", type=float, default=0.8)
    p.add_argument("--top-k", type=int, default=50)
    p.add_argument("--top-p", type=float, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--prompts-file", metavar="FILE",
                   help="batch mode: answer each non-blank line of FILE ('-': "
                        "stdin) as a new conversation and print one reply per line")
    p.set_defaults(func=cmd_chat)
