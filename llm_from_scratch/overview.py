"""The book's pipeline as data, its figure, and a first baseline.

``PIPELINE`` lists the stages in the order text flows through them, with the
chapter and the package module that implement each one. The big-picture
chapter draws it; nothing else depends on it.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

import matplotlib.pyplot as plt
from matplotlib.patches import FancyBboxPatch


@dataclass(frozen=True)
class Stage:
    name: str  # short label drawn in the figure
    chapter: str  # the chapter that builds it
    module: str  # where the code lives
    group: str  # "data", "model", "training" or "alignment": the figure's colour


PIPELINE: tuple[Stage, ...] = (
    Stage("Raw text", "Data curation", "llm_from_scratch.data", "data"),
    Stage("Rule-based\nfilters", "Data curation", "llm_from_scratch.data", "data"),
    Stage("Language ID", "Data curation", "llm_from_scratch.data", "data"),
    Stage("Exact + MinHash\ndedup", "Data curation", "llm_from_scratch.data", "data"),
    Stage("Toxicity\nclassifier", "Data curation", "llm_from_scratch.data", "data"),
    Stage("Byte-level BPE\ntokenizer", "Tokenization", "llm_from_scratch.tokenizer", "data"),
    Stage("Binary token\nshards", "Data curation", "llm_from_scratch.data", "data"),
    Stage("Transformer\n(RoPE, SwiGLU,\nRMSNorm)", "Embeddings and attention",
          "llm_from_scratch.model", "model"),
    Stage("Pretraining\n(AdamW, cosine)", "Training", "llm_from_scratch.train", "training"),
    Stage("Parallelism\n(DP, FSDP, TP, PP)", "Parallelism", "llm_from_scratch.parallel",
          "training"),
    Stage("Alignment\n(SFT, DPO, RLHF)", "Alignment", "llm_from_scratch.align", "alignment"),
    Stage("Chat model", "Alignment", "llm_from_scratch.align", "alignment"),
)

GROUP_COLOURS = {
    "data": "#cfe2f3",
    "model": "#d9ead3",
    "training": "#fff2cc",
    "alignment": "#f4cccc",
}


def draw_pipeline(stages: tuple[Stage, ...] = PIPELINE, per_row: int = 4) -> plt.Figure:
    """Draw the stages as boxes in reading order ("snake" rows), arrows between them."""
    rows = math.ceil(len(stages) / per_row)
    fig, ax = plt.subplots(figsize=(7.0, 1.45 * rows + 0.4))
    width, height, gap_x, gap_y = 1.0, 0.62, 0.38, 0.55
    centres = []
    for i, stage in enumerate(stages):
        row, col = divmod(i, per_row)
        if row % 2 == 1:  # odd rows run right to left, so arrows stay short
            col = per_row - 1 - col
        x = col * (width + gap_x)
        y = -row * (height + gap_y)
        ax.add_patch(FancyBboxPatch(
            (x, y), width, height, boxstyle="round,pad=0.02,rounding_size=0.08",
            facecolor=GROUP_COLOURS[stage.group], edgecolor="#444444", linewidth=0.8))
        ax.text(x + width / 2, y + height / 2, stage.name, ha="center", va="center",
                fontsize=7.5)
        centres.append((x + width / 2, y + height / 2))
    for (x0, y0), (x1, y1) in zip(centres, centres[1:]):
        if y0 == y1:  # same row: from the side of one box to the side of the next
            sign = 1 if x1 > x0 else -1
            start, end = (x0 + sign * width / 2, y0), (x1 - sign * width / 2, y1)
        else:  # next row: straight down
            start, end = (x0, y0 - height / 2), (x1, y1 + height / 2)
        ax.annotate("", xy=end, xytext=start,
                    arrowprops={"arrowstyle": "->", "color": "#444444", "lw": 1.0})
    handles = [plt.Rectangle((0, 0), 1, 1, facecolor=c, edgecolor="#444444")
               for c in GROUP_COLOURS.values()]
    ax.legend(handles, list(GROUP_COLOURS), loc="upper center", ncol=4, fontsize=8,
              bbox_to_anchor=(0.5, 0.0))
    ax.set_xlim(-0.1, per_row * (width + gap_x) - gap_x + 0.1)
    ax.set_ylim(-(rows - 1) * (height + gap_y) - 0.1, height + 0.1)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title("The pipeline this book builds, from raw text to a chat model")
    return fig


def unigram_bits_per_byte(text: str) -> float:
    """Bits per byte of the best model that ignores context: byte frequencies.

    The entropy of the text's own byte distribution, in bits. It is the number
    every language model in this book has to beat: a model that uses context
    needs fewer bits to encode each byte.
    """
    # region checks
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    if not text:
        raise ValueError("text is empty: its entropy is undefined")
    # endregion
    data = text.encode("utf-8")
    total = len(data)
    return -sum(n / total * math.log2(n / total) for n in Counter(data).values())


def conditional_entropy(data: bytes, order: int) -> float:
    """H(X_t | the previous ``order`` bytes), in bits, from the counts in ``data``.

    In-sample: the counts are taken on ``data`` and the cost is measured on the same
    bytes, so for long contexts it measures memorisation, not prediction.
    """
    # region checks
    if order < 0:
        raise ValueError(f"order must be >= 0, got {order}")
    if len(data) <= order:
        raise ValueError(f"data has {len(data)} bytes; order {order} needs more")
    # endregion
    contexts = Counter(data[i - order:i] for i in range(order, len(data)))
    grams = Counter(data[i - order:i + 1] for i in range(order, len(data)))
    n = len(data) - order
    return -sum(c / n * math.log2(c / contexts[g[:-1]]) for g, c in grams.items())
