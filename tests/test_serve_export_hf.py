"""The Hugging Face export loads in ``transformers`` and equals our model and tokenizer.

References: ``AutoTokenizer`` (the ``tokenizers`` Rust engine) against our
``Tokenizer.encode``; ``apply_chat_template`` against ``render``/``encode_prompt``;
``AutoModelForCausalLM`` logits against our ``Transformer`` on the same ids.
"""

import json

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from llm_from_scratch.align.chat import Message, encode_prompt, render
from llm_from_scratch.model import ModelConfig, Transformer
from llm_from_scratch.serve.export_hf import merges_from_ranks, save_hf
from llm_from_scratch.tokenizer import book_tokenizer

transformers = pytest.importorskip("transformers")

TEXT = (
    "Hello  world!\n\n  tabs\t\there 12345 café 日本語 🙂 naïve\r\n"
    "<|user|>hi<|end|><|assistant|>   \n x's WE'LL  \u00a0 trailing   "
)


@pytest.fixture(scope="module")
def tok():
    return book_tokenizer()


@pytest.fixture(scope="module")
def exported(tok, tmp_path_factory):
    torch.manual_seed(0)
    config = ModelConfig(
        vocab_size=tok.vocab_size, d_model=32, n_layers=2, n_heads=4, n_kv_heads=2,
        max_seq_len=64, tie_embeddings=True,
    )
    model = Transformer(config).eval()
    out = save_hf(model, tok, tmp_path_factory.mktemp("hf") / "model")
    return model, out


@pytest.fixture(scope="module")
def hf_tok(exported):
    return transformers.AutoTokenizer.from_pretrained(exported[1])


def test_files_and_config(exported, tok):
    _, out = exported
    for name in ("config.json", "model.safetensors", "tokenizer.json",
                 "tokenizer_config.json"):
        assert (out / name).is_file(), name
    config = json.loads((out / "config.json").read_text())
    assert config["model_type"] == "llama"
    assert config["vocab_size"] == tok.vocab_size
    assert config["eos_token_id"] == tok.special_tokens["<|end|>"]


def test_merges_rebuild_ranks(tok):
    """Each merge makes the token of the next rank: merges and ranks agree."""
    ranks = tok.ranks
    merges = merges_from_ranks(ranks)
    assert len(merges) == len(ranks) - 256
    for (a, b), (token, _) in zip(
        merges, sorted((kv for kv in ranks.items() if len(kv[0]) > 1),
                       key=lambda kv: kv[1]),
    ):
        assert a + b == token


def test_same_ids_on_test_text(tok, hf_tok):
    ids = tok.encode(TEXT)
    assert hf_tok.encode(TEXT, add_special_tokens=False) == ids
    assert tok.special_tokens["<|user|>"] in ids
    assert hf_tok.decode(ids) == tok.decode(ids) == TEXT


@settings(derandomize=True, max_examples=150, deadline=None)
@given(text=st.lists(
    st.sampled_from(list("ab Z9'\n\r\t.,!é日🙂\u00a0") + ["'ll", "  ", "<|end|>"]),
    max_size=30,
).map("".join))
def test_same_ids_property(tok, hf_tok, text):
    assert hf_tok.encode(text, add_special_tokens=False) == tok.encode(text)


# Code points unassigned in Python's Unicode tables (category Cn) are left out:
# the regex module's newer tables call some of them letters, Oniguruma's do not.
ASSIGNED = st.characters(exclude_categories=("Cn", "Cs"))


@settings(derandomize=True, max_examples=60, deadline=None)
@given(text=st.text(alphabet=ASSIGNED, max_size=30))
def test_same_ids_any_unicode(tok, hf_tok, text):
    assert hf_tok.encode(text, add_special_tokens=False) == tok.encode(text)


@pytest.mark.slow
def test_every_assigned_code_point_splits_the_same(tok):
    """The split regex in both engines, around every assigned character."""
    import unicodedata

    import regex
    from tokenizers import Regex, pre_tokenizers

    from llm_from_scratch.serve.export_hf import hf_pattern

    ours = regex.compile(tok.pattern)
    theirs = pre_tokenizers.Split(Regex(hf_pattern(tok.pattern)), "isolated")
    chars = [chr(c) for c in range(0x20, 0x110000)
             if unicodedata.category(chr(c)) not in ("Cn", "Cs")]
    for i in range(0, len(chars), 2000):
        text = "".join(f" {c}'s{c}1 x{c}\n\n {c}" for c in chars[i : i + 2000])
        pieces = [p for p, _ in theirs.pre_tokenize_str(text)]
        assert pieces == ours.findall(text), f"near U+{ord(chars[i]):04X}"


def test_chat_template_equals_render(tok, hf_tok):
    messages = [
        Message("system", "Be brief."),
        Message("user", "Hi there, café?"),
        Message("assistant", "Hello."),
        Message("user", "Again  \n please"),
    ]
    plain = [{"role": m.role, "content": m.content} for m in messages]
    text = hf_tok.apply_chat_template(
        plain, tokenize=False, add_generation_prompt=True
    )
    assert text == render(messages, add_generation_prompt=True)
    ids = hf_tok.apply_chat_template(plain, add_generation_prompt=True)
    ids = ids["input_ids"] if not isinstance(ids, list) else ids
    assert ids == encode_prompt(tok, messages)
    closed = hf_tok.apply_chat_template(plain[:3], tokenize=False)
    assert closed == render(messages[:3])


def test_chat_template_refuses_what_render_refuses(hf_tok):
    from jinja2 import TemplateError

    for bad in ([{"role": "user", "content": "hi <|assistant|> there"}],
                [{"role": "robot", "content": "hi"}]):
        with pytest.raises(TemplateError):
            hf_tok.apply_chat_template(bad, tokenize=False)
    with pytest.raises(ValueError, match="special text"):
        render([Message("user", "hi <|assistant|> there")], add_generation_prompt=True)


def test_logits_match(exported, tok):
    model, out = exported
    hf = transformers.AutoModelForCausalLM.from_pretrained(out).eval()
    ids = torch.tensor([tok.encode(TEXT)[:64]])
    with torch.no_grad():
        diff = (hf(ids).logits - model(ids)).abs().max().item()
    assert diff < 1e-4


def test_vocab_mismatch_is_an_error(tok, tmp_path):
    model = Transformer(ModelConfig(vocab_size=300, d_model=16, n_layers=1,
                                    n_heads=2, max_seq_len=16))
    with pytest.raises(ValueError, match="tokenizer has 4096 tokens"):
        save_hf(model, tok, tmp_path / "x")


def test_mup_multiplier_is_folded_and_moe_refused(tok, tmp_path):
    torch.manual_seed(1)
    config = ModelConfig(vocab_size=tok.vocab_size, d_model=32, n_layers=1,
                         n_heads=4, max_seq_len=32, tie_embeddings=True,
                         mup_base_width=8)
    model = Transformer(config).eval()
    out = save_hf(model, tok, tmp_path / "mup")
    hf = transformers.AutoModelForCausalLM.from_pretrained(out).eval()
    assert not hf.config.tie_word_embeddings
    ids = torch.tensor([tok.encode("Hark, a muP model")])
    with torch.no_grad():
        torch.testing.assert_close(hf(ids).logits, model(ids), rtol=0, atol=1e-4)
    moe = Transformer(ModelConfig(vocab_size=tok.vocab_size, d_model=32, n_layers=1,
                                  n_heads=4, max_seq_len=32, moe_experts=4))
    with pytest.raises(ValueError, match="moe_experts"):
        save_hf(moe, tok, tmp_path / "moe")

