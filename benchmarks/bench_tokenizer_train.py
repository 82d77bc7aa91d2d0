"""BPE training time: our train_bpe vs Hugging Face ``tokenizers`` (Rust).

    .venv/bin/python benchmarks/bench_tokenizer_train.py [--vocab-size 4096]

Both learn a byte-level BPE with the same vocabulary size (five special
tokens included) on the same corpus, the modern Shakespeare works (~5 MB),
and, to be like for like, with the same split pattern, in two settings:

* GPT-4 pattern: HF gets it through ``pre_tokenizers.Split`` followed by
  ``ByteLevel(use_regex=False)``, the way Llama 3's ``tokenizer.json`` does;
* GPT-2 pattern: HF's own ``ByteLevel`` pre-tokenizer; ours ``GPT2_PATTERN``.

Before timing, the script checks that both sides see exactly the same
pre-tokens with the same counts, so only the trainers differ. HF uses all
cores (Rayon threads); we use ``num_workers`` processes for counting. Runs
alternate and the best of ``--repeats`` is kept (wall clock: HF is threaded).
"""

from __future__ import annotations

import argparse
import time
from collections import Counter

from tokenizers import Regex
from tokenizers import Tokenizer as HFTokenizer
from tokenizers import models, pre_tokenizers, trainers

from llm_from_scratch.tokenizer import (
    BOOK_SPECIAL_TOKENS,
    GPT2_PATTERN,
    GPT4_PATTERN,
    count_pretokens,
    train_bpe,
)
from llm_from_scratch.tokenizer.book import book_corpus
from llm_from_scratch.tokenizer.serialization import bytes_to_unicode
from llm_from_scratch.tokenizer.train import bpe_merges

# GPT4_PATTERN in Oniguruma's syntax (HF's regex engine): no possessive
# quantifiers (same matches here: no later part of an alternative can force
# backtracking) and \z for Python's end of string (Oniguruma's $ is end of line).
GPT4_PATTERN_ONIG = (
    r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|"""
    r""" ?[^\s\p{L}\p{N}]+[\r\n]*|\s+\z|\s*[\r\n]|\s+(?!\S)|\s"""
)
SETTINGS = {
    "GPT-4 pattern": (
        GPT4_PATTERN,
        lambda: pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(GPT4_PATTERN_ONIG), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]),
    ),
    "GPT-2 pattern": (
        GPT2_PATTERN, lambda: pre_tokenizers.ByteLevel(add_prefix_space=False)
    ),
}


def hf_train(docs: list[str], vocab_size: int, pre_tokenizer) -> None:
    hf = HFTokenizer(models.BPE())
    hf.pre_tokenizer = pre_tokenizer
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=BOOK_SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    hf.train_from_iterator(docs, trainer)
    assert hf.get_vocab_size() == vocab_size


def hf_pretoken_counts(docs: list[str], pre_tokenizer) -> Counter[bytes]:
    """HF's pre-tokens, mapped back from GPT-2's printable characters to bytes."""
    to_byte = {c: b for b, c in bytes_to_unicode().items()}
    counts: Counter[bytes] = Counter()
    for doc in docs:
        for piece, _ in pre_tokenizer.pre_tokenize_str(doc):
            counts[bytes(to_byte[c] for c in piece)] += 1
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vocab-size", type=int, default=4096)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--num-workers", type=int, default=None)
    args = parser.parse_args()
    corpus = book_corpus()
    docs = corpus.split("<|endoftext|>")
    num_merges = args.vocab_size - 256 - len(BOOK_SPECIAL_TOKENS)
    print(f"corpus: {len(corpus.encode()) / 1e6:.2f} MB, vocab_size {args.vocab_size}")
    for name, (pattern, make_pre_tokenizer) in SETTINGS.items():
        counts = count_pretokens(corpus, pattern, BOOK_SPECIAL_TOKENS)
        same = counts == hf_pretoken_counts(docs, make_pre_tokenizer())
        assert same, f"{name}: HF and we see different pre-tokens"
        ours, ref, count, merge = [], [], [], []
        for _ in range(args.repeats):
            start = time.perf_counter()
            train_bpe(corpus, args.vocab_size, BOOK_SPECIAL_TOKENS, pattern,
                      num_workers=args.num_workers)
            ours.append(time.perf_counter() - start)
            start = time.perf_counter()
            hf_train(docs, args.vocab_size, make_pre_tokenizer())
            ref.append(time.perf_counter() - start)
            start = time.perf_counter()
            count_pretokens(corpus, pattern, BOOK_SPECIAL_TOKENS,
                            num_workers=args.num_workers)
            count.append(time.perf_counter() - start)
            start = time.perf_counter()
            bpe_merges(counts, num_merges)
            merge.append(time.perf_counter() - start)
        print(f"{name} ({len(counts):,} distinct pre-tokens, identical for both)")
        print(f"  HF tokenizers (Rust)  {min(ref):6.2f} s")
        ratio = min(ours) / min(ref)
        print(f"  ours (train_bpe)      {min(ours):6.2f} s   ratio {ratio:.2f}x time")
        print(f"    of which counting   {min(count):6.2f} s, "
              f"merging {min(merge):.2f} s")


if __name__ == "__main__":
    main()
