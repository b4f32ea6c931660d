"""engine.ops.loss against torch in float64 (F.softmax, F.log_softmax, F.cross_entropy, F.mse_loss,
torch.autograd) on several shapes and seeds; the traces' properties; the two studies; bad labels."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from engine.limits import LimitError
from engine.ops import loss as L

TOL = 1e-12
CASES = [(N, K, seed) for N in (1, 5, 17) for K in (3, 10) for seed in (0, 1)]


def _batch(N: int, K: int, seed: int, scale: float = 4.0):
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(N, K, generator=g, dtype=torch.float64) * scale
    y = torch.randint(0, K, (N,), generator=g)
    return z, y


@pytest.mark.parametrize("N,K,seed", CASES)
def test_functions_equal_torch_in_float64(N, K, seed):
    z, y = _batch(N, K, seed)
    Y = F.one_hot(y, K).double()
    p = L.softmax(z)
    assert torch.allclose(p, F.softmax(z, -1), atol=TOL, rtol=0)
    assert torch.allclose(L.log_softmax(z), F.log_softmax(z, -1), atol=TOL, rtol=0)
    assert abs(float(L.cross_entropy(z, y) - F.cross_entropy(z, y))) < TOL
    # squared error on p: a sum over the K classes, a mean over the N examples
    assert abs(float(L.squared_error(p, y) - F.mse_loss(p, Y, reduction="sum") / N)) < TOL
    assert abs(float(L.squared_error(p, y) - K * F.mse_loss(p, Y))) < TOL
    assert torch.equal(L.one_hot(y, K), Y)


@pytest.mark.parametrize("N,K,seed", CASES)
def test_gradients_equal_autograd(N, K, seed):
    z, y = _batch(N, K, seed)
    zc = z.clone().requires_grad_(True)
    (g_ce,) = torch.autograd.grad(L.cross_entropy(zc, y), zc)
    (g_se,) = torch.autograd.grad(L.squared_error(L.softmax(zc), y), zc)
    assert torch.allclose(L.cross_entropy_grad(z, y), g_ce, atol=TOL, rtol=0)
    assert torch.allclose(L.squared_error_grad(z, y), g_se, atol=TOL, rtol=0)
    # and against torch's own losses, not only autograd through ours
    zt = z.clone().requires_grad_(True)
    (g_ref,) = torch.autograd.grad(F.cross_entropy(zt, y), zt)
    assert torch.allclose(L.cross_entropy_grad(z, y), g_ref, atol=TOL, rtol=0)
    assert L.torch_gaps(z, y).max < TOL


def test_softmax_jacobian_is_autograds_and_symmetric():
    z = torch.randn(7, dtype=torch.float64)
    J = L.softmax_jacobian(L.softmax(z))
    ref = torch.autograd.functional.jacobian(lambda v: F.softmax(v, -1), z)
    assert torch.allclose(J, ref, atol=TOL, rtol=0)
    assert torch.equal(J, J.T)
    assert torch.allclose(J.sum(0), torch.zeros(7, dtype=torch.float64), atol=1e-15)  # Σ_k p_k = 1


def test_log_softmax_survives_logits_that_overflow_exp():
    z = torch.tensor([[1000.0, 0.0, -1000.0]], dtype=torch.float64)
    assert torch.isfinite(L.log_softmax(z)).all()
    assert torch.allclose(L.log_softmax(z), F.log_softmax(z, -1), atol=TOL, rtol=0)
    assert float(L.cross_entropy(z, torch.tensor([2]))) == pytest.approx(2000.0)


def test_loss_trace_writes_out_one_example():
    z, y = _batch(1, 10, 3)
    tr = L.loss_trace(z[0], int(y[0]))
    assert tr.K == 10 and tr.p.sum().item() == pytest.approx(1.0, abs=1e-15)
    assert tr.L_ce == pytest.approx(-math.log(float(tr.p[tr.y])), abs=TOL)
    assert tr.L_ce == pytest.approx(float(F.cross_entropy(z, y)), abs=TOL)
    assert tr.L_se == pytest.approx(float(tr.se_terms.sum()), abs=TOL)
    assert torch.allclose(tr.grad_ce, tr.p - tr.Y, atol=TOL, rtol=0)
    assert torch.allclose(tr.grad_se, tr.J.T @ (2 * (tr.p - tr.Y)), atol=TOL, rtol=0)
    # both gradients sum to zero: adding a constant to every logit changes nothing
    assert abs(float(tr.grad_ce.sum())) < TOL and abs(float(tr.grad_se.sum())) < TOL


def test_saturation_ce_norm_goes_to_sqrt2_and_se_norm_to_zero():
    z, _ = _batch(1, 10, 4)
    y = int(z[0].argmax())  # start confidently right, then make one wrong class win
    s = L.saturation_study(z[0], y, beyond=25.0)
    assert s.j != y and s.j == L.strongest_wrong(z[0], y)
    assert float(s.z_j[s.start]) == float(z[0, s.j])  # the learner's own point lies on the curve
    assert float(s.margin[-1]) == pytest.approx(25.0)
    assert float(s.norm_ce[-1]) == pytest.approx(math.sqrt(2), abs=1e-6)
    assert float(s.norm_se[-1]) < 1e-6
    assert float(s.norm_se.max()) > 1e3 * float(s.norm_se[-1])  # it was large in between
    assert (s.norm_ce[1:] >= s.norm_ce[:-1] - 1e-12).all()  # CE's pull only grows as the mistake grows
    assert (s.L_ce[1:] >= s.L_ce[:-1]).all() and float(s.L_se[-1]) == pytest.approx(2.0, abs=1e-6)


def test_underflow_float64_equal_float32_breaks_where_exp_underflows():
    z, _ = _batch(1, 10, 5)
    u = L.underflow_study(z[0], 2, [10.0, 50.0, 100.0, 103.0, 104.5, 120.0])
    assert u.equal64 < TOL
    # log-sum-exp in float32 stays close to the exact loss everywhere
    assert torch.allclose(u.lse32.double(), u.exact, rtol=1e-5, atol=0)
    assert torch.isfinite(u.article32[:4]).all() and torch.isinf(u.article32[4:]).all()
    assert (u.p_y32[4:] == 0).all() and (u.p_y32[:4] > 0).all()
    # the break found by bisection: p_y = 0 just above it, > 0 just below; exp(−g) leaves float32 near 103.97
    for gap, zero in [(u.break_gap + 1e-3, True), (u.break_gap - 1e-3, False)]:
        p = F.softmax(L.logits_with_gap(z[0], 2, gap, torch.float32), -1)[0, 2]
        assert (float(p) == 0.0) is zero
    assert 100.0 < u.break_gap < 104.0 and u.subnormal_gap < u.break_gap
    lone = L.underflow_study(torch.tensor([0.0, 0.0]), 0, [1.0])  # two classes: p_y = e^{−g}/(1 + e^{−g})
    assert lone.break_gap == pytest.approx(150 * math.log(2), abs=1e-3)  # 2^−150 rounds to 0: 103.972


@pytest.mark.parametrize("bad", [10, -1, 99])
def test_a_label_out_of_range_is_refused_with_a_code(bad):
    z = torch.zeros(1, 10, dtype=torch.float64)
    for call in (lambda: L.cross_entropy(z, torch.tensor([bad])), lambda: L.loss_trace(z[0], bad),
                 lambda: L.saturation_study(z[0], bad), lambda: L.cross_entropy_grad(z, torch.tensor([bad]))):
        with pytest.raises(LimitError) as e:
            call()
        assert e.value.code == "limit"
        assert e.value.params == {"name": "label", "value": bad, "low": 0, "high": 9}


def test_float_labels_are_refused():
    with pytest.raises(LimitError):
        L.cross_entropy(torch.zeros(2, 3), torch.tensor([0.0, 1.0]))


def test_the_label_error_reads_in_both_languages():
    import lessons

    with pytest.raises(LimitError) as e:
        L.loss_trace(torch.zeros(10), 12)
    for lang, name in (("en", "The label"), ("zh", "标签")):
        params = {**e.value.params, "name": lessons.text("loss", f"name_{e.value.params['name']}", lang)}
        message = lessons.text("loss", f"err_{e.value.code}", lang, **params)
        assert name in message and "12" in message and "9" in message and "⟦" not in message
