"""The training stages on a tiny model: each must move the model the right way."""

from __future__ import annotations

import pytest
import torch
from test_align_support import ByteChatTokenizer, single_thread, tiny_model

from llm_from_scratch.align.batching import pad_batch
from llm_from_scratch.align.chat import ChatExample, Message, encode_chat
from llm_from_scratch.align.data import PreferencePair
from llm_from_scratch.align.dpo import DPOConfig, dpo_batch, dpo_train, frozen_copy
from llm_from_scratch.align.grpo import (
    GRPOConfig,
    grpo_train,
    rollout_batch,
    sample_group,
)
from llm_from_scratch.align.losses import sft_loss
from llm_from_scratch.align.reward import (
    RewardConfig,
    RewardModel,
    pair_examples,
    reward_accuracy,
    train_reward_model,
)
from llm_from_scratch.align.sft import SFTConfig, sft_train
from llm_from_scratch.align.training import encode_dataset

__all__ = ["single_thread"]  # the autouse fixture, imported

TOK = ByteChatTokenizer()
PAD = TOK.eot_id
END = TOK.special_tokens["<|end|>"]

PAIRS = [
    PreferencePair([Message("user", q)], "yes, gladly", "no way", "rude")
    for q in ("can you help?", "please help", "help me", "a favour?")
]


def test_sft_learns_the_replies_and_only_them() -> None:
    torch.manual_seed(0)
    model = tiny_model()
    convs = [[Message("user", "ping"), Message("assistant", "pong")],
             [Message("user", "marco"), Message("assistant", "polo")]]
    examples = [encode_chat(TOK, c) for c in convs]
    inputs, targets = pad_batch(examples, PAD)
    before = sft_loss(model(inputs), targets).item()
    config = SFTConfig(steps=40, batch_size=2, lr=1e-2)
    history = sft_train(model, examples, config, PAD)
    after = sft_loss(model(inputs), targets).item()
    assert after < 0.3 * before and history[-1]["loss"] < history[0]["loss"]
    # gradients of the SFT loss never come from prompt tokens' predictions
    logits = model(inputs).detach().requires_grad_(True)
    sft_loss(logits, targets).backward()
    assert (logits.grad[targets == -100] == 0).all()


def params(model: torch.nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in model.parameters()]


def assert_same_params(a: list[torch.Tensor], b: list[torch.Tensor],
                       start: list[torch.Tensor]) -> None:
    for x, y in zip(a, b):
        torch.testing.assert_close(x, y, rtol=0, atol=2e-5)
    assert any((x - s).abs().max() > 1e-3 for x, s in zip(a, start))  # it trained


def test_sft_accumulation_gives_the_update_of_one_batch() -> None:
    """Micro-batches of unequal token counts: the token mean is still exact."""
    convs = [[Message("user", q), Message("assistant", a)] for q, a in
             [("ping", "pong"), ("marco", "polo!"), ("hi", "hello there"), ("a", "b")]]
    examples = [encode_chat(TOK, c) for c in convs]
    torch.manual_seed(0)
    start = tiny_model()
    runs = []
    for accumulation in (1, 2, 4):
        model = tiny_model()
        model.load_state_dict(start.state_dict())
        config = SFTConfig(steps=3, batch_size=4, lr=1e-2, warmup_steps=0,
                           gradient_accumulation_steps=accumulation)
        history = sft_train(model, examples, config, PAD)
        runs.append((params(model), history[0]["loss"]))
    for p, loss in runs[1:]:
        assert_same_params(p, runs[0][0], params(start))
        assert loss == pytest.approx(runs[0][1], abs=1e-6)
    with pytest.raises(ValueError, match="gradient_accumulation_steps must be >= 1 "
                       "and divide the batch of 4, got 3"):
        sft_train(tiny_model(), examples,
                  SFTConfig(steps=1, batch_size=4, warmup_steps=0,
                            gradient_accumulation_steps=3), PAD)


def test_sft_rejects_examples_without_assistant_tokens() -> None:
    with pytest.raises(ValueError, match="no assistant token"):
        sft_train(tiny_model(), [ChatExample([1, 2, 3], [0, 0, 0])], SFTConfig(), PAD)
    with pytest.raises(ValueError, match="steps must be > 0"):
        SFTConfig(steps=0)


def test_encode_dataset_reports_what_does_not_fit() -> None:
    convs = [[Message("user", "q"), Message("assistant", "a" * 50)],
             [Message("user", "q"), Message("assistant", "short")]]
    with pytest.warns(UserWarning, match="1 left out"):
        enc = encode_dataset(TOK, convs, max_tokens=20)
    assert enc.too_long == [0] and len(enc.examples) == 1


def test_reward_model_starts_at_zero_and_learns_the_preference() -> None:
    rm = RewardModel(tiny_model())
    acc, chosen, rejected = reward_accuracy(rm, TOK, PAIRS, PAD)
    assert (chosen == 0).all() and (rejected == 0).all() and acc == 0.0
    history = train_reward_model(
        rm, TOK, PAIRS, RewardConfig(steps=30, batch_size=4, lr=3e-3), PAD
    )
    acc, chosen, rejected = reward_accuracy(rm, TOK, PAIRS, PAD)
    assert acc == 1.0 and history[-1]["loss"] < 0.3


