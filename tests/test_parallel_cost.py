"""Fast, single-process tests of the parallel package: cost model,
bucketing, pipeline schedules, configuration errors."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from llm_from_scratch.model import ModelConfig
from llm_from_scratch.parallel import (
    ActivationShape,
    activation_bytes,
    comm_bytes_per_step,
    memory_per_rank,
    pp_comm_bytes,
    ring_bytes,
    tp_comm_bytes,
)
from llm_from_scratch.parallel.data_parallel import make_buckets
from llm_from_scratch.parallel.pipeline import bubble_fraction, schedule_ops
from llm_from_scratch.parallel.trainer import ParallelRun


def test_memory_per_rank_follows_the_zero_paper():
    # ZeRO paper, Figure 1: 7.5B parameters, 64 ranks, K = 12
    psi, p = 7.5e9, 64
    assert memory_per_rank(psi, "ddp", p).total == pytest.approx(16 * psi)
    assert memory_per_rank(psi, "zero1", p).total == pytest.approx((4 + 12 / p) * psi)
    assert memory_per_rank(psi, "zero2", p).total == pytest.approx((2 + 14 / p) * psi)
    assert memory_per_rank(psi, "zero3", p).total == pytest.approx(16 * psi / p)
    # 120 GB, 31.4 GB, 16.6 GB, 1.9 GB as printed in the paper
    assert memory_per_rank(psi, "ddp", p).total / 1e9 == pytest.approx(120, rel=0.01)
    assert memory_per_rank(psi, "zero1", p).total / 1e9 == pytest.approx(31.4, rel=0.01)
    assert memory_per_rank(psi, "zero2", p).total / 1e9 == pytest.approx(16.6, rel=0.01)
    assert memory_per_rank(psi, "zero3", p).total / 1e9 == pytest.approx(1.9, rel=0.02)


def test_activation_checkpointing_keeps_only_layer_inputs():
    full = activation_bytes(2048, 1, 4096, 32, 32)
    ckpt = activation_bytes(2048, 1, 4096, 32, 32, checkpointing=True)
    assert ckpt == 2 * 2048 * 4096 * 32
    assert full / ckpt == pytest.approx((34 + 5 * 32 * 2048 / 4096) / 2)


@given(st.integers(1, 64), st.integers(1, 10**9))
@settings(derandomize=True, max_examples=50)
def test_ring_volume_is_almost_independent_of_world_size(p, n):
    assert ring_bytes("all_reduce", n, p) <= 2 * n
    assert ring_bytes("reduce_scatter", n, p) + ring_bytes("all_gather", n, p) >= (
        ring_bytes("all_reduce", n, p) - 1
    )
    assert comm_bytes_per_step(n, "zero3", p) == pytest.approx(
        1.5 * comm_bytes_per_step(n, "ddp", p)
    )


def test_tensor_parallel_traffic_from_the_model_shape():
    # batch 2, seq 3, d 4, bf16: one activation is 2*3*4*2 = 48 bytes.
    # 1 block: 4 all-reduces (2 forward, 2 backward); vocab-parallel adds the
    # embedding's and the output input's (2 more) and 3 float32 loss numbers
    # per token (3*2*3*4 = 72 bytes). A ring all-reduce sends 2(p-1)/p of it.
    shape = ActivationShape(batch=2, seq_len=3, d_model=4, n_layers=1)
    assert shape.hidden_bytes == 48
    assert tp_comm_bytes(shape, 2) == 1.0 * (6 * 48 + 72)  # 360
    assert tp_comm_bytes(shape, 4) == 1.5 * (6 * 48 + 72)  # 540
    plain = ActivationShape(2, 3, 4, 1, vocab_parallel=False)
    assert tp_comm_bytes(plain, 2) == 4 * 48
    assert comm_bytes_per_step(1e9, "tp", 2, shape=shape) == 360  # not the weights
    # Llama-2-7B, one 4096-token sequence, TP over 8 GPUs: ~7.6 GB per step
    llama = ActivationShape(1, 4096, 4096, 32)
    assert tp_comm_bytes(llama, 8) == 1.75 * (130 * 4096 * 4096 * 2 + 3 * 4096 * 4)
    assert comm_bytes_per_step(1e9, "tp", 1, shape=shape) == 0


def test_pipeline_traffic_is_one_activation_per_boundary_and_direction():
    # m micro-batches of B/m sequences cross each boundary: B*T*d values in
    # all, forward; the same for their gradients, backward.
    shape = ActivationShape(batch=8, seq_len=16, d_model=32, n_layers=4,
                            value_bytes=4)
    assert pp_comm_bytes(shape, 2) == 8 * 16 * 32 * 4  # each rank sends one way
    assert pp_comm_bytes(shape, 4) == 2 * 8 * 16 * 32 * 4  # inner stages: both
    assert pp_comm_bytes(shape, 1) == 0
    assert comm_bytes_per_step(1e9, "pp", 4, shape=shape) == pp_comm_bytes(shape, 4)
    m = memory_per_rank(8e9, "pp", 4, activations=4e9)
    assert (m.params, m.grads, m.optimizer, m.activations) == (4e9, 4e9, 24e9, 1e9)


def test_activation_schemes_need_a_shape():
    for scheme in ("tp", "pp"):
        with pytest.raises(ValueError, match="shape"):
            comm_bytes_per_step(1e9, scheme, 2)


def test_cost_model_rejects_bad_input():
    with pytest.raises(ValueError, match="scheme"):
        memory_per_rank(1e9, "zero4", 8)
    with pytest.raises(ValueError, match="world_size"):
        comm_bytes_per_step(1e9, "ddp", 0)
    with pytest.raises(ValueError, match="op"):
        ring_bytes("broadcast", 10, 2)


@given(st.lists(st.integers(1, 5000), min_size=1, max_size=40), st.integers(1, 20000))
@settings(derandomize=True, max_examples=60)
def test_buckets_cover_every_parameter_once_in_order(sizes, cap):
    params = [torch.nn.Parameter(torch.zeros(n)) for n in sizes]
    buckets = make_buckets(params, cap)
    assert [i for b in buckets for i in b] == list(range(len(params)))
    for b in buckets:
        nbytes = sum(4 * sizes[i] for i in b)
        assert len(b) == 1 or nbytes <= cap


def test_buckets_reject_nonpositive_size():
    with pytest.raises(ValueError, match="bucket size"):
        make_buckets([torch.nn.Parameter(torch.zeros(1))], 0)


@given(st.sampled_from(["gpipe", "1f1b"]), st.integers(1, 8), st.integers(1, 12))
@settings(derandomize=True, max_examples=80)
def test_schedules_run_each_op_once_with_backward_after_forward(schedule, p, m):
    for stage in range(p):
        ops = schedule_ops(schedule, stage, p, m)
        assert sorted(ops) == sorted([("F", i) for i in range(m)] +
                                     [("B", i) for i in range(m)])
        in_flight, peak = set(), 0
        for kind, i in ops:
            if kind == "F":
                in_flight.add(i)
            else:
                assert i in in_flight  # backward needs its forward
                in_flight.remove(i)
            peak = max(peak, len(in_flight))
        if schedule == "1f1b":
            assert peak == min(p - stage, m)  # 1F1B's memory bound
        else:
            assert peak == m


def test_bubble_fraction():
    assert bubble_fraction(1, 8) == 0
    assert bubble_fraction(4, 4) == pytest.approx(3 / 7)
    with pytest.raises(ValueError, match="schedule"):
        schedule_ops("zb", 0, 2, 2)


def test_parallel_run_validates_fields():
    cfg = ModelConfig(vocab_size=32, d_model=16, n_layers=1, n_heads=2, max_seq_len=8)
    with pytest.raises(ValueError, match="parallel"):
        ParallelRun(model=cfg, parallel="zero9")
    with pytest.raises(ValueError, match="seq_len"):
        ParallelRun(model=cfg, seq_len=16)
    with pytest.raises(ValueError, match="steps"):
        ParallelRun(model=cfg, steps=0)
