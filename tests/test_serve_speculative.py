"""Speculative decoding: greedy output is the target's exactly, and sampled output
has the target's distribution (chi-square against the exact probabilities,
enumerated with the target alone, on a vocabulary of 8)."""

from __future__ import annotations

import itertools

import pytest
import torch
from scipy import stats

from llm_from_scratch.model import ModelConfig, Transformer, sample_next
from llm_from_scratch.model.generation import sampling_probs
from llm_from_scratch.serve.speculative import (
    expected_tokens_per_round,
    speculative_generate,
    verify,
)


def model(vocab: int, d: int, layers: int, seed: int, sharpen: float = 1.0):
    torch.manual_seed(seed)
    cfg = ModelConfig(vocab_size=vocab, d_model=d, n_layers=layers, n_heads=2,
                      max_seq_len=64)
    m = Transformer(cfg).eval()
    with torch.no_grad():
        m.output.weight.mul_(sharpen)  # random models are near uniform otherwise
    return m


@pytest.mark.parametrize(
    "kw",
    [{"temperature": 1.0}, {"temperature": 0.7, "top_k": 5},
     {"temperature": 1.3, "top_p": 0.8}, {"temperature": 0.0}],
)
def test_sampling_probs_is_what_sample_next_draws_from(kw):
    logits = torch.randn(4, 50, generator=torch.Generator().manual_seed(0))
    probs = sampling_probs(logits, **kw)
    torch.testing.assert_close(probs.sum(-1), torch.ones(4))
    for seed in range(5):
        g1, g2 = (torch.Generator().manual_seed(seed) for _ in range(2))
        ref = sample_next(logits, generator=g1, **kw)
        if kw["temperature"] == 0:
            assert torch.equal(probs.argmax(-1), ref)
        else:
            assert torch.equal(torch.multinomial(probs, 1, generator=g2)[:, 0], ref)


def test_verify_rule_gives_the_target_distribution():
    g = torch.Generator().manual_seed(1)
    p = torch.softmax(torch.randn(2, 5, generator=g) * 2, -1)
    q = torch.softmax(torch.randn(1, 5, generator=g) * 2, -1)
    n = 20000
    counts = torch.zeros(5)
    for _ in range(n):
        x = int(torch.multinomial(q[0], 1, generator=g))
        kept, nxt = verify(p, q, [x], g)
        counts[x if kept else nxt] += 1
    assert stats.chisquare(counts.numpy(), (p[0] * n).numpy()).pvalue > 1e-3
    # the draft's own distribution is clearly rejected: the test has power
    assert stats.chisquare(counts.numpy(), (q[0] * n).numpy()).pvalue < 1e-6


@pytest.mark.parametrize("k", [0, 1, 3, 6])
def test_greedy_equals_target_alone(k):
    target, draft = model(61, 32, 2, seed=0), model(61, 16, 1, seed=1)
    g = torch.Generator().manual_seed(2)
    for n in (1, 7, 15):
        prompt = torch.randint(0, 61, (n,), generator=g).tolist()
        ref = target.generate(torch.tensor([prompt]), 20, temperature=0)[0, n:]
        out, st = speculative_generate(target, draft, prompt, 20, k=k, temperature=0)
        assert out == ref.tolist()
        assert st.proposed == 0 if k == 0 else st.proposed > 0
        stop = ref.tolist()[9]
        cut, _ = speculative_generate(
            target, draft, prompt, 20, k=k, temperature=0, stop_tokens=[stop]
        )
        assert cut == ref.tolist()[: ref.tolist().index(stop) + 1]


def test_draft_equal_to_target_is_always_accepted():
    target = model(61, 32, 2, seed=0)
    _, st = speculative_generate(target, target, [1, 2, 3], 24, k=4, temperature=0)
    assert st.acceptance_rate == 1.0 and st.rounds == 5  # 4 kept + 1 bonus a round
    g = torch.Generator().manual_seed(0)
    _, st = speculative_generate(target, target, [1, 2, 3], 24, k=4, generator=g)
    assert st.acceptance_rate == 1.0


def test_expected_tokens_per_round():
    assert expected_tokens_per_round(0.0, 4) == 1.0
    assert expected_tokens_per_round(1.0, 4) == 5.0
    assert expected_tokens_per_round(0.5, 2) == pytest.approx(1.75)


def test_bad_arguments():
    a, b = model(61, 32, 2, seed=0), model(60, 16, 1, seed=1)
    with pytest.raises(ValueError, match="vocab_size"):
        speculative_generate(a, b, [1], 4)
    with pytest.raises(ValueError, match="k must be"):
        speculative_generate(a, a, [1], 4, k=-1)
    with pytest.raises(ValueError, match="positions"):
        speculative_generate(a, a, [1] * 50, 10, k=4)
    with pytest.raises(ValueError, match="temperature"):
        speculative_generate(a, a, [1], 4, temperature=-1)


@torch.no_grad()
def exact_target(target: Transformer, prompt: list[int], kw: dict) -> tuple:
    """p(x1, x2) (64,) and p(x3) (8,) by enumeration with the target alone."""
    V = target.config.vocab_size

    def probs(ids: list[int]) -> torch.Tensor:
        return sampling_probs(target(torch.tensor([ids]))[0, -1], **kw)

    p1 = probs(prompt)
    joint = torch.zeros(V, V)
    third = torch.zeros(V)
    for a, b in itertools.product(range(V), range(V)):
        joint[a, b] = p1[a] * probs(prompt + [a])[b]
        third += joint[a, b] * probs(prompt + [a, b])
    return joint.flatten(), third


def chi2_pvalue(counts: torch.Tensor, probs: torch.Tensor) -> float:
    """Chi-square p-value, cells with expected count under 5 pooled."""
    n = float(counts.sum())
    expected = probs.double() * n
    small = expected < 5
    obs = torch.cat([counts[~small].double(), counts[small].double().sum()[None]])
    exp = torch.cat([expected[~small], expected[small].sum()[None]])
    if exp[-1] == 0:
        obs, exp = obs[:-1], exp[:-1]
    exp = exp * obs.sum() / exp.sum()
    return float(stats.chisquare(obs.numpy(), exp.numpy()).pvalue)


@pytest.mark.slow
def test_sampled_output_has_the_target_distribution():
    target = model(8, 16, 2, seed=3, sharpen=15.0)
    draft = model(8, 16, 1, seed=4, sharpen=15.0)
    prompt = [1, 5, 2]
    kw = {"temperature": 1.0, "top_k": 6}
    joint, third = exact_target(target, prompt, kw)
    n = 1500
    c12, c3 = torch.zeros(64), torch.zeros(8)
    accepted = 0
    for seed in range(n):
        g = torch.Generator().manual_seed(seed)
        out, st = speculative_generate(target, draft, prompt, 3, k=2, generator=g, **kw)
        c12[out[0] * 8 + out[1]] += 1
        c3[out[2]] += 1
        accepted += st.accepted
    assert 0.2 < accepted / (2 * n) < 0.95  # the draft really differs from the target
    assert chi2_pvalue(c12, joint) > 1e-3
    assert chi2_pvalue(c3, third) > 1e-3
    # power: the draft's own distribution of (x1, x2) is rejected
    d_joint, _ = exact_target(draft, prompt, kw)
    assert chi2_pvalue(c12, d_joint) < 1e-6
