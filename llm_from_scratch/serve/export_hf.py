"""Export a checkpoint as a Hugging Face folder that ``transformers`` loads offline.

Three parts make the folder: ``config.json`` and ``model.safetensors`` (the weights
in Llama's layout, via :func:`llm_from_scratch.model.to_hf_llama`), ``tokenizer.json``
(the book's byte-level BPE rebuilt in the ``tokenizers`` library) and
``tokenizer_config.json`` (special tokens and the chat template as Jinja).

The tokenizer rebuild rests on one fact: tiktoken-style ranks say which token was
merged when, so the merge list is recovered by splitting each token with only the
merges ranked below it (it must split into exactly two parts). ``tokenizers``
applies merges by priority and, with ``ignore_merges``, takes a pre-token that is a
whole vocabulary entry as one token, exactly what our encoder does.

The split regex runs in Oniguruma there and in ``regex`` here. The two agree on
every character assigned in Python's Unicode tables (a test checks them all);
they may differ on code points those tables leave unassigned, which the
``regex`` module's newer tables sometimes call letters.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from torch import nn

from llm_from_scratch.align.chat import BOS, CHAT_SPECIALS, END, ROLE_TOKENS, ROLES
from llm_from_scratch.tokenizer import Tokenizer
from llm_from_scratch.tokenizer.serialization import bytes_to_unicode, merges_from_ranks

# render() of llm_from_scratch.align.chat, in Jinja: BOS, then per message its role
# token, its content and <|end|>; the assistant's role token asks for a reply. Like
# render(), it refuses content holding special-token text: the rendered string
# would be tokenized with a role token there (encode_chat encodes such content as
# plain text, which a text template cannot express).
CHAT_TEMPLATE = (
    "{{ '" + BOS + "' }}"
    "{% for message in messages %}"
    "{% if message['role'] not in " + json.dumps(list(ROLES)) + " %}"
    "{{ raise_exception('role must be one of system, user, assistant') }}"
    "{% endif %}"
    "{% for special in " + json.dumps(list(CHAT_SPECIALS)) + " %}"
    "{% if special in message['content'] %}"
    "{{ raise_exception('content contains the special text ' + special) }}"
    "{% endif %}{% endfor %}"
    "{{ '<|' + message['role'] + '|>' + message['content'] + '" + END + "' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '" + ROLE_TOKENS["assistant"] + "' }}{% endif %}"
)


def hf_pattern(pattern: str) -> str:
    """Our split regex in Oniguruma's dialect (the engine of ``tokenizers``).

    Oniguruma reads ``{1,3}+`` as "one or more groups of one to three", not as a
    possessive interval; a plain ``{1,3}`` at the end of an alternative matches
    the same strings, so the possessive mark is dropped there.
    """
    return pattern.replace("{1,3}+", "{1,3}")


def hf_tokenizer_json(tokenizer: Tokenizer) -> str:
    """``tokenizer.json`` text reproducing ``tokenizer``'s ids exactly."""
    from tokenizers import AddedToken, Regex
    from tokenizers import Tokenizer as HFTokenizer
    from tokenizers import decoders, models, pre_tokenizers

    byte_chars = bytes_to_unicode()

    def show(b: bytes) -> str:
        return "".join(byte_chars[x] for x in b)

    ranks = tokenizer.ranks
    vocab = {show(b): i for b, i in ranks.items()}
    merges = [(show(a), show(b)) for a, b in merges_from_ranks(ranks)]
    hf = HFTokenizer(models.BPE(vocab, merges, ignore_merges=True))
    hf.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(
                Regex(hf_pattern(tokenizer.pattern)), behavior="isolated"
            ),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    hf.decoder = decoders.ByteLevel()
    specials = sorted(tokenizer.special_tokens.items(), key=lambda kv: kv[1])
    for text, i in specials:
        hf.add_special_tokens([AddedToken(text, special=True, normalized=False)])
        if hf.token_to_id(text) != i:
            raise ValueError(
                f"special token {text!r} has id {i} but would get "
                f"{hf.token_to_id(text)}: special ids must follow the ranks"
            )
    return hf.to_str()


