"""engine.ops.regularise: inverted dropout against F.dropout's contract (same mask, same output;
the mean kept in expectation; the identity at evaluation), the L2 penalty, and torch's Adam
weight_decay being L2 in the gradient (the formula the training knobs page writes)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from engine.lab.loop import TrainConfig, make_optimizer
from engine.ops.regularise import (
    adam_l2_gap,
    dropout_example,
    inverted_dropout,
    keep_mask,
    l2_penalty,
    model_penalty,
    torch_dropout_gap,
)

f64 = torch.float64


def randn(*shape, seed):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=f64)


@pytest.mark.parametrize("shape,p,seed", [((7,), 0.5, 0), ((4, 9), 0.1, 1), ((3, 5, 6), 0.75, 2),
                                          ((64, 576), 0.25, 3)])
def test_same_mask_gives_f_dropouts_output(shape, p, seed):
    x = randn(*shape, seed=seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        ref = F.dropout(x, p, training=True)
    m = ref != 0  # x has no zeros, so torch's mask is where its output is not 0
    ours = inverted_dropout(x, p, m)
    assert torch.equal(ours.y, ref)  # the same two operations in the same order: bit for bit
    assert ours.scale == pytest.approx(1 / (1 - p))
    assert torch_dropout_gap(p, seed, x) == 0.0 and torch_dropout_gap(p, seed) == 0.0


def test_identity_at_evaluation_and_at_p0():
    x = randn(5, 8, seed=4)
    assert torch.equal(inverted_dropout(x, 0.5, training=False).y, x)
    assert torch.equal(inverted_dropout(x, 0.0).y, x)
    assert torch.equal(F.dropout(x, 0.5, training=False), x)


@pytest.mark.parametrize("p", [0.2, 0.5, 0.8])
def test_mean_is_kept_in_expectation(p):
    g = torch.Generator().manual_seed(5)
    m = keep_mask((200_000,), p, g)
    assert abs(m.double().mean().item() - (1 - p)) < 4 * ((p * (1 - p) / 200_000) ** 0.5)
    x = torch.full((200_000,), 3.0, dtype=f64)
    y = inverted_dropout(x, p, m).y
    # E[y] = (1 − p) · x / (1 − p) = x; the sample mean within 4 standard errors
    se = 3.0 * ((p / (1 - p)) / 200_000) ** 0.5
    assert abs(y.mean().item() - 3.0) < 4 * se


def test_worked_example():
    ex = dropout_example(0.5, seed=0)
    assert ex.x.shape == ex.y.shape == ex.m.shape == (8,)
    assert torch.equal(ex.y, torch.where(ex.m, ex.x * 2.0, torch.zeros_like(ex.x)))
    assert float((ex.mean_y - ex.x).abs().max()) < 0.1  # 10,000 masks: within ~5 standard errors
    assert torch.equal(dropout_example(0.5, seed=0).m, ex.m) and not torch.equal(dropout_example(0.5, seed=1).m, ex.m)
    off = dropout_example(0.0)
    assert torch.equal(off.y, off.x) and bool(off.m.all())


@pytest.mark.parametrize("p", [-0.1, 1.0])
def test_p_outside_0_1_is_refused(p):
    with pytest.raises(ValueError):
        inverted_dropout(randn(3, seed=0), p)


def test_l2_penalty():
    theta = [randn(3, 4, seed=6), randn(5, seed=7)]
    pen = l2_penalty(theta, 0.01)
    ref = sum(float((t**2).sum()) for t in theta)
    assert pen.sq_norm == pytest.approx(ref, rel=1e-12) and pen.penalty == pytest.approx(0.005 * ref, rel=1e-12)
    assert pen.count == 17
    net = torch.nn.Linear(4, 2)
    assert model_penalty(net, 1.0).count == 10


@pytest.mark.parametrize("lam,seed", [(0.0, 0), (1e-4, 1), (1e-2, 2), (0.1, 3)])
def test_adams_weight_decay_is_l2_in_the_gradient(lam, seed):
    assert adam_l2_gap(lam, steps=8, seed=seed) < 1e-12


def test_adamw_is_not_l2_in_the_gradient():
    """The decoupled form differs: the page's formula would be wrong for AdamW."""
    theta = torch.nn.Parameter(randn(16, seed=8))
    other = torch.nn.Parameter(theta.detach().clone())
    a = torch.optim.Adam([theta], lr=1e-2, weight_decay=0.1)
    w = torch.optim.AdamW([other], lr=1e-2, weight_decay=0.1)
    for s in range(3):
        g = randn(16, seed=20 + s)
        theta.grad, other.grad = g.clone(), g.clone()
        a.step()
        w.step()
    assert float((theta - other).detach().abs().max()) > 1e-6


def test_the_training_loop_builds_adam_with_coupled_weight_decay():
    opt = make_optimizer([torch.nn.Parameter(torch.zeros(2))], TrainConfig("adam", 1e-3, "constant", weight_decay=1e-3))
    assert type(opt) is torch.optim.Adam
    assert opt.param_groups[0]["weight_decay"] == 1e-3 and not opt.param_groups[0].get("decoupled_weight_decay", False)
