"""Cross-entropy, the learning-rate schedule and gradient clipping vs torch."""

from __future__ import annotations

import math
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from llm_from_scratch.train import bits_per_byte, clip_grad_norm, cross_entropy, lr_at


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny tensors: a second thread only adds sync overhead on a busy CPU."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize("scale", [1.0, 30.0, 1e4])
def test_cross_entropy_matches_torch(scale: float) -> None:
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(4, 7, 50, generator=g) * scale
    targets = torch.randint(0, 50, (4, 7), generator=g)
    ours = cross_entropy(logits, targets)
    ref = F.cross_entropy(logits.reshape(-1, 50), targets.reshape(-1))
    assert torch.isfinite(ours)
    torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-5)


def test_cross_entropy_gradient_matches_torch() -> None:
    g = torch.Generator().manual_seed(1)
    a = (torch.randn(3, 5, 11, generator=g) * 5).requires_grad_()
    b = a.detach().clone().requires_grad_()
    t = torch.randint(0, 11, (3, 5), generator=g)
    cross_entropy(a, t).backward()
    F.cross_entropy(b.reshape(-1, 11), t.reshape(-1)).backward()
    torch.testing.assert_close(a.grad, b.grad, rtol=1e-5, atol=1e-7)


def test_cross_entropy_ignore_index_and_bf16() -> None:
    g = torch.Generator().manual_seed(2)
    logits = torch.randn(2, 6, 9, generator=g)
    t = torch.randint(0, 9, (2, 6), generator=g)
    t[0, :3] = -100
    ref = F.cross_entropy(logits.reshape(-1, 9), t.reshape(-1), ignore_index=-100)
    torch.testing.assert_close(cross_entropy(logits, t), ref)
    low = cross_entropy(logits.bfloat16(), t)
    assert low.dtype == torch.float32
    ref16 = F.cross_entropy(logits.bfloat16().float().reshape(-1, 9), t.reshape(-1))
    torch.testing.assert_close(low, ref16, rtol=1e-5, atol=1e-5)
    assert torch.isnan(cross_entropy(logits, torch.full((2, 6), -100)))


def test_cross_entropy_rejects_bad_input() -> None:
    logits = torch.zeros(2, 3, 5)
    with pytest.raises(ValueError, match="outside"):
        cross_entropy(logits, torch.tensor([[0, 1, 5], [0, 0, 0]]))
    with pytest.raises(ValueError, match="trailing vocabulary"):
        cross_entropy(logits, torch.zeros(2, 4, dtype=torch.long))
    with pytest.raises(TypeError, match="int64"):
        cross_entropy(logits, torch.zeros(2, 3))


def test_uniform_logits_give_log_vocab_and_bpb() -> None:
    loss = cross_entropy(torch.zeros(1, 4, 256), torch.zeros(1, 4, dtype=torch.long))
    assert float(loss) == pytest.approx(math.log(256))
    assert bits_per_byte(float(loss), 1.0) == pytest.approx(8.0)  # 8 bits per byte
    assert bits_per_byte(float(loss), 4.0) == pytest.approx(2.0)
    with pytest.raises(ValueError):
        bits_per_byte(1.0, 0.0)


def test_schedule_key_points() -> None:
    kw = dict(max_lr=1e-3, total_steps=1000, warmup_steps=20, min_lr_ratio=0.1)
    assert lr_at(0, **kw) == pytest.approx(1e-3 / 20)
    assert lr_at(19, **kw) == pytest.approx(1e-3)  # end of warmup: the peak
    assert lr_at(20, **kw) == pytest.approx(1e-3)  # cosine starts at the peak
    assert lr_at(510, **kw) == pytest.approx(0.55e-3)  # halfway: mean of peak, floor
    assert lr_at(1000, **kw) == pytest.approx(1e-4)  # the floor, 10% of the peak
    assert lr_at(5000, **kw) == pytest.approx(1e-4)
    # the same shape as torch's LambdaLR-free reference: CosineAnnealingLR
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=1e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=980, eta_min=1e-4)
    for step in range(20, 1000):
        assert lr_at(step, **kw) == pytest.approx(opt.param_groups[0]["lr"], rel=1e-9)
        opt.step()
        sched.step()


