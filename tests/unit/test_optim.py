"""engine.ops.optim: six optimisers from scratch equal to torch.optim (float64, 200 steps, 1e-10),
their typed traces, divergence stops, refusals; and the written-out lr schedules equal to
torch.optim.lr_scheduler."""

from __future__ import annotations

import math

import pytest
import torch

from engine.lab.schedule import CURVES, curves, curves_gap, one_cycle, one_cycle_lr, torch_curves
from engine.ops.optim import (
    DEFAULTS,
    OPTIMIZERS,
    OptimError,
    hyper_parameters,
    run,
    torch_gap,
    torch_trajectory,
    trajectory,
)
from engine.ops.surfaces import himmelblau, quadratic, rosenbrock


def tilted(p):
    """A non-separable quadratic: ½(x² + 10 y²) + 3xy/2 + x."""
    x, y = p[0], p[1]
    return 0.5 * (x * x + 10 * y * y) + 1.5 * x * y + x


def smooth(p):
    """log-sum-exp plus a bowl: curvature that changes from point to point."""
    x, y = p[0], p[1]
    return torch.logsumexp(torch.stack([x + y, -x, 2 * y]), 0) + 0.1 * (x * x + y * y)


# (f, start, lr) that stay bounded for 200 steps for every optimiser
CASES = [
    (tilted, (1.0, -2.0), 0.02),
    (smooth, (0.3, 0.7), 0.1),
    (rosenbrock().f, (-1.2, 1.0), 1e-3),
    (himmelblau().f, (1.0, 1.0), 0.005),
]


def _gap(optimizer, f, start, lr, steps=200, **hp):
    ours = trajectory(optimizer, f, start, lr, steps, **hp)
    ref = torch_trajectory(optimizer, f, start, lr, steps, **hp)
    assert ours.shape == ref.shape == (steps + 1, 2)
    assert torch.isfinite(ref).all()
    return float((ours - ref).abs().max())


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
@pytest.mark.parametrize("case", range(len(CASES)))
def test_equal_to_torch_optim_over_200_steps(optimizer, case):
    f, start, lr = CASES[case]
    assert _gap(optimizer, f, start, lr) <= 1e-10


@pytest.mark.parametrize("optimizer,hp", [
    ("sgd", {"weight_decay": 0.1}),
    ("sgd", {"momentum": 0.5}),  # torch's SGD(momentum=0.5), as "momentum" with μ = 0.5
    ("momentum", {"momentum": 0.5, "weight_decay": 0.05}),
    ("nesterov", {"momentum": 0.99}),
    ("rmsprop", {"alpha": 0.9, "eps": 1e-3}),
    ("rmsprop", {"momentum": 0.8, "weight_decay": 0.01}),
    ("adam", {"betas": (0.5, 0.9), "eps": 1e-6, "weight_decay": 0.1}),
    ("adamw", {"betas": (0.8, 0.99), "weight_decay": 0.2}),
    ("adamw", {"weight_decay": 0.0}),
])
def test_equal_to_torch_optim_with_other_hyper_parameters(optimizer, hp):
    assert _gap(optimizer, smooth, (-0.5, 0.4), 0.05, **hp) <= 1e-10


def test_the_trajectory_starts_at_the_start_and_is_float64():
    P = trajectory("adam", tilted, (0.25, -0.5), 0.1, 7)
    assert P.dtype == torch.float64 and P.shape == (8, 2)
    assert P[0].tolist() == [0.25, -0.5]
    assert not torch.equal(P[1], P[0])
    assert trajectory("sgd", tilted, (0.25, -0.5), 0.1, 0).shape == (1, 2)


def test_defaults_are_torch_optims():
    assert DEFAULTS["adamw"]["weight_decay"] == 0.01 and DEFAULTS["adam"]["weight_decay"] == 0.0
    assert DEFAULTS["adam"]["betas"] == (0.9, 0.999) and DEFAULTS["adam"]["eps"] == 1e-8
    assert DEFAULTS["rmsprop"]["alpha"] == 0.99
    assert DEFAULTS["momentum"]["momentum"] == DEFAULTS["nesterov"]["momentum"] == 0.9
    # AdamW without weight decay is Adam
    a = trajectory("adam", smooth, (0.3, 0.7), 0.1, 50)
    w = trajectory("adamw", smooth, (0.3, 0.7), 0.1, 50, weight_decay=0.0)
    assert torch.equal(a, w)


