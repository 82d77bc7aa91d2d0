"""The distilled draft: the KL loss against torch's kl_div, the zero-layer model
as a bigram model, and distillation raising the share of proposals kept."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from llm_from_scratch.model import ModelConfig, Transformer
from llm_from_scratch.serve.distill import DistillConfig, distill_draft, distill_loss
from llm_from_scratch.serve.speculative import speculative_generate


class Tokens:
    """The one method of TokenShards that distillation reads."""

    def __init__(self, ids: torch.Tensor) -> None:
        self.ids = ids

    def sample_batch(self, batch_size, seq_len, generator):
        starts = torch.randint(0, len(self.ids) - seq_len, (batch_size,),
                               generator=generator)
        x = torch.stack([self.ids[s : s + seq_len] for s in starts.tolist()])
        return x, x


def target_model(vocab=32, seed=0):
    torch.manual_seed(seed)
    m = Transformer(ModelConfig(vocab_size=vocab, d_model=32, n_layers=2, n_heads=2,
                                max_seq_len=32)).eval()
    with torch.no_grad():
        m.output.weight.mul_(8.0)  # a peaked target, as trained models are
    return m


@pytest.mark.parametrize("temperature", [1.0, 0.5, 2.0])
def test_distill_loss_is_torchs_kl_div(temperature):
    g = torch.Generator().manual_seed(0)
    s, t = torch.randn(3, 5, 11, generator=g), torch.randn(3, 5, 11, generator=g)
    ref = F.kl_div(F.log_softmax(s / temperature, -1).reshape(-1, 11),
                   F.log_softmax(t / temperature, -1).reshape(-1, 11),
                   log_target=True, reduction="batchmean")
    torch.testing.assert_close(distill_loss(s, t, temperature), ref)
    assert float(distill_loss(t, t, temperature)) == pytest.approx(0.0, abs=1e-6)
    assert float(distill_loss(s, t, temperature)) > 0


def test_distill_loss_refuses_bad_input():
    with pytest.raises(ValueError, match="same shape"):
        distill_loss(torch.zeros(2, 5), torch.zeros(2, 6))
    with pytest.raises(ValueError, match="temperature"):
        distill_loss(torch.zeros(2, 5), torch.zeros(2, 5), temperature=0)
    with pytest.raises(ValueError, match="steps"):
        DistillConfig(steps=0)
    with pytest.raises(ValueError, match="n_layers"):
        ModelConfig(vocab_size=8, d_model=8, n_layers=-1, n_heads=2)


def test_zero_layer_transformer_is_a_bigram_model():
    torch.manual_seed(0)
    m = Transformer(ModelConfig(vocab_size=20, d_model=8, n_layers=0, n_heads=2,
                                max_seq_len=16)).eval()
    x = torch.tensor([[3, 7, 7, 1, 3]])
    with torch.no_grad():
        logits = m(x)[0]
        for t, tok in enumerate(x[0].tolist()):  # each position sees its token only
            torch.testing.assert_close(logits[t], m(torch.tensor([[tok]]))[0, 0])
        cache = m.init_kv_cache(1, 16)  # and it decodes with a (layerless) cache
        torch.testing.assert_close(m(x, kv_cache=cache)[0], logits)
        assert cache.length == 5


def test_distillation_lowers_the_kl_and_raises_acceptance():
    target = target_model()
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(0, 32, (4000,), generator=g)
    config = DistillConfig(d_model=16, steps=150, batch_size=8, seq_len=16, lr=3e-2)
    draft, losses = distill_draft(target, Tokens(ids), config)
    assert draft.config.n_layers == 0 and not draft.training
    assert sum(losses[-10:]) / 10 < 0.6 * sum(losses[:10]) / 10
    untrained = Transformer(draft.config).eval()
    prompt = ids[:5].tolist()

    def kept(d):
        gen = torch.Generator().manual_seed(0)
        _, st = speculative_generate(target, d, prompt, 24, k=1, temperature=1.0,
                                     generator=gen)
        return st.acceptance_rate

    assert kept(draft) > kept(untrained) + 0.1
    # greedy output is the target's own, whatever the draft
    with torch.no_grad():
        ref = target.generate(torch.tensor([prompt]), 20, temperature=0)[0, 5:]
    out, _ = speculative_generate(target, draft, prompt, 20, k=3, temperature=0)
    assert out == ref.tolist()


def test_distill_refuses_windows_longer_than_the_target():
    with pytest.raises(ValueError, match="seq_len 64 exceeds"):
        distill_draft(target_model(), Tokens(torch.zeros(100, dtype=torch.long)),
                      DistillConfig(seq_len=64))
