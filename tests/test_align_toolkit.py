"""The alignment toolkit (pg.py, steps.py, masked reductions) on hand-checked
tensors, and micro-batch accumulation against one large batch."""

from __future__ import annotations

import copy
import math
from collections.abc import Iterator
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from llm_from_scratch.align import (
    aggregate_token_loss,
    clipped_surrogate,
    compute_group_normalized_rewards,
    compute_grpo_clip_loss,
    compute_policy_gradient_loss,
    get_response_log_probs,
    group_advantages,
    group_normalize,
    grpo_microbatch_train_step,
    masked_mean,
    masked_normalize,
    sft_microbatch_train_step,
    tokenize_prompt_and_output,
)
from llm_from_scratch.model import ModelConfig, Transformer
from test_align_support import ByteChatTokenizer

NAN = float("nan")
X = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
M = torch.tensor([[1, 0, 1], [0, 0, 0]])


@pytest.fixture(autouse=True)
def single_thread() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def close(actual: torch.Tensor, expected: list | float) -> None:
    torch.testing.assert_close(
        actual, torch.tensor(expected), rtol=1e-6, atol=1e-6, equal_nan=True
    )


# --- masked reductions ---------------------------------------------------------


@pytest.mark.parametrize(
    "dim, expected",
    [(None, 2.0), (0, [1.0, NAN, 3.0]), (1, [2.0, NAN]), (-1, [2.0, NAN])],
)
def test_masked_mean_empty_slice_is_nan(dim: int | None, expected) -> None:
    close(masked_mean(X, M, dim), expected)  # the default: torch's convention
    close(masked_mean(X, M, dim, empty="nan"), expected)


def test_masked_mean_can_reject_empty_slices() -> None:
    with pytest.raises(ValueError, match="empty mask"):
        masked_mean(X, M, dim=1, empty="raise")
    with pytest.raises(ValueError, match="empty must be"):
        masked_mean(X, M, empty="zero")


def _masked_mean_before_the_toolkit(x, mask, dim=None):  # frozen copy, do not edit
    mask = mask.to(x.dtype)
    count = mask.sum() if dim is None else mask.sum(dim)
    if bool((count == 0).any()):
        raise ValueError("masked_mean over an empty mask (no position is selected)")
    total = (x * mask).sum() if dim is None else (x * mask).sum(dim)
    return total / count


@pytest.mark.parametrize("dim", [None, 0, 1, -1, 2])
@pytest.mark.parametrize("as_bool", [True, False])
def test_masked_mean_is_bit_identical_to_the_old_formula(dim, as_bool) -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(5, 7, 9, generator=g)
    mask = torch.rand(5, 7, 9, generator=g) < 0.7
    mask = mask if as_bool else mask.float()
    old = _masked_mean_before_the_toolkit(x, mask, dim)
    assert torch.equal(masked_mean(x, mask, dim), old)
    assert torch.equal(masked_mean(x, mask, dim, empty="nan"), old)


@pytest.mark.parametrize(
    "dim, expected",
    [(None, 2.0), (0, [0.5, 0.0, 1.5]), (1, [2.0, 0.0]), (-1, [2.0, 0.0])],
)
def test_masked_normalize_divides_the_masked_sum(dim, expected) -> None:
    close(masked_normalize(X, M, 2.0, dim), expected)
    assert masked_normalize(X, torch.zeros_like(M), 3.0).item() == 0.0


def test_masked_normalize_rejects_bad_input() -> None:
    shapes = r"mask must have the shape of x \(2, 3\), got \(3,\)"
    with pytest.raises(ValueError, match=shapes):
        masked_normalize(X, torch.ones(3), 1.0)
    for constant in (0.0, -1.0):
        with pytest.raises(ValueError, match="normalize_constant must be > 0"):
            masked_normalize(X, M, constant)


# --- advantages ----------------------------------------------------------------


def exact_match(response: str, truth: str) -> dict[str, float]:
    return {"reward": float(response == truth), "format": 1.0}


def test_group_normalized_rewards_by_hand() -> None:
    responses, truths = ["4", "5", "4", "4"], ["4"] * 4
    adv, raw, meta = compute_group_normalized_rewards(
        exact_match, responses, truths, 2, 1e-6, True
    )
    close(raw, [1.0, 0.0, 1.0, 1.0])
    a = 0.5 / (math.sqrt(0.5) + 1e-6)  # group 0: mean 1/2, unbiased std sqrt(1/2)
    close(adv, [a, -a, 0.0, 0.0])  # group 1 all right: nothing to learn
    assert meta == pytest.approx(
        {"mean": 0.75, "std": 0.5, "max": 1.0, "min": 0.0}  # sqrt(0.75 / 3)
    )
    adv, _, _ = compute_group_normalized_rewards(
        exact_match, responses, truths, 2, 1e-6, False
    )
    close(adv, [0.5, -0.5, 0.0, 0.0])  # Dr. GRPO: no division by the std


