"""The whole model: causality, KV cache, fast path, positions, sizes and FLOPs."""

import pytest
import torch

from llm_from_scratch.model import (
    ModelConfig,
    Transformer,
    count_parameters,
    flops_per_token,
    matmul_parameters,
)


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """These models are tiny: one thread is faster than several waiting on each
    other at every small matmul, especially on a shared machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


CFG = dict(vocab_size=97, d_model=32, n_layers=2, n_heads=4, max_seq_len=64)


def build(seed: int = 0, **kw) -> Transformer:
    torch.manual_seed(seed)
    return Transformer(ModelConfig(**{**CFG, **kw}))


def test_shapes_names_and_determinism():
    m = build(n_kv_heads=2)
    idx = torch.randint(0, 97, (3, 10))
    assert m(idx).shape == (3, 10, 97)
    block = m.layers[0]
    for name in ("wq", "wk", "wv", "wo"):
        assert isinstance(getattr(block.attention, name).weight, torch.nn.Parameter)
    assert block.attention.wk.weight.shape == (16, 32)  # 2 kv heads of 8
    assert block.feed_forward.w1.weight.shape == (m.config.ffn_hidden, 32)
    assert block.feed_forward.w2.weight.shape == (32, m.config.ffn_hidden)
    assert m.output.weight.shape == m.tok_embeddings.weight.shape == (97, 32)
    assert all(
        torch.equal(a, b)
        for a, b in zip(
            m.state_dict().values(), build(n_kv_heads=2).state_dict().values()
        )
    )
    # residual projections start smaller (GPT-2): std 0.02 / sqrt(2 * n_layers)
    assert block.attention.wo.weight.std() < 0.8 * block.attention.wq.weight.std()


@pytest.mark.parametrize("fast", [False, True])
def test_causality_future_tokens_never_change_past_logits(fast):
    m = build(fast=fast)
    idx = torch.randint(0, 97, (2, 12))
    changed = idx.clone()
    changed[:, 7:] = torch.randint(0, 97, (2, 5))
    a, b = m(idx), m(changed)
    torch.testing.assert_close(a[:, :7], b[:, :7], rtol=0, atol=0)
    assert not torch.allclose(a[:, 7:], b[:, 7:])


@pytest.mark.parametrize("kw", [{}, {"n_kv_heads": 1}, {"norm_placement": "post"}])
def test_fast_path_equals_scratch_path(kw):
    slow = build(**kw)
    fast = Transformer(ModelConfig(**{**CFG, **kw, "fast": True}))
    fast.load_state_dict(slow.state_dict())
    idx = torch.randint(0, 97, (2, 33))
    torch.testing.assert_close(fast(idx), slow(idx), rtol=1e-5, atol=1e-5)
    cache_a, cache_b = slow.init_kv_cache(2), fast.init_kv_cache(2)
    slow(idx[:, :5], kv_cache=cache_a), fast(idx[:, :5], kv_cache=cache_b)
    torch.testing.assert_close(
        fast(idx[:, 5:9], kv_cache=cache_b),
        slow(idx[:, 5:9], kv_cache=cache_a),
        rtol=1e-5,
        atol=1e-5,
    )


@pytest.mark.parametrize("fast", [False, True])
def test_kv_cache_equals_full_recomputation(fast):
    m = build(n_kv_heads=2, fast=fast)
    idx = torch.randint(0, 97, (2, 20))
    full = m(idx)
    cache = m.init_kv_cache(2, capacity=20)
    chunks = [m(idx[:, :6], kv_cache=cache), m(idx[:, 6:11], kv_cache=cache)]
    chunks += [m(idx[:, t : t + 1], kv_cache=cache) for t in range(11, 20)]
    torch.testing.assert_close(torch.cat(chunks, 1), full, rtol=1e-5, atol=1e-5)
    assert cache.length == 20
    with pytest.raises(ValueError, match="KV cache full"):
        m(idx[:, :1], kv_cache=cache)
    with pytest.raises(ValueError, match="batch size"):
        m(idx[:1, :1], kv_cache=m.init_kv_cache(2))


def test_explicit_positions():
    m = build()
    idx = torch.randint(0, 97, (2, 8))
    default = m(idx)
    torch.testing.assert_close(m(idx, positions=torch.arange(8)), default)
    torch.testing.assert_close(m(idx, positions=torch.arange(8).expand(2, 8)), default)
    shifted = m(idx, positions=torch.arange(8) + 30)
    torch.testing.assert_close(shifted, default, rtol=1e-4, atol=1e-4)  # relative only
    per_row = torch.stack([torch.arange(8), torch.arange(8) + 5])
    assert not torch.allclose(m(idx, positions=per_row * 3)[1], default[1])
    with pytest.raises(ValueError, match="positions must have shape"):
        m(idx, positions=torch.arange(7))


def test_bad_inputs_are_clear_errors():
    m = build()
    with pytest.raises(ValueError, match=r"\(B, T\)"):
        m(torch.zeros(5, dtype=torch.long))
    with pytest.raises(ValueError, match="max_seq_len"):
        m(torch.zeros(1, 65, dtype=torch.long))
    with pytest.raises(TypeError, match="ModelConfig"):
        Transformer({"vocab_size": 3})


def test_longer_context_with_rope_scaling():
    m = build(rope_scaling={"kind": "linear", "factor": 2.0})
    assert m(torch.zeros(1, 128, dtype=torch.long)).shape == (1, 128, 97)


def test_tied_embeddings_share_one_tensor():
    m = build(tie_embeddings=True)
    assert m.output.weight is m.tok_embeddings.weight
    assert count_parameters(m) == count_parameters(m.config)
    assert count_parameters(m) == count_parameters(build()) - 97 * 32


@pytest.mark.parametrize(
    "kw", [{}, {"n_kv_heads": 2}, {"tie_embeddings": True}, {"ffn_hidden": 100}]
)
def test_count_parameters_formula_matches_module(kw):
    m = build(**kw)
    assert count_parameters(m.config) == count_parameters(m)
    blocks = sum(
        p.numel()
        for n, p in m.named_parameters()
        if n.startswith("layers") and "norm" not in n
    )
    assert matmul_parameters(m.config) == blocks + 97 * 32


def test_flops_per_token_matches_counted_matmul_flops():
    """Count the forward multiply-adds with torch's FLOP counter; training = 3x."""
    from torch.utils.flop_counter import FlopCounterMode

    m = build()  # the from-scratch path: q k^T and (softmax) v are plain matmuls
    T = 16
    with FlopCounterMode(display=False) as counter:
        m(torch.zeros(1, T, dtype=torch.long))
    forward = counter.get_total_flops() / T
    assert 3 * forward == pytest.approx(flops_per_token(m.config, T), rel=1e-9)
    with pytest.raises(ValueError, match="seq_len"):
        flops_per_token(m.config, 0)


