"""Every scheme, from scratch and on torch.distributed, trains exactly like one
process on the same global batch.

Tolerances (float32, 3 AdamW steps at lr 1e-2): losses within 1e-5, weights
within 1e-4 (ranks sum gradients in a different order than one process; Adam
divides by sqrt(v), which amplifies rounding on near-zero gradients). bf16
compute with fp32 master weights: losses within 2e-3 of float32, and ours
within 2e-3 of FSDP2's with the same bf16 policy. ``*_accum`` runs take two
micro-batches per step (DDP's ``no_sync``; ZeRO-2's hooks fire twice).
"""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from llm_from_scratch.parallel import ParallelError, run_parallel
from llm_from_scratch.parallel.pipeline import measured_bubble
from llm_from_scratch.parallel.workers import (
    ACCUM,
    SCRATCH,
    TORCH,
    Experiment,
    collective_check,
    fail_on_rank,
    foreach_tensor_parallel_check,
    pipeline_runs,
    reference_run,
    sleep_on_rank,
    suite_run,
    torch_pipeline_runs,
)

FROZEN = ("layers.0.attention_norm.weight", "layers.1.feed_forward.w2.weight")
EXPERIMENTS = (Experiment(), Experiment(tie_embeddings=True, frozen=FROZEN, seed=1))
ALL = SCRATCH + TORCH + ACCUM


def _close(out, ref, loss_tol, weight_tol):
    assert set(out["state"]) == set(ref["state"])
    for a, b in zip(out["losses"], ref["losses"]):
        assert abs(a - b) <= loss_tol
    for name, expected in ref["state"].items():
        torch.testing.assert_close(
            out["state"][name].float(), expected, atol=weight_tol, rtol=0, msg=name
        )


@pytest.fixture(scope="module")
def suite():
    return run_parallel(suite_run, 2, EXPERIMENTS, ALL, timeout=400)[0]


@pytest.mark.slow
@pytest.mark.timeout(450)
@pytest.mark.parametrize("which", range(len(EXPERIMENTS)))
@pytest.mark.parametrize("scheme", ALL)
def test_scheme_matches_single_process(suite, which, scheme):
    ref = reference_run(EXPERIMENTS[which])
    out = suite[which][scheme]
    if "bf16" in scheme:
        _close(out, ref, loss_tol=2e-3, weight_tol=0.1)
    else:
        _close(out, ref, loss_tol=1e-5, weight_tol=1e-4)
    for name in FROZEN if which == 1 else ():
        init = dict(EXPERIMENTS[which].model().named_parameters())[name]
        torch.testing.assert_close(out["state"][name].float(), init.detach(),
                                   atol=1e-2 if "bf16" in scheme else 0, rtol=0)


@pytest.mark.slow
@pytest.mark.timeout(450)
@pytest.mark.parametrize("which", range(len(EXPERIMENTS)))
def test_scratch_tensor_parallel_matches_dtensor(suite, which):
    ours, theirs = suite[which]["tp"], suite[which]["torch_tp"]
    assert ours["losses"] == pytest.approx(theirs["losses"], abs=1e-6)
    for name, w in theirs["state"].items():
        torch.testing.assert_close(ours["state"][name], w, atol=1e-4, rtol=0)


@pytest.mark.slow
@pytest.mark.timeout(450)
def test_bf16_sharding_matches_fsdp2_mixed_precision(suite):
    for which in range(len(EXPERIMENTS)):
        ours = suite[which]["zero3_bf16"]["losses"]
        theirs = suite[which]["torch_fsdp_bf16"]["losses"]
        assert ours == pytest.approx(theirs, abs=2e-3)


