"""The book's alignment recipe, each stage cached so later runs and the chat CLI
reuse it.

base --SFT--> sft --DPO--> dpo --GRPO on the task--> rl, and a reward model
trained from the SFT model. A stage's cache key hashes its config and the
weights it starts from, so a changed upstream stage retrains everything after it.

This module holds the stages themselves (and GRPO's verifiable task reward);
the recipe and its data are in ``recipe``, the caching in ``stage_cache`` and
the chapter's evaluation rows in ``report_rows``, all re-exported here.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from safetensors.torch import load_file, save_file
from torch import nn

from llm_from_scratch.align.chat import END, ChatTokenizer, encode_prompt
from llm_from_scratch.align.data import task_prompt, task_reward
from llm_from_scratch.align.dpo import DPOConfig, dpo_train, frozen_copy
from llm_from_scratch.align.evaluate import reply_text
from llm_from_scratch.align.grpo import grpo_train
from llm_from_scratch.align.recipe import (
    AlignData,
    RecipeConfig,
    alignment_data,
    book_recipe,
    held_out_pairs,
)
from llm_from_scratch.align.report_rows import (
    evaluation_row,
    hacking_row,
    logprob_drift,
)
from llm_from_scratch.align.reward import RewardModel, score, train_reward_model
from llm_from_scratch.align.sft import sft_train
from llm_from_scratch.align.stage_cache import (
    Stage,
    load_aligned,
    run_stage,
    stage_dir,
    weights_hash,
)
from llm_from_scratch.align.training import encode_dataset

__all__ = [  # the stages, and what chapters, tests and the CLI import from here
    "AlignData",
    "RecipeConfig",
    "Stage",
    "alignment_data",
    "book_recipe",
    "dpo_stage",
    "encode_prompt",
    "evaluation_row",
    "hacking_row",
    "held_out_pairs",
    "load_aligned",
    "logprob_drift",
    "reward_stage",
    "rl_stage",
    "rm_rl_stage",
    "run_stage",
    "sft_stage",
    "stage_dir",
    "task_reward_fn",
    "weights_hash",
]


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

