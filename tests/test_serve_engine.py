"""Batched generation and continuous batching against the single-sequence path.

The reference is ``Transformer.generate`` (one prompt, the model's own KV cache):
every row of a batch, whatever its length and whenever it joined, must give the
tokens that prompt gives alone.
"""

from __future__ import annotations

import threading

import pytest
import torch

from llm_from_scratch.model import ModelConfig, Transformer
from llm_from_scratch.serve import ContinuousBatcher, SamplingParams
from llm_from_scratch.serve.batch import (
    RaggedKVCache,
    forward_rows,
    generate_batch,
    prefill_rows,
    ragged_mask,
)


def tiny(fast: bool = False, seed: int = 0) -> Transformer:
    torch.manual_seed(seed)
    cfg = ModelConfig(
        vocab_size=61, d_model=32, n_layers=2, n_heads=4, n_kv_heads=2,
        max_seq_len=64, fast=fast,
    )
    return Transformer(cfg).eval()


def prompts(lengths: list[int], seed: int = 1) -> list[list[int]]:
    g = torch.Generator().manual_seed(seed)
    return [torch.randint(0, 61, (n,), generator=g).tolist() for n in lengths]


def alone(model: Transformer, prompt: list[int], n: int, **kw) -> list[int]:
    out = model.generate(torch.tensor([prompt]), n, **kw)
    return out[0, len(prompt):].tolist()


# --- the model's attn_mask extension ---------------------------------------


@pytest.mark.parametrize("fast", [False, True])
def test_attn_mask_causal_equals_default(fast):
    m = tiny(fast)
    idx = torch.randint(0, 61, (2, 9))
    causal = torch.ones(9, 9, dtype=torch.bool).tril().expand(2, 1, 9, 9)
    torch.testing.assert_close(m(idx, attn_mask=causal), m(idx))
    # a mask that hides the first token changes every later position
    hide = causal.clone()
    hide[..., 1:, 0] = False
    assert not torch.allclose(m(idx, attn_mask=hide)[:, 1:], m(idx)[:, 1:])


def test_attn_mask_is_checked():
    m = tiny()
    idx = torch.randint(0, 61, (2, 5))
    with pytest.raises(ValueError, match="attn_mask must be boolean"):
        m(idx, attn_mask=torch.ones(5, 5, dtype=torch.bool))
    with pytest.raises(ValueError, match="attn_mask must be boolean"):
        m(idx, attn_mask=torch.ones(2, 1, 5, 5))


# --- the ragged cache --------------------------------------------------------


def test_ragged_mask():
    m = ragged_mask(torch.tensor([0, 2]), 2)
    assert m.shape == (2, 1, 2, 4)
    assert m[0, 0].tolist() == [[True, False, False, False], [True, True, False, False]]
    assert m[1, 0].tolist() == [[True, True, True, False], [True, True, True, True]]


@pytest.mark.parametrize("fast", [False, True])
def test_ragged_prefill_and_decode_match_single_sequence(fast):
    m = tiny(fast)
    ps = prompts([3, 11, 1, 7])
    cache = RaggedKVCache.for_model(m, 4, 32)
    with torch.no_grad():
        last = prefill_rows(m, cache, 0, [torch.tensor(p) for p in ps])
        for i, p in enumerate(ps):
            ref = m(torch.tensor([p]))[0, -1]
            torch.testing.assert_close(last[i], ref, atol=1e-5, rtol=1e-5)
        assert cache.lengths.tolist() == [3, 11, 1, 7]
        nxt = torch.tensor([[5], [6], [7], [8]])
        step = forward_rows(m, cache, 0, nxt)[:, -1]
        for i, p in enumerate(ps):
            ref = m(torch.tensor([p + [5 + i]]))[0, -1]
            torch.testing.assert_close(step[i], ref, atol=1e-5, rtol=1e-5)
        assert cache.lengths.tolist() == [4, 12, 2, 8]


