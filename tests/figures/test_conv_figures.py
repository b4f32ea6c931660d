"""figures/conv.py: the figures and LaTeX lines of the Convolution page carry the engine's numbers."""

from __future__ import annotations

import json
import re

import numpy as np
import plotly.io as pio
import pytest
import torch
import torch.nn.functional as F

from engine.ops.conv import conv_cell, output_size, preset
from figures import conv as cf


def _digit(seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(28, 28, generator=g, dtype=torch.float64)


def _z(fig) -> np.ndarray:
    return np.asarray(fig.data[0].z, dtype=np.float64)


def _spec(fig) -> dict:
    """What st.plotly_chart sends to the browser."""
    return json.loads(pio.to_json(fig.to_dict(), validate=False))


def _boxes(fig) -> list[tuple[float, float, float, float]]:
    return [(s.x0, s.x1, s.y0, s.y1) for s in fig.layout.shapes]


def test_feature_map_figure_keeps_values_and_centres_zero():
    z = torch.randn(26, 26, dtype=torch.float64)
    fig = cf.feature_map_figure(z, cell=(5, 7), title="map")
    np.testing.assert_array_equal(_z(fig), z.numpy())
    trace = fig.data[0]
    assert trace.zmin == -trace.zmax == -float(z.abs().max())
    assert trace.colorscale is not None
    # the chosen cell (row 5, column 7) is outlined: one cell wide, centred on the cell
    assert _boxes(fig) == [(6.5, 7.5, 4.5, 5.5)]
    assert fig.layout.yaxis.autorange == "reversed"  # row 0 on top, like an image


def test_feature_map_figure_serialises_like_a_plotly_figure():
    spec = _spec(cf.feature_map_figure(torch.zeros(3, 4), cell=(0, 0)))
    z = spec["data"][0]["z"]
    assert z["shape"].replace(" ", "") == "3,4"
    assert spec["data"][0]["type"] == "heatmap"
    assert spec["layout"]["height"] > 0


@pytest.mark.parametrize("p", [0, 1, 3])
def test_receptive_field_figure_shows_padded_input_and_window(p):
    x = _digit()
    fig = cf.receptive_field_figure(x, row=4, col=9, k=5, padding=p)
    z = _z(fig)
    assert z.shape == (28 + 2 * p, 28 + 2 * p)
    np.testing.assert_array_equal(z[p : p + 28, p : p + 28], x.numpy())
    if p:
        assert z[:p].sum() == 0 and z[:, -p:].sum() == 0  # the padding is zeros
    boxes = _boxes(fig)
    # the k×k window at (row 4, col 9) is the last shape
    assert boxes[-1] == (8.5, 13.5, 3.5, 8.5)
    if p:
        assert boxes[0] == (p - 0.5, p + 27.5, p - 0.5, p + 27.5)
        assert fig.layout.shapes[0].line.dash == "dot"
    else:
        assert len(boxes) == 1


def test_grid_figure_writes_the_numbers_in_the_cells():
    w = preset("blur")
    fig = cf.grid_figure(w, fmt=".3g")
    assert fig.data[0].text[0] == ["0.0625", "0.125", "0.0625"]
    assert fig.data[0].text[1][1] == "0.25"
    assert fig.data[0].zmin == -fig.data[0].zmax  # signed: diverging around 0
    image = cf.grid_figure(np.array([[0.0, 0.5], [1.0, 0.25]]), signed=False)
    assert image.data[0].zmin == 0.0 and image.data[0].zmax == 1.0
    assert image.data[0].text[1] == ["1.00", "0.25"]


def test_cell_figures_show_patch_kernel_and_products_of_the_trace():
    x, w = _digit(1), preset("sobel_x").double()
    trace = conv_cell(x, w, 0.5, i=6, j=11, stride=2, padding=1)
    figs = cf.cell_figures(trace, ("x", "w", "w·x"))
    patch, kernel, products = figs.patch, figs.kernel, figs.products
    np.testing.assert_array_equal(_z(patch), trace.patch.numpy())
    np.testing.assert_array_equal(_z(kernel), w.numpy())
    np.testing.assert_allclose(_z(products), (w * trace.patch).numpy())
    assert [f.layout.title.text for f in (patch, kernel, products)] == ["x", "w", "w·x"]
    assert products.data[0].text[0][0] == format(float(trace.products[0, 0]), ".2f")


def _tile(z: np.ndarray, o: int, ncols: int, H: int, W: int, band: int) -> np.ndarray:
    row, col = cf.tile_origin(o, ncols, H, W, band)
    return z[row : row + H, col : col + W]


@pytest.mark.parametrize("K,ncols", [(32, 8), (5, 8), (1, 8), (12, 5)])
def test_maps_mosaic_tiles_every_map_into_one_trace(K, ncols):
    maps = torch.randn(K, 26, 26)
    fig = cf.maps_mosaic(maps, ncols, labels=[str(k) for k in range(K)])
    assert len(fig.data) == 1  # one heatmap trace, however many maps
    cols = min(ncols, K)
    rows = -(-K // cols)
    band = cf.label_band(cols, 26)
    z = _z(fig)
    assert z.shape == (rows * (band + 26), cols * 27 - 1)
    for k in range(K):
        np.testing.assert_allclose(_tile(z, k, cols, 26, 26, band), maps[k].numpy(), rtol=1e-6)
    assert np.isfinite(z).sum() == K * 26 * 26  # everything else is blank
    assert [a.text for a in fig.layout.annotations] == [str(k) for k in range(K)]
    assert fig.data[0].zmin == -fig.data[0].zmax
    assert fig.data[0].zmax == pytest.approx(float(maps.abs().max()))


@pytest.mark.parametrize("make", [lambda w: cf.kernels_mosaic(w, title="k"),
                                  lambda w: cf.maps_mosaic(w, 8, labels=[str(o) for o in range(len(w))])])
@pytest.mark.parametrize("K,size", [(32, 3), (7, 3), (32, 26)])
def test_mosaic_labels_sit_in_a_blank_band_above_their_tile(make, K, size):
    w = torch.randn(K, size, size)
    fig = make(w)
    z = _z(fig)
    cols = min(8, K)
    band = cf.label_band(cols, size)
    assert band * cf.MOSAIC_PLOT_WIDTH / z.shape[1] >= cf.LABEL_PX  # the band is tall enough for a label
    for o, a in enumerate(fig.layout.annotations):
        row, col = cf.tile_origin(o, cols, size, size, band)
        # centred over tile o, bottom edge on the tile's top edge, so the text is in the band
        assert (a.x, a.y, a.xanchor, a.yanchor) == (col + (size - 1) / 2, row - 0.5, "center", "bottom")
        assert np.isnan(z[row - band : row, col : col + size]).all()


@pytest.mark.parametrize("K,ncols", [(32, 8), (32, 16), (3, 8)])
def test_mosaic_height_follows_its_aspect_ratio(K, ncols):
    # square cells filling the plot width: height = margins + cell size · rows, no empty space
    fig = cf.kernels_mosaic(torch.randn(K, 3, 3), ncols, title="kernels")
    rows, cols = _z(fig).shape
    cell_px = cf.MOSAIC_PLOT_WIDTH / cols
    margin = fig.layout.margin
    assert fig.layout.height == pytest.approx(margin.t + margin.b + cell_px * rows, abs=1)
    assert cell_px >= 10  # weights big enough to see


def test_kernels_mosaic_lays_kernels_out_like_their_maps_and_names_them_on_hover():
    w = torch.randn(32, 3, 3)
    fig = cf.kernels_mosaic(w)
    band = cf.label_band(8, 3)
    z = _z(fig)
    assert z.shape == (4 * (band + 3), 8 * 4 - 1)  # 8 per row, as the feature maps
    np.testing.assert_allclose(_tile(z, 17, 8, 3, 3, band), w[17].numpy(), rtol=1e-6)
    assert [a.text for a in fig.layout.annotations] == [str(o) for o in range(32)]
    row, col = cf.tile_origin(17, 8, 3, 3, band)
    assert fig.data[0].text[row + 1][col + 2] == "w<sub>17</sub>[1, 2]"
    assert "%{text}" in fig.data[0].hovertemplate
    assert fig.data[0].text[0][0] == ""  # the blank band has no hover name


def test_relu_figures_share_one_colour_scale():
    z = torch.randn(10, 10, dtype=torch.float64)
    a = z.clamp(min=0)
    before, after = cf.relu_figures(z, a, ("before", "after"))
    np.testing.assert_array_equal(_z(after), a.numpy())
    assert before.data[0].zmax == after.data[0].zmax == float(z.abs().max())
    assert (_z(after) >= 0).all()


def test_symmetric_range_ignores_nan_and_is_never_zero():
    assert cf.symmetric_range(np.array([np.nan, -3.0, 2.0])) == 3.0
    assert cf.symmetric_range(np.zeros((2, 2))) > 0


@pytest.mark.parametrize("v,digits,text", [(0.0625, 4, "0.0625"), (-1.0, 4, "-1"), (2.5, 4, "2.5"),
                                           (-0.00001, 3, "0"), (0.314159, 2, "0.31"), (8, 3, "8")])
def test_num_trims_zeros(v, digits, text):
    assert cf.num(v, digits) == text


# ----- LaTeX ----------------------------------------------------------------------------------


def _last_number(latex: str) -> float:
    return float(re.findall(r"-?\d+(?:\.\d+)?", latex)[-1])


@pytest.mark.parametrize("n,k,s,p", [(28, 3, 1, 0), (28, 3, 2, 0), (28, 5, 3, 2), (28, 7, 4, 3), (28, 1, 1, 3)])
def test_output_size_latex_substitutes_the_numbers(n, k, s, p):
    latex = cf.output_size_latex(n, k, s, p, "H")
    assert rf"\frac{{{n} + 2\cdot {p} - {k}}}{{{s}}}" in latex
    assert _last_number(latex) == output_size(n, k, s, p) == (n + 2 * p - k) // s + 1


def test_output_sizes_latex_stride_two_gives_13():
    latex = cf.output_sizes_latex(28, 28, 3, 2, 0)
    assert latex.startswith(r"\begin{aligned}") and latex.endswith(r"\end{aligned}")
    assert latex.count("= 12 + 1 = 13") == 2
    assert r"\begin{align}" not in latex  # KaTeX: aligned, not align


@pytest.mark.parametrize("k,s,p,b", [(1, 1, 0, 0.0), (3, 1, 0, 0.25), (3, 2, 1, -1.5), (5, 3, 2, 0.0), (7, 1, 3, 2.0)])
def test_cell_sum_latex_writes_every_term_and_the_torch_total(k, s, p, b):
    x = _digit(k)
    w = torch.randn(k, k, generator=torch.Generator().manual_seed(k), dtype=torch.float64)
    n_out = output_size(28, k, s, p)
    i, j = n_out // 2, n_out - 1
    trace = conv_cell(x, w, b, i, j, stride=s, padding=p)
    latex = cf.cell_sum_latex(trace, i, j, s)
    assert latex.count(r"\color") == k * k  # one coloured weight per term
    assert latex.count(r"\\") == k + 2  # header, k kernel rows, bias, total
    assert rf"\text{{out}}[{i},{j}]" in latex and rf"x[{i}\cdot {s}+m" in latex
    ref = F.conv2d(x[None, None], w[None, None], torch.tensor([b], dtype=torch.float64), stride=s, padding=p)
    assert _last_number(latex) == pytest.approx(float(ref[0, 0, i, j]), abs=1e-4)
    assert f"+ ({cf.num(b, 4)})" in latex
    # the first kernel row's terms are (w[0,n])(x[i·s, j·s+n]) with the numbers of the trace
    first = [cf._term(float(trace.kernel[0, n]), float(trace.patch[0, n])) for n in range(k)]
    assert " + ".join(first) in latex


@pytest.mark.parametrize("v,text", [(-0.0001, "0.000"), (-0.0, "0.000"), (0.0004, "0.000"),
                                    (-0.0006, "-0.001"), (0.05, "0.050"), (-1.23456, "-1.235")])
def test_fixed_never_prints_negative_zero(v, text):
    assert cf.fixed(v) == text


def test_elided_keeps_the_first_four_and_last_two():
    assert cf.elided(range(32)) == r"0.000,\, 1.000,\, 2.000,\, 3.000,\, \dots,\, 30.000,\, 31.000"
    assert cf.elided([1, -0.0002]) == r"1.000,\, 0.000"
    assert r"\dots" not in cf.elided(range(6))


@pytest.mark.parametrize("K", [32, 6, 2, 1])
def test_kernel_outputs_latex_carries_the_maps_numbers(K):
    maps = torch.randn(K, 26, 26, dtype=torch.float64)
    maps[0, 13, 13] = -1e-5  # rounds to zero: shown as 0.000, not -0.000
    summed = maps.sum(0)
    latex = cf.kernel_outputs_latex(maps, summed, 13, 13)
    assert latex.startswith(r"\begin{aligned}") and r"\\" in latex  # one fact per line
    assert rf"\operatorname{{shape}}(z) &= ({K}, 26, 26)" in latex
    assert r"\Big(\sum_o z_o\Big) &= (26, 26)" in latex
    assert rf"\sum_o z_o[13,13] &= {cf.fixed(summed[13, 13])}" in latex
    shown = re.findall(r"-?\d+\.\d{3}", latex.split(r"\\")[1])
    values = [cf.fixed(v) for v in maps[:, 13, 13]]
    assert shown == (values if K <= 6 else values[:4] + values[-2:])
    assert (r"\dots" in latex.split(r"\\")[1]) == (K > 2)
    assert "-0.000" not in latex
