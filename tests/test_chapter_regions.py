"""The argument checks of the functions chapters 05-09 print are marked, and hidden.

Chapters print package source with ``show()``; a function's argument validation is
wrapped in ``# region checks`` ... ``# endregion`` so that the printed listing carries
the idea. These tests keep the markers balanced and make sure each marked function
still raises its documented errors (the markers are comments and change nothing).
"""

from __future__ import annotations

import inspect
import re

import pytest
import torch

from llm_from_scratch import align, parallel, train
from llm_from_scratch.model import RotaryEmbedding
from llm_from_scratch.parallel import pipeline
from llm_from_scratch.utils.show import ELIDED, hide_checks, source

MARKED = [
    RotaryEmbedding.window,
    RotaryEmbedding.forward,
    train.cross_entropy,
    train.AdamW.__init__,
    train.param_groups,
    train.lr_at,
    parallel.ring_reduce_scatter,
    parallel.DataParallel.__init__,
    pipeline.schedule_ops,
    pipeline.pipeline_step,
    align.sft_loss,
    align.sft_train,
    align.RewardModel.forward,
    align.dpo_loss,
    align.group_advantages,
    align.compute_grpo_clip_loss,
]


@pytest.mark.parametrize("fn", MARKED, ids=lambda f: f.__qualname__)
def test_shown_source_elides_the_checks(fn):
    code = source(fn)
    assert "# region checks" in code
    shown = hide_checks(code)
    assert ELIDED in shown
    assert "# region" not in shown and "# endregion" not in shown
    # the elided listing is still valid Python apart from the elision line
    assert len(shown.splitlines()) < len(code.splitlines())


def test_every_marked_module_has_balanced_markers():
    for fn in MARKED:
        module = inspect.getmodule(fn)
        text = inspect.getsource(module)
        starts = len(re.findall(r"^\s*# region checks\s*$", text, re.M))
        ends = len(re.findall(r"^\s*# endregion\s*$", text, re.M))
        assert starts == ends > 0, module.__name__
        hide_checks(text)  # raises on nesting or an unclosed region


def test_marked_checks_still_raise():
    rope = RotaryEmbedding(head_dim=8, max_positions=4)
    with pytest.raises(ValueError, match="exceed the rotary cache"):
        rope.window(2, 3)
    with pytest.raises(TypeError, match="positions must be integers"):
        rope(torch.tensor([0.5]))
    with pytest.raises(ValueError, match="warmup_steps"):
        train.lr_at(0, max_lr=1.0, total_steps=10, warmup_steps=11)
    with pytest.raises(ValueError, match="lr must be"):
        train.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=-1.0)
    with pytest.raises(ValueError, match="schedule must be one of"):
        pipeline.schedule_ops("zigzag", 0, 2, 4)
    with pytest.raises(ValueError, match="beta must be > 0"):
        x = torch.zeros(2)
        align.dpo_loss(x, x, x, x, beta=0.0)
    with pytest.raises(ValueError, match="rewards must be"):
        align.group_advantages(torch.zeros(3))
    with pytest.raises(ValueError, match="cliprange must be > 0"):
        z = torch.zeros(1, 1)
        align.compute_grpo_clip_loss(z, z, z, cliprange=0.0)