def test_reward_is_read_at_the_last_real_token() -> None:
    rm = RewardModel(tiny_model())
    torch.nn.init.normal_(rm.backbone.output.weight)
    ids = torch.tensor([[5, 6, 7, 0, 0], [5, 6, 7, 8, 9]])
    short = rm(ids, torch.tensor([3, 5]))
    alone = rm(torch.tensor([[5, 6, 7]]), torch.tensor([3]))
    torch.testing.assert_close(short[0], alone[0], rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="lengths"):
        rm(ids, torch.tensor([0, 5]))


def test_dpo_starts_at_log2_and_raises_the_margin() -> None:
    policy = tiny_model()
    ref = frozen_copy(policy)
    chosen, rejected = zip(*(pair_examples(TOK, p, 64) for p in PAIRS))
    start = dpo_batch(policy, ref, chosen, rejected, 0.1, PAD)
    assert start.loss.item() == pytest.approx(0.6931472, abs=1e-5)
    history = dpo_train(
        policy, ref, TOK, PAIRS, DPOConfig(steps=20, batch_size=4, lr=3e-3), PAD
    )
    end = dpo_batch(policy, ref, chosen, rejected, 0.1, PAD)
    assert end.accuracy.item() == 1.0 and end.margin.mean() > 0.5
    assert history[-1]["loss"] < history[0]["loss"]
    with pytest.raises(ValueError, match="frozen"):
        config = DPOConfig(steps=1, warmup_steps=0)
        dpo_train(policy, tiny_model(), TOK, PAIRS, config, PAD)


def test_sample_group_cuts_after_the_stop_token() -> None:
    model = tiny_model()
    g = torch.Generator().manual_seed(0)
    groups = sample_group(model, [1, 2, 3], 6, 5, 1.0, END, g)
    assert len(groups) == 6
    for c in groups:
        assert 1 <= len(c) <= 5
        assert END not in c[:-1]
    inputs, targets = rollout_batch([[1, 2, 3]], [groups], PAD)
    for row, c in enumerate(groups):
        assert (targets[row] != -100).sum() == len(c)


def vowel_task():
    """A tiny policy, its frozen reference, a prompt and the reward "the first
    sampled byte is a vowel", with the policy's probability of a vowel."""
    torch.manual_seed(0)
    policy = tiny_model()
    ref = frozen_copy(policy)
    prompt = encode_chat(TOK, [Message("user", "say a vowel")],
                         add_generation_prompt=True).ids
    vowels = torch.tensor(list(b"aeiouAEIOU"))

    def reward(_: object, completions: list[list[int]]) -> list[float]:
        return [float(c[0] in vowels) for c in completions]

    def vowel_mass() -> float:
        with torch.no_grad():
            p = policy(torch.tensor([prompt]))[0, -1].softmax(-1)
        return p[vowels].sum().item()

    return policy, ref, prompt, reward, vowel_mass


def test_grpo_raises_a_learnable_reward() -> None:
    """Reward: the first sampled byte is a vowel. GRPO must make vowels likelier."""
    policy, ref, prompt, reward, vowel_mass = vowel_task()
    before = vowel_mass()
    config = GRPOConfig(iterations=15, prompts_per_iteration=2, group_size=16,
                        max_new_tokens=1, lr=1e-2, kl_coef=0.0)
    history = grpo_train(policy, ref, [prompt], reward, config, END, PAD)
    assert vowel_mass() > 5 * before
    assert history[-1]["reward"] > history[0]["reward"]
    assert history[-1]["kl"] > 0


@pytest.mark.parametrize("variant", [{}, {"length_normalization": "sequence"}])
def test_grpo_accumulation_gives_the_update_of_one_batch(variant) -> None:
    """Two prompts x 4 replies of uneven lengths, split into 1, 2 or 8 parts."""
    policy, _, prompt, _, _ = vowel_task()
    hidden: list[torch.Tensor] = []
    hook = policy.norm.register_forward_hook(lambda m, i, o: hidden.append(o))
    sample_group(policy, prompt, 8, 4, 1.0, END, torch.Generator().manual_seed(0))
    hook.remove()
    with torch.no_grad():  # make the stop token likely: replies of 1 to 4 tokens
        h = torch.cat([x.flatten(0, 1) for x in hidden]).mean(0)
        policy.output.weight[END] = 4 * h / h.norm()
    ref, start = frozen_copy(policy), params(policy)

    def reward(_: object, completions: list[list[int]]) -> list[float]:
        return [float(c[0] % 2 == 0) for c in completions]

    runs = []
    for accumulation in (1, 2, 8):
        policy.load_state_dict(dict(zip(dict(policy.named_parameters()), start)))
        config = GRPOConfig(iterations=1, prompts_per_iteration=2, group_size=4,
                            max_new_tokens=4, lr=1e-2, kl_coef=0.1, epochs=2,
                            gradient_accumulation_steps=accumulation, **variant)
        history = grpo_train(policy, ref, [prompt], reward, config, END, PAD)
        runs.append((params(policy), history[0]))
    first = runs[0][1]
    assert 1 < first["length"] < 4 and 0 < first["reward"] < 1  # uneven, learnable
    for p, h in runs[1:]:
        assert_same_params(p, runs[0][0], start)
        assert h["length"] == first["length"]  # the same rollouts
        assert h["loss"] == pytest.approx(first["loss"], rel=1e-5, abs=1e-6)
        assert h["kl"] == pytest.approx(first["kl"], rel=1e-5, abs=1e-7)
    assert first["kl"] > 0


