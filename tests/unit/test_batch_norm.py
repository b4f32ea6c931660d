"""engine.ops.batch_norm: BatchNorm from scratch equals nn.BatchNorm2d / F.batch_norm (training
mode), the LayerNorms equal nn.LayerNorm, in float64 on several shapes and seeds; the statistics
sit on the axes each one averages over; BatchNorm depends on the batch, LayerNorm does not."""

from __future__ import annotations

import pytest
import torch

from engine.ops import batch_norm as bn

SHAPES = [(2, 3, 4, 5), (8, 16, 3, 3), (5, 1, 7, 2), (16, 64, 11, 11)]


def _x(shape, seed):
    gen = torch.Generator().manual_seed(seed)
    return 2.5 * torch.randn(*shape, generator=gen, dtype=torch.float64) + 0.7


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("seed", [0, 1])
def test_equal_to_torch_in_float64(shape, seed):
    gaps = bn.torch_gaps(_x(shape, seed), seed=seed)
    assert gaps.worst <= 1e-12, gaps


@pytest.mark.parametrize("shape", SHAPES[:3])
def test_statistics_live_on_the_right_axes(shape):
    x = _x(shape, 3)
    N, C, H, W = shape
    b, ln, lp = bn.batch_norm(x), bn.layer_norm_chw(x), bn.layer_norm_positions(x)
    assert b.mean.shape == (C,) and ln.mean.shape == (N,) and lp.mean.shape == (N, H, W)
    assert b.axes == (0, 2, 3) and ln.axes == (1, 2, 3) and lp.axes == (1,)
    for tr in (b, ln, lp):
        # after normalising, every group it averaged over has mean 0 and variance σ²/(σ² + ε)
        m = tr.normalized.mean(dim=tr.axes)
        v = tr.normalized.var(dim=tr.axes, correction=0)
        assert torch.allclose(m, torch.zeros_like(m), atol=1e-12)
        assert torch.allclose(v, (tr.var / (tr.var + 1e-5)).reshape(v.shape), atol=1e-12)
    # BatchNorm's μ_c by hand: one channel, all examples and positions
    assert float(b.mean[0]) == pytest.approx(float(x[:, 0].mean()), abs=1e-12)
    assert float(ln.mean[0]) == pytest.approx(float(x[0].mean()), abs=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_batchnorm_depends_on_the_batch_layernorm_does_not(seed):
    x = _x((9, 4, 3, 3), seed)
    others_b = x[5:] * 3 + 1  # a batch with other statistics
    dep = {m: bn.batch_dependence(x[0], x[1:5], others_b, m) for m in bn.MODES}
    assert dep["batch"].gap > 0.1
    assert dep["layer"].gap <= 1e-12 and dep["position"].gap <= 1e-12


def test_bad_shapes_and_modes_are_refused():
    with pytest.raises(ValueError):
        bn.batch_norm(torch.zeros(3, 4))
    with pytest.raises(ValueError):
        bn.normalise(torch.zeros(2, 2, 2, 2), "group")
    with pytest.raises(ValueError):
        bn.batch_norm(torch.zeros(2, 2, 2, 2), eps=-1.0)
