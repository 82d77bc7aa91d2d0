"""Run a task on a model: per-item scores, then means with error bars.

Multiple choice is scored four ways from the same log-likelihoods
$\\ell_i = \\log p(\\text{delimiter} + c_i \\mid x)$ of the options $c_i$:
``acc`` picks $\\arg\\max_i \\ell_i$; ``acc_norm`` $\\arg\\max_i \\ell_i / |c_i|$
with $|c_i|$ the option's length in characters (lm-evaluation-harness's
``acc_norm``, used for HellaSwag); ``acc_bytes`` divides by UTF-8 bytes
(equal to ``acc_norm`` on ASCII); ``acc_token`` by the option's token count
(the per-token mean). Ties go to the first option, as ``numpy.argmax`` does.
With ``mutual_info=True``, ``acc_mutual_info`` (lm-evaluation-harness's name)
picks $\\arg\\max_i \\ell_i - \\log p(\\text{delimiter} + c_i)$, the
log-likelihood the context adds over the option's own (scored after the
end-of-text token alone).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from llm_from_scratch.eval.loglik import EncodesText, encode_pair, rolling_loglikelihood
from llm_from_scratch.eval.loglik import score_tokens
from llm_from_scratch.eval.parsing import gsm8k_correct, parse_choice
from llm_from_scratch.eval.stats import bits_per_byte_ci, standard_error
from llm_from_scratch.eval.tasks import Item, Task

MC_METRICS = ("acc", "acc_norm", "acc_bytes", "acc_token")


@dataclass
class TaskResult:
    """Scores of one task: metric -> (value, standard error or CI half-width),
    the per-item scores behind them, and the items skipped (with reasons)."""

    task: str
    n_items: int
    metrics: dict[str, tuple[float, float]]
    per_item: dict[str, list[float]]
    skipped: list[tuple[str, str]] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "task": self.task, "n_items": self.n_items,
            "metrics": {k: {"value": v, "stderr": s}
                        for k, (v, s) in self.metrics.items()},
            "skipped": [{"id": i, "reason": r} for i, r in self.skipped],
        }


def load_for_eval(
    checkpoint: str | Path, tokenizer: str | Path | None = None
) -> tuple[Any, Any]:
    """(model, tokenizer) of a checkpoint, with a clear error when it is missing
    or when the tokenizer does not fit the model. Without ``tokenizer`` it is the
    one the checkpoint's data records (the book's BPE, bytes, or the ``.tok``
    file its shards name), as for ``sample`` and ``chat``."""
    from llm_from_scratch.train import load_model
    from llm_from_scratch.train.cli import sample_tokenizer

    path = Path(checkpoint)
    if not path.exists():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    model, config = load_model(path)
    tok = sample_tokenizer(config, str(tokenizer) if tokenizer else None)
    if tok.vocab_size > model.config.vocab_size:
        raise ValueError(
            f"tokenizer has {tok.vocab_size} tokens but the model at {path} only "
            f"{model.config.vocab_size}: pass the tokenizer it was trained with"
        )
    return model.eval(), tok


def choice_picks(
    logprobs: np.ndarray, choices: tuple[str, ...], n_tokens: np.ndarray
) -> dict[str, int]:
    """The option each normalisation picks, from the options' log-likelihoods."""
    chars = np.array([float(len(c)) for c in choices])
    n_bytes = np.array([float(len(c.encode("utf-8"))) for c in choices])
    return {
        "acc": int(np.argmax(logprobs)),
        "acc_norm": int(np.argmax(logprobs / chars)),
        "acc_bytes": int(np.argmax(logprobs / n_bytes)),
        "acc_token": int(np.argmax(logprobs / n_tokens)),
    }


def _finish(task: str, per_item: dict[str, list[float]], n: int,
            skipped: list[tuple[str, str]]) -> TaskResult:
    if n == 0:
        first = f" (item {skipped[0][0]}: {skipped[0][1]})" if skipped else ""
        raise ValueError(f"task {task}: every item was skipped{first}")
    metrics = {k: (float(np.mean(v)), standard_error(v)) for k, v in per_item.items()}
    return TaskResult(task, n, metrics, per_item, skipped)


def mc_logprobs(
    model: nn.Module, tok: EncodesText, items: list[Item], batch_size: int = 32,
    progress: bool = False,
) -> tuple[list[np.ndarray], list[np.ndarray], list[tuple[str, str]], list[Item]]:
    """Per kept item, its options' log-likelihoods and token counts; and the
    skipped items (an option longer than the model's context)."""
    pairs, owners, skipped, kept = [], [], [], []
    limit = model.config.max_positions
    for item in items:
        encoded = [encode_pair(tok, item.context, item.delimiter + c)
                   for c in item.choices]
        for c, (_, ids) in zip(item.choices, encoded):
            if not ids:
                raise ValueError(f"item {item.id}: choice {c!r} tokenizes to nothing")
        longest = max(len(ids) for _, ids in encoded)
        if longest > limit:
            skipped.append((item.id, f"a choice of {longest} tokens exceeds the "
                                     f"model's {limit}"))
            continue
        kept.append(item)
        owners.append(len(pairs))
        pairs.extend(encoded)
    scores = score_tokens(model, pairs, batch_size, progress)
    lls, counts = [], []
    for item, start in zip(kept, owners):
        s = scores[start:start + len(item.choices)]
        lls.append(np.array([x.logprob for x in s]))
        counts.append(np.array([float(x.n_tokens) for x in s]))
    return lls, counts, skipped, kept


