"""The GGUF export: gguf's reader sees our metadata and tensors; llama.cpp runs it.

References: ``gguf.GGUFReader`` (the format's own reader) for every key and
tensor; our model rebuilt from the file (logits equal); and, when
``llama-cpp-python`` is installed, llama.cpp's logits, greedy continuation and
tokenization against ours.
"""

import numpy as np
import pytest
import torch

from llm_from_scratch.model import ModelConfig, Transformer
from llm_from_scratch.serve.export_gguf import gguf_tensors, load_gguf, save_gguf
from llm_from_scratch.tokenizer import book_tokenizer

gguf = pytest.importorskip("gguf")


@pytest.fixture(scope="module")
def tok():
    return book_tokenizer()


def small_model(vocab_size: int, **kw) -> Transformer:
    torch.manual_seed(0)
    config = dict(vocab_size=vocab_size, d_model=64, n_layers=2, n_heads=4,
                  n_kv_heads=2, max_seq_len=128)
    model = Transformer(ModelConfig(**{**config, **kw})).eval()
    with torch.no_grad():  # peaked logits: greedy choices are not near-ties
        model.output.weight.mul_(8.0)
    return model


@pytest.fixture(scope="module")
def exported(tok, tmp_path_factory):
    model = small_model(tok.vocab_size)
    path = save_gguf(model, tok, tmp_path_factory.mktemp("gguf") / "m.gguf")
    return model, path


def test_metadata(exported, tok):
    model, path = exported
    c = model.config
    reader = gguf.GGUFReader(path)

    def value(key):
        return reader.fields[key].contents()

    assert value("general.architecture") == "llama"
    assert value("llama.block_count") == c.n_layers
    assert value("llama.embedding_length") == c.d_model
    assert value("llama.feed_forward_length") == c.ffn_hidden
    assert value("llama.attention.head_count") == c.n_heads
    assert value("llama.attention.head_count_kv") == c.n_kv_heads
    assert value("llama.rope.dimension_count") == c.head_dim
    assert value("llama.context_length") == c.max_seq_len
    assert value("llama.rope.freq_base") == pytest.approx(c.rope_theta)
    assert value("llama.attention.layer_norm_rms_epsilon") == pytest.approx(c.norm_eps)
    assert value("tokenizer.ggml.model") == "gpt2"
    tokens = value("tokenizer.ggml.tokens")
    assert len(tokens) == tok.vocab_size
    assert tokens[tok.special_tokens["<|end|>"]] == "<|end|>"
    assert value("tokenizer.ggml.eos_token_id") == tok.special_tokens["<|end|>"]
    assert value("tokenizer.ggml.bos_token_id") == tok.eot_id
    types = value("tokenizer.ggml.token_type")
    assert types[tok.eot_id] == gguf.TokenType.CONTROL
    assert types[ord("a")] == gguf.TokenType.NORMAL
    assert len(value("tokenizer.ggml.merges")) == len(tok.ranks) - 256


def test_tensors_round_trip(exported):
    model, path = exported
    expected = gguf_tensors(model)
    reader = gguf.GGUFReader(path)
    assert {t.name for t in reader.tensors} == set(expected)
    for t in reader.tensors:
        np.testing.assert_array_equal(np.asarray(t.data), expected[t.name])
    # q and k keep our (2i, 2i+1) pairing: llama.cpp's llama rotates pairs
    wq = model.layers[0].attention.wq.weight.detach().numpy()
    np.testing.assert_array_equal(expected["blk.0.attn_q.weight"], wq)


@pytest.mark.parametrize("kw", [
    dict(),
    dict(tie_embeddings=True, n_kv_heads=4),
    dict(rope_theta=500000.0, rope_scaling={"kind": "linear", "factor": 2.0}),
    dict(tie_embeddings=True, mup_base_width=16),  # multiplier folded into output
])
def test_reload_gives_same_logits(tok, tmp_path, kw):
    model = small_model(tok.vocab_size, **kw)
    path = save_gguf(model, tok, tmp_path / "m.gguf")
    again = load_gguf(path)
    ids = torch.tensor([tok.encode("To be, or not to be: café 日本")])
    with torch.no_grad():
        torch.testing.assert_close(again(ids), model(ids), rtol=0, atol=0)


def test_f16_is_half_the_size(exported, tok, tmp_path):
    model, path32 = exported
    path16 = save_gguf(model, tok, tmp_path / "h.gguf", dtype="f16")
    reader = gguf.GGUFReader(path16)
    kinds = {t.name: t.tensor_type for t in reader.tensors}
    assert kinds["blk.0.attn_q.weight"] == gguf.GGMLQuantizationType.F16
    assert kinds["output_norm.weight"] == gguf.GGMLQuantizationType.F32
    assert path16.stat().st_size < 0.6 * path32.stat().st_size
    ids = torch.tensor([tok.encode("Good morrow")])
    with torch.no_grad():
        torch.testing.assert_close(load_gguf(path16)(ids), model(ids),
                                   rtol=0, atol=2e-2)


def test_bad_input(tok, tmp_path):
    model = small_model(tok.vocab_size)
    with pytest.raises(ValueError, match="dtype"):
        save_gguf(model, tok, tmp_path / "x.gguf", dtype="q4")
    with pytest.raises(ValueError, match="moe_experts"):
        save_gguf(small_model(tok.vocab_size, moe_experts=4), tok, tmp_path / "z.gguf")
    other = small_model(512)
    with pytest.raises(ValueError, match="tokenizer has"):
        save_gguf(other, tok, tmp_path / "y.gguf")
    assert not (tmp_path / "x.gguf").exists()


@pytest.mark.slow
def test_llama_cpp_matches(exported, tok):
    llama_cpp = pytest.importorskip(
        "llama_cpp", reason="llama-cpp-python is not installed (optional)"
    )
    model, path = exported
    llm = llama_cpp.Llama(str(path), n_ctx=128, logits_all=True, verbose=False,
                          n_threads=1, seed=0)
    try:
        _compare_with_llama_cpp(llm, model, tok)
    finally:
        llm.close()


def _compare_with_llama_cpp(llm, model, tok):
    # llama.cpp splits with its "llama-bpe" regex, not ours: same ids here
    for text in ["Hello  world!\n\n\n  tabs\t\there 12345 café 日本語 🙂",
                 "x's WE'LL 1234567 trailing   ", "<|user|>hi<|end|>"]:
        assert llm.tokenize(text.encode(), add_bos=False, special=True) == \
            tok.encode(text), text
    ids = tok.encode("To be or not to be, that is the question")
    llm.reset()
    llm.eval(ids)
    theirs = np.asarray(llm.scores[: len(ids)])
    with torch.no_grad():
        ours = model(torch.tensor([ids]))[0].numpy()
    np.testing.assert_allclose(theirs, ours, atol=1e-3, rtol=0)
    n_new = 16
    with torch.no_grad():
        greedy = model.generate(torch.tensor([ids]), n_new, temperature=0.0)
    ours_new = greedy[0, len(ids):].tolist()
    llm.reset()
    theirs_new = []
    for token in llm.generate(ids, top_k=1, top_p=1.0, temp=0.0,
                              repeat_penalty=1.0):
        theirs_new.append(token)
        if len(theirs_new) == n_new:
            break
    assert theirs_new == ours_new
