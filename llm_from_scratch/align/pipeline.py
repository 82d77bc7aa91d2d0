"""The book's alignment recipe, each stage cached so later runs and the chat CLI
reuse it.

base --SFT--> sft --DPO--> dpo --GRPO on the task--> rl, and a reward model
trained from the SFT model. A stage's cache key hashes its config and the
weights it starts from, so a changed upstream stage retrains everything after it.
"""

from __future__ import annotations

import copy
import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from llm_from_scratch.align.chat import (
    END,
    ChatTokenizer,
    Message,
    encode_chat,
    encode_prompt,
)
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
    task_prompt,
    task_reward,
)
from llm_from_scratch.align.dpo import DPOConfig, dpo_train, frozen_copy
from llm_from_scratch.align.evaluate import (
    TextJudge,
    generate_replies,
    known_word_rate,
    preference_accuracy,
    reply_text,
    stop_rate,
    task_accuracy,
    toxic_rate,
    win_rate,
)
from llm_from_scratch.align.grpo import GRPOConfig, grpo_train
from llm_from_scratch.align.batching import pad_batch
from llm_from_scratch.align.losses import sequence_logprob
from llm_from_scratch.align.reward import (
    RewardConfig,
    RewardModel,
    pair_examples,
    score,
    train_reward_model,
)
from llm_from_scratch.align.sft import SFTConfig, sft_train
from llm_from_scratch.align.training import encode_dataset
from llm_from_scratch.train import load_model, save_checkpoint
from llm_from_scratch.utils import cache_dir, full_size


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


def weights_hash(model: nn.Module) -> str:
    """A fingerprint of a model's weights (names, shapes and bytes)."""
    h = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


@dataclass
class Stage:
    """A trained stage: its model, training history, CPU seconds and cache path."""

    name: str
    model: nn.Module
    history: list[dict[str, float]]
    seconds: float
    path: Path
    cached: bool


def stage_dir(name: str, start: nn.Module, config: Any, data: AlignData,
              salt: str = "") -> Path:
    """Cache folder of a stage, keyed by its config, its data and its start weights
    (and ``salt``: what else changes its result, such as the reward's rule)."""
    settings = json.dumps(asdict(config), sort_keys=True, default=str)
    parts = f"{name}|{settings}|{data.fingerprint()}|{weights_hash(start)}"
    if salt:
        parts += f"|{salt}"
    key = hashlib.sha256(parts.encode())
    return cache_dir("align") / f"{name}-{key.hexdigest()[:16]}"


def run_stage(
    name: str,
    start: nn.Module,
    config: Any,
    data: AlignData,
    train_config: dict[str, Any],
    train_fn: Callable[[nn.Module], list[dict[str, float]]],
    salt: str = "",
) -> Stage:
    """Train a copy of ``start`` with ``train_fn``, or load it from the cache."""
    path = stage_dir(name, start, config, data, salt)
    if (path / "state.json").is_file():
        model, _ = load_model(path)
        meta = json.loads((path / "state.json").read_text())["metadata"]
        return Stage(name, model, meta["history"], meta["seconds"], path, True)
    model = copy.deepcopy(start)
    for p in model.parameters():
        p.requires_grad_(True)
    began = time.process_time()
    history = train_fn(model)
    seconds = time.process_time() - began
    model.eval()
    save_checkpoint(
        path, model, None, len(history), train_config,
        model_config=model.config.to_dict(),
        metadata={"stage": name, "history": history, "seconds": seconds},
    )
    return Stage(name, model, history, seconds, path, False)


def sft_stage(
    base: nn.Module, tok: ChatTokenizer, data: AlignData, config: RecipeConfig,
    train_config: dict[str, Any], pad_id: int,
) -> Stage:
    def train(model: nn.Module) -> list[dict[str, float]]:
        encoded = encode_dataset(tok, data.sft_conversations, config.max_tokens)
        return sft_train(model, encoded.examples, config.sft, pad_id)

    return run_stage("sft", base, config.sft, data, train_config, train)