def test_group_normalize_matches_group_advantages_bit_for_bit() -> None:
    rewards = torch.rand(6, 4, generator=torch.Generator().manual_seed(1))
    assert torch.equal(
        group_normalize(rewards.flatten(), 4), group_advantages(rewards).flatten()
    )


def test_group_rewards_reject_bad_input() -> None:
    with pytest.raises(ValueError, match=r"rollout_responses \(2\).*\(3\)"):
        compute_group_normalized_rewards(
            exact_match, ["a", "b"], ["a"] * 3, 2, 1e-6, True
        )
    with pytest.raises(ValueError, match="group_size must be >= 1 and divide the 3"):
        group_normalize(torch.ones(3), 2)
    with pytest.raises(ValueError, match=r"rewards must be 1-D \(B,\), got \(3, 1\)"):
        group_normalize(torch.ones(3, 1), 1)


# --- per-token policy-gradient losses --------------------------------------------

LOGP = torch.tensor([[-1.0, -2.0], [-0.5, -1.0]])


def test_no_baseline_and_reinforce_with_baseline() -> None:
    loss, meta = compute_policy_gradient_loss(
        LOGP, "no_baseline", raw_rewards=torch.tensor([[1.0], [0.0]])
    )
    close(loss, [[1.0, 2.0], [0.0, 0.0]])
    assert meta == {}
    loss, _ = compute_policy_gradient_loss(
        LOGP, "reinforce_with_baseline", advantages=torch.tensor([[2.0], [-1.0]])
    )
    close(loss, [[2.0, 4.0], [-0.5, -1.0]])
    per_token = torch.tensor([[1.0, -1.0], [0.5, 2.0]])  # (B, T) advantages work too
    loss, _ = compute_policy_gradient_loss(
        LOGP, "reinforce_with_baseline", advantages=per_token
    )
    close(loss, [[1.0, -2.0], [0.25, 2.0]])


# ratios [[1.5, 0.5], [1.05, 0.5]], advantage +1 on row 0 and -1 on row 1
RATIO = torch.tensor([[1.5, 0.5], [1.05, 0.5]])
OLD = torch.tensor([[-1.0, -1.0], [-2.0, -2.0]])
ADV = torch.tensor([[1.0], [-1.0]])


def test_grpo_clip_small_cliprange_by_hand() -> None:
    logp = (OLD + RATIO.log()).requires_grad_()
    loss, meta = compute_policy_gradient_loss(
        logp, "grpo_clip", advantages=ADV, old_log_probs=OLD, cliprange=0.1
    )
    # row 0, A>0: 1.5 is capped at 1.1; 0.5 stays (the min keeps the pessimistic term)
    # row 1, A<0: 1.05 is inside [0.9, 1.1]; 0.5 is raised to 0.9
    close(loss, [[-1.1, -0.5], [1.05, 0.9]])
    assert meta["clipped"].tolist() == [[True, False], [False, True]]
    close(meta["clip_fraction"], 0.5)
    close(meta["ratio"], RATIO.tolist())
    loss.sum().backward()  # d(-r A)/d log pi = -r A where unclipped, 0 where clipped
    close(logp.grad, [[0.0, -0.5], [1.05, 0.0]])


def test_grpo_clip_large_cliprange_only_caps_increases() -> None:
    ratio = torch.tensor([[1.5, 0.5], [20.0, 0.01]])
    loss, meta = compute_grpo_clip_loss(ADV, OLD + ratio.log(), OLD, 10.0)
    # 1 - 10 < 0 never binds; 1 + 10 = 11 caps the ratio of 20 (A > 0 only)
    close(loss, [[-1.5, -0.5], [20.0, 0.01]])
    assert not meta["clipped"].any()
    loss, meta = compute_grpo_clip_loss(ADV.flip(0), OLD + ratio.log(), OLD, 10.0)
    close(loss, [[1.5, 0.5], [-11.0, -0.01]])
    assert meta["clipped"].tolist() == [[False, False], [True, False]]
    close(meta["clip_fraction"], 0.25)


def test_grpo_clip_averaged_equals_clipped_surrogate() -> None:
    g = torch.Generator().manual_seed(2)
    logp, old = -torch.rand(4, 6, generator=g), -torch.rand(4, 6, generator=g)
    adv, mask = torch.randn(4, generator=g), torch.rand(4, 6, generator=g) < 0.8
    loss, _ = compute_grpo_clip_loss(adv[:, None], logp, old, 0.2)
    expected, _ = clipped_surrogate(logp, old, adv, mask, 0.2)
    assert torch.equal(masked_mean(loss, mask), expected)


