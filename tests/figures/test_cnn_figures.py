"""figures.cnn: what each figure shows, and the LaTeX with live numbers."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch

from engine.models.cnn import Cell, ConvCellParts, DenseUnit, SeedCNN, summary, trace
from engine.ops.conv import ConvCellTrace
from figures import cnn as fc


@pytest.fixture(scope="module")
def v():
    """A batch-free trace, as the page hands it to the figures."""
    torch.manual_seed(0)
    model = SeedCNN().eval()
    return trace(model, torch.rand(1, 1, 28, 28)).image(0)


def _balanced(s: str) -> bool:
    depth = 0
    for ch in s.replace(r"\{", "").replace(r"\}", ""):
        depth += {"{": 1, "}": -1}.get(ch, 0)
        if depth < 0:
            return False
    return depth == 0


def test_num_and_term_formatting():
    assert fc.num(0.12345) == "0.123"
    assert fc.num(-0.0001) == r"-1.000\times 10^{-4}"
    assert fc.num(2.5e5) == r"2.500\times 10^{5}"
    assert fc.num(-0.0) == "0"
    assert fc.term(-1.5) == "(-1.500)" and fc.term(1.5) == "1.500"


def test_maps_figure_is_one_heatmap_with_the_cell_outlined(v):
    maps = v.z2[4:20]  # channels 4 … 19, (16, 11, 11)
    fig = fc.maps_figure(maps, list(range(4, 20)), signed=True, cell=(9, 2, 3))
    assert len(fig.data) == 1 and fig.data[0].type == "heatmap"
    z = np.asarray(fig.data[0].z, dtype=float)
    b = fc.label_band(11, 8)
    assert b >= 2  # ~3 px cells: a label needs several rows
    assert z.shape == (2 * (11 + b), 8 * 12 - 1)
    # tile 9 sits in row 1, column 1 of the mosaic, below its label band
    assert fc.tile_origin(9, 8, 11, 11, b) == (11 + 2 * b, 12)
    r0, c0 = fc.tile_origin(9, 8, 11, 11, b)
    assert z[r0 + 2, c0 + 3] == pytest.approx(float(maps[9, 2, 3]))
    tile, box = fig.layout.shapes
    assert (tile.x0, tile.y0, tile.x1, tile.y1) == (c0 - 0.5, r0 - 0.5, c0 + 10.5, r0 + 10.5)
    assert (box.x0, box.y0) == (c0 + 3 - 0.5, r0 + 2 - 0.5)
    # symmetric diverging scale for signed maps
    assert fig.data[0].zmin == -fig.data[0].zmax
    assert [a.text for a in fig.layout.annotations][:3] == ["4", "5", "6"]
    # hovering names the channel
    assert np.asarray(fig.data[0].customdata, dtype=object)[r0, c0] == "13"


def _labels_sit_in_the_bands(fig, H: int, band: int) -> None:
    """Every label is anchored on a tile's top edge and drawn upwards, into the blank band:
    none covers a map cell."""
    z = np.asarray(fig.data[0].z, dtype=float)
    for a in fig.layout.annotations:
        assert a.yanchor == "bottom" and a.xanchor == "left" and not a.yshift
        row = int(a.y + 0.5)  # the tile's first row
        assert row % (H + band) == band
        assert np.isnan(z[row - band : row]).all()  # the band above it is blank


def test_labels_never_cover_the_maps(v):
    for maps in (v.z1[:16], v.p1[:16], v.a3[:32]):
        K, H, W = maps.shape
        fig = fc.maps_figure(maps, list(range(K)), signed=False)
        _labels_sit_in_the_bands(fig, H, fc.label_band(W, fc.mosaic_columns(K, H)))


def test_large_maps_get_four_columns_and_a_fitting_height(v):
    fig = fc.maps_figure(v.z1[:16], list(range(16)), signed=True)
    z = np.asarray(fig.data[0].z, dtype=float)
    b = fc.label_band(26, 4)
    assert z.shape == (4 * (26 + b), 4 * 27 - 1)
    assert fc.mosaic_columns(64, 11) == 8 and fc.mosaic_columns(3, 26) == 3
    assert fc.mosaic_height(16, 26, 26, 4) > fc.mosaic_height(16, 11, 11, 8)


def test_conv_formula_drops_the_channel_sum_for_one_input_channel():
    assert "c'" not in fc.conv_formula_latex(1, 1, "x")
    assert r"\sum_{c'=0}^{31}" in fc.conv_formula_latex(2, 32, "p_1")


def test_maps_figure_for_a_pooling_window_outlines_2x2(v):
    fig = fc.maps_figure(v.a1[:8], list(range(8)), signed=False, cell=(0, 4, 6), box=2)
    _, box = fig.layout.shapes
    assert (box.x1 - box.x0, box.y1 - box.y0) == (2, 2)
    assert fig.data[0].zmin == 0.0


def test_layer_figures_take_the_typed_layer_record(v):
    conv = v.layer("conv2")
    assert (conv.kind, conv.index, conv.source_name) == ("conv", 2, "p_1")
    assert conv.before is v.z2 and conv.after is v.a2 and conv.source is v.p1
    before, after = fc.layer_figures(conv, 4, 19, Cell(9, 2, 3), ("z", "a"))
    assert before.data[0].zmin == -before.data[0].zmax  # z is signed
    assert after.data[0].zmin == 0.0 and [a.text for a in after.layout.annotations][:2] == ["4", "5"]
    pool = v.layer("pool1")
    assert pool.before is v.a1 and pool.after is v.p1
    before, _ = fc.layer_figures(pool, 0, 7, Cell(0, 2, 3), ("a", "p"))
    _, box = before.layout.shapes  # the whole 2×2 window at (2i, 2j)
    assert (box.x1 - box.x0, box.y1 - box.y0) == (2, 2)
    with pytest.raises(KeyError):
        v.layer("fc1")


def test_flatten_figure_reads_channels_last(v):
    a3 = v.a3  # (64, 3, 3)
    fig = fc.flatten_figure(v, cell=Cell(5, 1, 2))
    rows = np.asarray(fig.data[0].z, dtype=float)
    assert rows.shape == (9, 64)
    # row-major reading of the figure is the model's flattened vector f
    assert np.allclose(rows.reshape(-1), v.flat.numpy())
    assert rows[1 * 3 + 2, 5] == pytest.approx(float(a3[5, 1, 2]))
    assert list(fig.data[0].y)[:4] == ["(0,0)", "(0,1)", "(0,2)", "(1,0)"]


def test_dense_figure_is_a_two_row_strip(v):
    fig = fc.dense_figure(v, ("z4", "a4"), unit=7)
    z = np.asarray(fig.data[0].z, dtype=float)
    assert z.shape == (2, 64)
    assert np.allclose(z[1], np.maximum(z[0], 0))
    assert len(fig.layout.shapes) == 1


def test_probability_and_logit_bars_highlight_the_top_class(v):
    fig = fc.probability_figure(v)
    y = np.asarray(fig.data[0].y, dtype=float)
    assert y.sum() == pytest.approx(1.0)
    top = int(y.argmax())
    colors = list(fig.data[0].marker.color)
    assert colors[top] != colors[(top + 1) % 10] and colors.count(colors[top]) == 1
    fig = fc.logits_figure(v)
    assert int(np.argmax(np.asarray(fig.data[0].y, dtype=float))) == top


def test_filters_figure_has_one_tile_per_kernel_labelled_above_it():
    w = SeedCNN().conv1.weight.detach()
    fig = fc.filters_figure(w, ncols=16)
    z = np.asarray(fig.data[0].z, dtype=float)
    b = fc.label_band(3, 16, plot_width=360)
    assert z.shape == (2 * (3 + b), 16 * 4 - 1)
    assert np.isfinite(z).sum() == 32 * 9
    assert len(fig.layout.annotations) == 32
    _labels_sit_in_the_bands(fig, 3, b)
    r0, c0 = fc.tile_origin(17, 16, 3, 3, b)
    assert z[r0 + 1, c0 + 2] == pytest.approx(float(w[17, 0, 1, 2]))


def test_pipeline_latex_uses_the_models_shapes():
    s = fc.pipeline_latex(summary(SeedCNN()))
    for shape in (r"32\times26\times26", r"64\times5\times5", r"64\times3\times3", "576", "&10"):
        assert shape in s
    assert s.startswith(r"\begin{aligned}") and _balanced(s)


def _cell(total: float, w: float = 0.5, x: float = 1.0) -> ConvCellTrace:
    kernel, patch = torch.full((3, 3), w), torch.full((3, 3), x)
    return ConvCellTrace(patch, kernel, kernel * patch, 0.0, total, 0, 0)


def test_conv_cell_latex_shows_first_terms_bias_and_relu():
    parts = ConvCellParts([_cell(v) for v in (0.1, -0.2, 0.3, 0.4)], 0.05, 0.65)
    s = fc.conv_cell_latex(2, 5, 1, 2, parts)
    assert r"z_2[5,1,2] &= 0.100 + (-0.200) + 0.300 + \cdots + 0.400 + 0.050 = 0.650" in s
    assert r"\max(0,\, 0.650) = 0.650" in s
    s1 = fc.conv_cell_latex(1, 0, 0, 0, ConvCellParts([_cell(4.5)], -0.1, -0.3))
    assert r"0.50\cdot1.00" in s1 and r"= 0" in s1 and _balanced(s1)


def test_softmax_latex_substitutes_the_live_logits(v):
    z, p = v.logits, v.probs
    s = fc.softmax_latex(v)
    k = int(p.argmax())
    S = float(torch.exp(z).sum())
    assert rf"\hat{{y}}[{k}]" in s and fc.num(S) in s
    # the formula (2), the sum written out (1 + 10 terms), the live numerator (1)
    assert s.count("e^{") == 2 + 1 + 10 + 1
    assert fc.num(float(p[k]), 4) in s
    assert math.isclose(math.exp(float(z[k])) / S, float(p[k]), rel_tol=1e-6)
    assert _balanced(s)


def test_softmax_sum_is_broken_over_lines_and_its_value_has_its_own(v):
    z = torch.tensor([12.13, -4.69, -3.81, -7.98, -4.1, -12.14, -6.94, -0.07, -3.86, 4.03], dtype=torch.float64)
    s = fc.softmax_latex(dataclasses.replace(v, logits=z, probs=torch.softmax(z, 0)))
    lines = s.removeprefix(r"\begin{aligned}").removesuffix(r"\end{aligned}").split(r" \\ ")
    # the definition, two lines of five exponentials, the sum's value, the live ŷ[k]
    assert len(lines) == 5
    assert [line.count("e^{") for line in lines[1:3]] == [1 + 5, 5]
    S = fc.num(float(torch.exp(z).sum()))
    assert S == r"1.854\times 10^{5}" and lines[3] == f"&= {S}"
    assert lines[4].endswith("= 0.9997")


def test_flatten_and_dense_latex(v):
    a3 = v.a3.clone()
    a3[5, 1, 2] = 0.25
    s = fc.flatten_latex(dataclasses.replace(v, a3=a3), Cell(5, 1, 2))
    assert r"f[325] &= f[(1\cdot 3 + 2)\cdot 64 + 5]" in s and r"&= a_3[5,1,2] = 0.250" in s and _balanced(s)
    d = fc.dense_latex(DenseUnit(4, 7, 576, 1.5, -0.25, 1.25), "f")
    assert r"z_4[7] &= 1.500 + (-0.250) = 1.250" in d and _balanced(d)
    assert r"a_4[7]" not in fc.dense_latex(DenseUnit(5, 3, 64, 1.0, 0.0, 1.0), "a_4", relu=False)
