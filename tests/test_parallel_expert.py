"""Expert parallelism on gloo: the all-to-all dispatch equals one process."""

from __future__ import annotations

import pytest
import torch

from llm_from_scratch.model.moe import MoEFeedForward
from llm_from_scratch.parallel.expert import ExpertParallelMoE, expert_parallel_check
from llm_from_scratch.parallel.launch import run_parallel


@pytest.mark.slow
@pytest.mark.timeout(200)
@pytest.mark.parametrize("world_size,n_experts,top_k", [(2, 4, 2), (2, 2, 1)])
def test_expert_parallel_equals_one_process(world_size, n_experts, top_k) -> None:
    results = run_parallel(expert_parallel_check, world_size, 0, 12, 16, 24,
                           n_experts, top_k, timeout=180)
    for rank, r in enumerate(results):
        assert r["output"] < 1e-5, (rank, r)
        assert r["experts"] < 1e-5, (rank, r)
        assert r["router"] < 1e-5, (rank, r)


def test_expert_parallel_refuses_what_it_cannot_do() -> None:
    torch.manual_seed(0)
    with pytest.raises(ValueError, match="split"):
        ExpertParallelMoE(MoEFeedForward(8, 8, 3, 1), 0, 2)
    with pytest.raises(ValueError, match="dropless"):
        ExpertParallelMoE(MoEFeedForward(8, 8, 4, 1, capacity_factor=1.0), 0, 2)
