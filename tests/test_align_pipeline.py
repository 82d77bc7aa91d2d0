"""The cached recipe: stages train once, reload from the cache, and retrain when
their config, data or starting weights change."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace

import pytest
import torch
from test_align_support import ByteChatTokenizer, single_thread, tiny_model

from llm_from_scratch.align import pipeline
from llm_from_scratch.align.chat import Message
from llm_from_scratch.align.dpo import DPOConfig
from llm_from_scratch.align.grpo import GRPOConfig
from llm_from_scratch.align.reward import RewardConfig
from llm_from_scratch.align.sft import SFTConfig
from llm_from_scratch.train import TrainConfig

__all__ = ["single_thread"]  # the autouse fixture, imported

TOK = ByteChatTokenizer()
RECIPE = pipeline.RecipeConfig(
    max_tokens=64,
    sft=SFTConfig(steps=2, batch_size=4, warmup_steps=1),
    reward=RewardConfig(steps=2, batch_size=4, warmup_steps=1, max_tokens=64),
    dpo=DPOConfig(steps=2, batch_size=4, warmup_steps=1, max_tokens=64),
    grpo=GRPOConfig(iterations=1, prompts_per_iteration=2, group_size=2,
                    max_new_tokens=2),
    rlhf=GRPOConfig(iterations=1, prompts_per_iteration=2, group_size=2,
                    max_new_tokens=2),
)


class Judge:
    def predict_proba(self, texts):  # noqa: ANN001, ANN201
        return [0.0 for _ in texts]


@pytest.fixture()
def cache(tmp_path, monkeypatch):  # noqa: ANN001, ANN201
    monkeypatch.setenv("LLMFS_CACHE", str(tmp_path))
    return tmp_path


def test_alignment_data_is_deterministic_and_fits() -> None:
    data = pipeline.alignment_data(TOK, RECIPE)
    assert data.fingerprint() == pipeline.alignment_data(TOK, RECIPE).fingerprint()
    assert len(data.task_train) == 63 and len(data.task_test) == 27  # parity
    assert data.pairs_train and data.pairs_val and data.chat_val and data.chat_train
    other = pipeline.alignment_data(TOK, replace(RECIPE, rude_fraction=0.3))
    assert other.fingerprint() != data.fingerprint()


def test_held_out_pairs_cover_every_kind_per_question() -> None:
    convs = [[Message("user", f"q{i}"), Message("assistant", reply)]
             for i, reply in enumerate(["one two three four five", "short",
                                        "a b c d e f", "tiny reply"])]
    pairs = pipeline.held_out_pairs(convs, seed=0)
    by_question = defaultdict(list)
    for p in pairs:
        by_question[p.prompt[0].content].append(p.kind)
    assert len({(p.prompt[0].content, p.chosen, p.rejected) for p in pairs}) == len(
        pairs)  # no duplicates
    assert sorted(by_question["q0"]) == ["mismatched", "rude", "truncated"]
    assert "truncated" not in by_question["q1"]  # too short to cut in half
    assert {"mismatched", "rude"} <= set(by_question["q1"])
    assert all(2 <= len(kinds) <= 3 for kinds in by_question.values())


def test_recipe_config_is_validated() -> None:
    with pytest.raises(ValueError, match="RecipeConfig.task"):
        pipeline.RecipeConfig(task="division")
    with pytest.raises(ValueError, match="RecipeConfig.rude_fraction"):
        pipeline.RecipeConfig(rude_fraction=1.0)
    assert pipeline.book_recipe().task == "parity"


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:.*truncated to 64 tokens")
def test_stages_cache_and_reload(cache) -> None:  # noqa: ANN001
    base = tiny_model()
    data = pipeline.alignment_data(TOK, RECIPE)
    cfg = TrainConfig().to_dict()
    pad = TOK.eot_id
    sft = pipeline.sft_stage(base, TOK, data, RECIPE, cfg, pad)
    again = pipeline.sft_stage(base, TOK, data, RECIPE, cfg, pad)
    assert not sft.cached and again.cached and again.path == sft.path
    assert again.history == sft.history
    assert pipeline.weights_hash(again.model) == pipeline.weights_hash(sft.model)
    assert pipeline.weights_hash(sft.model) != pipeline.weights_hash(base)
    # a changed config is a different stage
    longer = replace(RECIPE, sft=replace(RECIPE.sft, steps=3))
    assert pipeline.sft_stage(base, TOK, data, longer, cfg, pad).path != sft.path

    rm, history, _, cached = pipeline.reward_stage(sft.model, TOK, data, RECIPE, pad)
    rm2, _, _, cached2 = pipeline.reward_stage(sft.model, TOK, data, RECIPE, pad)
    assert not cached and cached2 and len(history) == 2
    assert pipeline.weights_hash(rm) == pipeline.weights_hash(rm2)

    dpo = pipeline.dpo_stage(sft.model, TOK, data, RECIPE, cfg, pad)
    rl = pipeline.rl_stage(dpo.model, TOK, data, RECIPE, cfg, pad)
    hack = pipeline.rm_rl_stage(sft.model, rm, TOK, data, RECIPE, cfg, pad, 0.0)
    assert len(rl.history) == 1 and len(hack.history) == 1
    assert (cache / "align").is_dir()
    pairs = data.pairs_val[:8]
    drift = pipeline.logprob_drift(dpo.model, sft.model, TOK, pairs, pad, 64)
    assert drift > 0
    small = replace(data, chat_val=data.chat_val[:4], pairs_val=data.pairs_val[:4])
    row = pipeline.evaluation_row(rl.model, TOK, small, rm, Judge(), pad, 64,
                                  samples=2, task_samples=2)
    assert set(row) == {"replies that stop", "task accuracy (greedy)",
                        "task accuracy (sampled)", "preference accuracy",
                        "reward win rate", "toxic replies"}
    assert all(0.0 <= v <= 1.0 for v in row.values())
    hacked = pipeline.hacking_row(hack.model, TOK, small, rm, {"the"}, pad, samples=2)
    assert set(hacked) == {"reward-model score", "win rate vs reference",
                           "real words", "replies that stop"}
    assert all(0.0 <= hacked[k] <= 1.0 for k in hacked if k != "reward-model score")
