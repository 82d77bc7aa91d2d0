"""Sampling and generation with the KV cache."""

import pytest
import torch

from llm_from_scratch.model import ModelConfig, Transformer, sample_next


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """These models are tiny: one thread is faster than several waiting on each
    other at every small matmul, especially on a shared machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def model() -> Transformer:
    torch.manual_seed(0)
    return Transformer(
        ModelConfig(
            vocab_size=50,
            d_model=32,
            n_layers=2,
            n_heads=4,
            n_kv_heads=2,
            max_seq_len=32,
        )
    )


def test_greedy_generation_equals_argmax_of_full_recomputation(model):
    prompt = torch.randint(0, 50, (3, 4))
    out = model.generate(prompt, 12, temperature=0)
    assert out.shape == (3, 16) and torch.equal(out[:, :4], prompt)
    seq = prompt
    for _ in range(12):  # no cache: recompute everything, take the argmax
        seq = torch.cat([seq, model(seq)[:, -1].argmax(-1, keepdim=True)], 1)
    assert torch.equal(out, seq)


def test_sampling_is_reproducible_with_a_generator(model):
    prompt = torch.randint(0, 50, (2, 3))
    a = model.generate(prompt, 8, top_k=10, generator=torch.Generator().manual_seed(1))
    b = model.generate(prompt, 8, top_k=10, generator=torch.Generator().manual_seed(1))
    assert torch.equal(a, b)


def test_stream_yields_what_generate_returns_and_stops(model):
    prompt = torch.randint(0, 50, (6,))
    full = model.generate(prompt[None], 10, temperature=0)[0, 6:].tolist()
    assert list(model.stream(prompt, 10, temperature=0)) == full
    stop = full[3]
    first = full.index(stop)
    assert (
        list(model.stream(prompt, 10, temperature=0, stop_tokens=[stop]))
        == full[: first + 1]
    )
    out = model.generate(prompt[None], 10, temperature=0, stop_tokens=[stop])
    assert out[0, 6:].tolist() == full[: first + 1]


def test_stopped_rows_are_padded_with_their_stop_token(model):
    prompt = torch.randint(0, 50, (2, 3))
    free = model.generate(prompt, 6, temperature=0)
    stop = int(free[0, 4])  # row 0 stops at its second new token
    out = model.generate(prompt, 6, temperature=0, stop_tokens=[stop])
    row0 = out[0, 3:].tolist()
    k = row0.index(stop)
    assert all(t == stop for t in row0[k:])


def test_top_k_and_top_p_restrict_the_support():
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]]))
    g = torch.Generator().manual_seed(0)
    draws = lambda **kw: {
        int(sample_next(logits, generator=g, **kw)) for _ in range(300)
    }
    assert draws(top_k=2) == {0, 1}
    assert draws(top_p=0.7) == {0, 1}  # 0.5 < 0.7 <= 0.8
    assert draws(top_p=0.5) == {0}
    assert draws() == {0, 1, 2, 3}
    assert int(sample_next(logits, temperature=0)) == 0


def test_sampling_frequencies_follow_the_distribution():
    probs = torch.tensor([0.6, 0.3, 0.1])
    g = torch.Generator().manual_seed(0)
    ids = sample_next(probs.log().expand(20000, 3), generator=g)
    freq = torch.bincount(ids, minlength=3) / 20000
    torch.testing.assert_close(freq, probs, rtol=0, atol=0.015)  # ~4 sigma


@pytest.mark.parametrize(
    "kw, msg",
    [
        (dict(temperature=-1), "temperature"),
        (dict(top_k=0), "top_k"),
        (dict(top_p=0.0), "top_p"),
        (dict(top_p=1.5), "top_p"),
    ],
)
def test_bad_sampling_arguments(model, kw, msg):
    with pytest.raises(ValueError, match=msg):
        model.generate(torch.zeros(1, 2, dtype=torch.long), 3, **kw)


def test_too_long_generation_is_an_error(model):
    with pytest.raises(ValueError, match="exceeds the model's 32 positions"):
        model.generate(torch.zeros(1, 30, dtype=torch.long), 4)
    with pytest.raises(ValueError, match="one prompt"):
        next(model.stream(torch.zeros(2, 3, dtype=torch.long), 4))
    assert model.generate(torch.zeros(1, 30, dtype=torch.long), 3).shape == (1, 33)
