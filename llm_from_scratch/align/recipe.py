"""The recipe: what the alignment stages train on, and with which settings.

``RecipeConfig`` holds the data settings and every stage's config;
``book_recipe`` is the chapter's choice of them. ``alignment_data`` builds,
from the Chatterbot conversations and the verifiable task, everything the
stages train and are evaluated on (``AlignData``): SFT conversations with some
replies made rude, preference pairs, chat prompts and task problems, each
split into train and held out. ``AlignData.fingerprint`` is part of every
stage's cache key (``stage_cache``).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, replace

from llm_from_scratch.align.chat import ChatTokenizer, Message, encode_chat
from llm_from_scratch.align.data import (
    TASKS,
    PreferencePair,
    chatterbot_conversations,
    contaminate,
    preference_pairs,
    split_by_hash,
    task_conversation,
    task_pairs,
    task_problems,
)
from llm_from_scratch.align.dpo import DPOConfig
from llm_from_scratch.align.grpo import GRPOConfig
from llm_from_scratch.align.reward import RewardConfig, pair_examples
from llm_from_scratch.align.sft import SFTConfig
from llm_from_scratch.utils import full_size


@dataclass(frozen=True)
class RecipeConfig:
    """Data settings and the config of every stage."""

    task: str = "parity"
    max_tokens: int = 96
    val_fraction: float = 0.1
    rude_fraction: float = 0.1
    task_copies: int = 1
    sft: SFTConfig = field(default_factory=SFTConfig)
    reward: RewardConfig = field(default_factory=RewardConfig)
    dpo: DPOConfig = field(default_factory=DPOConfig)
    grpo: GRPOConfig = field(default_factory=GRPOConfig)
    rlhf: GRPOConfig = field(default_factory=GRPOConfig)
    seed: int = 0

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ValueError(
                f"RecipeConfig.task must be one of {sorted(TASKS)}, got {self.task!r}"
            )
        if self.max_tokens < 8:
            raise ValueError(f"RecipeConfig.max_tokens must be >= 8, got "
                             f"{self.max_tokens}")
        if not 0 < self.val_fraction < 1:
            raise ValueError("RecipeConfig.val_fraction must be in (0, 1)")
        if not 0 <= self.rude_fraction < 1:
            raise ValueError("RecipeConfig.rude_fraction must be in [0, 1)")
        if self.task_copies < 0:
            raise ValueError("RecipeConfig.task_copies must be >= 0")


@dataclass
class AlignData:
    """Everything the stages train and are evaluated on."""

    sft_conversations: list[list[Message]]
    pairs_train: list[PreferencePair]
    pairs_val: list[PreferencePair]
    chat_train: list[list[Message]]
    chat_val: list[list[Message]]
    task: str
    task_train: list[tuple[int, int]]
    task_test: list[tuple[int, int]]
    pairs_too_long: int

    def fingerprint(self) -> str:
        """A hash of every example, so a stage retrains when its data changes."""
        text = json.dumps(asdict(self), sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def _fits(tok: ChatTokenizer, conversation: list[Message], max_tokens: int) -> bool:
    try:
        encode_chat(tok, conversation, max_tokens=max_tokens)
    except ValueError:
        return False
    return True


def _fitting(
    tok: ChatTokenizer, pairs: list[PreferencePair], max_tokens: int
) -> tuple[list[PreferencePair], int]:
    """The pairs whose chosen and rejected conversations both fit ``max_tokens``."""
    kept = []
    for pair in pairs:
        try:
            pair_examples(tok, pair, max_tokens)
        except ValueError:
            continue
        kept.append(pair)
    return kept, len(pairs) - len(kept)


def held_out_pairs(
    conversations: list[list[Message]], seed: int
) -> list[PreferencePair]:
    """Three pairs per conversation, from three rotations of the kinds, so each
    is paired once with every kind that applies (a reply too short to truncate
    gets another rude or mismatched pair instead); a pair made twice is kept
    once."""
    kinds = ("mismatched", "truncated", "rude")
    pairs, seen = [], set()
    for shift in range(len(kinds)):
        rotated = kinds[shift:] + kinds[:shift]
        for pair in preference_pairs(conversations, seed=seed + shift, kinds=rotated):
            key = (pair.prompt[0].content, pair.chosen, pair.rejected)
            if key not in seen:
                seen.add(key)
                pairs.append(pair)
    return pairs


def alignment_data(tok: ChatTokenizer, config: RecipeConfig) -> AlignData:
    """Chatterbot conversations split by question; 10% of SFT replies made rude
    (the contamination preference training must remove); synthetic pairs; the
    verifiable task, whose train half is also shown to SFT ``task_copies``
    times so the model learns the answer format, and gives one "right answer
    over a near miss" preference pair per training problem. Each held-out
    question gets one pair of every kind that applies to it (three times as many
    held-out pairs, so accuracies measured on them are tighter). Pairs longer
    than ``max_tokens`` are left out and counted in ``pairs_too_long``."""
    convs, _ = chatterbot_conversations()
    train, val = split_by_hash(convs, config.val_fraction)
    task_train, task_test = task_problems(config.task, seed=config.seed)
    sft = contaminate(train, config.rude_fraction, seed=config.seed)
    sft += [task_conversation(config.task, a, b) for a, b in task_train] * (
        config.task_copies
    )
    pairs_train, n_train = _fitting(
        tok, preference_pairs(train, seed=config.seed), config.max_tokens
    )
    pairs_train += task_pairs(config.task, task_train, seed=config.seed)
    pairs_val, n_val = _fitting(tok, held_out_pairs(val, config.seed + 1),
                                config.max_tokens)
    return AlignData(
        sft_conversations=sft,
        pairs_train=pairs_train,
        pairs_val=pairs_val,
        chat_train=[c[:2] for c in train if _fits(tok, c[:2], config.max_tokens)],
        chat_val=[c[:2] for c in val if _fits(tok, c[:2], config.max_tokens)],
        task=config.task,
        task_train=task_train,
        task_test=task_test,
        pairs_too_long=n_train + n_val,
    )


def book_recipe() -> RecipeConfig:
    """The chapter's default (CPU minutes), or a longer run under LLMFS_FULL=1.

    Chosen so that each stage's intended change is large against the sampling
    noise of the chapter's evaluation: parity, because the small model does not
    learn "which is larger" in CPU minutes (RL then has nothing to reinforce);
    GRPO's KL coefficient 0.1, which keeps the chat replies near DPO's while the
    task is learned; and 15 RLHF iterations, enough for reward hacking to show.
    """
    small = RecipeConfig(
        task="parity",
        task_copies=4,
        sft=SFTConfig(steps=150, batch_size=16, lr=1e-3, warmup_steps=5),
        reward=RewardConfig(steps=40, batch_size=16, lr=5e-4, max_tokens=96),
        dpo=DPOConfig(steps=50, beta=0.1, batch_size=16, lr=5e-4, max_tokens=96),
        grpo=GRPOConfig(iterations=30, prompts_per_iteration=8, group_size=16,
                        max_new_tokens=3, lr=5e-4, kl_coef=0.1, epochs=2),
        rlhf=GRPOConfig(iterations=15, prompts_per_iteration=4, group_size=8,
                        max_new_tokens=16, lr=3e-4, epochs=2),
    )
    if not full_size():
        return small
    return replace(
        small,
        sft=replace(small.sft, steps=1000),
        reward=replace(small.reward, steps=300),
        dpo=replace(small.dpo, steps=300, lr=2e-4),
        grpo=replace(small.grpo, iterations=200),
    )