@pytest.mark.slow
@pytest.mark.timeout(450)
def test_communication_volume_matches_the_cost_model(suite):
    """The collectives each scheme issues, accounted by our wrappers with the
    ring formula, add up to the cost model's prediction."""
    from llm_from_scratch.parallel import ActivationShape, comm_bytes_per_step

    exp = EXPERIMENTS[0]
    n = sum(p.numel() for p in exp.model().parameters())
    predicted = comm_bytes_per_step(n, "ddp", 2) * exp.steps
    ddp = sum(suite[0]["ddp"]["sent"].values())
    assert ddp == pytest.approx(predicted, rel=1e-6)
    for scheme in ("zero1", "zero2"):  # reduce-scatter + all-gather = all-reduce
        sent = sum(suite[0][scheme]["sent"].values())
        assert sent == pytest.approx(predicted, rel=1e-6)
    # the root unit (embeddings, norm, output) stays gathered from forward to
    # backward, like FSDP2's: one all-gather of it per step instead of two
    model = exp.model()
    root = n - sum(p.numel() for p in model.layers.parameters())
    zero3 = sum(suite[0]["zero3"]["sent"].values())
    expected = comm_bytes_per_step(n, "zero3", 2) - 0.5 * 4 * root
    assert zero3 == pytest.approx(expected * exp.steps, rel=1e-6)
    # tensor parallelism: activations, from the model's shape (every rank takes
    # the whole batch): 4 per block + embedding + output input + 3 in the loss
    shape = ActivationShape(exp.batch_size, exp.seq_len, exp.d_model, exp.n_layers,
                            value_bytes=4)
    tp = sum(suite[0]["tp"]["sent"].values())
    predicted_tp = comm_bytes_per_step(n, "tp", 2, shape=shape) * exp.steps
    assert tp == pytest.approx(predicted_tp, rel=1e-6)


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.parametrize("which", range(len(EXPERIMENTS)))
def test_pipeline_schedules_match_single_process(which):
    """Both schedules; the second experiment has tied embeddings (a copy on
    each stage, gradients exchanged) and frozen parameters."""
    from llm_from_scratch.parallel import ActivationShape, comm_bytes_per_step

    exp = replace(EXPERIMENTS[which], n_layers=4)
    ref = reference_run(exp)
    runs = run_parallel(pipeline_runs, 2, exp, ("gpipe", "1f1b"), 4, timeout=240)
    shape = ActivationShape(exp.batch_size, exp.seq_len, exp.d_model, exp.n_layers,
                            value_bytes=4)
    for schedule, peaks in (("gpipe", [4, 4]), ("1f1b", [2, 1])):
        outs = [run[schedule] for run in runs]
        state = {k: v for out in outs for k, v in out["state"].items()}
        _close({"losses": outs[-1]["losses"], "state": state}, ref, 1e-5, 1e-4)
        assert [o["peak_in_flight"] for o in outs] == peaks
        assert 0 < measured_bubble([o["events"] for o in outs]) < 1
        for out in outs:  # bytes really sent, point to point
            sent = out["sent"]["send"] / exp.steps
            assert sent == comm_bytes_per_step(0, "pp", 2, shape=shape)
        if exp.tie_embeddings:  # both copies took the same steps
            assert torch.equal(outs[0]["state"]["tok_embeddings.weight"],
                               outs[1]["state"]["output.weight"])
        for name in exp.frozen:
            init = dict(exp.model().named_parameters())[name]
            assert torch.equal(state[name], init.detach())


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.parametrize("which", range(len(EXPERIMENTS)))
def test_torch_pipelining_drives_our_stages_like_one_process(which):
    """torch.distributed.pipelining's GPipe and 1F1B schedules over our stage
    modules train like one process, tied and frozen parameters included."""
    exp = replace(EXPERIMENTS[which], n_layers=4)
    ref = reference_run(exp)
    runs = run_parallel(torch_pipeline_runs, 2, exp, ("gpipe", "1f1b"), 4, timeout=240)
    for schedule in ("gpipe", "1f1b"):
        outs = [run[schedule] for run in runs]
        state = {k: v for out in outs for k, v in out["state"].items()}
        _close({"losses": outs[-1]["losses"], "state": state}, ref, 1e-5, 1e-4)
        if exp.tie_embeddings:
            assert torch.equal(outs[0]["state"]["tok_embeddings.weight"],
                               outs[1]["state"]["output.weight"])


@pytest.mark.slow
@pytest.mark.timeout(200)
def test_ring_collectives_match_torch_and_send_the_predicted_bytes():
    numel = 1001  # not divisible by 3: exercises the padding
    for out in run_parallel(collective_check, 3, numel, timeout=180):
        for op in ("all_reduce", "reduce_scatter", "all_gather"):
            ours, theirs = out[op]
            torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=1e-5)
        padded = numel + 1
        assert out["sent_all_reduce"] == 2 * (padded // 3) * 2 * 4


@pytest.mark.slow
@pytest.mark.timeout(120)
@pytest.mark.timeout(200)
def test_foreach_adamw_handles_mixed_dtensor_and_plain_parameters():
    """Tensor parallelism leaves norm gains as plain tensors beside DTensor
    shards; one multi-tensor call cannot mix them (it failed on a GPU)."""
    for difference in run_parallel(foreach_tensor_parallel_check, 2, timeout=180):
        assert difference == 0.0


def test_a_failing_rank_brings_the_group_down_with_its_traceback():
    with pytest.raises(ParallelError, match="rank 1 failed on purpose") as info:
        run_parallel(fail_on_rank, 2, 1, timeout=100)
    assert "Traceback" in str(info.value)


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_a_hanging_rank_times_out():
    with pytest.raises(TimeoutError, match=r"ranks \[1\]"):
        run_parallel(sleep_on_rank, 2, 600.0, timeout=40)


def test_launcher_rejects_bad_arguments():
    with pytest.raises(ValueError, match="world_size"):
        run_parallel(sleep_on_rank, 0)
    with pytest.raises(ValueError, match="timeout"):
        run_parallel(sleep_on_rank, 2, 0.0, timeout=0)
    with pytest.raises(ValueError, match="backend"):
        run_parallel(sleep_on_rank, 2, 0.0, backend="mpi")
