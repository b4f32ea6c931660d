"""engine.ops.grad_noise: per-example gradients, the centred Gram matrix, the spread of mini-batch
gradients and its law E‖g_B − g‖² = (N − B)/(B (N − 1)) · tr Σ, checked where the answer is exact."""

from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from engine.ops import grad_noise as gn


def _regression(N: int, D: int, seed: int):
    """A linear model y ≈ w·x + b with squared error: its per-example gradients are known in closed form."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(N, D, generator=gen, dtype=torch.float64)
    y = torch.randn(N, 1, generator=gen, dtype=torch.float64)
    model = nn.Linear(D, 1).double()
    with torch.no_grad():
        model.weight.copy_(torch.randn(1, D, generator=gen, dtype=torch.float64))
        model.bias.copy_(torch.randn(1, generator=gen, dtype=torch.float64))
    return model, x, y


def _closed_form(model, x, y) -> torch.Tensor:
    # L_i = (w·x_i + b − y_i)², so ∇_w L_i = 2 r_i x_i and ∇_b L_i = 2 r_i
    r = (x @ model.weight.detach().T + model.bias.detach() - y)  # (N, 1)
    return torch.cat([2 * r * x, 2 * r], dim=1)


@pytest.mark.parametrize("seed,N,D", [(0, 7, 3), (1, 12, 5)])
def test_per_example_grads_are_the_closed_form(seed, N, D):
    model, x, y = _regression(N, D, seed)
    G = gn.per_example_grads(model, x, y, F.mse_loss)
    assert torch.allclose(G, _closed_form(model, x, y), atol=1e-12, rtol=0)
    # and their mean is the full-batch gradient
    assert torch.allclose(G.mean(0), gn.flat_grad(model, x, y, F.mse_loss), atol=1e-12, rtol=0)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_gram_gives_tr_sigma_and_each_batch_spread(seed):
    model, x, y = _regression(10, 4, seed)
    G = _closed_form(model, x, y)
    g = G.mean(0)
    gram = gn.gradient_gram(model, x, y, F.mse_loss, chunk=3)  # chunks of 3 do not change the answer
    assert torch.allclose(gram.g, g, atol=1e-12, rtol=0)
    assert gram.tr == pytest.approx(float(((G - g) ** 2).sum(1).mean()), abs=1e-12)
    batches = gn.sample_batches(10, 4, 6, seed)
    direct = gn.spread(model, x, y, g, batches, F.mse_loss)
    assert torch.allclose(gn.spread_from_gram(gram.K, batches), direct, atol=1e-12, rtol=0)
    # and from the closed form, batch by batch
    by_hand = torch.stack([((G[S].mean(0) - g) ** 2).sum() for S in batches])
    assert torch.allclose(direct, by_hand, atol=1e-12, rtol=0)


@pytest.mark.parametrize("N,B", [(6, 1), (6, 2), (7, 3), (7, 7)])
def test_the_law_is_exact_over_every_batch(N, B):
    """The mean of ‖g_B − g‖² over all C(N, B) batches is the law, to rounding."""
    model, x, y = _regression(N, 3, N + B)
    gram = gn.gradient_gram(model, x, y, F.mse_loss)
    every = torch.tensor(list(itertools.combinations(range(N), B)))
    assert float(gn.spread_from_gram(gram.K, every).mean()) == pytest.approx(gn.law(N, B, gram.tr), rel=1e-12, abs=1e-14)


def test_batches_have_distinct_indices_and_the_law_refuses_nonsense():
    b = gn.sample_batches(20, 8, 5, seed=3)
    assert b.shape == (5, 8) and all(len(set(row.tolist())) == 8 for row in b)
    assert gn.law(20, 20, 1.0) == 0.0  # the whole set: no noise
    with pytest.raises(ValueError):
        gn.law(20, 21, 1.0)


def test_measured_slope_is_minus_one_on_a_small_setting():
    model, x, y = _regression(400, 5, 7)
    study = gn.batch_noise_study(model, x, y, (1, 4, 16), passes=10, seed=0, loss=F.mse_loss)
    assert study.slope == pytest.approx(-1.0, abs=0.05)
    assert torch.allclose(study.ratio(), torch.ones(3, dtype=torch.float64), atol=0.05)
    assert study.N == 400 and study.M == (4000, 1000, 250) and study.predicted[0] == pytest.approx(study.tr_sigma)


def test_loglog_slope_of_a_power_law():
    B = (1, 2, 8, 32)
    assert gn.loglog_slope(B, 3.0 * torch.tensor(B, dtype=torch.float64) ** -1.0) == pytest.approx(-1.0, abs=1e-12)


def test_per_example_grads_on_a_small_cnn_equal_autograd_one_by_one():
    from engine.models.cnn import seeded

    model = seeded(1).double()
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(3, 1, 28, 28, generator=gen, dtype=torch.float64)
    y = torch.tensor([3, 1, 4])
    G = gn.per_example_grads(model, x, y)
    for i in range(3):
        assert torch.allclose(G[i], gn.flat_grad(model, x[i:i + 1], y[i:i + 1]), atol=1e-12, rtol=0)


def test_gram_gap_against_autograd_on_a_cnn():
    from engine.models.cnn import seeded

    gen = torch.Generator().manual_seed(1)
    x = torch.rand(12, 1, 28, 28, generator=gen, dtype=torch.float64)
    y = torch.randint(0, 10, (12,), generator=gen)
    assert gn.gram_gap(seeded(2).double(), x, y, B=4, M=3) <= 1e-12
