"""figures.attention: what the heatmaps and charts draw (read back from the figure), and the
formulas written with numbers (checked against the numbers given)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import figures.attention as fa
from engine.ops.attention import causal_mask, scaled_dot_product, softmax_stats
from engine.ops.attention_setup import softmax_terms


def _z(fig, k: int = 0) -> np.ndarray:
    return np.asarray(fig.data[k].z, dtype=float)


# ----- matrix_figure -----------------------------------------------------------------------------


def test_matrix_figure_draws_the_values_with_token_ticks():
    values = torch.tensor([[0.5, -1.0, 2.0], [0.0, 1.5, -0.25]])
    fig = fa.matrix_figure(values, ["the", "cat"], ["a", "the", "a"], title="S")
    np.testing.assert_allclose(_z(fig), values.numpy())
    # numeric positions, labels only as tick text: the repeated "a" stays two columns
    assert list(fig.data[0].x) == [0, 1, 2] and list(fig.data[0].y) == [0, 1]
    assert list(fig.layout.xaxis.ticktext) == ["a", "the", "a"] and list(fig.layout.xaxis.tickvals) == [0, 1, 2]
    assert list(fig.layout.yaxis.ticktext) == ["the", "cat"]
    assert fig.layout.yaxis.autorange == "reversed"  # row 0 (the first query) on top
    assert fig.layout.title.text == "S"
    # signed values: symmetric about 0, from the largest |value|
    assert (fig.data[0].zmin, fig.data[0].zmax, fig.data[0].zmid) == (-2.0, 2.0, 0.0)
    # small: the numbers are written in the cells
    assert list(fig.data[0].text[0]) == ["0.50", "-1.00", "2.00"]


def test_weights_use_a_zero_to_one_scale():
    fig = fa.matrix_figure(torch.full((2, 2), 0.5), ["x", "y"], ["x", "y"], kind="weights")
    assert (fig.data[0].zmin, fig.data[0].zmax) == (0.0, 1.0)
    with pytest.raises(ValueError):
        fa.matrix_figure(torch.zeros(2, 2), ["x", "y"], ["x", "y"], kind="probabilities")


def test_masked_cells_are_left_out_and_drawn_grey():
    trace = scaled_dot_product(torch.randn(3, 2, dtype=torch.float64), torch.randn(3, 2, dtype=torch.float64),
                               torch.randn(3, 2, dtype=torch.float64), mask=causal_mask(3))
    keep = causal_mask(3)
    fig = fa.matrix_figure(trace.masked, list("abc"), list("abc"), keep=keep)
    z = _z(fig)
    assert np.isnan(z[~keep.numpy()]).all()
    np.testing.assert_allclose(z[keep.numpy()], trace.scaled[keep].numpy())
    grey = fig.data[1]
    assert (~np.isnan(np.asarray(grey.z, dtype=float)) == ~keep.numpy()).all()
    assert list(grey.text[0]) == ["", "−∞", "−∞"] and fig.data[0].text[0][1] == ""
    weights = fa.matrix_figure(trace.weights, list("abc"), list("abc"), kind="weights", keep=keep, masked_text="0")
    assert list(weights.data[1].text[1]) == ["", "", "0"]
    # unmasked: one trace only
    assert len(fa.matrix_figure(trace.scores, list("abc"), list("abc")).data) == 1


def test_pick_box_boundaries_and_colorbar():
    fig = fa.matrix_figure(torch.zeros(4, 6), list("abcd"), [str(d) for d in range(6)], pick=(2, 5),
                           boundaries=[2, 4], colorbar=False)
    *lines, box = fig.layout.shapes
    # row 2 on y, column 5 on x
    assert (box.x0, box.x1, box.y0, box.y1) == (4.5, 5.5, 1.5, 2.5)
    assert [line.x0 for line in lines] == [1.5, 3.5]
    assert fig.data[0].showscale is False
    row = fa.matrix_figure(torch.zeros(4, 6), list("abcd"), list("abcdef"), box=(1, 0, 1, 6)).layout.shapes[0]
    assert (row.x0, row.x1, row.y0, row.y1) == (-0.5, 5.5, 0.5, 1.5)


def test_big_matrices_are_not_annotated_and_labels_must_match():
    fig = fa.matrix_figure(torch.zeros(12, 32), [str(k) for k in range(12)], [str(k) for k in range(32)])
    assert fig.data[0].text is None
    with pytest.raises(ValueError):
        fa.matrix_figure(torch.zeros(2, 3), ["a"], ["a", "b", "c"])
    with pytest.raises(ValueError):
        fa.matrix_figure(torch.zeros(2, 3, 4), ["a", "b"], ["a", "b", "c"])


def test_token_labels_shorten_long_words_only():
    assert fa.token_labels(["the", "extraordinarily", "猫"]) == ["the", "extraor…", "猫"]


# ----- the √d_k charts ----------------------------------------------------------------------------


def test_scale_stats_figures_draw_the_statistics():
    stats = softmax_stats((1, 4, 16), n_keys=8, seed=1, samples=200)
    names = {"unscaled": "raw", "scaled": "scaled", "uniform": "uniform"}
    titles = {"entropy": "H", "max": "max", "x": "d_k"}
    fig_H, fig_max = fa.scale_stats_figures(stats, names=names, titles=titles, d_k_now=4)
    assert list(fig_H.data[0].x) == [1, 4, 16] and fig_H.layout.xaxis.type == "log"
    np.testing.assert_allclose(fig_H.data[0].y, stats.entropy_unscaled.numpy())
    np.testing.assert_allclose(fig_H.data[1].y, stats.entropy_scaled.numpy())
    np.testing.assert_allclose(fig_max.data[0].y, stats.max_weight_unscaled.numpy())
    np.testing.assert_allclose(fig_max.data[1].y, stats.max_weight_scaled.numpy())
    # the uniform line at log n, on the entropy chart only
    assert fig_H.data[2].name == "uniform" and list(fig_H.data[2].y) == [math.log(8)] * 2
    assert len(fig_max.data) == 2
    assert fig_H.layout.shapes[0].x0 == 4 and fig_max.layout.title.text == "max"
    assert not fa.scale_stats_figures(stats, names=names, titles=titles)[0].layout.shapes


# ----- formulas with numbers ------------------------------------------------------------------------


def test_number_formats():
    assert fa.num(1.23456) == "1.235" and fa.num(-0.5, 2) == "(-0.50)"
    assert fa.big(0) == "0" and fa.big(2.5) == "2.500"
    assert fa.big(123456.0) == r"1.23\times 10^{5}" and fa.big(2.5e-7) == r"2.50\times 10^{-7}"


def test_dot_product_latex_writes_every_product_then_dots():
    q, k = torch.tensor([1.0, -2.0, 0.5]), torch.tensor([3.0, 0.25, -1.0])
    latex = fa.dot_product_latex(0, 2, q, k, 2.0)
    assert r"S_{1,3} &= \textstyle\sum_{d=1}^{3} Q_{1,d}\,K_{3,d}" in latex
    # two products a row; a negative first factor becomes a minus, a negative second factor needs no dot
    assert r"&= 1.00{\cdot}3.00 - 2.00{\cdot}0.25 \\ &\; + 0.50(-1.00) \\" in latex
    assert latex.endswith(r"&= 2.0000 \end{aligned}")
    long = fa.dot_product_latex(1, 1, torch.ones(10), torch.ones(10), 10.0, terms=4, per_line=2)
    assert long.count(r"{\cdot}") == 4 and r"\dots" in long and long.count(r"&\; +") == 2
    negative = fa.dot_product_latex(0, 0, torch.tensor([-1.0, -2.0]), torch.tensor([3.0, -1.0]), -1.0)
    assert r"&= -1.00{\cdot}3.00 - 2.00(-1.00) \\ &= -1.0000" in negative
    with_bias = fa.dot_product_latex(0, 0, q, k, 2.5, sym="Y", Q="C", K="(W_O)", bias=0.5, b_sym="(b_O)")
    assert r"C_{1,d}\,(W_O)_{1,d} + (b_O)_{1}" in with_bias and r"&\; + 0.500" in with_bias


@pytest.mark.parametrize("scale, tau, expected", [
    (True, 1.0, [r"\frac{S_{2,1}}{\sqrt{d_k}}", r"\frac{3.0000}{\sqrt{9}}", "= 1.0000"]),
    (True, 2.0, [r"\sqrt{d_k} \cdot \tau", r"\sqrt{9} \cdot 2", r"\frac{3.0000}{6.0000}", "= 0.5000"]),
    (False, 1.0, [r"S'_{2,1} &= S_{2,1} = 3.0000"]),
    (False, 0.5, [r"\frac{S_{2,1}}{\tau}", "= 6.0000"]),
])
def test_scale_latex(scale, tau, expected):
    latex = fa.scale_latex(1, 0, 3.0, d_k=9, scale=scale, tau=tau)
    for part in expected:
        assert part in latex


def test_mask_latex():
    assert fa.mask_latex(0, 2, 1.5, masked=True) == r"\tilde S_{1,3} = -\infty \qquad (j = 3 > i = 1)"
    assert r"= S'_{3,2} = 1.5000" in fa.mask_latex(2, 1, 1.5, masked=False)


def test_softmax_latex_writes_every_exponential():
    s = torch.tensor([0.0, math.log(3.0), -math.inf], dtype=torch.float64)
    latex = fa.softmax_latex(1, 1, softmax_terms(s))
    assert r"e^{0.00} = 1.000" in latex and r"e^{1.10} = 3.000" in latex and r"e^{-\infty} = 0" in latex
    assert r"Z &= 1.000 + 3.000 + 0 \\ &= 4.000" in latex
    assert r"a_{2,2} &= \frac{3.000}{4.000} = 0.7500" in latex


def test_softmax_latex_shifts_large_scores():
    s = torch.tensor([100.0, 100.0 + math.log(3.0)], dtype=torch.float64)
    terms = softmax_terms(s)
    latex = fa.softmax_latex(0, 0, terms)
    # exp(100) would be 2.7·10^43: every exponent has the row's max subtracted instead
    assert f"- {terms.shift:.2f}" in latex and "- m" in latex
    assert r"a_{1,1} &= \frac{0.333}{1.333} = 0.2500" in latex


def test_output_latex_skips_masked_keys():
    weights, V = torch.tensor([0.25, 0.75, 0.0]), torch.tensor([[2.0, 1.0], [-4.0, 0.0], [9.0, 9.0]])
    out = weights @ V
    latex = fa.output_latex(0, weights, V, out, keep_row=torch.tensor([True, True, False]))
    assert r"0.250{\cdot}2.00 + 0.750(-4.00) \\ &= -2.5000" in latex
    assert "9.00" not in latex
    assert r"o_{1} &= (-2.500,\,0.250)" in latex
    head = fa.output_latex(2, weights, V, out, component=1, o="o^{(2)}", V_sym="v^{(2)}")
    assert r"o^{(2)}_{3,2} &= \textstyle\sum_j a_{3,j}\,v^{(2)}_{j,2}" in head and r"&= 0.2500" in head


# ----- negative zero ----------------------------------------------------------------------------


def test_numbers_that_round_to_zero_carry_no_minus_sign():
    fig = fa.matrix_figure(torch.tensor([[-0.001, -0.5], [0.004, -0.0]]), ["a", "b"], ["a", "b"], annotate=True)
    assert [list(r) for r in fig.data[0].text] == [["0.00", "-0.50"], ["0.00", "0.00"]]
    assert fa.cell_text(-0.004) == "0.00" and fa.cell_text(-0.006) == "-0.01"
    assert fa.num(-0.0001) == "0.000" and fa.num(-0.2) == "(-0.200)"
    # a product with a factor that rounds to zero: a dot, no parentheses
    latex = fa.dot_product_latex(0, 0, [1.0, 2.0], [-0.0001, -0.5], -1.0001)
    assert r"1.00{\cdot}0.00" in latex and "2.00(-0.50)" in latex and "-0.00" not in latex