def test_policy_gradient_loss_rejects_bad_input() -> None:
    adv = torch.ones(2, 1)
    with pytest.raises(ValueError, match="loss_type must be one of .*'ppo'"):
        compute_policy_gradient_loss(LOGP, "ppo", advantages=adv)
    with pytest.raises(ValueError, match="'no_baseline' needs raw_rewards"):
        compute_policy_gradient_loss(LOGP, "no_baseline", advantages=adv)
    with pytest.raises(ValueError, match="needs old_log_probs, cliprange"):
        compute_policy_gradient_loss(LOGP, "grpo_clip", advantages=adv)
    with pytest.raises(
        ValueError, match=r"advantages must have shape \(2, 1\) or \(2, 2\).*got \(2,\)"
    ):
        compute_policy_gradient_loss(
            LOGP, "reinforce_with_baseline", advantages=torch.ones(2)
        )
    with pytest.raises(ValueError, match=r"raw_rewards_or_advantages .* got \(3, 1\)"):
        compute_policy_gradient_loss(LOGP, "no_baseline", raw_rewards=torch.ones(3, 1))
    with pytest.raises(ValueError, match=r"old_log_probs .* \(2, 2\), got \(2, 3\)"):
        compute_grpo_clip_loss(adv, LOGP, torch.zeros(2, 3), 0.2)
    for clip in (0.0, -0.1):
        with pytest.raises(ValueError, match=f"cliprange must be > 0, got {clip}"):
            compute_grpo_clip_loss(adv, LOGP, LOGP, clip)
    with pytest.raises(ValueError, match=r"must be \(B, T\), got \(2,\)"):
        compute_policy_gradient_loss(LOGP[0], "no_baseline", raw_rewards=adv)


# --- length normalisation --------------------------------------------------------

LOSS = torch.tensor([[1.0, 2.0, 3.0], [4.0, 9.0, 9.0]])
MASK = torch.tensor([[1, 1, 1], [1, 0, 0]], dtype=torch.bool)


def test_length_normalizations_by_hand() -> None:
    close(aggregate_token_loss(LOSS, MASK), 3.0)  # ((1+2+3)/3 + 4/1) / 2
    close(aggregate_token_loss(LOSS, MASK, "token"), 2.5)  # (1+2+3+4) / 4
    close(aggregate_token_loss(LOSS, MASK, "constant", 4.0), 1.25)  # (6/4 + 4/4) / 2


def test_length_normalization_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="normalization must be one of .*'tokens'"):
        aggregate_token_loss(LOSS, MASK, "tokens")
    with pytest.raises(ValueError, match="'constant' needs normalize_constant"):
        aggregate_token_loss(LOSS, MASK, "constant")
    with pytest.raises(ValueError, match=r"loss \(2, 3\) and mask \(2, 2\)"):
        aggregate_token_loss(LOSS, MASK[:, :2])
    empty_row = MASK.clone()
    empty_row[1] = False
    with pytest.raises(ValueError, match=r"rows \[1\] have no response token"):
        aggregate_token_loss(LOSS, empty_row)
    close(aggregate_token_loss(LOSS, empty_row, "token"), 2.0)
    with pytest.raises(ValueError, match="selects no response token"):
        aggregate_token_loss(LOSS, torch.zeros_like(MASK), "token")


# --- model-facing steps ------------------------------------------------------------


def tiny_model(seed: int = 0) -> Transformer:
    torch.manual_seed(seed)
    return Transformer(ModelConfig(vocab_size=16, d_model=16, n_layers=1, n_heads=2))