def evaluate_multiple_choice(
    model: nn.Module, tok: EncodesText, task: Task, batch_size: int = 32,
    progress: bool = False, mutual_info: bool = False,
) -> TaskResult:
    lls, counts, skipped, kept = mc_logprobs(
        model, tok, list(task.items), batch_size, progress
    )
    per_item: dict[str, list[float]] = {k: [] for k in MC_METRICS}
    for item, ll, n in zip(kept, lls, counts):
        for k, pick in choice_picks(ll, item.choices, n).items():
            per_item[k].append(float(pick == item.gold))
    if mutual_info:
        bare = [replace(i, context="") for i in kept]
        priors, _, _, _ = mc_logprobs(model, tok, bare, batch_size, progress)
        per_item["acc_mutual_info"] = [
            float(int(np.argmax(ll - prior)) == item.gold)
            for item, ll, prior in zip(kept, lls, priors)
        ]
    result = _finish(task.name, per_item, len(kept), skipped)
    result.outputs = [str(int(np.argmax(ll))) for ll in lls]
    return result


def _prompt_ids(tok: Any, item: Item) -> list[int]:
    if item.messages:
        from llm_from_scratch.align.chat import Message, encode_prompt

        return encode_prompt(tok, [Message(r, c) for r, c in item.messages])
    return tok.encode_ordinary(item.prompt) or [tok.eot_id]


def grade(item: Item, reply: str) -> float:
    """1.0 when the reply answers the item (by its ``grader``)."""
    if item.grader == "gsm8k":
        return float(gsm8k_correct(reply, item.target))
    if item.grader == "choice":
        return float(parse_choice(reply) == item.target.strip().upper())
    said = reply.strip().removesuffix(".").strip().lower()
    return float(said == item.target.strip().lower())


@torch.no_grad()
def generate_text(
    model: nn.Module, tok: Any, prompt: list[int], max_new_tokens: int,
    stop: tuple[str, ...] = (), temperature: float = 0.0,
    generator: torch.Generator | None = None,
) -> str:
    """Greedy (or sampled) reply text, cut at the first stop string; the chat
    turn end ``<|end|>`` stops generation when the tokenizer has it."""
    specials = getattr(tok, "special_tokens", {})
    stop_ids = [specials["<|end|>"]] if "<|end|>" in specials else []
    idx = torch.tensor([prompt], device=next(model.parameters()).device)
    out = model.generate(idx, max_new_tokens, temperature=temperature,
                         stop_tokens=stop_ids, generator=generator)
    new = out[0, len(prompt):].tolist()
    for s in stop_ids:
        if s in new:
            new = new[: new.index(s)]
    text = tok.decode(new)
    cuts = [text.index(s) for s in stop if s and s in text]
    return text[: min(cuts)] if cuts else text


def evaluate_generate(
    model: nn.Module, tok: Any, task: Task, progress: bool = False
) -> TaskResult:
    per_item: dict[str, list[float]] = {"exact_match": []}
    skipped, outputs = [], []
    limit = model.config.max_positions
    items = task.items
    if progress:
        from tqdm.auto import tqdm

        items = tqdm(items, desc="generating", unit="item")
    for item in items:
        prompt = _prompt_ids(tok, item)
        if len(prompt) + item.max_new_tokens - 1 > limit:
            skipped.append((item.id, f"prompt of {len(prompt)} tokens plus "
                                     f"{item.max_new_tokens} new exceeds {limit}"))
            continue
        reply = generate_text(model, tok, prompt, item.max_new_tokens, item.stop)
        outputs.append(reply)
        per_item["exact_match"].append(grade(item, reply))
    result = _finish(task.name, per_item, len(outputs), skipped)
    result.outputs = outputs
    return result


def evaluate_rolling(
    model: nn.Module, tok: EncodesText, task: Task, batch_size: int = 32,
    progress: bool = False,
) -> TaskResult:
    texts = [i.text for i in task.items]
    lls = rolling_loglikelihood(model, tok, texts, batch_size, progress=progress)
    nats = [-x for x in lls]
    n_bytes = [len(t.encode("utf-8")) for t in texts]
    ci = bits_per_byte_ci(nats, n_bytes)
    result = TaskResult(task.name, len(texts),
                        {"bits_per_byte": (ci.estimate, (ci.high - ci.low) / 2)},
                        {"nats": nats, "bytes": [float(b) for b in n_bytes]})
    return result


def evaluate_task(
    model: nn.Module, tok: Any, task: Task, batch_size: int = 32,
    limit: int | None = None, progress: bool = False, mutual_info: bool = False,
) -> TaskResult:
    """Score ``task`` (its first ``limit`` items) and attach error bars:
    standard errors for accuracies, a 95% bootstrap half-width for bits per
    byte. ``mutual_info`` adds ``acc_mutual_info`` to multiple choice."""
    if limit is not None:
        if limit < 1:
            raise ValueError(f"limit must be >= 1, got {limit}")
        task = Task(task.name, task.items[:limit], task.card)
    if task.type == "multiple_choice":
        return evaluate_multiple_choice(model, tok, task, batch_size, progress,
                                        mutual_info)
    if task.type == "generate":
        return evaluate_generate(model, tok, task, progress)
    return evaluate_rolling(model, tok, task, batch_size, progress)