@pytest.mark.parametrize("call,code", [
    (lambda: trajectory("adagrad", tilted, (0, 0), 0.1, 3), "unknown_optimizer"),
    (lambda: trajectory("sgd", tilted, (0, 0), 0.1, 3, alpha=0.9), "unknown_hp"),
    (lambda: trajectory("adam", tilted, (0, 0), 0.1, 3, beta1=0.9), "unknown_hp"),
    (lambda: trajectory("nesterov", tilted, (0, 0), 0.1, 3, momentum=0.0), "bad_hp"),
    (lambda: trajectory("adam", tilted, (0, 0), 0.1, 3, betas=(0.9, 1.0)), "bad_hp"),
    (lambda: trajectory("rmsprop", tilted, (0, 0), 0.1, 3, eps=-1e-8), "bad_hp"),
    (lambda: trajectory("adam", tilted, (0, 0), 0.0, 3), "bad_lr"),
    (lambda: trajectory("adam", tilted, (0, 0), -0.1, 3), "bad_lr"),
    (lambda: trajectory("adam", tilted, (0, 0), math.nan, 3), "bad_lr"),
    (lambda: trajectory("adam", tilted, (0, 0), 0.1, -1), "bad_steps"),
    (lambda: trajectory("adam", tilted, (0, 0), 0.1, 2.5), "bad_steps"),
])
def test_refusals_carry_a_code(call, code):
    with pytest.raises(OptimError) as e:
        call()
    assert e.value.code == code
    assert str(e.value)


def test_trace_states_follow_their_formulas():
    f, start = smooth, (0.3, 0.7)
    sgd = run("momentum", f, start, 0.1, 5)
    assert torch.equal(sgd.velocity[0], sgd.g[0])  # b_1 = g_1
    assert torch.allclose(sgd.velocity[1], 0.9 * sgd.velocity[0] + sgd.g[1], rtol=0, atol=1e-15)
    rms = run("rmsprop", f, start, 0.01, 5)
    assert torch.allclose(rms.v[0], 0.01 * rms.g[0] ** 2, rtol=1e-15, atol=0)
    adam = run("adam", f, start, 0.01, 5)
    assert torch.allclose(adam.m_hat[0], adam.g[0], rtol=1e-14, atol=0)  # bias correction: m̂_1 = g_1
    assert torch.allclose(adam.v_hat[0], adam.g[0] ** 2, rtol=1e-12, atol=0)
    for t in range(5):
        assert torch.allclose(adam.m_hat[t], adam.m[t] / (1 - 0.9 ** (t + 1)), rtol=1e-15, atol=0)
        assert torch.allclose(adam.v_hat[t], adam.v[t] / (1 - 0.999 ** (t + 1)), rtol=1e-15, atol=0)
    assert torch.allclose(adam.delta, adam.points[1:] - adam.points[:-1])
    assert sgd.m is None and rms.velocity is None and adam.velocity is None
    assert torch.allclose(adam.losses, torch.stack([f(p) for p in adam.points]))


def test_run_equals_trajectory_and_the_analytic_gradient_path():
    s = quadratic(10.0)
    for o in OPTIMIZERS:
        auto = run(o, s.f, s.start, 0.05, 60)
        fast = run(o, s.f, s.start, 0.05, 60, grad=s.grad)
        assert torch.equal(auto.points, trajectory(o, s.f, s.start, 0.05, 60))
        assert torch.allclose(auto.points, fast.points, rtol=0, atol=1e-14)
        assert torch.allclose(auto.losses, fast.losses, rtol=0, atol=1e-14)
        assert torch_gap(fast, s.f, s.grad) <= 1e-12


