"""figures.knobs draws what the engine's traces hold: the measured spread and the law, one curve
per initialisation (zeros left off the log axis), conv1's histogram, the outlined axes of a norm."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.ops import batch_norm as bn
from engine.ops import init_study
from engine.ops.grad_noise import GradNoiseStudy
from engine.ops.preprocess import Preprocessed
from figures import knobs as fk


def test_noise_figure_holds_the_measured_points_and_the_law():
    B = (1, 4, 16)
    f64 = lambda v: torch.tensor(v, dtype=torch.float64)  # noqa: E731
    study = GradNoiseStudy(B, f64([9.0, 2.4, 0.6]), f64([1.0, 1.0, 1.0]), f64([10.0, 2.5, 0.625]),
                           10.0, 0.1, 100, (1600, 400, 96), -1.0, -1.0, 0.5)
    fig = fk.noise_figure(study, measured_name="m", law_name="law", title="T")
    law, measured = fig.data
    assert list(measured.x) == list(B) and np.allclose(measured.y, [9.0, 2.4, 0.6])
    assert np.allclose(law.y, [10.0, 2.5, 0.625])
    assert fig.layout.xaxis.type == "log" and fig.layout.yaxis.type == "log"


def test_depth_figure_one_curve_per_scheme_without_zeros():
    traces = {s: init_study.forward_signal(s, "relu", 6, 16, seed=0) for s in init_study.SCHEMES}
    zeroed = traces["small"]
    traces["small"] = type(zeroed)(**{**zeroed.__dict__, "var_z": torch.tensor([1.0, 0.5, 0.0, 0.0, 0.0, 0.0],
                                                                              dtype=torch.float64)})
    fig = fk.depth_figure(traces, "var_z", {s: s.upper() for s in traces}, y_title="Var")
    assert [d.name for d in fig.data] == [s.upper() for s in init_study.SCHEMES]
    assert list(fig.data[0].x) == [1, 2]  # the zeros are left off the log axis
    assert np.allclose(fig.data[2].y, traces["kaiming"].var_z.numpy())


def test_histogram_figure_bars_are_the_counts_and_zero_is_marked():
    counts, edges = np.array([1, 5, 3]), np.array([-1.0, 0.0, 1.0, 2.0])
    pre = Preprocessed("scaled", 0.0, 1.0, 0.1, 0.2, 0.5, counts, edges, 3, 0.9, None)
    fig = fk.histogram_figure(pre, title="h")
    assert list(fig.data[0].y) == [1, 5, 3] and np.allclose(fig.data[0].x, [-0.5, 0.5, 1.5])
    assert fig.layout.shapes[0].x0 == 0


@pytest.mark.parametrize("mode,box", [("batch", "row"), ("layer", "block"), ("position", "column")])
def test_tensor_picture_outlines_the_averaged_values(mode, box):
    x = torch.randn(3, 4, 2, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    n, c, p = 1, 2, 3
    fig = fk.tensor_picture(x, mode, n, c, p)
    z = np.asarray(fig.data[0].z, dtype=float)
    assert z.shape == (4, 3 * 5 - 1)  # C rows; N blocks of H·W = 4 columns with a gap between
    assert np.allclose(z[:, 5:9], x[1].reshape(4, 4).numpy())  # example 1's block
    r = fig.layout.shapes[0]
    width, height = r.x1 - r.x0, r.y1 - r.y0
    expected = {"row": (14, 1), "block": (4, 4), "column": (1, 4)}[box]
    assert (width, height) == expected
    if box == "column":
        assert r.x0 == 5 + p - 0.5  # example n = 1 starts at column 5


def test_dependence_figure_shows_each_mode_against_the_diagonal():
    x = torch.randn(6, 3, 2, 2, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    deps = {m: bn.batch_dependence(x[0], x[1:3], x[3:] * 2, m) for m in bn.MODES}
    fig = fk.dependence_figure(deps, {m: m for m in bn.MODES})
    assert [d.name for d in fig.data[1:]] == list(bn.MODES)
    layer = fig.data[2]
    assert np.allclose(layer.x, layer.y)  # LayerNorm: the same values in both batches
    assert not np.allclose(fig.data[1].x, fig.data[1].y)
