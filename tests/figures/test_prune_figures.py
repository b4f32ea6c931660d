"""figures.prune draws what the prunes hold: the kept and pruned cells of conv1's mask, one line
per method with the ringed choice and the fine-tuned diamonds, and the LaTeX with the live k."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.models.cnn import seeded
from engine.models.cnn_prune import prune_masks
from engine.models.prune_study import Curve
from figures.prune import Point, curves_figure, mask_figure, prune_latex, tiles
from tests.pages.apptest import plotly_array


@pytest.fixture(scope="module")
def model():
    return seeded(0).double()


def test_tiles_lay_filters_out_in_rows_with_gaps():
    a = np.arange(4 * 9, dtype=float).reshape(4, 3, 3)
    m = tiles(a, ncols=2)
    assert m.shape == (7, 7)
    assert np.array_equal(m[0:3, 4:7], a[1]) and np.array_equal(m[4:7, 0:3], a[2])
    assert np.isnan(m[3]).all() and np.isnan(m[:, 3]).all()


@pytest.mark.parametrize("method,s", [("layer", 0.5), ("global", 0.9), ("channels", 0.25)])
def test_mask_figure_shows_kept_weights_and_grey_pruned_cells(model, method, s):
    mask = prune_masks(model, method, s).layer("conv1")
    W = model.conv1.weight.detach()
    fig = mask_figure(W, mask, title="t", kept="kept", pruned="pruned")
    kept, pruned = (plotly_array(d.z) for d in fig.data)
    assert np.nansum(pruned) == int((mask.M == 0).sum())
    assert np.isfinite(kept).sum() == int(mask.M.sum())
    # the kept cells hold the weights themselves, filter 0 at the top left
    M0, W0 = mask.M[0, 0].numpy(), W[0, 0].numpy()
    assert np.allclose(np.where(M0 > 0, W0, np.nan), kept[:3, :3], equal_nan=True)


def test_curves_figure_has_a_line_per_method_the_ring_and_the_tuned_points():
    curves = [Curve(m, (0.0, 0.5, 0.9), (0.99, 0.9 - i / 10, 0.2), (10, 5, 1))
              for i, m in enumerate(("layer", "global", "channels"))]
    names = {"layer": "L", "global": "G", "channels": "C"}
    tuned = [Point("global", 0.9, 0.95), Point("global", 0.5, 0.98)]
    fig = curves_figure(curves, names, chosen=Point("global", 0.5, 0.8), tuned=tuned, tuned_name="ft")
    assert [d.name for d in fig.data[:3]] == ["L", "G", "C"]
    assert plotly_array(fig.data[0].x).tolist() == [0.0, 50.0, 90.0]
    diamonds = fig.data[3]
    assert plotly_array(diamonds.x).tolist() == [50.0, 90.0] and plotly_array(diamonds.y).tolist() == [0.98, 0.95]
    ring = fig.data[-1]
    assert plotly_array(ring.x).tolist() == [50.0] and plotly_array(ring.y).tolist() == [0.8]


def test_prune_latex_writes_the_live_count(model):
    n = {"conv1": 288, "all": sum(getattr(model, x).weight.numel() for x in ("conv1", "conv2", "conv3", "fc1", "fc2"))}
    assert r"\operatorname{round}(0.5\cdot 288) = 144" in prune_latex(prune_masks(model, "layer", 0.5), n, "x")
    g = prune_latex(prune_masks(model, "global", 0.5), n, "x")
    assert r"\operatorname{round}(0.5\cdot 93{,}088) = 46{,}544" in g  # 288 + 18,432 + 2·36,864 + 640
    c = prune_latex(prune_masks(model, "channels", 0.5), {"conv1": 32}, "x")
    assert r"\operatorname{round}(0.5\cdot 32) = 16" in c
    assert prune_latex(prune_masks(model, "layer", 0.0), n, "x").endswith("= 0")
    assert torch.is_tensor(prune_masks(model, "layer", 0.0).layer("conv1").M)
