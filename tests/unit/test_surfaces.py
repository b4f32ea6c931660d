"""engine.ops.surfaces and engine.ops.landscape: analytic gradients equal autograd, grids, starts
off the window refused; the CNN's plane on a tiny grid and subset: filter-normalised directions,
f(0, 0) equal to the model's loss, an interpolant through the grid."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from engine.models.cnn import seeded
from engine.ops import landscape as ls
from engine.ops.optim import OptimError, run
from engine.ops.surfaces import (
    SURFACES,
    check_start,
    grid,
    himmelblau,
    quadratic,
    rosenbrock,
    surface,
)


@pytest.mark.parametrize("name,kappa", [("quadratic", 1.0), ("quadratic", 37.0), ("quadratic", 1000.0),
                                        ("rosenbrock", 10.0), ("saddle", 10.0), ("himmelblau", 10.0)])
def test_analytic_gradient_equals_autograd(name, kappa):
    s = surface(name, kappa)
    gen = torch.Generator().manual_seed(len(name))
    w = s.window
    for _ in range(20):
        u = torch.rand(2, generator=gen, dtype=torch.float64)
        p = torch.stack([w.x_lo + u[0] * (w.x_hi - w.x_lo), w.y_lo + u[1] * (w.y_hi - w.y_lo)]).requires_grad_(True)
        (auto,) = torch.autograd.grad(s.f(p), p)
        assert torch.allclose(s.grad(p.detach()), auto, rtol=1e-12, atol=1e-12)
    assert w.contains(*s.start)


def test_batched_f_and_grad_equal_pointwise():
    s = himmelblau()
    P = torch.tensor([[0.1, 0.2], [3.0, 2.0], [-1.0, 4.0]], dtype=torch.float64)
    assert torch.equal(s.f(P), torch.stack([s.f(p) for p in P]))
    assert torch.equal(s.grad(P), torch.stack([s.grad(p) for p in P]))


def test_minima_are_minima():
    for s in (quadratic(50.0), rosenbrock(), himmelblau()):
        for m in s.minima:
            p = torch.tensor(m, dtype=torch.float64)
            assert float(s.f(p)) == pytest.approx(0.0, abs=1e-9)
            assert float(s.grad(p).norm()) < 1e-4


def test_grid_is_f_on_the_window():
    s = quadratic(10.0)
    G = grid(s, 11)
    assert G.Z.shape == (11, 11)
    assert float(G.xs[0]) == s.window.x_lo and float(G.ys[-1]) == s.window.y_hi
    j, i = 3, 7  # row y_j, column x_i
    assert float(G.Z[j, i]) == pytest.approx(0.5 * (float(G.xs[i]) ** 2 + 10 * float(G.ys[j]) ** 2))
    with pytest.raises(OptimError):
        grid(s, 10_000)


def test_refusals():
    s = rosenbrock()
    assert check_start(s, (0.5, 0.5)) == (0.5, 0.5)
    for bad in [(5.0, 0.0), (0.0, -7.0), (float("nan"), 0.0), (float("inf"), 1.0)]:
        with pytest.raises(OptimError) as e:
            check_start(s, bad)
        assert e.value.code == "off_window" and e.value.params["x_hi"] == 2.0
    with pytest.raises(OptimError) as e:
        surface("ackley")
    assert e.value.code == "unknown_surface"
    for k in (0.5, 1e6, float("nan")):
        with pytest.raises(OptimError) as e:
            quadratic(k)
        assert e.value.code == "bad_kappa"
    assert set(SURFACES) == {"quadratic", "rosenbrock", "saddle", "himmelblau"}


def test_sgd_on_the_quadratic_is_stable_exactly_below_two_over_kappa():
    s = quadratic(40.0)  # η < 2/κ = 0.05
    assert run("sgd", s.f, s.start, 0.049, 300, grad=s.grad).diverged is None
    assert run("sgd", s.f, s.start, 0.055, 300, grad=s.grad).diverged is not None


# ----- the CNN's plane ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tiny():
    model = seeded(3)
    gen = torch.Generator().manual_seed(1)
    x = torch.rand(6, 1, 28, 28, generator=gen)
    y = torch.tensor([0, 1, 2, 3, 4, 5])
    axis = torch.linspace(-0.5, 0.5, 3)
    return model, x, y, ls.plane_loss(model, x, y, axis, axis, seed=7)


def test_directions_are_filter_normalised_and_zero_on_biases():
    model = seeded(3)
    theta = {k: v.detach() for k, v in model.named_parameters()}
    d = ls.filter_normalised(theta, torch.Generator().manual_seed(0))
    assert d.keys() == theta.keys()
    for name, t in theta.items():
        if t.dim() == 1:
            assert torch.count_nonzero(d[name]) == 0
        else:  # one norm per output channel / row
            assert torch.allclose(d[name].flatten(1).norm(dim=1), t.flatten(1).norm(dim=1), rtol=1e-5)
            assert not torch.allclose(d[name], t)
    d2 = ls.filter_normalised(theta, torch.Generator().manual_seed(0))
    assert all(torch.equal(d[k], d2[k]) for k in d)


def test_the_centre_of_the_plane_is_the_models_loss(tiny):
    model, x, y, land = tiny
    assert land.loss.shape == (3, 3) and land.digits == 6
    with torch.no_grad():
        L = float(F.cross_entropy(model(x), y))
        assert torch.allclose(ls.logits(model, x), model(x), atol=1e-6)
    assert float(land.loss[1, 1]) == pytest.approx(L, rel=1e-5)
    assert len(set(land.loss.flatten().tolist())) == 9  # every point a different loss
    # the model was not changed by the walk
    assert torch.equal(model.conv1.weight, seeded(3).conv1.weight)


def test_interpolant_goes_through_the_grid_and_reproduces_a_plane():
    a = torch.linspace(-1, 1, 5, dtype=torch.float64)
    A, B = torch.meshgrid(a, a, indexing="xy")  # rows b, columns a
    flat = ls.Landscape(a, a, 2 * A + 3 * B + 1, digits=1, seed=0, trained=False)
    f = ls.interpolant(flat)
    for p in [(-1.0, -1.0), (0.3, -0.7), (0.99, 0.2), (-0.25, 1.0)]:
        assert float(f(torch.tensor(p, dtype=torch.float64))) == pytest.approx(2 * p[0] + 3 * p[1] + 1, abs=1e-12)
    bumpy = ls.Landscape(a, a, torch.cos(3 * A) * B ** 2, digits=1, seed=0, trained=False)
    g = ls.interpolant(bumpy)
    for j in range(5):
        for i in range(5):
            node = torch.tensor([float(a[i]), float(a[j])], dtype=torch.float64)
            assert float(g(node)) == pytest.approx(float(bumpy.loss[j, i]), abs=1e-12)
    B = ls.bicubic(bumpy)
    for q in [(0.1, 0.3), (-0.93, 0.61), (0.5, 0.5), (1.0, -1.0)]:  # inside cells, on a node, on the corner
        p = torch.tensor(q, dtype=torch.float64, requires_grad=True)
        (auto,) = torch.autograd.grad(g(p), p)
        assert torch.allclose(B.grad(p.detach()), auto, rtol=1e-12, atol=1e-12)
    P = torch.tensor([[0.1, 0.3], [-0.93, 0.61]], dtype=torch.float64)
    assert torch.equal(B.f(P), torch.stack([B.f(p) for p in P]))
    assert torch.allclose(B.grad(P), torch.stack([B.grad(p) for p in P]), rtol=1e-12, atol=1e-12)


def test_walks_on_the_plane_stop_at_its_edge(tiny):
    *_, land = tiny
    s = ls.as_surface(land)
    tr = run("sgd", s.f, s.start, 10.0, 50, box=s.window)
    assert tr.diverged is not None and tr.diverged.reason == "box"
    assert all(s.window.contains(*p) for p in tr.points.tolist())
    G = ls.as_grid(land)
    assert torch.equal(G.Z, land.loss)


def test_cnn_landscape_on_a_tiny_grid():
    land = ls.cnn_landscape(n=3, span=0.2, digits=4)
    assert land.loss.shape == (3, 3) and land.digits == 4
    assert torch.isfinite(land.loss).all()
    with pytest.raises(OptimError):
        ls.cnn_landscape(n=500)