class WithLogits(nn.Module):
    """A transformers-style model: the forward returns an object with .logits."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, ids: torch.Tensor) -> SimpleNamespace:
        return SimpleNamespace(logits=self.inner(ids))


def test_get_response_log_probs_tensor_and_object_outputs() -> None:
    model = tiny_model()
    ids = torch.randint(16, (2, 5), generator=torch.Generator().manual_seed(3))
    labels = torch.roll(ids, -1, dims=1)
    out = get_response_log_probs(model, ids, labels, return_token_entropy=True)
    logp = model(ids).log_softmax(-1)
    close(out["log_probs"], logp.gather(-1, labels[..., None])[..., 0].tolist())
    close(out["token_entropy"], (-(logp.exp() * logp).sum(-1)).tolist())
    assert out["log_probs"].requires_grad and not out["token_entropy"].requires_grad
    wrapped = get_response_log_probs(WithLogits(model), ids, labels)
    assert set(wrapped) == {"log_probs"}
    assert torch.equal(wrapped["log_probs"], out["log_probs"])
    with pytest.raises(ValueError, match=r"\(2, 5\) and \(2, 4\)"):
        get_response_log_probs(model, ids, labels[:, :4])


def test_uniform_model_log_probs_and_entropy() -> None:
    class Uniform(nn.Module):
        def forward(self, ids: torch.Tensor) -> torch.Tensor:
            return torch.zeros(*ids.shape, 8)

    ids = torch.zeros(1, 3, dtype=torch.long)
    out = get_response_log_probs(Uniform(), ids, ids, return_token_entropy=True)
    close(out["log_probs"], [[-math.log(8)] * 3])
    close(out["token_entropy"], [[math.log(8)] * 3])


class LetterTokenizer:
    """a=1, b=2, ...; like transformers, encode adds a BOS (99) unless told not to."""

    pad_token_id = 0

    def encode(self, text: str, add_special_tokens: bool = True) -> list[int]:
        return [99] * add_special_tokens + [ord(c) - 96 for c in text]


def test_tokenize_prompt_and_output_by_hand() -> None:
    out = tokenize_prompt_and_output(["ab", "c"], ["cd", "ab"], LetterTokenizer())
    # rows: a b | c d  and  c | a b pad
    assert out["input_ids"].tolist() == [[1, 2, 3], [3, 1, 2]]
    assert out["labels"].tolist() == [[2, 3, 4], [1, 2, 0]]
    assert out["response_mask"].tolist() == [[False, True, True], [True, True, False]]
    assert out["input_ids"].dtype == torch.long
    assert out["response_mask"].dtype == torch.bool
    out = tokenize_prompt_and_output(["ab"], ["c"], LetterTokenizer(), pad_id=7)
    assert out["labels"].tolist() == [[2, 3]]
    with pytest.raises(ValueError, match=r"prompt_strs \(1\) and output_strs \(2\)"):
        tokenize_prompt_and_output(["a"], ["b", "c"], LetterTokenizer())


def test_tokenize_a_chat_template_with_the_book_tokenizer_protocol() -> None:
    tok = ByteChatTokenizer()  # bytes 0-255, specials 256-260, encode_ordinary only
    names = ("<|user|>", "<|end|>", "<|assistant|>")
    user, end, bot = (tok.special_tokens[s] for s in names)
    out = tokenize_prompt_and_output(
        ["<|user|>hi<|end|><|assistant|>"], ["ok<|end|>"], tok
    )
    full = [user, *b"hi", end, bot, *b"ok", end]
    assert out["input_ids"].tolist() == [full[:-1]]
    assert out["labels"].tolist() == [full[1:]]
    assert out["response_mask"].tolist() == [[False] * 4 + [True] * 3]
    assert tokenize_prompt_and_output(["a"], ["b"], tok)["labels"].tolist() == [[98]]
    with pytest.raises(ValueError, match="under two tokens"):
        tokenize_prompt_and_output([""], ["b"], tok)


# --- micro-batch steps: accumulation equals one large batch ---------------------------

B, T = 4, 6


def rollout() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(4)
    ids = torch.randint(16, (B, T), generator=g)
    labels = torch.randint(16, (B, T), generator=g)
    lengths = torch.tensor([1, 3, 6, 2])  # uneven replies
    mask = torch.arange(T)[None, :] < lengths[:, None]
    advantages = torch.randn(B, 1, generator=g)
    return ids, labels, mask, advantages


def grads(model: nn.Module) -> list[torch.Tensor]:
    return [p.grad.clone() for p in model.parameters()]


def run_steps(model, step, micro: int, **kwargs) -> list[torch.Tensor]:
    ids, labels, mask, advantages = rollout()
    with torch.no_grad():
        old = get_response_log_probs(model, ids, labels)["log_probs"]
        old = old + 0.3 * torch.randn(B, T, generator=torch.Generator().manual_seed(5))
    model.zero_grad()
    size = B // micro
    for k in range(micro):
        rows = slice(k * size, (k + 1) * size)
        logp = get_response_log_probs(model, ids[rows], labels[rows])["log_probs"]
        if step is sft_microbatch_train_step:
            step(logp, mask[rows], micro, **kwargs)
        else:
            step(logp, mask[rows], micro, "grpo_clip", advantages=advantages[rows],
                 old_log_probs=old[rows], cliprange=0.1, **kwargs)
    return grads(model)


@pytest.mark.parametrize(
    "step, kwargs",
    [
        (sft_microbatch_train_step, {}),
        (sft_microbatch_train_step, {"normalize_constant": 6.0}),
        (grpo_microbatch_train_step, {"length_normalization": "sequence"}),
        (grpo_microbatch_train_step,
         {"length_normalization": "constant", "normalize_constant": 6.0}),
    ],
)
def test_accumulated_micro_batches_equal_one_large_batch(step, kwargs) -> None:
    model = tiny_model()
    large = run_steps(copy.deepcopy(model), step, 1, **kwargs)
    for micro in (2, 4):
        accumulated = run_steps(copy.deepcopy(model), step, micro, **kwargs)
        for a, b in zip(accumulated, large):
            torch.testing.assert_close(a, b, rtol=0, atol=1e-6)
    assert any(bool(g.abs().gt(1e-4).any()) for g in large)  # the check has teeth


def test_token_level_mean_does_not_split_over_uneven_micro_batches() -> None:
    model = tiny_model()
    step, kwargs = grpo_microbatch_train_step, {"length_normalization": "token"}
    large = run_steps(copy.deepcopy(model), step, 1, **kwargs)
    halves = run_steps(copy.deepcopy(model), step, 2, **kwargs)  # 4 vs 8 tokens
    assert not all(torch.allclose(a, b, atol=1e-6) for a, b in zip(halves, large))


def test_microbatch_steps_return_the_scaled_loss_and_metadata() -> None:
    logp = LOGP.clone().requires_grad_()
    mask = torch.tensor([[1, 1], [1, 0]], dtype=torch.bool)
    loss, meta = sft_microbatch_train_step(logp, mask, 2, normalize_constant=2.0)
    close(loss, 0.5 * ((1 + 2) / 2 + 0.5 / 2) / 2)
    close(meta["unscaled_loss"], ((1 + 2) / 2 + 0.5 / 2) / 2)
    assert meta["response_tokens"].item() == 3
    close(logp.grad, [[-0.125, -0.125], [-0.125, 0.0]])

    logp = (OLD + RATIO.log()).requires_grad_()
    loss, meta = grpo_microbatch_train_step(
        logp, mask, 1, "grpo_clip", advantages=ADV, old_log_probs=OLD, cliprange=0.1
    )
    close(loss, ((-1.1 - 0.5) / 2 + 1.05) / 2)
    close(meta["clip_fraction"], 1 / 3)  # one of the three response tokens


def test_grpo_step_adds_the_kl_penalty_inside_the_reduction() -> None:
    """With a reference, the per-token loss gains kl_coef * k3 before reducing."""
    mask = torch.tensor([[1, 1], [1, 0]], dtype=torch.bool)
    ref = torch.tensor([[-1.0, -2.0], [-0.5, -3.0]])
    logp = (OLD + RATIO.log()).requires_grad_()
    loss, meta = grpo_microbatch_train_step(
        logp, mask, 1, "grpo_clip", advantages=ADV, old_log_probs=OLD,
        cliprange=0.1, ref_log_probs=ref, kl_coef=0.5,
    )
    with torch.no_grad():
        k3 = (ref - logp).exp() - 1 - (ref - logp)
    close(loss, ((-1.1 - 0.5) / 2 + 1.05) / 2
          + 0.5 * ((k3[0, 0] + k3[0, 1]) / 2 + k3[1, 0]) / 2)
    close(meta["kl"], (k3[0, 0] + k3[0, 1] + k3[1, 0]) / 3)
    with pytest.raises(ValueError, match=r"ref_log_probs must match .*\(2, 2\)"):
        grpo_microbatch_train_step(
            logp.detach().requires_grad_(), mask, 1, "no_baseline",
            raw_rewards=torch.ones(2, 1), ref_log_probs=ref[:, :1], kl_coef=0.5,
        )


def test_microbatch_steps_reject_bad_input() -> None:
    logp = LOGP.clone().requires_grad_()
    shapes = r"response_mask the same shape, got \(2, 2\) and \(2, 3\)"
    with pytest.raises(ValueError, match=shapes):
        sft_microbatch_train_step(logp, torch.ones(2, 3), 1)
    with pytest.raises(ValueError, match="accumulation_steps must be >= 1, got 0"):
        grpo_microbatch_train_step(logp, torch.ones(2, 2), 0, "no_baseline",
                                   raw_rewards=torch.ones(2, 1))
    with pytest.raises(ValueError, match="length_normalization must be one of"):
        grpo_microbatch_train_step(logp, torch.ones(2, 2), 1, "no_baseline",
                                   raw_rewards=torch.ones(2, 1),
                                   length_normalization="batch")
