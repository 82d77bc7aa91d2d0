"""Loading a Hugging Face Llama checkpoint folder (safetensors, offline)."""

import json

import pytest
import torch

from llm_from_scratch.model import Transformer, count_parameters, load_hf_llama
from llm_from_scratch.model.hf_files import read_llama_config

transformers = pytest.importorskip("transformers")


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """These models are tiny: one thread is faster than several waiting on each
    other at every small matmul, especially on a shared machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


LLAMA3 = {
    "rope_type": "llama3",
    "rope_theta": 500000.0,
    "factor": 8.0,
    "low_freq_factor": 1.0,
    "high_freq_factor": 4.0,
    "original_max_position_embeddings": 32,
}


def save_llama(folder, tie=False, rope=None, **save_kw):
    """A random LlamaForCausalLM written by save_pretrained, as a reader's folder."""
    torch.manual_seed(0)
    config = transformers.LlamaConfig(
        vocab_size=97,
        hidden_size=64,
        intermediate_size=96,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=64,
        rms_norm_eps=1e-5,
        tie_word_embeddings=tie,
        rope_parameters=rope or {"rope_type": "default", "rope_theta": 10000.0},
    )
    llama = transformers.LlamaForCausalLM(config).eval()
    llama.save_pretrained(folder, safe_serialization=True, **save_kw)
    return llama


def assert_same_logits(ours: Transformer, llama) -> None:
    idx = torch.randint(0, 97, (2, 64), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        want = llama(idx).logits
        torch.testing.assert_close(ours(idx), want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    "kw",
    [
        dict(),
        dict(tie=True),
        dict(rope=LLAMA3, max_shard_size="40KB"),
    ],
    ids=["single-file", "tied", "llama3-sharded"],
)
def test_folder_loads_to_same_logits(tmp_path, kw):
    llama = save_llama(tmp_path, **kw)
    sharded = "max_shard_size" in kw
    assert (tmp_path / "model.safetensors.index.json").is_file() == sharded
    assert len(list(tmp_path.glob("*.safetensors"))) > (2 if sharded else 0)
    ours = load_hf_llama(tmp_path)
    assert count_parameters(ours) == count_parameters(llama)
    assert ours.config.tie_embeddings == kw.get("tie", False)
    if kw.get("tie"):
        assert ours.output.weight is ours.tok_embeddings.weight
    assert_same_logits(ours, llama)
    ours.eval()  # the loaded model also trains: gradients reach every weight
    ours(torch.zeros(1, 4, dtype=torch.long)).sum().backward()
    assert all(p.grad is not None for p in ours.parameters())


def test_old_style_config_and_dtype(tmp_path):
    """Llama 3.1's own config.json keeps rope_theta and rope_scaling apart."""
    llama = save_llama(tmp_path, rope=LLAMA3)
    file = tmp_path / "config.json"
    d = json.loads(file.read_text())
    rope = d.pop("rope_parameters")
    d["rope_theta"] = rope.pop("rope_theta")
    d["rope_scaling"] = rope
    file.write_text(json.dumps(d))
    assert read_llama_config(tmp_path).rope_scaling["rope_type"] == "llama3"
    ours = load_hf_llama(tmp_path)
    assert ours.config.rope_scaling.kind == "llama3"
    assert_same_logits(ours, llama)
    half = load_hf_llama(tmp_path, dtype=torch.bfloat16)
    assert {p.dtype for p in half.parameters()} == {torch.bfloat16}
    assert half.rope.cos.dtype == torch.float32


def test_missing_files_and_unsupported_configs(tmp_path):
    with pytest.raises(FileNotFoundError, match="config.json"):
        load_hf_llama(tmp_path)
    save_llama(tmp_path, max_shard_size="40KB")
    shard = sorted(tmp_path.glob("model-*.safetensors"))[-1]
    shard.rename(tmp_path / "elsewhere.safetensors")
    with pytest.raises(FileNotFoundError, match=shard.name):
        load_hf_llama(tmp_path)
    for f in tmp_path.glob("*.safetensors*"):
        f.unlink()
    (tmp_path / "pytorch_model.bin").write_bytes(b"not loaded")
    with pytest.raises(FileNotFoundError, match="pickle"):
        load_hf_llama(tmp_path)

    file = tmp_path / "config.json"
    d = json.loads(file.read_text())
    file.write_text(json.dumps({**d, "model_type": "mistral"}))
    with pytest.raises(ValueError, match="mistral"):
        load_hf_llama(tmp_path)
    file.write_text(json.dumps({k: v for k, v in d.items() if k != "hidden_size"}))
    with pytest.raises(ValueError, match="hidden_size"):
        load_hf_llama(tmp_path)
    yarn = {"rope_type": "yarn", "rope_theta": 1e4, "factor": 4.0}
    file.write_text(json.dumps({**d, "rope_parameters": yarn}))
    save_llama(tmp_path / "w")  # valid weights, unsupported rope
    (tmp_path / "w" / "config.json").write_text(file.read_text())
    with pytest.raises(ValueError, match="yarn"):
        load_hf_llama(tmp_path / "w")
