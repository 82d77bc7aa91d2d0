"""The chat command: streaming, conversation state, and piping stdin."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from test_align_support import ByteChatTokenizer, single_thread, tiny_model

from llm_from_scratch.align.chat import CHAT_SPECIALS
from llm_from_scratch.align.cli import (
    ChatSettings,
    batch_replies,
    chat_session,
    stream_text,
)
from llm_from_scratch.cli import build_parser, main
from llm_from_scratch.tokenizer import Tokenizer, train_bpe
from llm_from_scratch.train import TrainConfig, save_checkpoint

__all__ = ["single_thread"]  # the autouse fixture, imported


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("chat")
    vocab, _ = train_bpe("hello there, general kenobi. " * 30, 256 + 10 + 5,
                         list(CHAT_SPECIALS))
    tok = Tokenizer.from_vocab(vocab, list(CHAT_SPECIALS))
    tok_path = tok.save(root / "tok.tok")
    model = tiny_model(vocab_size=tok.vocab_size)
    save_checkpoint(root / "ckpt", model, None, 0, TrainConfig().to_dict(),
                    model_config=model.config.to_dict())
    return root / "ckpt", Path(tok_path)


def test_stream_text_holds_back_split_characters() -> None:
    tok = ByteChatTokenizer()
    ids = list("h\u00e9!".encode()) + [tok.special_tokens["<|end|>"], 65]
    pieces = list(stream_text(tok, ids, tok.special_tokens["<|end|>"]))
    assert "".join(pieces) == "h\u00e9!"
    assert all("\ufffd" not in p for p in pieces)
    assert pieces == ["h", "\u00e9", "!"]


def test_chat_session_keeps_and_resets_the_conversation() -> None:
    tok = ByteChatTokenizer()
    model = tiny_model()
    out: list[str] = []
    settings = ChatSettings(max_new_tokens=5, temperature=1.0, seed=0)
    n = chat_session(model, tok, ["hi", "", "again", "/reset", "x", "/quit", "no"],
                     out.append, settings)
    text = "".join(out)
    assert text.count("bot> ") == 3 == n + text.count("(empty reply)")
    assert "(new conversation)" in text
    # same seed, same replies
    again: list[str] = []
    chat_session(model, tok, ["hi", "", "again", "/reset", "x", "/quit"], again.append,
                 settings)
    assert "".join(again) == text


def test_chat_forgets_old_exchanges_when_the_context_is_full() -> None:
    tok = ByteChatTokenizer()
    model = tiny_model()  # 256 positions
    out: list[str] = []
    lines = ["a" * 60] * 6
    chat_session(model, tok, lines, out.append, ChatSettings(max_new_tokens=8))
    text = "".join(out)
    assert "oldest exchanges forgotten" in text
    out.clear()
    chat_session(model, tok, ["b" * 400], out.append, ChatSettings(max_new_tokens=8))
    assert "cannot answer" in "".join(out)


def test_chat_command_is_registered() -> None:
    args = build_parser().parse_args(["chat", "--checkpoint", "x", "--top-k", "5"])
    assert args.top_k == 5 and args.func.__name__ == "cmd_chat"


def test_chat_cli_in_process(checkpoint, monkeypatch, capsys) -> None:
    ckpt, tok = checkpoint
    monkeypatch.setattr(sys, "stdin", io.StringIO("hello\n/quit\n"))
    code = main(["chat", "--checkpoint", str(ckpt), "--tokenizer", str(tok),
                 "--max-new-tokens", "4", "--temperature", "0"])
    assert code == 0
    assert capsys.readouterr().out.startswith("you> bot> ")


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_chat_cli_with_piped_stdin(checkpoint) -> None:
    ckpt, tok = checkpoint
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "llm_from_scratch", "chat", "--checkpoint", str(ckpt),
         "--tokenizer", str(tok), "--max-new-tokens", "3"],
        input="hello there\ngeneral\n", capture_output=True, text=True, timeout=100,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("bot> ") == 2


def test_chat_cli_rejects_a_mismatched_tokenizer(checkpoint, tmp_path, capsys) -> None:
    ckpt, _ = checkpoint
    vocab, _ = train_bpe("abc abc abd " * 20, 256 + 3 + 5, list(CHAT_SPECIALS))
    other = Tokenizer.from_vocab(vocab, list(CHAT_SPECIALS)).save(tmp_path / "o.tok")
    assert main(["chat", "--checkpoint", str(ckpt), "--tokenizer", str(other)]) == 2
    assert "error: the tokenizer has" in capsys.readouterr().err


def test_batch_replies_are_independent_of_the_other_prompts() -> None:
    tok = ByteChatTokenizer()
    model = tiny_model()
    settings = ChatSettings(max_new_tokens=6, temperature=1.0, seed=3)
    replies = batch_replies(model, tok, ["hi", "", "  ", "again", "b" * 400],
                            settings)
    assert len(replies) == 3  # blank lines are not prompts
    assert replies[2].startswith("(cannot answer:")
    # each reply is what the prompt gets alone, and what a chat's first turn gets
    assert batch_replies(model, tok, ["again"], settings) == [replies[1]]
    out: list[str] = []
    chat_session(model, tok, ["again"], out.append, settings)
    said = "".join(out).split("bot> ", 1)[1].rsplit("\nyou> ", 1)[0]
    assert said.replace("(empty reply)", "").strip() == replies[1]


def test_chat_cli_answers_a_prompts_file(  # noqa: ANN001
    checkpoint, tmp_path, capsys, monkeypatch
) -> None:
    ckpt, tok = checkpoint
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("hello\n\ngeneral kenobi\nthere\n", encoding="utf-8")
    args = ["chat", "--checkpoint", str(ckpt), "--tokenizer", str(tok),
            "--max-new-tokens", "4", "--prompts-file", str(prompts)]
    assert main(args) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3 and not any(line.startswith("you>") for line in lines)
    assert main([*args, "--temperature", "0"]) == 0
    greedy = capsys.readouterr().out
    assert main([*args, "--temperature", "0", "--seed", "7"]) == 0
    assert capsys.readouterr().out == greedy  # greedy ignores the seed
    monkeypatch.setattr(sys, "stdin", io.StringIO(prompts.read_text()))
    assert main([*args[:-1], "-", "--temperature", "0"]) == 0  # "-": stdin
    assert capsys.readouterr().out == greedy


def test_default_recipe_is_shortened_to_the_models_context() -> None:
    from llm_from_scratch.align.pipeline import book_recipe
    from llm_from_scratch.align.recipe_cli import check_fits, shorten_to_context

    recipe = book_recipe()
    short, changed = shorten_to_context(recipe, 64)
    assert (short.max_tokens, short.dpo.max_tokens, short.reward.max_tokens) == (64,) * 3
    assert changed == ["max_tokens 96 -> 64", "dpo.max_tokens 96 -> 64",
                       "reward.max_tokens 96 -> 64"]
    assert short.sft == recipe.sft and short.grpo == recipe.grpo  # nothing else moves
    same, none = shorten_to_context(recipe, 512)
    assert same == recipe and none == []
    with pytest.raises(ValueError, match="exceeds the model's 64 positions"):
        check_fits(recipe, 64, object())  # a recipe given with --config is refused
