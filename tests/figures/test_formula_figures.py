"""figures.formula (the formula playground and the errata page): what each figure draws, checked on
its plotly spec."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from figures.formula import curves_figure, function_figure, matrix_figure


def _floats(values) -> list[float | None]:
    return [None if v is None else float(v) for v in values]


def test_function_figure_draws_f_and_its_slope_with_gaps_where_f_has_no_value():
    x = np.linspace(-2, 2, 9)
    with np.errstate(invalid="ignore", divide="ignore"):
        f = np.log(x)  # NaN for x < 0, −inf at 0
        df = np.where(np.isfinite(f), 1 / x, np.nan)
    fig = function_figure(x, f, df, x_title="x", f_name="f", df_name="∂f/∂x", title="log")
    line_f, line_df = fig.data[:2]
    assert (line_f.name, line_df.name) == ("f", "∂f/∂x")
    assert _floats(line_f.x) == pytest.approx(list(x))
    # NaN and ±inf become gaps (None), never a value plotly would connect through
    assert [v is None for v in line_f.y] == [bool(not np.isfinite(v)) for v in f]
    assert _floats(line_f.y)[-1] == pytest.approx(math.log(2.0))
    assert _floats(line_df.y)[-1] == pytest.approx(0.5)
    assert line_f.connectgaps is False and line_df.line.dash == "dash"
    assert fig.layout.title.text == "log" and fig.layout.xaxis.title.text == "x"
    assert not fig.layout.shapes  # no marked point


def test_function_figure_marks_the_chosen_point_on_both_curves():
    x = np.linspace(-3, 3, 7)
    f, df = 1 / (1 + np.exp(-x)), None
    df = f * (1 - f)
    fig = function_figure(x, f, df, x_title="x", f_name="f", df_name="f′", mark=(0.0, 0.5, 0.25))
    dots = fig.data[2:]
    assert [(d.x[0], d.y[0]) for d in dots] == [(0.0, 0.5), (0.0, 0.25)]
    (guide,) = fig.layout.shapes
    assert (guide.x0, guide.x1) == (0.0, 0.0)
    # a value that does not exist draws no dot
    fig = function_figure(x, f, df, x_title="x", f_name="f", df_name="f′", mark=(0.0, float("nan"), None))
    assert len(fig.data) == 2


def test_curves_figure_keeps_the_order_names_and_tick_labels():
    series = {"intact": torch.tensor([0.0, 1.0, 2.0]), "ablated": [2.0, float("nan"), 0.0]}
    fig = curves_figure([0, 1, 2], series, x_title="t", y_title="c", title="c_t", tick_text=["a", "␣", "a"])
    assert [trace.name for trace in fig.data] == ["intact", "ablated"]
    assert _floats(fig.data[0].y) == [0.0, 1.0, 2.0]
    assert fig.data[1].y[1] is None
    # numeric positions, characters only as tick text (a repeated character stays its own point)
    assert list(fig.layout.xaxis.tickvals) == [0, 1, 2] and list(fig.layout.xaxis.ticktext) == ["a", "␣", "a"]
    assert fig.layout.yaxis.title.text == "c"
    # the first curve solid, the others dashed, in different colours
    assert fig.data[0].line.dash == "solid" and fig.data[1].line.dash == "dash"
    assert fig.data[0].line.color != fig.data[1].line.color


def test_matrix_figure_is_the_values_on_a_symmetric_scale_with_numbers_when_small():
    values = torch.tensor([[1.0, -3.0], [0.5, 2.0]], dtype=torch.float64)
    fig = matrix_figure(values, title="m", row_labels=["the", "cat"])
    trace = fig.data[0]
    np.testing.assert_allclose(np.asarray(trace.z, dtype=float), values.numpy())
    assert (trace.zmin, trace.zmax) == (-3.0, 3.0)
    assert list(trace.text[0]) == ["1.00", "-3.00"]  # numbers written in the cells
    assert list(fig.layout.yaxis.ticktext) == ["the", "cat"]
    # a shared range for figures that are compared
    assert matrix_figure(values, zmax=10.0).data[0].zmax == 10.0
    # a vector is one row; a big matrix gets a colour bar instead of numbers
    assert np.asarray(matrix_figure(torch.arange(3.0)).data[0].z).shape == (1, 3)
    big = matrix_figure(torch.randn(12, 12, generator=torch.Generator().manual_seed(0)))
    assert big.data[0].text is None and big.data[0].showscale


def test_matrix_figure_of_zeros_has_a_usable_range():
    trace = matrix_figure(torch.zeros(2, 2)).data[0]
    assert trace.zmax > 0 and trace.zmin == -trace.zmax


def test_function_figure_gives_a_steep_derivative_its_own_axis():
    p = np.linspace(0.01, 0.99, 99)
    fig = function_figure(p, -np.log(p), -1 / p, x_title="p", f_name="f", df_name="f′", mark=(0.5, 0.69, -2.0))
    # −1/p spans ~100, −log p ~4.6: f′ on a right-hand axis, its dot on the same axis
    assert fig.data[1].yaxis == "y2" and fig.data[3].yaxis == "y2" and fig.data[2].yaxis == "y"
    assert fig.layout.yaxis2.overlaying == "y" and fig.layout.yaxis2.side == "right"
    # comparable ranges share one axis
    x = np.linspace(-3, 3, 61)
    same = function_figure(x, np.tanh(x), 1 - np.tanh(x) ** 2, x_title="x", f_name="f", df_name="f′")
    assert same.data[1].yaxis == "y" and "yaxis2" not in same.to_dict()["layout"]