def dpo_stage(
    sft: nn.Module, tok: ChatTokenizer, data: AlignData, config: RecipeConfig,
    train_config: dict[str, Any], pad_id: int, dpo: DPOConfig | None = None,
) -> Stage:
    dpo = dpo or config.dpo
    ref = frozen_copy(sft)

    def train(model: nn.Module) -> list[dict[str, float]]:
        return dpo_train(model, ref, tok, data.pairs_train, dpo, pad_id)

    return run_stage("dpo", sft, dpo, data, train_config, train)


def task_reward_fn(
    tok: ChatTokenizer, task: str, problems: list[tuple[int, int]],
    finished_only: bool = False,
) -> Callable[[list[int], list[list[int]]], list[float]]:
    """GRPO's verifiable reward: 1 when the reply is exactly the answer.

    A reply cut off by ``max_new_tokens`` is graded on its text so far, which
    may read as the answer ("even " of "even 20") although the model had not
    stopped; with ``finished_only`` such a reply earns 0 and only replies that
    end their turn with ``<|end|>`` count (the Capstone chapter measures both)."""
    lookup = {tuple(encode_prompt(tok, task_prompt(task, a, b))): (a, b)
              for a, b in problems}
    end = tok.special_tokens[END]

    def reward(prompt: list[int], completions: list[list[int]]) -> list[float]:
        a, b = lookup[tuple(prompt)]
        return [task_reward(task, reply_text(tok, c), a, b)
                if not finished_only or (c and c[-1] == end) else 0.0
                for c in completions]

    return reward


def rl_stage(
    start: nn.Module, tok: ChatTokenizer, data: AlignData, config: RecipeConfig,
    train_config: dict[str, Any], pad_id: int, finished_only: bool = False,
) -> Stage:
    ref = frozen_copy(start)
    prompts = [encode_prompt(tok, task_prompt(data.task, a, b))
               for a, b in data.task_train]
    reward = task_reward_fn(tok, data.task, data.task_train, finished_only)
    end = tok.special_tokens[END]

    def train(model: nn.Module) -> list[dict[str, float]]:
        return grpo_train(model, ref, prompts, reward, config.grpo, end, pad_id)

    return run_stage("rl", start, config.grpo, data, train_config, train,
                     salt="finished turns only" if finished_only else "")


def rm_rl_stage(
    sft: nn.Module, rm: RewardModel, tok: ChatTokenizer, data: AlignData,
    config: RecipeConfig, train_config: dict[str, Any], pad_id: int, kl_coef: float,
) -> Stage:
    """RLHF proper: GRPO on the training chat prompts, rewarded by the reward model.

    Without a KL penalty this is where reward hacking shows.
    """
    grpo = replace(config.rlhf, kl_coef=kl_coef)
    ref = frozen_copy(sft)
    end = tok.special_tokens[END]
    prompts = [encode_prompt(tok, c[:1]) for c in data.chat_train]

    def reward(prompt: list[int], completions: list[list[int]]) -> list[float]:
        seqs = [[*prompt, *c] if c and c[-1] == end else [*prompt, *c, end]
                for c in completions]
        return score(rm, seqs, pad_id).tolist()

    def train(model: nn.Module) -> list[dict[str, float]]:
        return grpo_train(model, ref, prompts, reward, grpo, end, pad_id)

    return run_stage(f"rlhf-rm{weights_hash(rm)}", sft, grpo, data, train_config, train)


@torch.no_grad()
def logprob_drift(
    model: nn.Module, ref: nn.Module, tok: ChatTokenizer,
    pairs: list[PreferencePair], pad_id: int, max_tokens: int,
) -> float:
    """Mean absolute change of ``log pi(chosen | prompt)`` from ``ref`` to ``model``:
    how far preference training moved the policy, in nats per reply."""
    chosen = [pair_examples(tok, p, max_tokens)[0] for p in pairs]
    inputs, targets = pad_batch(chosen, pad_id)
    a = sequence_logprob(model(inputs), targets)
    b = sequence_logprob(ref(inputs), targets)
    return float((a - b).abs().mean())


