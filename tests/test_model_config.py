"""ModelConfig: defaults, validation with errors that name the field, round trip."""

import json

import pytest

from llm_from_scratch.model import ModelConfig, RopeScaling, default_ffn_hidden


def small(**kw):
    base = dict(vocab_size=100, d_model=64, n_layers=2, n_heads=4)
    return ModelConfig(**{**base, **kw})


def test_defaults():
    c = small()
    assert c.n_kv_heads == 4 and c.head_dim == 16 and c.max_positions == 256
    assert c.ffn_hidden == 192  # 8/3 * 64 = 170.7 -> 192
    assert default_ffn_hidden(4096, multiple_of=256) == 11008  # Llama-7B
    assert small(rope_scaling={"kind": "linear", "factor": 4}).max_positions == 1024
    # a llama3-scaled checkpoint states its extended length in max_seq_len
    llama3 = {"kind": "llama3", "factor": 8.0, "original_max_seq_len": 64}
    assert small(max_seq_len=512, rope_scaling=llama3).max_positions == 512


@pytest.mark.parametrize(
    "kw, field",
    [
        (dict(d_model=65), "d_model"),
        (dict(n_kv_heads=3), "n_kv_heads"),
        (dict(n_heads=0), "n_heads"),
        (dict(vocab_size=-1), "vocab_size"),
        (dict(n_layers=2.0), "n_layers"),
        (dict(d_model=12, n_heads=4), "head_dim"),
        (dict(rope_theta=0.5), "rope_theta"),
        (dict(rope_scaling={"kind": "yarn", "factor": 2}), "rope_scaling.kind"),
        (dict(rope_scaling={"kind": "linear", "factor": 0.5}), "rope_scaling.factor"),
        (dict(rope_scaling="linear"), "rope_scaling"),
        (dict(norm_eps=0), "norm_eps"),
        (dict(tie_embeddings=1), "tie_embeddings"),
        (dict(norm_placement="middle"), "norm_placement"),
        (dict(max_seq_len=0), "max_seq_len"),
        (dict(ffn_hidden=0), "ffn_hidden"),
        (
            dict(rope_scaling={"kind": "llama3", "factor": 8.0}),
            "rope_scaling.original_max_seq_len",
        ),
        (
            dict(
                rope_scaling={
                    "kind": "llama3",
                    "factor": 8.0,
                    "original_max_seq_len": 64,
                    "low_freq_factor": 4.0,
                }
            ),
            "low_freq_factor < high_freq_factor",
        ),
        (
            dict(
                rope_scaling={"kind": "ntk", "factor": 2.0, "original_max_seq_len": 64}
            ),
            "only to kind='llama3'",
        ),
    ],
)
def test_bad_configs_name_the_field(kw, field):
    with pytest.raises(ValueError, match=field):
        small(**kw)


def test_dict_round_trip_is_json_safe():
    c = small(n_kv_heads=2, rope_scaling=RopeScaling("ntk", 2.0), tie_embeddings=True)
    d = json.loads(json.dumps(c.to_dict()))
    assert ModelConfig.from_dict(d) == c
    llama3 = RopeScaling("llama3", 8.0, 1.0, 4.0, original_max_seq_len=64)
    c3 = small(rope_scaling=llama3)
    assert ModelConfig.from_dict(json.loads(json.dumps(c3.to_dict()))) == c3
    # configs saved before the llama3 fields existed still load
    old = {**d, "rope_scaling": {"kind": "ntk", "factor": 2.0}}
    assert ModelConfig.from_dict(old) == c
    with pytest.raises(ValueError, match="unknown ModelConfig fields.*dropout"):
        ModelConfig.from_dict({**d, "dropout": 0.1})