def test_keep_rows_moves_keys_and_lengths():
    m = tiny()
    ps = prompts([2, 5, 3])
    cache = RaggedKVCache.for_model(m, 3, 16)
    with torch.no_grad():
        prefill_rows(m, cache, 0, [torch.tensor(p) for p in ps])
        k2 = cache.k[1][2, :, :3].clone()
        cache.keep_rows([2, 0])
        assert cache.lengths.tolist() == [3, 2, 0]
        torch.testing.assert_close(cache.k[1][0, :, :3], k2)
        step = forward_rows(m, cache, 0, torch.tensor([[4], [9]]))[:, -1]
        ref = m(torch.tensor([ps[2] + [4]]))[0, -1]
        torch.testing.assert_close(step[0], ref, atol=1e-5, rtol=1e-5)


def test_prefill_refuses_busy_rows_and_empty_prompts():
    m = tiny()
    cache = RaggedKVCache.for_model(m, 2, 16)
    with pytest.raises(ValueError, match="at least one token"):
        empty = torch.tensor([], dtype=torch.long)
        prefill_rows(m, cache, 0, [torch.tensor([1]), empty])
    with torch.no_grad():
        prefill_rows(m, cache, 0, [torch.tensor([1, 2])])
    with pytest.raises(ValueError, match="not empty"):
        prefill_rows(m, cache, 0, [torch.tensor([3])])


def test_kv_bytes_per_token_from_shapes():
    m = tiny()
    cache = RaggedKVCache.for_model(m, 1, 8)
    c = m.config
    assert cache.bytes_per_token() == 2 * c.n_layers * c.n_kv_heads * c.head_dim * 4


# --- static batching ---------------------------------------------------------


@pytest.mark.parametrize("fast", [False, True])
def test_generate_batch_greedy_equals_alone(fast):
    m = tiny(fast)
    ps = prompts([5, 1, 13, 8, 2])
    out = generate_batch(m, ps, 12)
    for p, o in zip(ps, out, strict=True):
        assert o == alone(m, p, 12, temperature=0)


def test_generate_batch_checks_lengths():
    m = tiny()
    with pytest.raises(ValueError, match="exceeds the model's 64 positions"):
        generate_batch(m, prompts([60]), 10)
    with pytest.raises(ValueError, match="max_new_tokens"):
        generate_batch(m, prompts([3]), 0)


# --- continuous batching -----------------------------------------------------


def test_sampling_params_validation_names_the_field():
    for kw, field in [
        ({"max_tokens": 0}, "max_tokens"),
        ({"temperature": -1.0}, "temperature"),
        ({"top_p": 0.0}, "top_p"),
        ({"top_k": 0}, "top_k"),
        ({"stop_token_ids": (1, -2)}, "stop_token_ids"),
        ({"seed": -1}, "seed"),
        ({"max_tokens": True}, "max_tokens"),
    ]:
        with pytest.raises(ValueError, match=field):
            SamplingParams(**kw)
    assert SamplingParams(stop_token_ids=[3, 4]).stop_token_ids == (3, 4)


def test_submit_checks_the_context():
    b = ContinuousBatcher(tiny(), max_seq_len=32)
    with pytest.raises(ValueError, match="max_tokens"):
        b.submit([1] * 20, SamplingParams(max_tokens=13))
    with pytest.raises(ValueError, match="prompt_ids"):
        b.submit([], SamplingParams())
    with pytest.raises(ValueError, match="prompt_ids"):
        b.submit([61], SamplingParams())
    with pytest.raises(ValueError, match="max_seq_len"):
        ContinuousBatcher(tiny(), max_seq_len=65)


@pytest.mark.parametrize("fast", [False, True])
def test_continuous_greedy_equals_alone_with_joins_and_leaves(fast):
    m = tiny(fast)
    lengths = [4, 9, 1, 15, 6, 3, 11]
    budgets = [10, 3, 14, 6, 1, 9, 5]
    ps = prompts(lengths, seed=3)
    b = ContinuousBatcher(m, max_batch_size=3)
    reqs = []
    for i, (p, n) in enumerate(zip(ps, budgets, strict=True)):
        reqs.append(b.submit(p, SamplingParams(max_tokens=n, temperature=0)))
        if i % 2:
            b.step()  # requests join a batch that is already decoding
    b.run_until_idle()
    for r, p, n in zip(reqs, ps, budgets, strict=True):
        assert r.result() == alone(m, p, n, temperature=0)
        assert r.finish_reason == "length"
    assert not b.running and not b.waiting


