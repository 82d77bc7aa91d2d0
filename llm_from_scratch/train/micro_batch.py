"""One micro-batch's inputs and precision, shared by training and evaluation.

Exact resume needs the data to be restorable: the batch of micro-batch
``micro`` of step ``step`` is drawn with a generator seeded from
``(seed, rank, step, micro)`` (``step_generator``), so the data position *is*
the step number and nothing about the data stream needs saving. Its forward
pass runs under ``autocast``: bf16 matmuls with fp32 reductions when the
config asks for bfloat16, plain float32 otherwise.
"""

from __future__ import annotations

import contextlib

import numpy as np
import torch

from llm_from_scratch.train.config import TrainConfig


def step_generator(seed: int, rank: int, step: int, micro: int) -> torch.Generator:
    """The data generator of one micro-batch: a pure function of its position."""
    state = np.random.SeedSequence([seed, rank, step, micro]).generate_state(2)
    g = torch.Generator()
    g.manual_seed(int(state[0]) << 32 | int(state[1]))
    return g


def autocast(
    config: TrainConfig, device: torch.device
) -> contextlib.AbstractContextManager:
    """bf16 autocast when asked for: matmuls in bf16, reductions in fp32."""
    if config.dtype == "bfloat16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()

