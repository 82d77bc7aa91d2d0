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
    ],
)
def test_bad_configs_name_the_field(kw, field):
    with pytest.raises(ValueError, match=field):
        small(**kw)


def test_dict_round_trip_is_json_safe():
    c = small(n_kv_heads=2, rope_scaling=RopeScaling("ntk", 2.0), tie_embeddings=True)
    d = json.loads(json.dumps(c.to_dict()))
    assert ModelConfig.from_dict(d) == c
    with pytest.raises(ValueError, match="unknown ModelConfig fields.*dropout"):
        ModelConfig.from_dict({**d, "dropout": 0.1})