def test_too_large_a_learning_rate_diverges_at_the_predicted_step():
    # SGD on ½(x² + 10 y²) with η = 0.3: y_t = (1 − 3)^t · 1.5 passes 10⁶ first at t = 20
    s = quadratic(10.0)
    tr = run("sgd", s.f, s.start, 0.3, 100)
    assert tr.diverged is not None and tr.diverged.step == 20 and tr.diverged.reason == "box"
    assert tr.steps_done == 19 and torch.isfinite(tr.points).all()
    assert tr.points.shape[0] == tr.losses.shape[0] == tr.g.shape[0] + 1
    # the same walk without a stop overflows
    P = trajectory("sgd", s.f, s.start, 0.3, 1100)
    assert P.shape == (1101, 2) and not torch.isfinite(P).all()


def test_a_loss_that_becomes_nan_stops_the_walk():
    def f(p):  # ∂f/∂x = −1/(1 − x): x climbs towards 1 and past it, where log(1 − x) is NaN
        return torch.log(1 - p[0]) + p[1] ** 2

    tr = run("sgd", f, (0.0, 0.0), 0.6, 50)
    assert tr.diverged is not None and tr.diverged.reason in {"loss", "nan"}
    assert tr.diverged.step < 50
    assert torch.isfinite(tr.losses[:-1]).all()


def test_too_small_a_learning_rate_crawls():
    s = quadratic(10.0)
    slow = run("sgd", s.f, s.start, 1e-5, 100)
    good = run("sgd", s.f, s.start, 0.1, 100)
    assert slow.diverged is None and 100 * slow.moved < good.moved
    assert float(good.losses[-1]) < 1e-6 < float(slow.losses[-1])


def test_sgd_with_a_momentum_is_the_momentum_optimiser():
    a = run("sgd", smooth, (0.3, 0.7), 0.05, 30, momentum=0.7)
    b = run("momentum", smooth, (0.3, 0.7), 0.05, 30, momentum=0.7)
    assert torch.equal(a.points, b.points) and torch.equal(a.velocity, b.velocity)
    assert run("sgd", smooth, (0.3, 0.7), 0.05, 3).velocity is None
    assert run("rmsprop", smooth, (0.3, 0.7), 0.05, 3, momentum=0.5).velocity.shape == (3, 2)


def test_hyper_parameters_merge_defaults():
    assert hyper_parameters("adam", eps=1e-3) == {"betas": (0.9, 0.999), "eps": 1e-3, "weight_decay": 0.0}


# ----- schedules ------------------------------------------------------------------------------------

@pytest.mark.parametrize("lr,steps", [(0.1, 100), (0.5, 37), (1.0, 10), (3e-3, 300)])
def test_schedules_equal_torch_lr_schedulers(lr, steps):
    ours, ref = curves(lr, steps), torch_curves(lr, steps)
    assert [c.name for c in ours] == list(CURVES)
    for a, b in zip(ours, ref, strict=True):
        assert len(a.lr) == steps
        assert max(abs(x - y) for x, y in zip(a.lr, b.lr, strict=True)) <= 1e-12 * lr
    assert curves_gap(lr, steps) <= 1e-12 * lr


def test_schedule_shapes():
    c = {k.name: k.lr for k in curves(1.0, 100)}
    assert set(c["constant"]) == {1.0}
    assert c["step"][0] == 1.0 and c["step"][33] == pytest.approx(0.1) and c["step"][99] == pytest.approx(0.001)
    assert c["cosine"][0] == 1.0 and c["cosine"][50] == pytest.approx(0.5) and c["cosine"][99] < 1e-3
    assert c["warmup"][0] == pytest.approx(0.1) and c["warmup"][10] == 1.0
    peak = max(range(100), key=c["one_cycle"].__getitem__)
    assert peak == 29 and c["one_cycle"][0] == pytest.approx(1 / 25)
    assert c["one_cycle"][99] == pytest.approx(1 / 25 / 1e4)


def test_one_cycle_written_out_is_the_training_labs_one_cycle():
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.3)
    sched = one_cycle(opt, max_lr=0.3, total_steps=50, cycle_momentum=False)
    for t in range(50):
        assert sched.get_last_lr()[0] == pytest.approx(one_cycle_lr(0.3, t, 50), rel=1e-12)
        opt.step()
        sched.step()