def test_stop_token_ends_the_request_and_is_not_returned():
    m = tiny()
    p = prompts([6], seed=4)[0]
    ref = alone(m, p, 20, temperature=0)
    stop = ref[5]
    cut = ref.index(stop)
    b = ContinuousBatcher(m)
    params = SamplingParams(max_tokens=20, temperature=0, stop_token_ids=(stop,))
    r = b.submit(p, params)
    other = b.submit(p[:3], SamplingParams(max_tokens=20, temperature=0))
    b.run_until_idle()
    assert r.result() == ref[:cut]
    assert r.finish_reason == "stop"
    assert other.result() == alone(m, p[:3], 20, temperature=0)


def test_seeded_sampling_equals_generate_and_ignores_companions():
    m = tiny()
    ps = prompts([5, 8, 2, 12], seed=5)
    kw = {"temperature": 0.9, "top_k": 20, "top_p": 0.95}
    params = SamplingParams(max_tokens=15, seed=123, **kw)
    solo = ContinuousBatcher(m)
    r0 = solo.submit(ps[0], params)
    solo.run_until_idle()
    ref = alone(m, ps[0], 15, generator=torch.Generator().manual_seed(123), **kw)
    assert r0.result() == ref
    crowd = ContinuousBatcher(m, max_batch_size=3)
    others = [
        crowd.submit(p, SamplingParams(max_tokens=9, seed=7, **kw)) for p in ps[1:]
    ]
    crowd.step()
    r1 = crowd.submit(ps[0], params)
    crowd.run_until_idle()
    assert r1.result() == ref
    assert all(len(o.result()) == 9 for o in others)
    unseeded = crowd.submit(ps[0], SamplingParams(max_tokens=15, **kw))
    crowd.run_until_idle()
    assert len(unseeded.result()) == 15


def test_background_thread_streams_tokens():
    m = tiny()
    ps = prompts([3, 7, 5], seed=6)
    b = ContinuousBatcher(m, max_batch_size=2)
    b.start()
    try:
        reqs = [b.submit(p, SamplingParams(max_tokens=8, temperature=0)) for p in ps]
        streamed: dict[int, list[int]] = {}

        def read(i: int) -> None:
            streamed[i] = list(reqs[i])

        readers = [threading.Thread(target=read, args=(i,)) for i in range(3)]
        for t in readers:
            t.start()
        for t in readers:
            t.join(timeout=30)
        for i, p in enumerate(ps):
            assert streamed[i] == reqs[i].result(timeout=30)
            assert streamed[i] == alone(m, p, 8, temperature=0)
    finally:
        b.stop()
    with pytest.raises(RuntimeError, match="already started"):
        b.start()
        b.start()
    b.stop()


def test_cancel_frees_the_row():
    m = tiny()
    b = ContinuousBatcher(m, max_batch_size=1)
    long = b.submit([1, 2, 3], SamplingParams(max_tokens=50, temperature=0))
    queued = b.submit([4, 5], SamplingParams(max_tokens=4, temperature=0))
    b.step()
    long.cancel()
    b.run_until_idle()
    assert long.finish_reason == "cancelled"
    assert 0 < len(long.result()) < 50
    assert queued.result() == alone(m, [4, 5], 4, temperature=0)


def test_a_failing_step_fails_its_requests():
    m = tiny()
    b = ContinuousBatcher(m)
    r = b.submit([1, 2], SamplingParams(max_tokens=4))
    b.model = None  # type: ignore[assignment]  # the next forward raises
    with pytest.raises(TypeError):
        b.step()
    assert r.finish_reason == "error"
    with pytest.raises(RuntimeError, match="failed"):
        r.result()
    with pytest.raises(RuntimeError, match="failed"):
        list(r)
