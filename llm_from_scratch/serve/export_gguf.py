"""Export a checkpoint as one GGUF file, the format of llama.cpp (and Ollama).

A GGUF file is a header of typed key/value metadata followed by named tensors.
For the ``llama`` architecture llama.cpp reads:

* hyperparameters under ``llama.*`` (context length, width, heads, RMSNorm epsilon,
  rope theta and the rotated dimension count);
* a ``gpt2``-style byte-level BPE tokenizer: every token as its GPT-2 printable
  string, its type (normal or control), the merge list, the special ids, and a
  *pre-tokenizer name* that selects one of llama.cpp's built-in split regexes;
* tensors named ``token_embd``, ``blk.N.attn_q`` ... ``output``.

Rotary pairs: llama.cpp's ``llama`` graph rotates channel pairs (2i, 2i+1), as we
and Meta's reference code do, so our wq and wk go in unchanged (llama.cpp's
``convert_hf_to_gguf.py`` has to undo Hugging Face's half-split permutation,
which is exactly :func:`llm_from_scratch.model.hf.half_to_interleaved`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from torch import nn

from llm_from_scratch.align.chat import BOS, END
from llm_from_scratch.serve.export_hf import (
    CHAT_TEMPLATE,
    check_exportable,
    load_for_export,
)
from llm_from_scratch.tokenizer import Tokenizer
from llm_from_scratch.tokenizer.serialization import bytes_to_unicode, merges_from_ranks

# our name -> GGUF name, per layer (llama.cpp's MODEL_TENSOR names)
LAYER_TENSORS = {
    "attention_norm.weight": "attn_norm.weight",
    "attention.wq.weight": "attn_q.weight",
    "attention.wk.weight": "attn_k.weight",
    "attention.wv.weight": "attn_v.weight",
    "attention.wo.weight": "attn_output.weight",
    "ffn_norm.weight": "ffn_norm.weight",
    "feed_forward.w1.weight": "ffn_gate.weight",
    "feed_forward.w3.weight": "ffn_up.weight",
    "feed_forward.w2.weight": "ffn_down.weight",
}
TOP_TENSORS = {
    "tok_embeddings.weight": "token_embd.weight",
    "norm.weight": "output_norm.weight",
    "output.weight": "output.weight",
}
DTYPES = ("f32", "f16")
# llama.cpp has no pre-tokenizer named for GPT-4's cl100k pattern; "llama-bpe"
# (Llama 3's) differs from it only in how runs of whitespace end, so the ids agree
# on ordinary text. Our own tokenizer stays the reference.
PRE_TOKENIZER = "llama-bpe"


def gguf_tensors(model: nn.Module, dtype: str = "f32") -> dict[str, np.ndarray]:
    """GGUF name -> array: norms in float32, matrices in ``dtype``."""
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {DTYPES}, got {dtype!r}")
    c = model.config
    if c.norm_placement != "pre":
        raise ValueError("llama.cpp's llama is pre-norm: norm_placement must be 'pre'")
    scale = check_exportable(model)
    ours = {k: v.detach().float().cpu().numpy() for k, v in model.state_dict().items()}
    names = {k: v for k, v in TOP_TENSORS.items()}
    if scale != 1.0:  # muP's readout multiplier, folded into an untied output
        ours["output.weight"] = ours["output.weight"] * np.float32(scale)
    elif c.tie_embeddings:
        del names["output.weight"]  # llama.cpp reuses token_embd when it is absent
    for i in range(c.n_layers):
        for name, g in LAYER_TENSORS.items():
            names[f"layers.{i}.{name}"] = f"blk.{i}.{g}"
    out = {}
    for name, g in names.items():
        w = ours[name]
        if w.ndim == 2 and dtype == "f16":
            w = w.astype(np.float16)
        out[g] = np.ascontiguousarray(w)
    return out


def gguf_vocab(tokenizer: Tokenizer) -> tuple[list[str], list[int], list[str]]:
    """Token strings, token types and merges ("a b") in llama.cpp's gpt2 form.

    Ids with no token (gaps) become unused placeholders, so index = id.
    """
    import gguf

    byte_chars = bytes_to_unicode()

    def show(b: bytes) -> str:
        return "".join(byte_chars[x] for x in b)

    n = tokenizer.vocab_size
    tokens = [f"[PAD{i}]" for i in range(n)]
    types = [int(gguf.TokenType.UNUSED)] * n
    for b, i in tokenizer.ranks.items():
        tokens[i], types[i] = show(b), int(gguf.TokenType.NORMAL)
    for text, i in tokenizer.special_tokens.items():
        tokens[i], types[i] = text, int(gguf.TokenType.CONTROL)
    merges = [f"{show(a)} {show(b)}" for a, b in merges_from_ranks(tokenizer.ranks)]
    return tokens, types, merges


def save_gguf(
    model: nn.Module, tokenizer: Tokenizer, out_file: str | Path, dtype: str = "f32",
    name: str = "llm-from-scratch",
) -> Path:
    """Write ``model`` and ``tokenizer`` as a llama-architecture GGUF file."""
    import gguf

    c = model.config
    if tokenizer.vocab_size != c.vocab_size:
        raise ValueError(
            f"tokenizer has {tokenizer.vocab_size} tokens but the model {c.vocab_size}"
        )
    if c.rope_scaling is not None and c.rope_scaling.kind != "linear":
        raise ValueError(
            f"rope_scaling.kind {c.rope_scaling.kind!r} has no GGUF export here "
            "(only linear)"
        )
    missing = [t for t in (BOS, END) if t not in tokenizer.special_tokens]
    if missing:
        raise ValueError(f"tokenizer lacks the special tokens {missing}")
    tensors = gguf_tensors(model, dtype)  # validates dtype before touching the file
    out = Path(out_file)
    out.parent.mkdir(parents=True, exist_ok=True)
    w = gguf.GGUFWriter(out, "llama")
    w.add_name(name)
    w.add_file_type(
        gguf.LlamaFileType.MOSTLY_F16 if dtype == "f16" else gguf.LlamaFileType.ALL_F32
    )
    w.add_context_length(c.max_positions)
    w.add_embedding_length(c.d_model)
    w.add_block_count(c.n_layers)
    w.add_feed_forward_length(c.ffn_hidden)
    w.add_head_count(c.n_heads)
    w.add_head_count_kv(c.n_kv_heads)
    w.add_key_length(c.head_dim)
    w.add_value_length(c.head_dim)
    w.add_rope_dimension_count(c.head_dim)
    w.add_rope_freq_base(float(c.rope_theta))
    if c.rope_scaling is not None:
        w.add_rope_scaling_type(gguf.RopeScalingType.LINEAR)
        w.add_rope_scaling_factor(float(c.rope_scaling.factor))
    w.add_layer_norm_rms_eps(float(c.norm_eps))
    w.add_vocab_size(c.vocab_size)
    tokens, types, merges = gguf_vocab(tokenizer)
    sp = tokenizer.special_tokens
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre(PRE_TOKENIZER)
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_merges(merges)
    w.add_bos_token_id(sp[BOS])
    w.add_eos_token_id(sp[END])
    w.add_eot_token_id(sp[END])
    w.add_pad_token_id(sp[BOS])
    w.add_add_bos_token(False)
    w.add_chat_template(CHAT_TEMPLATE)
    for tensor_name, array in tensors.items():
        w.add_tensor(tensor_name, array)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return out


def _field(reader, key: str):
    field = reader.fields.get(key)
    if field is None:
        raise ValueError(f"GGUF file lacks the metadata key {key!r}")
    return field.contents()


def load_gguf(path: str | Path) -> nn.Module:
    """Our ``Transformer`` from a llama GGUF file in float32 (the inverse of
    :func:`save_gguf`, for f32 and f16 files; quantized tensors are refused)."""
    import gguf
    import torch

    from llm_from_scratch.model import ModelConfig, RopeScaling, Transformer

    reader = gguf.GGUFReader(path)
    arch = _field(reader, "general.architecture")
    if arch != "llama":
        raise ValueError(f"{path}: architecture {arch!r} is not 'llama'")
    kind = reader.fields.get("llama.rope.scaling.type")
    scaling = None
    if kind is not None and kind.contents() == "linear":
        factor = float(_field(reader, "llama.rope.scaling.factor"))
        scaling = RopeScaling("linear", factor)
    factor = scaling.factor if scaling else 1.0
    names = {t.name for t in reader.tensors}
    config = ModelConfig(
        vocab_size=int(_field(reader, "llama.vocab_size")),
        d_model=int(_field(reader, "llama.embedding_length")),
        n_layers=int(_field(reader, "llama.block_count")),
        n_heads=int(_field(reader, "llama.attention.head_count")),
        n_kv_heads=int(_field(reader, "llama.attention.head_count_kv")),
        max_seq_len=int(int(_field(reader, "llama.context_length")) / factor),
        ffn_hidden=int(_field(reader, "llama.feed_forward_length")),
        rope_theta=float(_field(reader, "llama.rope.freq_base")),
        rope_scaling=scaling,
        norm_eps=float(_field(reader, "llama.attention.layer_norm_rms_epsilon")),
        tie_embeddings="output.weight" not in names,
    )
    by_gguf = {g: ours for ours, g in TOP_TENSORS.items()}
    for i in range(config.n_layers):
        for ours, g in LAYER_TENSORS.items():
            by_gguf[f"blk.{i}.{g}"] = f"layers.{i}.{ours}"
    state = {}
    for t in reader.tensors:
        if t.tensor_type not in (gguf.GGMLQuantizationType.F32,
                                 gguf.GGMLQuantizationType.F16):
            raise ValueError(f"tensor {t.name} is {t.tensor_type.name}: not f32/f16")
        if t.name not in by_gguf:
            raise ValueError(f"unexpected tensor {t.name!r} in {path}")
        state[by_gguf[t.name]] = torch.from_numpy(np.array(t.data, dtype=np.float32))
    if config.tie_embeddings:
        state["output.weight"] = state["tok_embeddings.weight"]
    model = Transformer(config)
    model.load_state_dict(state, strict=True)
    return model.eval()


def export_gguf(
    checkpoint_dir: str | Path,
    out_file: str | Path,
    tokenizer: Tokenizer | str | Path | None = None,
    dtype: str = "f32",
) -> Path:
    """Export a training or alignment checkpoint (default tokenizer: the book's)."""
    return save_gguf(*load_for_export(checkpoint_dir, tokenizer), out_file, dtype)
