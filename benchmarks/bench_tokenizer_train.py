"""BPE training time: our train_bpe vs Hugging Face ``tokenizers`` (Rust).

    .venv/bin/python benchmarks/bench_tokenizer_train.py [--vocab-size 4096]

Both learn a byte-level BPE with the same vocabulary size (five special
tokens included) on the same corpus: the modern Shakespeare works (~5 MB).
HF uses its GPT-2 byte-level pre-tokenizer and all cores (Rayon threads); we
use the GPT-4 pattern and ``num_workers`` processes for counting. Runs
alternate and the best of ``--repeats`` is kept.
"""

from __future__ import annotations

import argparse
import time

from tokenizers import Tokenizer as HFTokenizer
from tokenizers import models, pre_tokenizers, trainers

from llm_from_scratch.tokenizer import BOOK_SPECIAL_TOKENS, GPT4_PATTERN, train_bpe
from llm_from_scratch.tokenizer.book import book_corpus
from llm_from_scratch.tokenizer.pretokenize import count_pretokens
from llm_from_scratch.tokenizer.train import bpe_merges


def hf_train(docs: list[str], vocab_size: int) -> None:
    hf = HFTokenizer(models.BPE())
    hf.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=BOOK_SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    hf.train_from_iterator(docs, trainer)
    assert hf.get_vocab_size() == vocab_size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vocab-size", type=int, default=4096)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--num-workers", type=int, default=None)
    args = parser.parse_args()
    corpus = book_corpus()
    docs = corpus.split("<|endoftext|>")
    ours, ref, count, merge = [], [], [], []
    for _ in range(args.repeats):
        start = time.perf_counter()
        train_bpe(corpus, args.vocab_size, BOOK_SPECIAL_TOKENS, GPT4_PATTERN,
                  num_workers=args.num_workers)
        ours.append(time.perf_counter() - start)
        start = time.perf_counter()
        hf_train(docs, args.vocab_size)
        ref.append(time.perf_counter() - start)
        start = time.perf_counter()
        counts = count_pretokens(corpus, GPT4_PATTERN, BOOK_SPECIAL_TOKENS,
                                 num_workers=args.num_workers)
        count.append(time.perf_counter() - start)
        start = time.perf_counter()
        bpe_merges(counts, args.vocab_size - 256 - len(BOOK_SPECIAL_TOKENS))
        merge.append(time.perf_counter() - start)
    print(f"corpus: {len(corpus.encode()) / 1e6:.2f} MB, vocab_size {args.vocab_size}")
    print(f"HF tokenizers (Rust)  {min(ref):6.2f} s")
    ratio = min(ours) / min(ref)
    print(f"ours (train_bpe)      {min(ours):6.2f} s   ratio {ratio:.2f}x")
    print(f"  of which counting   {min(count):6.2f} s, merging {min(merge):.2f} s")


if __name__ == "__main__":
    main()