@pytest.mark.parametrize(
    "variant",
    [{}, {"loss_type": "no_baseline"}, {"loss_type": "reinforce_with_baseline"},
     {"length_normalization": "sequence"},
     {"length_normalization": "constant", "normalize_constant": 1.0},
     {"normalize_by_std": False}, {"clip": 1.5}],
)
def test_every_grpo_variant_raises_the_reward(variant) -> None:
    """The standard variants (pg.py), chosen by config, all learn the vowel task."""
    policy, ref, prompt, reward, vowel_mass = vowel_task()
    before = vowel_mass()
    config = GRPOConfig(iterations=15, prompts_per_iteration=2, group_size=16,
                        max_new_tokens=1, lr=1e-2, kl_coef=0.0, **variant)
    grpo_train(policy, ref, [prompt], reward, config, END, PAD)
    assert vowel_mass() > 3 * before


def test_stage_keys_omit_later_defaults_and_carry_the_revision() -> None:
    """A field added later, at its default, leaves the key as it was; GRPO's
    ``revision`` (its arithmetic's version) is part of every key of it."""
    import hashlib
    import json
    from dataclasses import asdict

    from llm_from_scratch.align.stage_cache import stage_dir, weights_hash

    class Data:
        def fingerprint(self) -> str:
            return "data"

    model = tiny_model()

    def earlier_key(name: str, config: object, suffix: str = "") -> str:
        values = {k: v for k, v in asdict(config).items()
                  if k not in config.added_later}
        parts = f"{name}|{json.dumps(values, sort_keys=True, default=str)}|data|"
        parts += weights_hash(model) + suffix
        return f"{name}-{hashlib.sha256(parts.encode()).hexdigest()[:16]}"

    config = GRPOConfig(iterations=3)
    expected = earlier_key("rl", config, f"|revision {GRPOConfig.revision}")
    assert stage_dir("rl", model, config, Data()).name == expected
    sft = SFTConfig(steps=3, warmup_steps=0)
    assert stage_dir("sft", model, sft, Data()).name == earlier_key("sft", sft)
    for variant in (GRPOConfig(iterations=3, length_normalization="sequence"),
                    GRPOConfig(iterations=3, gradient_accumulation_steps=2)):
        assert stage_dir("rl", model, variant, Data()) != stage_dir(
            "rl", model, config, Data())


def test_grpo_config_validation() -> None:
    with pytest.raises(ValueError, match="group_size"):
        GRPOConfig(group_size=1)
    with pytest.raises(ValueError, match="kl_coef"):
        GRPOConfig(kl_coef=-1)
    with pytest.raises(ValueError, match="loss_type must be one of"):
        GRPOConfig(loss_type="ppo")
    with pytest.raises(ValueError, match="length_normalization must be one of"):
        GRPOConfig(length_normalization="mean")
    with pytest.raises(ValueError, match="normalize_constant must be > 0"):
        GRPOConfig(length_normalization="constant")


def test_sample_groups_batches_equal_lengths_like_single_calls() -> None:
    from llm_from_scratch.align.grpo import sample_groups

    model = tiny_model()
    prompts = [[1, 2, 3], [4, 5], [6, 7, 8]]
    groups = sample_groups(model, prompts, 3, 4, 0.0, END, torch.Generator())
    for p, group in zip(prompts, groups):
        assert group == sample_group(model, p, 3, 4, 0.0, END, torch.Generator())


def test_task_reward_of_finished_and_cut_off_replies() -> None:
    # a reply cut by max_new_tokens reads "even " but may go on ("even 20")
    from llm_from_scratch.align.data import task_prompt
    from llm_from_scratch.align.pipeline import encode_prompt, task_reward_fn

    prompt = encode_prompt(TOK, task_prompt("parity", 1, 8))
    even, odd = TOK.encode_ordinary("even"), TOK.encode_ordinary("odd")
    replies = [[*even, END], [*odd, END], even, [*even, *TOK.encode_ordinary(" ")], []]
    strict = task_reward_fn(TOK, "parity", [(1, 8)], finished_only=True)
    assert strict(prompt, replies) == [1.0, 0.0, 0.0, 0.0, 0.0]
    # the recipe's default grades a cut-off reply on its text so far
    assert task_reward_fn(TOK, "parity", [(1, 8)])(prompt, replies) == [1.0, 0.0, 1.0, 1.0, 0.0]
