"""A toxicity classifier trained in the chapter: fastText-style, from weak labels.

No labelled toxicity data can be downloaded here, so the training set is
assembled offline, the way many production filters start:

1. *Candidates*: clean sentences (Shakespeare, package READMEs, Python
   docstrings) plus sentences generated from templates that mix insults,
   profanity and friendly words.
2. *Weak labels* from reference tools: a sentence is toxic when the
   ``alt-profanity-check`` model gives it probability >= 0.5 or it contains a
   word of ``better-profanity``'s list. The labels are the teachers', not ours.
3. *Student*: a bag of hashed word, word-bigram and character n-grams, averaged
   embeddings and a logistic output (fastText, {cite}`joulin2017bag`), trained
   with AdamW in a few seconds. It is small, fast, and ours to inspect.

A separate, small set written and labelled by hand (``HAND_LABELLED``) checks
the student against human judgement rather than against its teachers.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from llm_from_scratch.utils.paths import cache_dir

VERSION = 1
TOKEN = re.compile(r"[a-z0-9*@$!']+")

# (text, is_toxic): written and labelled for this book; never used in training.
HAND_LABELLED: list[tuple[str, int]] = [
    ("You are an idiot and everyone knows it.", 1),
    ("Shut up, nobody asked for your garbage opinion.", 1),
    ("What a pathetic loser, go away.", 1),
    ("This is the dumbest thing I have read all year, moron.", 1),
    ("Get lost, you worthless troll.", 1),
    ("Only a brainless fool would believe this crap.", 1),
    ("You stupid clown, learn to read before you comment.", 1),
    ("Your code is trash and so are you.", 1),
    ("Go to hell with your stupid patches.", 1),
    ("Nobody wants you here, you disgusting creep.", 1),
    ("Thanks for the quick review, the patch looks good to me.", 0),
    ("Kill the process and restart the server.", 0),
    ("The test suite fails on Windows because of path separators.", 0),
    ("I disagree with this design, but I see why you chose it.", 0),
    ("To be, or not to be, that is the question.", 0),
    ("This library is licensed under the MIT license.", 0),
    ("The attack on the castle began at dawn.", 0),
    ("Please update the documentation before the next release.", 0),
    ("Thou art a boil, a plague sore, an embossed carbuncle.", 0),
    ("The function returns None when the file is missing.", 0),
    ("What a lovely idea, let us try it tomorrow.", 0),
    ("The dog barked at the postman all morning.", 0),
    ("Install the package with pip and run the tests.", 0),
    ("I hate it when the build breaks on a Friday.", 0),
]

SUBJECTS = ["you", "your friend", "this guy", "the author", "that admin", "he", "she"]
LINKS = ["are", "is", "is such", "sounds like", "is clearly", "must be", "acts like"]
BAD_ADJ = ["stupid", "pathetic", "worthless", "brainless", "disgusting", "useless",
           "ignorant", "dumb", "idiotic", "miserable"]
BAD_NOUN = ["idiot", "moron", "loser", "fool", "clown", "jerk", "imbecile", "troll",
            "creep", "dumbass"]
GOOD_ADJ = ["kind", "brilliant", "helpful", "careful", "friendly", "clever",
            "patient", "talented", "generous", "thoughtful"]
GOOD_NOUN = ["friend", "teacher", "engineer", "writer", "neighbour", "expert",
             "colleague", "artist", "reviewer", "helper"]
OPENERS = ["", "honestly, ", "seriously, ", "well, ", "lol ", "wow, "]
COMMANDS = ["shut up", "get lost", "go away", "nobody asked", "nobody wants you here"]
THANKS = ["thank you", "well done", "good morning", "nice work", "welcome back"]
THINGS = ["opinion", "code", "post", "comment", "idea", "patch", "review", "essay"]


@dataclass(frozen=True)
class ToxicityConfig:
    """Data sizes, model shape and training settings (all that shapes the model)."""

    clean_sentences: int = 4000
    generated_sentences: int = 3000
    buckets: int = 2**16
    dim: int = 16
    epochs: int = 4
    batch_size: int = 128
    lr: float = 0.05
    test_fraction: float = 0.2
    seed: int = 0

    def __post_init__(self) -> None:
        if self.buckets < 2 or self.dim < 1 or self.epochs < 1 or self.batch_size < 1:
            raise ValueError("ToxicityConfig: buckets>=2, dim, epochs, batch_size >= 1")
        if not 0.0 < self.test_fraction < 1.0:
            raise ValueError("ToxicityConfig.test_fraction must be in (0, 1)")


def profanity_words() -> list[str]:
    """better-profanity's word list, read as data from its package."""
    import better_profanity

    path = Path(better_profanity.__file__).parent / "profanity_wordlist.txt"
    lines = path.read_text().splitlines()
    return sorted({w.strip().lower() for w in lines if w.strip()})


