"""Our model equals transformers.LlamaForCausalLM on the same weights (offline)."""

import pytest
import torch

from llm_from_scratch.model import (
    ModelConfig,
    Transformer,
    count_parameters,
    from_hf_llama,
    to_hf_llama,
)
from llm_from_scratch.model.hf import half_to_interleaved, interleaved_to_half


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """These models are tiny: one thread is faster than several waiting on each
    other at every small matmul, especially on a shared machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


transformers = pytest.importorskip("transformers")

CONFIGS = {
    "mha": dict(),
    "gqa": dict(n_kv_heads=2),
    "mqa-tied": dict(n_kv_heads=1, tie_embeddings=True),
    "theta-linear-scaling": dict(
        rope_theta=500000.0, rope_scaling={"kind": "linear", "factor": 2.0}
    ),
    "odd-ffn-eps": dict(ffn_hidden=72, norm_eps=1e-6, n_layers=3),
}


def build(**kw) -> Transformer:
    torch.manual_seed(0)
    base = dict(vocab_size=113, d_model=64, n_layers=2, n_heads=4, max_seq_len=24)
    return Transformer(ModelConfig(**{**base, **kw}))


@pytest.mark.parametrize("name", CONFIGS)
def test_logits_equal_llama_for_causal_lm(name):
    ours = build(**CONFIGS[name])
    hf_config, state = to_hf_llama(ours)
    llama = transformers.LlamaForCausalLM(hf_config).eval()
    llama.load_state_dict(state, strict=True)
    assert count_parameters(llama) == count_parameters(ours)
    idx = torch.randint(0, 113, (2, ours.config.max_positions))
    with torch.no_grad():
        want = llama(idx).logits
        torch.testing.assert_close(ours(idx), want, rtol=1e-5, atol=1e-5)
        back = from_hf_llama(hf_config, llama.state_dict())
        assert back.config == ours.config
        torch.testing.assert_close(back(idx), want, rtol=1e-5, atol=1e-5)


def test_greedy_generation_equals_llama_generate():
    ours = build(n_kv_heads=2)
    hf_config, state = to_hf_llama(ours)
    llama = transformers.LlamaForCausalLM(hf_config).eval()
    llama.load_state_dict(state)
    prompt = torch.randint(0, 113, (1, 5))
    want = llama.generate(
        prompt, max_new_tokens=10, do_sample=False, pad_token_id=0, eos_token_id=None
    )
    assert torch.equal(ours.generate(prompt, 10, temperature=0), want)


def test_permutation_round_trip():
    w = torch.randn(4 * 8, 5)
    torch.testing.assert_close(half_to_interleaved(interleaved_to_half(w, 4), 4), w)
    # head 0's row pairs (0, 1) become rows (0, 4) of the half-split layout
    assert torch.equal(interleaved_to_half(w, 4)[4], w[1])


def test_unconvertible_models_are_rejected():
    with pytest.raises(ValueError, match="post"):
        to_hf_llama(build(norm_placement="post"))
    with pytest.raises(ValueError, match="linear"):
        to_hf_llama(build(rope_scaling={"kind": "ntk", "factor": 2.0}))
    hf_config, state = to_hf_llama(build())
    del state["model.layers.1.mlp.up_proj.weight"]
    with pytest.raises(ValueError, match="missing.*up_proj"):
        from_hf_llama(hf_config, state)
    hf_config.hidden_act = "gelu"
    with pytest.raises(ValueError, match="silu"):
        from_hf_llama(hf_config, state)