def test_bf16_forward_close_to_float32():
    m = build()
    idx = torch.randint(0, 97, (2, 16))
    want = m(idx)
    got = m.to(torch.bfloat16)(idx)
    assert got.dtype == torch.bfloat16
    torch.testing.assert_close(got.float(), want, rtol=0.05, atol=0.05)


@pytest.mark.slow
def test_torch_compile_equals_eager():
    m = build(fast=True)
    idx = torch.randint(0, 97, (2, 16))
    compiled = torch.compile(m)
    torch.testing.assert_close(compiled(idx), m(idx), rtol=1e-5, atol=1e-5)


def test_toy_training_lowers_the_loss_deterministically():
    from llm_from_scratch.model.toy_training import (
        encode_chars,
        loss_per_position,
        train_toy,
    )

    tokens, vocab = encode_chars("to be or not to be, that is the question. " * 40)
    cfg = dict(vocab_size=len(vocab), d_model=32, n_layers=1, n_heads=2, max_seq_len=32)
    runs = []
    for _ in range(2):
        torch.manual_seed(0)
        m = Transformer(ModelConfig(**cfg))
        runs.append(train_toy(m, tokens, steps=30, seq_len=32, batch_size=8, lr=1e-2))
    assert runs[0] == runs[1]
    assert runs[0]["loss"][-1] < 0.6 * runs[0]["loss"][0]
    per_pos = loss_per_position(m, tokens, 32, n_windows=4)
    assert per_pos.shape == (32,) and torch.isfinite(per_pos).all()
    with pytest.raises(ValueError, match="empty"):
        encode_chars("")