def generated_sentence(rng: random.Random, words: Sequence[str]) -> str:
    """One template sentence: insulting, profane or friendly (decided at random)."""
    kind = rng.random()
    bad = rng.random() < 0.5
    adj = rng.choice(BAD_ADJ if bad else GOOD_ADJ)
    noun = rng.choice(BAD_NOUN if bad else GOOD_NOUN)
    if kind < 0.15:
        noun = rng.choice(words)
    if rng.random() < 0.6:
        subj, link = rng.choice(SUBJECTS), rng.choice(LINKS)
        text = f"{rng.choice(OPENERS)}{subj} {link} a {adj} {noun}."
    else:
        verb = rng.choice(COMMANDS if bad else THANKS)
        thing = rng.choice(THINGS)
        text = rng.choice(
            [f"{verb}, you {adj} {noun}.", f"{verb}, your {thing} is {adj}."]
        )
    return text.capitalize()


def clean_sentences(n: int, rng: random.Random) -> list[str]:
    """Lines of Shakespeare and of the local crawl's English pages."""
    from llm_from_scratch.corpora import shakespeare
    from llm_from_scratch.data.crawl import local_crawl

    lines = [ln.strip() for w in shakespeare() for ln in w.text.split("\n")]
    crawl = local_crawl(languages=0)
    lines += [ln.strip() for d in crawl for ln in d.text.split("\n")]
    lines = sorted({ln for ln in lines if 25 <= len(ln) <= 200})
    return rng.sample(lines, min(n, len(lines)))


def weak_labels(texts: Sequence[str]) -> np.ndarray:
    """1 where a reference tool calls the text toxic (profanity model or word list)."""
    from profanity_check import predict_prob

    words = set(profanity_words())
    model = predict_prob(list(texts)) >= 0.5
    listed = [bool(words & set(TOKEN.findall(t.lower()))) for t in texts]
    return (model | np.array(listed)).astype(np.int64)


def build_dataset(config: ToxicityConfig) -> tuple[list[str], np.ndarray]:
    """Candidate sentences and their weak labels, in a seeded order."""
    rng = random.Random(config.seed)
    words = profanity_words()
    texts = clean_sentences(config.clean_sentences, rng)
    texts += [generated_sentence(rng, words) for _ in range(config.generated_sentences)]
    texts = sorted(set(texts))
    rng.shuffle(texts)
    return texts, weak_labels(texts)


def features(text: str, buckets: int) -> list[int]:
    """Hashed ids of the words, word bigrams and character 3-grams of ``text``."""
    words = TOKEN.findall(text.lower())
    grams = [f"w:{w}" for w in words]
    grams += [f"b:{a} {b}" for a, b in zip(words, words[1:])]
    for w in words:
        padded = f"<{w}>"
        grams += [f"c:{padded[i:i + 3]}" for i in range(len(padded) - 2)]
    if not grams:
        grams = ["<empty>"]
    return [zlib.crc32(g.encode()) % buckets for g in grams]


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run a block with ``n`` torch threads. Tiny ops are *slower* with more
    threads on a busy machine (threads wait for each other), so small models
    train single-threaded."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


