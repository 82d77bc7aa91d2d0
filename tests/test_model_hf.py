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
    # Llama 3.1's settings scaled down: head_dim 16 has pairs in all three bands
    # (wavelengths 6, 32, 168, ... tokens against 64 / 4 and 64 / 1), and the test
    # runs all 128 positions, half of them beyond the original length
    "llama3-scaling": dict(
        rope_theta=500000.0,
        n_kv_heads=2,
        max_seq_len=128,
        rope_scaling={
            "kind": "llama3",
            "factor": 8.0,
            "low_freq_factor": 1.0,
            "high_freq_factor": 4.0,
            "original_max_seq_len": 64,
        },
    ),
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


def test_llama3_rope_scaling_matches_transformers_frequencies():
    from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS

    ours = build(**CONFIGS["llama3-scaling"])
    hf_config, _ = to_hf_llama(ours)
    assert hf_config.rope_parameters["rope_type"] == "llama3"
    want, _ = ROPE_INIT_FUNCTIONS["llama3"](hf_config, torch.device("cpu"))
    torch.testing.assert_close(ours.rope.freqs.float(), want, rtol=1e-6, atol=0)
    # the three bands: kept, blended, divided by the factor
    base = 500000.0 ** -(torch.arange(0, 16, 2, dtype=torch.float64) / 16)
    ratio = base / ours.rope.freqs
    assert ratio[0] == 1 and 1 < ratio[1] < 8
    torch.testing.assert_close(ratio[2:], torch.full_like(ratio[2:], 8.0))


def test_old_style_rope_scaling_attributes_are_read():
    """config.json files of Llama 3.1 / 3.2 keep rope_theta and rope_scaling apart."""
    from types import SimpleNamespace

    ours = build(**CONFIGS["llama3-scaling"])
    hf_config, state = to_hf_llama(ours)
    params = dict(hf_config.rope_parameters)
    old = SimpleNamespace(**{k: getattr(hf_config, k) for k in (
        "vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers",
        "num_attention_heads", "num_key_value_heads", "head_dim",
        "max_position_embeddings", "rms_norm_eps", "tie_word_embeddings",
    )})
    old.rope_theta = params.pop("rope_theta")
    old.rope_scaling = params
    assert from_hf_llama(old, state).config == ours.config


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
    hf_config.rope_parameters = {"rope_type": "yarn", "rope_theta": 1e4, "factor": 2.0}
    with pytest.raises(ValueError, match="unsupported.*yarn"):
        from_hf_llama(hf_config, state)
    hf_config, state = to_hf_llama(build())
    del state["model.layers.1.mlp.up_proj.weight"]
    with pytest.raises(ValueError, match="missing.*up_proj"):
        from_hf_llama(hf_config, state)
    hf_config.hidden_act = "gelu"
    with pytest.raises(ValueError, match="silu"):
        from_hf_llama(hf_config, state)
