"""Log-likelihood scoring against the plain definition and against
lm-evaluation-harness (its pair encoding, rolling windows and HF backend)."""

import math

import pytest
import torch

from llm_from_scratch.eval import (
    bits_per_byte,
    encode_pair,
    loglikelihood,
    rolling_loglikelihood,
    rolling_windows,
    score_one,
    score_tokens,
)
from llm_from_scratch.model import ModelConfig, Transformer
from llm_from_scratch.tokenizer import book_tokenizer
from test_eval_support import hflm_for


@pytest.fixture(scope="module")
def tok():
    return book_tokenizer()


@pytest.fixture(scope="module")
def model(tok):
    torch.manual_seed(0)
    m = Transformer(ModelConfig(vocab_size=tok.vocab_size, d_model=32, n_layers=2,
                                n_heads=2, max_seq_len=48))
    return m.eval()


PAIRS = [
    ("To be, or not to be", " that is the question"),
    ("To be, or not to be ", "that is the question"),  # space moves across
    ("Hello\n", "\nworld"),
    ("", "An empty context"),
    ("import os", ".path.join(a, b)"),
    ("The price is", " $1,234"),
    ("word" * 60, " long context is cut on the left"),
]


def test_encode_pair_matches_lm_eval(tok):
    from lm_eval.api.model import TemplateLM

    seen = []

    class Probe(TemplateLM):  # lm-eval's own encoding, our tokenizer
        backend = "causal"
        eot_token_id = tok.eot_id
        prefix_token_id = tok.eot_id

        def tok_encode(self, string, **kwargs):
            return tok.encode_ordinary(string)

        def _loglikelihood_tokens(self, requests, **kwargs):
            seen.extend((c, y) for _, c, y in requests)
            return [(0.0, False)] * len(requests)

        def loglikelihood_rolling(self, requests):
            return []

        def generate_until(self, requests):
            return []

    class Req:
        def __init__(self, args):
            self.args = args

    Probe().loglikelihood([Req(p) for p in PAIRS], disable_tqdm=True)
    assert [encode_pair(tok, c, y) for c, y in PAIRS] == seen


def test_batched_equals_unbatched(model, tok):
    pairs = [encode_pair(tok, c, y) for c, y in PAIRS]
    for batch_size in (1, 3, 32):
        batched = score_tokens(model, pairs, batch_size=batch_size)
        for (c, y), s in zip(pairs, batched):
            ref = score_one(model, c, y)
            assert s.n_tokens == ref.n_tokens == len(y)
            assert s.logprob == pytest.approx(ref.logprob, abs=1e-4)
            assert s.is_greedy == ref.is_greedy


def test_greedy_continuation_is_greedy(model, tok):
    ctx = tok.encode_ordinary("Once upon a time")
    out = model.generate(torch.tensor([ctx]), 5, temperature=0.0)[0, len(ctx):]
    s = score_tokens(model, [(ctx, out.tolist())])[0]
    assert s.is_greedy and s.logprob < 0


def test_left_truncation_keeps_continuation(model, tok):
    limit = model.config.max_positions
    ctx, cont = list(range(1, 200)), [5, 6, 7]
    s = score_tokens(model, [(ctx, cont)])[0]
    kept = score_tokens(model, [(ctx[-(limit - 2):], cont)])[0]
    assert s.logprob == pytest.approx(kept.logprob, abs=1e-5)
    with pytest.raises(ValueError, match="exceeds the model's context"):
        score_tokens(model, [([1], list(range(limit + 1)))])
    with pytest.raises(ValueError, match="no tokens"):
        score_tokens(model, [([1], [])])


def test_empty_continuation_names_the_request(model, tok):
    with pytest.raises(ValueError, match="request 1: continuation ''"):
        loglikelihood(model, tok, [("a", " b"), ("a", "")])


def test_rolling_windows_match_lm_eval():
    from lm_eval.utils import get_rolling_token_windows, make_disjoint_window

    for n in (0, 1, 5, 16, 17, 40, 101):
        tokens = list(range(100, 100 + n))
        ref = [make_disjoint_window(w) for w in get_rolling_token_windows(
            tokens, prefix_token=7, max_seq_len=16, context_len=1)]
        assert rolling_windows(tokens, 7, 16) == [(list(a), list(b)) for a, b in ref]


def test_rolling_loglikelihood_is_the_sum_over_tokens(model, tok):
    text = "The quality of mercy is not strained. " * 12
    ids = tok.encode_ordinary(text)
    assert len(ids) > model.config.max_positions
    total = rolling_loglikelihood(model, tok, [text])[0]
    # each token once: windows as lm-eval, scored one by one
    by_hand = sum(score_one(model, c, y).logprob
                  for c, y in rolling_windows(ids, tok.eot_id,
                                              model.config.max_positions))
    assert total == pytest.approx(by_hand, abs=1e-3)
    bpb, nats, n_bytes = bits_per_byte(model, tok, [text, "short"])
    assert n_bytes == [len(text), 5]
    assert bpb == pytest.approx(sum(nats) / math.log(2) / sum(n_bytes))
    # an untrained model is near uniform: log2(V) bits per token
    assert bpb > 3


@pytest.mark.slow
def test_scores_equal_lm_eval_hf_backend(model, tok):
    """lm-eval's HFLM on the same weights as transformers' Llama: the same
    log-likelihoods and greedy flags on the same token ids."""
    lm = hflm_for(model, tok)
    pairs = [encode_pair(tok, c, y) for c, y in PAIRS]
    theirs = lm._loglikelihood_tokens(
        [((c, y), a, b) for (c, y), (a, b) in zip(PAIRS, pairs)], disable_tqdm=True)
    ours = score_tokens(model, pairs, batch_size=4)
    for (ll, greedy), s in zip(theirs, ours):
        assert s.logprob == pytest.approx(ll, abs=1e-3)
        assert s.is_greedy == greedy


def test_shared_inputs_score_once_and_equal(model, tok):
    ctx = tok.encode_ordinary("Question: which?\nAnswer:")
    pairs = [(ctx, [t]) for t in (10, 11, 12, 13)] + [(ctx, [10])]
    scores = score_tokens(model, pairs)
    for (c, y), s in zip(pairs, scores):
        assert s.logprob == pytest.approx(score_one(model, c, y).logprob, abs=1e-5)
    assert scores[0] == scores[4]
