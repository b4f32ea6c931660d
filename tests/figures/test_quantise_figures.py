"""figures.quantise draws what the traces hold: the grid's levels, the histogram of every weight, errors
within ±s/2, each channel's range, the accuracy series; the written-out weight's LaTeX has its numbers."""

from __future__ import annotations

import numpy as np
import pytest

from engine.models.cnn import seeded
from engine.models.cnn_quant import ActRanges, ModelSize, QuantRow, QuantTable, layer_quant, weight
from engine.ops.quantise import weight_steps
from figures import quantise as fq
from tests.pages.apptest import plotly_array

NAMES4 = ("weights", "levels", "picked", "error")


@pytest.fixture(scope="module")
def model():
    return seeded(0)


def _trace(fig, name):
    return next(d for d in fig.data if d.name == name)


def test_grid_figure_shows_every_weight_the_levels_and_bounded_errors(model):
    for bits, channelwise, name in ((3, False, "conv2"), (5, True, "fc2")):
        L = layer_quant(model, name, bits)
        t = L.channel if channelwise else L.tensor
        picked = 7
        c = picked // (t.x.numel() // t.x.shape[0])
        levels = t.p.levels(c if channelwise else None)
        fig = fq.grid_figure(t, levels, picked, NAMES4, title="grid")
        assert plotly_array(_trace(fig, "weights").y).sum() == t.x.numel()
        gx = plotly_array(_trace(fig, "levels").x)
        assert np.allclose(np.unique(gx[~np.isnan(gx)]), levels.numpy())
        assert len(np.unique(gx[~np.isnan(gx)])) == 2**bits
        err = plotly_array(_trace(fig, "error").y)
        s_max = float(t.p.s.max())
        assert len(err) == fq.shown_points(t.x.numel()) <= fq.MAX_POINTS and np.all(np.abs(err) <= s_max / 2 + 1e-7)
        assert plotly_array(_trace(fig, "picked").x)[0] == pytest.approx(float(t.x.reshape(-1)[picked]))


def test_ranges_and_channel_error_figures(model):
    L = layer_quant(model, "conv1", 4)
    fig = fq.ranges_figure(L, ("channel", "layer"), title="ranges")
    bars = _trace(fig, "channel")
    base, height = plotly_array(bars.base), plotly_array(bars.y)
    assert np.allclose(base, L.ch_min.numpy()) and np.allclose(base + height, L.ch_max.numpy())
    ly = plotly_array(_trace(fig, "layer").y)
    assert np.nanmin(ly) == pytest.approx(float(L.ch_min.min())) and np.nanmax(ly) == pytest.approx(float(L.ch_max.max()))
    fig = fq.channel_error_figure(L, ("per tensor", "per channel"))
    assert np.allclose(plotly_array(_trace(fig, "per tensor").y), L.rms_tensor.numpy())
    assert np.allclose(plotly_array(_trace(fig, "per channel").y), L.rms_channel.numpy())
    assert len(plotly_array(_trace(fig, "per channel").x)) == 32


def test_accuracy_figure_draws_the_four_series_and_float():
    rows = tuple(QuantRow(b, ch, act, 0.9 - 0.01 * b * ch - 0.02 * act + 0.001 * b, ModelSize(b, 0, 0, 0))
                 for b in (8, 4, 2) for ch in (False, True) for act in (False, True))
    table = QuantTable(0.99, 4000, rows, ActRanges((0.0,), (1.0,), 8), 0, 100)
    names = ("w_t", "w_c", "wa_t", "wa_c", "float")
    fig = fq.accuracy_figure(table, names, bits=4, title="acc")
    for (ch, act, _, _), name in zip(fq.SERIES, names):
        tr = _trace(fig, name)
        assert list(plotly_array(tr.x)) == [8, 4, 2]
        assert np.allclose(plotly_array(tr.y), [100 * table.row(b, ch, act).accuracy for b in (8, 4, 2)])
    assert set(plotly_array(_trace(fig, "float").y)) == {99.0}
    assert fig.layout.shapes[0].x0 == 4


def test_steps_latex_has_every_number(model):
    w = weight(model, "conv1")
    L = layer_quant(model, "conv1", 2)
    st = weight_steps(w, 3, L.tensor.p)
    tex = fq.steps_latex(st)
    for part in (f"z = {st.z}", f"= {st.rounded}", rf"\ {st.q_max}) = {st.q}", r"\hat{x}", "x - \\hat{x}"):
        assert part in tex
    assert "clamp" in fq.formulas_latex() and "2^b - 1" in fq.formulas_latex()
