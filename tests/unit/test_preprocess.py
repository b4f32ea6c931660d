"""engine.ops.preprocess: the three preprocessings of the digits, conv1's pre-activations under
each, and the affine formula that links them (z_1 is linear in x)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.models.cnn import seeded
from engine.ops import preprocess as pp


@pytest.fixture(scope="module")
def digits():
    gen = np.random.default_rng(0)
    x = (gen.random((6, 28, 28)) > 0.8).astype(np.float32) * gen.random((6, 28, 28)).astype(np.float32)
    return x, np.arange(6) % 10


def test_pixel_stats_are_the_raw_mean_and_std(digits):
    x, _ = digits
    s = pp.pixel_stats(x)
    assert s.mu == pytest.approx(float((x.astype(np.float64) * 255).mean()))
    assert s.sigma == pytest.approx(float((x.astype(np.float64) * 255).std()))


def test_prepared_inputs(digits):
    x, _ = digits
    s = pp.pixel_stats(x)
    raw, scaled, std = (pp.prepare(x, v, s) for v in pp.VARIANTS)
    assert raw.shape == (6, 1, 28, 28) and float(raw.max()) <= 255 and float(scaled.max()) <= 1
    assert torch.allclose(scaled * 255, raw, atol=1e-9)
    # standardised with the same images' μ, σ: mean 0 and std 1 over all pixels
    assert float(std.mean()) == pytest.approx(0, abs=1e-9) and float(std.std(correction=0)) == pytest.approx(1, abs=1e-9)
    with pytest.raises(ValueError):
        pp.prepare(x, "whitened", s)


@pytest.mark.parametrize("seed", [0, 1])
def test_first_layer_statistics_and_the_affine_formula(digits, seed):
    x, y = digits
    model = seeded(seed).double()
    s = pp.pixel_stats(x)
    out = pp.first_layers(model, x, s, y)
    z = {v: model.conv1(pp.prepare(x, v, s)).detach().reshape(-1) for v in pp.VARIANTS}
    for v, fl in out.items():
        assert fl.mean == pytest.approx(float(z[v].mean()), rel=1e-9, abs=1e-12)
        assert fl.active == pytest.approx(float((z[v] > 0).double().mean()))
        assert fl.counts.sum() == z[v].numel() and len(fl.edges) == len(fl.counts) + 1
        assert 0 <= fl.accuracy <= 1 and 0 < fl.conf <= 1
    # the raw input stretches z_1 − b_1 by 255 (b_1 = 0 at initialisation)
    assert out["raw"].std == pytest.approx(255 * out["scaled"].std, rel=1e-9)
    assert pp.affine_gap(model, x, s) <= 1e-9
