"""Batched log-likelihood scoring: our scorer against lm-eval's own HF backend.

The same book-sized model (random weights) scores the same multiple-choice
requests (token ids: contexts of 30-60 tokens, 4 options of 4-16 tokens each)
two ways: ``llm_from_scratch.eval.score_tokens`` on our ``Transformer``, and
lm-evaluation-harness's ``HFLM._loglikelihood_tokens`` on transformers'
``LlamaForCausalLM`` holding the same weights (``to_hf_llama``). Both batch 32
requests per forward pass. Prints requests/s of each and the ratio (goal >= 1),
and checks that the log-likelihoods agree.

    .venv/bin/python benchmarks/bench_eval_loglik.py
"""

from __future__ import annotations

import argparse
import time

import torch

from llm_from_scratch.eval import score_tokens
from llm_from_scratch.model import ModelConfig, Transformer, to_hf_llama

VOCAB, EOT = 4096, 4091


def hflm(model: Transformer, batch_size: int):  # noqa: ANN201
    from lm_eval.models.huggingface import HFLM
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel
    from transformers import LlamaForCausalLM, PreTrainedTokenizerFast

    config, state = to_hf_llama(model)
    hf = LlamaForCausalLM(config)
    hf.load_state_dict(state, strict=True)
    core = Tokenizer(WordLevel({f"t{i}": i for i in range(VOCAB)}, unk_token="t0"))
    tok = PreTrainedTokenizerFast(tokenizer_object=core, eos_token=f"t{EOT}")
    return HFLM(pretrained=hf.eval(), tokenizer=tok, batch_size=batch_size,
                max_length=model.config.max_positions)


def requests(n_items: int, seed: int = 0) -> list[tuple[list[int], list[int]]]:
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n_items):
        ctx = torch.randint(4000, (int(torch.randint(30, 61, (1,), generator=g)),),
                            generator=g).tolist()
        for _ in range(4):
            m = int(torch.randint(4, 17, (1,), generator=g))
            out.append((ctx, torch.randint(4000, (m,), generator=g).tolist()))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = Transformer(ModelConfig(vocab_size=VOCAB, d_model=128, n_layers=4,
                                    n_heads=4, max_seq_len=128, fast=True)).eval()
    lm = hflm(model, args.batch_size)
    reqs = requests(args.items)
    hf_reqs = [((None, None), c, y) for c, y in reqs]

    def ours() -> list[float]:
        return [s.logprob for s in score_tokens(model, reqs, args.batch_size)]

    def theirs() -> list[float]:
        return [ll for ll, _ in lm._loglikelihood_tokens(hf_reqs, disable_tqdm=True)]

    a, b = ours(), theirs()  # warm-up, and the agreement check
    worst = max(abs(x - y) for x, y in zip(a, b))
    assert worst < 1e-2, f"scores differ by {worst}"
    times = {"ours": [], "lm-eval HFLM": []}
    for _ in range(args.repeats):  # interleaved, so load changes hit both
        for name, fn in (("ours", ours), ("lm-eval HFLM", theirs)):
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    best = {k: min(v) for k, v in times.items()}
    for name, t in best.items():
        print(f"{name:>13}: {len(reqs) / t:8.1f} requests/s  ({t:.2f} s for "
              f"{len(reqs)} requests, best of {args.repeats})")
    print(f"max |difference| of log-likelihoods: {worst:.2e} nats")
    print(f"ratio ours / lm-eval HFLM: {best['lm-eval HFLM'] / best['ours']:.2f}x "
          "(goal >= 1.0)")


if __name__ == "__main__":
    main()
