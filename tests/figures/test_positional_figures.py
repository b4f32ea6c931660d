"""figures.positional: what each figure draws, checked on its plotly spec."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from engine.ops import positional as probe
from engine.ops.positional import sinusoidal
from figures.positional import (
    block_latex,
    distance_figure,
    errata_latex,
    plain,
    row_latex,
    shift_matrix_figure,
    sig,
    square_heatmap,
    table_heatmap,
    wavelength_figure,
    wavelength_latex,
    waves_figure,
    weights_figure,
)


def _z(fig) -> np.ndarray:
    return np.asarray(fig.data[0].z, dtype=float)


def test_table_heatmap_is_positions_down_dimensions_across():
    PE = sinusoidal(12, 8)
    fig = table_heatmap(PE, title="PE", pick=(5, 4), zmax=1.0, x_title="dim", y_title="pos")
    np.testing.assert_allclose(_z(fig), PE.numpy(), atol=0)
    assert _z(fig).shape == (12, 8)
    assert (fig.data[0].zmin, fig.data[0].zmax) == (-1.0, 1.0)
    assert fig.layout.title.text == "PE"
    assert fig.layout.xaxis.title.text == "dim" and fig.layout.yaxis.title.text == "pos"
    # row 0 at the top
    assert fig.layout.yaxis.autorange == "reversed"
    (box,) = fig.layout.shapes
    # position 5 on y, dimension 4 on x
    assert (box.x0, box.x1, box.y0, box.y1) == (3.5, 4.5, 4.5, 5.5)


def test_table_heatmap_colour_range_defaults_to_the_largest_value():
    values = torch.tensor([[0.5, -3.0], [2.0, 1.0]])
    fig = table_heatmap(values)
    assert (fig.data[0].zmin, fig.data[0].zmax) == (-3.0, 3.0)
    assert not fig.layout.shapes
    (pair,) = table_heatmap(values, pick=(1, 0), pick_width=2).layout.shapes
    assert (pair.x0, pair.x1, pair.y0, pair.y1) == (-0.5, 1.5, 0.5, 1.5)
    with pytest.raises(ValueError):
        table_heatmap(torch.zeros(3))


def test_square_heatmap_symmetric_and_not():
    S = probe.similarity(sinusoidal(10, 6))
    fig = square_heatmap(S, title="S")
    np.testing.assert_allclose(_z(fig), S.numpy())
    assert fig.data[0].zmax == pytest.approx(float(S.abs().max())) and fig.data[0].zmin == -fig.data[0].zmax
    plain = square_heatmap(S, symmetric=False)
    assert plain.data[0].zmin is None and plain.data[0].zmax is None


def test_shift_matrix_figure_outlines_the_pair_block():
    M = probe.shift_check(8, 6, 2).M
    fig = shift_matrix_figure(M, pair=1)
    np.testing.assert_allclose(_z(fig), M.numpy())
    (box,) = fig.layout.shapes
    # the 2×2 block of pair 1: rows and columns 2 and 3
    assert (box.x0, box.x1, box.y0, box.y1) == (1.5, 3.5, 1.5, 3.5)
    # small matrices carry their numbers
    assert fig.data[0].text[0][0] == format(float(M[0, 0]), ".2f")


def test_waves_figure_draws_sine_and_cosine_columns_of_each_pair():
    PE = sinusoidal(30, 16)
    fig = waves_figure(PE, [0, 3])
    assert len(fig.data) == 4
    for trace, col in zip(fig.data, (0, 1, 6, 7)):
        np.testing.assert_allclose(np.asarray(trace.y, dtype=float), PE[:, col].numpy())
        assert list(trace.x) == list(range(30))
        assert trace.name.endswith(f"j={col}")
    assert [tr.line.dash for tr in fig.data] == ["solid", "dash", "solid", "dash"]
    # one colour per pair
    assert fig.data[0].line.color == fig.data[1].line.color != fig.data[2].line.color
    with pytest.raises(ValueError):
        waves_figure(PE, [8])


def test_wavelength_figure_is_logarithmic_between_2pi_and_10000_2pi():
    lam = probe.wavelengths(32)
    fig = wavelength_figure(lam, pick=3)
    np.testing.assert_allclose(np.asarray(fig.data[0].y, dtype=float), lam.numpy())
    assert fig.layout.yaxis.type == "log"
    assert list(fig.data[1].x) == [3] and fig.data[1].y[0] == pytest.approx(float(lam[3]))
    bounds = sorted(tr.y[0] for tr in fig.data[2:])
    assert bounds == pytest.approx([2 * math.pi, 10000 * 2 * math.pi])


def test_distance_figure_draws_low_and_high():
    prof = probe.by_distance(probe.similarity(sinusoidal(20, 8)))
    fig = distance_figure(prof.distance, prof.low, prof.high, low_name="min", high_name="max")
    high, low = fig.data
    assert high.name == "max" and low.name == "min"
    np.testing.assert_allclose(np.asarray(high.y, dtype=float), prof.high.numpy())
    np.testing.assert_allclose(np.asarray(low.y, dtype=float), prof.low.numpy())
    assert list(high.x) == list(range(20))


def test_weights_figure_keeps_repeated_tokens_apart():
    A = torch.softmax(torch.randn(4, 4, generator=torch.Generator().manual_seed(0)), dim=-1)
    tokens = ["the", "dog", "the", "cat"]
    fig = weights_figure(A, tokens, title="A")
    np.testing.assert_allclose(_z(fig), A.numpy(), atol=1e-7)
    assert list(fig.layout.xaxis.tickvals) == [0, 1, 2, 3]
    assert list(fig.layout.xaxis.ticktext) == tokens and list(fig.layout.yaxis.ticktext) == tokens
    assert (fig.data[0].zmin, fig.data[0].zmax) == (0.0, 1.0)
    # the cells fill the column (no square-cell constraint leaving half of it empty)
    assert fig.layout.yaxis.scaleanchor is None and fig.layout.xaxis.constrain is None
    assert fig.layout.yaxis.constrain is None
    with pytest.raises(ValueError):
        weights_figure(A, tokens[:3])


def test_weights_figure_slants_long_key_labels():
    words = [f"word{n:02d}" for n in range(12)]
    A = torch.full((12, 12), 1 / 12)
    assert weights_figure(A, words).layout.xaxis.tickangle == -60
    assert weights_figure(A[:4, :4], ["猫", "坐", "在", "垫"]).layout.xaxis.tickangle == 0


# ----- formulas with live numbers ---------------------------------------------------------------


def test_number_formats():
    assert plain(0) == "0" and plain(1.58) == "1.580" and plain(2.5e-5) == "2.50e-05"
    assert sig(0.5) == "0.5000" and sig(0.001234) == r"1.234\times 10^{-3}" and sig(0) == "0.0000"


def test_row_latex_writes_each_pair_with_its_angle():
    PE = sinusoidal(16, 8)
    omega, angle = probe.frequencies(8), probe.rope_angles(16, 8)
    tex = row_latex(PE, omega, angle, 5, [0, 2])
    theta = 5 / 10000 ** (4 / 8)
    assert tex.startswith(r"\begin{aligned}") and r"\theta_{2} &= 5\cdot 10000^{-4/8}" in tex
    assert f"= {theta:.4f}" in tex and f"PE[5,4] &= \\sin\\theta_{{2}} = {math.sin(theta):.4f}" in tex
    assert f"PE[5,5] = \\cos\\theta_{{2}} = {math.cos(theta):.4f}" in tex and "theta_{1}" not in tex


def test_errata_latex_shows_sin_and_cos_differ():
    tex = errata_latex(5, 2, 8, 0.05, math.sin(0.05), math.cos(0.05))
    assert r"\frac{5}{10000^{4/8}} = 0.0500" in tex and f"{math.sin(0.05) - math.cos(0.05):.4f} \\ne 0" in tex


@pytest.mark.parametrize("d,i", [(8, 2), (64, 0), (64, 31), (64, 10)])
def test_wavelength_latex(d, i):
    lam = probe.wavelengths(d)
    tex = wavelength_latex(lam, i, d)
    assert r"\lambda_0 &= 2\pi = 6.2832" in tex and r"10000\cdot 2\pi &= 62{,}831.9" in tex
    # the picked pair gets its own line only between the first and the last
    picked = rf"\lambda_{{{i}}} &= 2\pi\cdot 10000^{{{2 * i}/{d}}} = {float(lam[i]):,.2f}".replace(",", "{,}")
    assert (picked in tex) == (0 < i < d // 2 - 1)
    assert f"10000^{{2/{d}}} = {10000 ** (2 / d):.4f}" in tex


def test_block_latex_is_the_rotation_of_one_pair():
    tr = probe.shift_check(16, 8, 3)
    tex = block_latex(tr, 4, 1)
    c, s = math.cos(3 / 10000 ** (2 / 8)), math.sin(3 / 10000 ** (2 / 8))
    assert r"M^{(1)}_{3}\,PE_{4}^{(1)}" in tex and f"{c:.4f} & {s:.4f}" in tex and f"{-s:.4f} & {c:.4f}" in tex
    assert f"PE_{{7}}^{{(1)}} &= \\begin{{bmatrix}} {float(tr.actual[4, 2]):.4f}" in tex