class BagOfNgrams(nn.Module):
    """fastText: mean of n-gram embeddings, then a linear layer to one logit."""

    def __init__(self, buckets: int, dim: int) -> None:
        super().__init__()
        # sparse: a step touches only the rows of the n-grams in the batch
        self.embed = nn.EmbeddingBag(buckets, dim, mode="mean", sparse=True)
        self.out = nn.Linear(dim, 1)

    def forward(self, ids: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
        return self.out(self.embed(ids, offsets)).squeeze(-1)


def _pack(texts: Sequence[str], buckets: int) -> tuple[torch.Tensor, torch.Tensor]:
    feats = [features(t, buckets) for t in texts]
    offsets = torch.tensor([0] + [len(f) for f in feats[:-1]]).cumsum(0)
    ids = torch.tensor([i for f in feats for i in f], dtype=torch.long)
    return ids, offsets


class ToxicityClassifier:
    """The trained student; ``predict_proba`` gives P(toxic) per text."""

    def __init__(self, model: BagOfNgrams, config: ToxicityConfig) -> None:
        self.model, self.config = model.eval(), config

    @torch.no_grad()
    def predict_proba(self, texts: Sequence[str]) -> list[float]:
        if isinstance(texts, str):
            raise TypeError("predict_proba takes a list of texts, not one string")
        if not texts:
            return []
        ids, offsets = _pack(texts, self.config.buckets)
        with torch_threads(1):
            return torch.sigmoid(self.model(ids, offsets)).tolist()

    def save(self, path: str | Path) -> None:
        from safetensors.torch import save_file

        meta = {"config": json.dumps(asdict(self.config)), "version": str(VERSION)}
        save_file(self.model.state_dict(), str(path), metadata=meta)

    @classmethod
    def load(cls, path: str | Path) -> ToxicityClassifier:
        from safetensors import safe_open
        from safetensors.torch import load_file

        with safe_open(str(path), "pt") as f:
            meta = f.metadata()
        config = ToxicityConfig(**json.loads(meta["config"]))
        model = BagOfNgrams(config.buckets, config.dim)
        model.load_state_dict(load_file(str(path)))
        return cls(model, config)


def train_classifier(
    texts: Sequence[str], labels: np.ndarray, config: ToxicityConfig
) -> tuple[ToxicityClassifier, list[float]]:
    """Train the student on binary cross-entropy; return it and its losses.

    Adam with sparse updates for the embedding table (as fastText does with
    SGD): each step costs the batch's n-grams, not the whole table.
    """
    if len(texts) != len(labels) or not len(texts):
        raise ValueError(f"{len(texts)} texts but {len(labels)} labels")
    with torch_threads(1):
        return _train(texts, labels, config)


def _train(
    texts: Sequence[str], labels: np.ndarray, config: ToxicityConfig
) -> tuple[ToxicityClassifier, list[float]]:
    gen = torch.Generator().manual_seed(config.seed)
    torch.manual_seed(config.seed)
    model = BagOfNgrams(config.buckets, config.dim)
    opts = [
        torch.optim.SparseAdam(model.embed.parameters(), lr=config.lr),
        torch.optim.AdamW(model.out.parameters(), lr=config.lr, weight_decay=0.0),
    ]
    feats = [torch.tensor(features(t, config.buckets)) for t in texts]
    y_all = torch.tensor(np.asarray(labels), dtype=torch.float32)
    # Weight the rarer class up so that both count equally in the loss.
    pos = float(y_all.mean())
    pos_weight = torch.tensor((1 - pos) / max(pos, 1e-6))
    losses = []
    for _ in range(config.epochs):
        order = torch.randperm(len(texts), generator=gen).tolist()
        for b in range(0, len(order), config.batch_size):
            idx = order[b : b + config.batch_size]
            batch = [feats[i] for i in idx]
            offsets = torch.tensor([0] + [len(f) for f in batch[:-1]]).cumsum(0)
            logits = model(torch.cat(batch), offsets)
            loss = nn.functional.binary_cross_entropy_with_logits(
                logits, y_all[idx], pos_weight=pos_weight
            )
            for opt in opts:
                opt.zero_grad()
            loss.backward()
            for opt in opts:
                opt.step()
            losses.append(loss.item())
    return ToxicityClassifier(model, config), losses


def split(n: int, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded train/test index split."""
    order = np.random.default_rng(seed).permutation(n)
    n_test = max(1, int(round(n * test_fraction)))
    return order[n_test:], order[:n_test]


_DATASETS: dict[ToxicityConfig, tuple[list[str], np.ndarray]] = {}


def training_data(config: ToxicityConfig) -> tuple[list[str], np.ndarray]:
    """``build_dataset(config)``, built once per process (do not modify it)."""
    if config not in _DATASETS:
        _DATASETS[config] = build_dataset(config)
    return _DATASETS[config]


def toxicity_key(config: ToxicityConfig = ToxicityConfig()) -> str:
    """The classifier's cache key: its settings, the code version, and a hash of
    the exact training texts and labels. The labels come from the installed
    ``alt-profanity-check`` and ``better-profanity``, so two machines with
    different versions of them get different keys, not each other's weights."""
    texts, labels = training_data(config)
    digest = hashlib.sha256()
    for text in texts:
        digest.update(text.encode("utf-8", "surrogatepass") + b"\0")
    digest.update(np.asarray(labels, dtype=np.int64).tobytes())
    blob = json.dumps({**asdict(config), "version": VERSION,
                       "data": digest.hexdigest()}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def toxicity_classifier(
    config: ToxicityConfig = ToxicityConfig(),
) -> ToxicityClassifier:
    """The chapter's trained classifier, from the cache or trained now (seconds)."""
    path = cache_dir("toxicity") / f"toxicity-{toxicity_key(config)}.safetensors"
    if path.is_file():
        return ToxicityClassifier.load(path)
    texts, labels = training_data(config)
    train_idx, _ = split(len(texts), config.test_fraction, config.seed)
    clf, _ = train_classifier([texts[i] for i in train_idx], labels[train_idx], config)
    tmp = path.with_suffix(".tmp")
    clf.save(tmp)
    tmp.replace(path)
    return clf


SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")


def document_toxicity(
    clf: ToxicityClassifier, text: str, max_sentences: int = 300
) -> float:
    """Fraction of a page's sentences scored toxic (at most ``max_sentences``,
    evenly spaced). The classifier was trained on sentences, and averaging
    n-gram embeddings over a long page would dilute one abusive sentence."""
    sentences = [s for s in SENTENCE_END.split(text) if len(s.split()) >= 3]
    if not sentences:
        return 0.0
    step = max(1, len(sentences) // max_sentences)
    probs = clf.predict_proba(sentences[::step][:max_sentences])
    return float(np.mean(np.array(probs) >= 0.5))