def tokenizer_config(tokenizer: Tokenizer, max_len: int) -> dict[str, Any]:
    """``tokenizer_config.json``: special tokens, no automatic BOS, the template."""
    missing = [t for t in (BOS, END) if t not in tokenizer.special_tokens]
    if missing:
        raise ValueError(f"tokenizer lacks the special tokens {missing}")
    return {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": BOS,
        "eos_token": END,
        "pad_token": BOS,
        "add_bos_token": False,
        "add_eos_token": False,
        "clean_up_tokenization_spaces": False,
        "model_max_length": max_len,
        "chat_template": CHAT_TEMPLATE,
    }


def check_exportable(model: nn.Module) -> float:
    """Refuse what Llama cannot express; return the logit multiplier to fold in.

    Routed experts have no Llama equivalent. muP's readout multiplier
    (``mup_base_width / d_model``) is folded into an untied output matrix.
    """
    c = model.config
    if getattr(c, "moe_experts", 0):
        raise ValueError(
            f"moe_experts={c.moe_experts}: a mixture-of-experts model has no "
            "llama export (Llama has one SwiGLU per layer)"
        )
    base = getattr(c, "mup_base_width", None)
    return 1.0 if base is None else base / c.d_model


def save_hf(model: nn.Module, tokenizer: Tokenizer, out_dir: str | Path) -> Path:
    """Write ``model`` and ``tokenizer`` as a Hugging Face Llama folder."""
    from transformers import GenerationConfig, LlamaForCausalLM

    from llm_from_scratch.model import to_hf_llama

    if tokenizer.vocab_size != model.config.vocab_size:
        raise ValueError(
            f"tokenizer has {tokenizer.vocab_size} tokens but the model "
            f"{model.config.vocab_size}"
        )
    scale = check_exportable(model)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    config, state = to_hf_llama(model)
    if scale != 1.0:  # muP: logits * scale, as an untied lm_head
        state["lm_head.weight"] = state["lm_head.weight"] * scale
        config.tie_word_embeddings = False
    sp = tokenizer.special_tokens
    config.bos_token_id, config.eos_token_id = sp[BOS], sp[END]
    config.pad_token_id = sp[BOS]
    hf_model = LlamaForCausalLM(config)
    hf_model.load_state_dict(state, strict=not config.tie_word_embeddings)
    if config.tie_word_embeddings:
        hf_model.tie_weights()
    hf_model.generation_config = GenerationConfig(
        bos_token_id=sp[BOS], eos_token_id=[sp[END], sp[BOS]], pad_token_id=sp[BOS]
    )
    hf_model.save_pretrained(out, safe_serialization=True)
    (out / "tokenizer.json").write_text(hf_tokenizer_json(tokenizer), encoding="utf-8")
    settings = tokenizer_config(tokenizer, model.config.max_seq_len)
    (out / "tokenizer_config.json").write_text(json.dumps(settings, indent=2) + "\n")
    special_map = {"bos_token": BOS, "eos_token": END, "pad_token": BOS}
    (out / "special_tokens_map.json").write_text(json.dumps(special_map, indent=2))
    return out


def export_hf(
    checkpoint_dir: str | Path,
    out_dir: str | Path,
    tokenizer: Tokenizer | str | Path | None = None,
) -> Path:
    """Export a training or alignment checkpoint (default tokenizer: the book's)."""
    return save_hf(*load_for_export(checkpoint_dir, tokenizer), out_dir)


def load_for_export(
    checkpoint_dir: str | Path, tokenizer: Tokenizer | str | Path | None = None
) -> tuple[nn.Module, Tokenizer]:
    """A checkpoint's model and the tokenizer to export with it: ``tokenizer`` (a
    ``Tokenizer`` or a file), else the book's."""
    from llm_from_scratch.tokenizer import book_tokenizer
    from llm_from_scratch.train import load_model

    model, _ = load_model(Path(checkpoint_dir))
    if tokenizer is None:
        tokenizer = book_tokenizer()
    elif not isinstance(tokenizer, Tokenizer):
        tokenizer = Tokenizer.load(tokenizer)
    return model, tokenizer
