"""Convert to and from Hugging Face ``transformers``' Llama layout.

The architectures are the same; two things differ. Names: ``attention.wq`` here is
``self_attn.q_proj`` there, and so on. RoPE pairing: we rotate channel pairs
(2i, 2i+1), as Meta's reference code does; ``LlamaForCausalLM`` rotates (i, i + d/2).
Permuting the rows of each head of wq and wk turns one convention into the other, so
the converted model computes exactly the same function (the tests check the logits).
``transformers`` is imported only by :func:`to_hf_llama`; :func:`from_hf_llama` reads
any object with ``LlamaConfig``'s attributes (``hf_files`` passes a plain namespace).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from llm_from_scratch.model.config import ModelConfig, RopeScaling
from llm_from_scratch.model.transformer import Transformer

# our name -> Hugging Face name, per layer
LAYER_NAMES = {
    "attention_norm.weight": "input_layernorm.weight",
    "attention.wq.weight": "self_attn.q_proj.weight",
    "attention.wk.weight": "self_attn.k_proj.weight",
    "attention.wv.weight": "self_attn.v_proj.weight",
    "attention.wo.weight": "self_attn.o_proj.weight",
    "ffn_norm.weight": "post_attention_layernorm.weight",
    "feed_forward.w1.weight": "mlp.gate_proj.weight",
    "feed_forward.w3.weight": "mlp.up_proj.weight",
    "feed_forward.w2.weight": "mlp.down_proj.weight",
}
TOP_NAMES = {
    "tok_embeddings.weight": "model.embed_tokens.weight",
    "norm.weight": "model.norm.weight",
    "output.weight": "lm_head.weight",
}


def interleaved_to_half(w: Tensor, n_heads: int) -> Tensor:
    """Reorder each head's rows from pairs (2i, 2i+1) to halves (i, i + d/2)."""
    out_features, in_features = w.shape
    hd = out_features // n_heads
    return w.view(n_heads, hd // 2, 2, in_features).transpose(1, 2).reshape(w.shape)


def half_to_interleaved(w: Tensor, n_heads: int) -> Tensor:
    """Inverse of :func:`interleaved_to_half`."""
    out_features, in_features = w.shape
    hd = out_features // n_heads
    return w.view(n_heads, 2, hd // 2, in_features).transpose(1, 2).reshape(w.shape)


def to_hf_llama(model: Transformer) -> tuple[Any, dict[str, Tensor]]:
    """(``LlamaConfig``, state dict) that ``LlamaForCausalLM`` loads strictly."""
    from transformers import LlamaConfig

    c = model.config
    if c.norm_placement != "pre":
        raise ValueError("Llama is pre-norm: cannot convert norm_placement='post'")
    rope: dict[str, Any] = {"rope_type": "default", "rope_theta": float(c.rope_theta)}
    s = c.rope_scaling
    if s is not None:
        if s.kind not in ("linear", "llama3"):
            raise ValueError(
                "only linear and llama3 rope_scaling have an exact Hugging Face "
                f"equivalent, got {s.kind!r}"
            )
        rope.update(rope_type=s.kind, factor=float(s.factor))
        if s.kind == "llama3":
            rope.update(
                low_freq_factor=float(s.low_freq_factor),
                high_freq_factor=float(s.high_freq_factor),
                original_max_position_embeddings=s.original_max_seq_len,
            )
    hf_config = LlamaConfig(
        vocab_size=c.vocab_size,
        hidden_size=c.d_model,
        intermediate_size=c.ffn_hidden,
        num_hidden_layers=c.n_layers,
        num_attention_heads=c.n_heads,
        num_key_value_heads=c.n_kv_heads,
        head_dim=c.head_dim,
        max_position_embeddings=c.max_seq_len,
        rms_norm_eps=c.norm_eps,
        tie_word_embeddings=c.tie_embeddings,
        rope_parameters=rope,
        hidden_act="silu",
        attention_bias=False,
        mlp_bias=False,
    )
    ours = model.state_dict()
    sd = {hf: ours[name] for name, hf in TOP_NAMES.items()}
    for i in range(c.n_layers):
        for name, hf in LAYER_NAMES.items():
            w = ours[f"layers.{i}.{name}"]
            if name == "attention.wq.weight":
                w = interleaved_to_half(w, c.n_heads)
            elif name == "attention.wk.weight":
                w = interleaved_to_half(w, c.n_kv_heads)
            sd[f"model.layers.{i}.{hf}"] = w
    return hf_config, sd


def _rope_settings(hf_config: Any) -> tuple[float, RopeScaling | None]:
    # transformers >= 5 keeps theta and scaling in ``rope_parameters``; older
    # versions and most config.json files on disk use ``rope_theta`` and
    # ``rope_scaling`` (whose kind is ``rope_type``, or ``type`` in the oldest)
    params = getattr(hf_config, "rope_parameters", None)
    params = dict(params or getattr(hf_config, "rope_scaling", None) or {})
    theta = params.get("rope_theta", getattr(hf_config, "rope_theta", 10000.0))
    kind = params.get("rope_type", params.get("type", "default"))
    if kind == "default":
        return float(theta), None
    if kind == "linear":
        return float(theta), RopeScaling("linear", float(params["factor"]))
    if kind == "llama3":
        return float(theta), RopeScaling(
            "llama3",
            float(params["factor"]),
            float(params["low_freq_factor"]),
            float(params["high_freq_factor"]),
            int(params["original_max_position_embeddings"]),
        )
    raise ValueError(
        f"unsupported Hugging Face rope_type {kind!r} (default, linear, llama3)"
    )


def from_hf_llama(
    hf_config: Any, state_dict: dict[str, Tensor], assign: bool = False
) -> Transformer:
    """Build our ``Transformer`` from a ``LlamaConfig`` and a Llama state dict.

    The model takes the state dict's dtype and device. ``assign=True`` makes the
    given tensors the model's parameters instead of copying them, so a checkpoint
    loaded from disk is held in memory once; the caller must not reuse them.
    """
    if getattr(hf_config, "hidden_act", "silu") != "silu":
        raise ValueError(f"hidden_act must be 'silu', got {hf_config.hidden_act!r}")
    if getattr(hf_config, "attention_bias", False) or getattr(
        hf_config, "mlp_bias", False
    ):
        raise ValueError("biases in attention or MLP are not supported")
    head_dim = getattr(hf_config, "head_dim", None)
    if head_dim and head_dim * hf_config.num_attention_heads != hf_config.hidden_size:
        raise ValueError(
            f"head_dim ({head_dim}) * num_attention_heads must equal hidden_size"
        )
    theta, scaling = _rope_settings(hf_config)
    c = ModelConfig(
        vocab_size=hf_config.vocab_size,
        d_model=hf_config.hidden_size,
        n_layers=hf_config.num_hidden_layers,
        n_heads=hf_config.num_attention_heads,
        n_kv_heads=hf_config.num_key_value_heads or hf_config.num_attention_heads,
        max_seq_len=hf_config.max_position_embeddings,
        ffn_hidden=hf_config.intermediate_size,
        rope_theta=theta,
        rope_scaling=scaling,
        norm_eps=hf_config.rms_norm_eps,
        tie_embeddings=bool(hf_config.tie_word_embeddings),
    )
    sd = dict(state_dict)
    if c.tie_embeddings:
        sd.setdefault("lm_head.weight", sd["model.embed_tokens.weight"])
    expected = set(TOP_NAMES.values()) | {
        f"model.layers.{i}.{hf}"
        for i in range(c.n_layers)
        for hf in LAYER_NAMES.values()
    }
    missing, unexpected = sorted(expected - set(sd)), sorted(set(sd) - expected)
    unexpected = [k for k in unexpected if not k.endswith("rotary_emb.inv_freq")]
    if missing or unexpected:
        raise ValueError(
            f"state dict mismatch: missing {missing}, unexpected {unexpected}"
        )
    ours = {name: sd[hf] for name, hf in TOP_NAMES.items()}
    for i in range(c.n_layers):
        for name, hf in LAYER_NAMES.items():
            w = sd[f"model.layers.{i}.{hf}"]
            if name == "attention.wq.weight":
                w = half_to_interleaved(w, c.n_heads)
            elif name == "attention.wk.weight":
                w = half_to_interleaved(w, c.n_kv_heads)
            ours[f"layers.{i}.{name}"] = w
    embed = sd["model.embed_tokens.weight"]
    if not assign:
        model = Transformer(c).to(device=embed.device, dtype=embed.dtype)
        model.load_state_dict(ours, strict=True)
        return model
    with torch.device("meta"):  # no random init, no memory: the weights come next
        model = Transformer(c)
    model.load_state_dict(ours, strict=True, assign=True)
    if c.tie_embeddings:  # assigning replaced the shared parameter by two
        model.output.weight = model.tok_embeddings.weight
    model.rope.to(embed.device)  # derived, not loaded: computed on the CPU
    return model