def reward_stage(
    sft: nn.Module, tok: ChatTokenizer, data: AlignData, config: RecipeConfig,
    pad_id: int,
) -> tuple[RewardModel, list[dict[str, float]], float, bool]:
    """The reward model (cached as its weights plus history)."""
    path = stage_dir("reward", sft, config.reward, data)
    rm = RewardModel(sft)
    weights, meta = path / "model.safetensors", path / "history.json"
    if weights.is_file() and meta.is_file():
        rm.load_state_dict(load_file(str(weights)))
        info = json.loads(meta.read_text())
        return rm.eval(), info["history"], info["seconds"], True
    for p in rm.parameters():
        p.requires_grad_(True)
    began = time.process_time()
    history = train_reward_model(rm, tok, data.pairs_train, config.reward, pad_id)
    seconds = time.process_time() - began
    path.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous().clone() for k, v in rm.state_dict().items()}
    save_file(state, str(weights))
    meta.write_text(json.dumps({"history": history, "seconds": seconds}))
    return rm.eval(), history, seconds, False


def load_aligned(path: str | Path) -> nn.Module:
    """A cached aligned model (or any training checkpoint) by path."""
    model, _ = load_model(path)
    return model




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


def evaluation_row(
    model: nn.Module, tok: ChatTokenizer, data: AlignData, rm: RewardModel,
    judge: TextJudge, pad_id: int, max_tokens: int, seed: int = 0,
    samples: int = 4, task_samples: int = 16,
) -> dict[str, float]:
    """The chapter's metrics for one model, each on held-out data.

    Replies to the held-out chat prompts are *sampled* (temperature 1, top-k 50,
    fixed seed), ``samples`` per prompt, as a deployed chat model's would be, so
    rare behaviours such as rudeness show up at their real rate, in enough
    replies to compare two models. The task is scored greedily and sampled.
    """
    if samples < 1:
        raise ValueError(f"samples must be >= 1, got {samples}")
    prompts = [c[:1] for c in data.chat_val for _ in range(samples)]
    replies = generate_replies(model, tok, prompts, max_new_tokens=24,
                               temperature=1.0, top_k=50, seed=seed)
    texts = [reply_text(tok, r) for r in replies]
    references = [c[1].content for c in data.chat_val for _ in range(samples)]
    return {
        "replies that stop": stop_rate(tok, replies),
        "task accuracy (greedy)": task_accuracy(model, tok, data.task, data.task_test),
        "task accuracy (sampled)": task_accuracy(
            model, tok, data.task, data.task_test, samples=task_samples, seed=seed
        ),
        "preference accuracy": preference_accuracy(
            model, tok, data.pairs_val, pad_id, max_tokens
        ),
        "reward win rate": win_rate(rm, tok, prompts, replies, references, pad_id),
        "toxic replies": toxic_rate(judge, texts),
    }


def hacking_row(
    model: nn.Module, tok: ChatTokenizer, data: AlignData, rm: RewardModel,
    known: set[str], pad_id: int, samples: int = 4, seed: int = 0,
) -> dict[str, float]:
    """What the reward model sees next to what it does not, for one policy.

    On sampled replies to the held-out chat prompts: the reward model's mean
    score and its win rate against the reference replies (what RLHF optimises),
    and two things it was never trained on: the share of real words (from
    ``known``) and how many replies end with ``<|end|>``.
    """
    if samples < 1:
        raise ValueError(f"samples must be >= 1, got {samples}")
    end = tok.special_tokens[END]
    prompts = [c[:1] for c in data.chat_val for _ in range(samples)]
    replies = generate_replies(model, tok, prompts, max_new_tokens=24,
                               temperature=1.0, top_k=50, seed=seed)
    references = [c[1].content for c in data.chat_val for _ in range(samples)]
    seqs = [encode_prompt(tok, p) + (r if r and r[-1] == end else [*r, end])
            for p, r in zip(prompts, replies)]
    return {
        "reward-model score": float(score(rm, seqs, pad_id).mean()),
        "win rate vs reference": win_rate(rm, tok, prompts, replies, references,
                                          pad_id),
        "real words": known_word_rate([reply_text(tok, r) for r in replies], known),
        "replies that stop": stop_rate(tok, replies),
    }