@settings(derandomize=True, max_examples=200, deadline=None)
@given(
    step=st.integers(0, 3000),
    total=st.integers(1, 2000),
    warm_frac=st.floats(0, 1),
    ratio=st.floats(0, 1),
)
def test_schedule_bounded_and_monotone_after_warmup(
    step: int, total: int, warm_frac: float, ratio: float
) -> None:
    warm = int(warm_frac * total)
    kw = dict(max_lr=2.0, total_steps=total, warmup_steps=warm, min_lr_ratio=ratio)
    lr = lr_at(step, **kw)
    assert 0 < lr <= 2.0 + 1e-12 or (lr == 0 and ratio == 0)
    if step >= warm:
        assert lr >= 2.0 * ratio - 1e-12
        assert lr_at(step + 1, **kw) <= lr + 1e-12


def test_schedule_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="warmup_steps"):
        lr_at(0, max_lr=1.0, total_steps=10, warmup_steps=11)
    with pytest.raises(ValueError, match="step"):
        lr_at(-1, max_lr=1.0, total_steps=10, warmup_steps=1)
    with pytest.raises(ValueError, match="min_lr_ratio"):
        lr_at(0, max_lr=1.0, total_steps=10, warmup_steps=1, min_lr_ratio=2)


@pytest.mark.parametrize("max_norm", [0.01, 1.0, 1e6])
def test_clip_grad_norm_matches_torch(max_norm: float) -> None:
    g = torch.Generator().manual_seed(3)
    shapes = [(5, 3), (7,), (2, 2, 2)]
    a = [torch.nn.Parameter(torch.zeros(s)) for s in shapes]
    b = [torch.nn.Parameter(torch.zeros(s)) for s in shapes]
    for pa, pb in zip(a, b):
        grad = torch.randn(pa.shape, generator=g)
        pa.grad, pb.grad = grad.clone(), grad.clone()
    b.append(torch.nn.Parameter(torch.zeros(3)))  # no grad: skipped by both
    ours = clip_grad_norm(a, max_norm)
    ref = torch.nn.utils.clip_grad_norm_(b, max_norm)
    assert ours == pytest.approx(float(ref), rel=1e-6)
    for pa, pb in zip(a, b):
        torch.testing.assert_close(pa.grad, pb.grad)
    total = torch.cat([p.grad.flatten() for p in a]).norm()
    assert float(total) <= max_norm * (1 + 1e-5) or max_norm > ours


def test_clip_grad_norm_non_finite_is_reported_not_applied() -> None:
    p = torch.nn.Parameter(torch.zeros(2))
    p.grad = torch.tensor([float("inf"), 1.0])
    assert math.isinf(clip_grad_norm([p], 1.0))
    assert p.grad[1] == 1.0
    with pytest.raises(ValueError):
        clip_grad_norm([p], 0.0)


@pytest.mark.slow
def test_compiled_cross_entropy_matches_eager_and_still_rejects_bad_ids() -> None:
    """The training loop compiles the loss; compiled, the range check is left to
    ``gather``, which must still refuse an id outside the vocabulary."""
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(3, 5, 40, generator=g, requires_grad=True)
    targets = torch.randint(0, 40, (3, 5), generator=g)
    targets[0, :2] = -100  # ignored positions
    compiled = torch.compile(cross_entropy)
    eager_loss = cross_entropy(logits, targets)
    (eager_grad,) = torch.autograd.grad(eager_loss, logits)
    loss = compiled(logits, targets)
    (grad,) = torch.autograd.grad(loss, logits)
    torch.testing.assert_close(loss, eager_loss)
    torch.testing.assert_close(grad, eager_grad)
    torch.testing.assert_close(
        loss, F.cross_entropy(logits.reshape(-1, 40), targets.reshape(-1))
    )
    # An out-of-range id aborts the compiled kernel (a device assert on a GPU):
    # loud, never a silently wrong loss. It kills the process, so run it apart.
    code = (
        "import torch\n"
        "from llm_from_scratch.train import cross_entropy\n"
        "t = torch.zeros(2, 3, dtype=torch.long)\n"
        "t[1, 2] = 40\n"
        "print(float(torch.compile(cross_entropy)(torch.randn(2, 3, 40), t)))\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True,
                         text=True, timeout=300)
    assert run.returncode != 0
    assert "out of bounds" in run.stderr
