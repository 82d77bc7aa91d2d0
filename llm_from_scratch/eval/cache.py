"""Scores kept on disk, keyed by the model's weights and the task's items, so a
chapter that scores many models on many tasks recomputes only what changed."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from torch import nn

from llm_from_scratch.eval.benchmarks import task_fingerprint
from llm_from_scratch.eval.evaluate import TaskResult, evaluate_task
from llm_from_scratch.eval.tasks import Task
from llm_from_scratch.utils import cache_dir

VERSION = 1  # bump when scoring changes what it returns


def weights_key(model: nn.Module) -> str:
    """A hash of the weights (names, shapes and bytes)."""
    h = hashlib.sha256()
    for name, t in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def cached_evaluate(
    model: nn.Module, tok: Any, task: Task, batch_size: int = 32,
    mutual_info: bool = False,
) -> TaskResult:
    """``evaluate_task`` of the whole task, read from the cache when present."""
    mi = "-mi" if mutual_info else ""
    key = f"{task.name}-{task_fingerprint(task)}-{weights_key(model)}{mi}-v{VERSION}"
    path = cache_dir("eval") / f"{key}.json"
    if path.is_file():
        d = json.loads(path.read_text())
        return TaskResult(
            d["task"], d["n_items"], {k: tuple(v) for k, v in d["metrics"].items()},
            d["per_item"], [tuple(s) for s in d["skipped"]], d["outputs"],
        )
    r = evaluate_task(model, tok, task, batch_size, mutual_info=mutual_info)
    path.write_text(json.dumps({
        "task": r.task, "n_items": r.n_items, "metrics": r.metrics,
        "per_item": r.per_item, "skipped": r.skipped, "outputs": r.outputs,
    }))
    return r
