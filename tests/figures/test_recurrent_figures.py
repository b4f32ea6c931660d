"""figures.recurrent: the hidden-state heatmap and the gradient-norm curve."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from figures.recurrent import grad_norm_figure, hidden_heatmap, token_label


def test_token_label_makes_whitespace_visible():
    assert token_label(" ") == "␣"
    assert token_label("\n") == "↵"
    assert token_label("a") == "a"


def test_hidden_heatmap_is_units_by_time():
    h = torch.linspace(-0.9, 0.9, 5 * 3).reshape(5, 3)  # T = 5, H = 3
    fig = hidden_heatmap(h, list("ab ab"), title="h", unit_label="unit", step_label="t")
    trace = fig.data[0]
    z = np.asarray(trace.z)
    assert z.shape == (3, 5)
    np.testing.assert_allclose(z, h.T.numpy(), rtol=1e-6)
    # repeated characters stay separate columns: x is the step number, the character a tick label
    assert list(trace.x) == [1, 2, 3, 4, 5]
    assert list(fig.layout.xaxis.ticktext) == ["a", "b", "␣", "a", "b"]
    # tanh range, centred at 0
    assert (trace.zmin, trace.zmax, trace.zmid) == (-1.0, 1.0, 0.0)
    assert fig.layout.title.text == "h"


def test_hidden_heatmap_rejects_mismatched_tokens():
    with pytest.raises(ValueError):
        hidden_heatmap(torch.zeros(4, 2), list("abc"))


def test_hidden_heatmap_grows_with_hidden_size():
    small = hidden_heatmap(torch.zeros(3, 2), list("abc")).layout.height
    large = hidden_heatmap(torch.zeros(3, 16), list("abc")).layout.height
    assert large > small


def test_grad_norm_figure_is_log_scale_over_steps():
    norms = torch.tensor([1e-6, 1e-3, 1.0, 2.83], dtype=torch.float64)
    fig = grad_norm_figure(norms, title="g", x_title="t", y_title="norm")
    assert fig.layout.yaxis.type == "log"
    assert list(fig.data[0].x) == [1, 2, 3, 4]
    np.testing.assert_allclose(fig.data[0].y, norms.numpy())
    assert fig.layout.xaxis.title.text == "t"
    assert fig.layout.title.text == "g"


# ----- LSTM figures --------------------------------------------------------------------------------

from figures.recurrent import coloured_text, gate_figure, grad_norms_figure, step_lines  # noqa: E402


def test_cell_state_scale_is_symmetric_about_zero():
    values = torch.tensor([[0.5, -2.0], [1.0, 0.25]])
    fig = gate_figure(values, "ab", kind="c")
    assert (fig.data[0].zmin, fig.data[0].zmax) == (-2.0, 2.0)
    assert (gate_figure(torch.rand(2, 2), "ab", kind="f").data[0].zmin, gate_figure(torch.rand(2, 2), "ab", kind="g").data[0].zmin) == (0.0, -1.0)


def test_wide_gate_figure_fills_the_width_and_thins_its_ticks():
    fig = gate_figure(torch.rand(200, 128), "x" * 200, kind="i")
    assert fig.layout.yaxis.scaleanchor is None
    assert list(fig.layout.yaxis.tickvals) == list(range(0, 128, 16))
    # ⌈200 / 80⌉ = 3: every third character labelled
    assert list(fig.layout.xaxis.tickvals) == list(range(0, 200, 3))
    small = gate_figure(torch.rand(5, 3), "abcde", kind="i")
    assert small.layout.yaxis.scaleanchor == "x"


def test_grad_norms_figure_draws_each_series_and_drops_zeros():
    fig = grad_norms_figure({"rnn": [1e-30, 0.0, 1.0], "lstm": [1e-3, 1e-2, 1.0]})
    assert [d.name for d in fig.data] == ["rnn", "lstm"]
    assert list(fig.data[0].x) == [1, 3] and list(fig.data[1].x) == [1, 2, 3]
    assert fig.layout.yaxis.type == "log" and fig.layout.showlegend


def test_step_lines_put_values_at_steps_from_one():
    fig = step_lines({"a": [3.0, 1.0], "b": [2.0, 2.0, 0.5]}, "xy z")
    assert list(fig.data[0].x) == [1, 2] and list(fig.data[1].y) == [2.0, 2.0, 0.5]
    assert list(fig.data[1].customdata) == ["x", "y", "␣"]


def test_coloured_text_escapes_and_colours_by_sign():
    html = coloured_text('<b>&"\n', [1.0, -1.0, 0.0, 0.5, 0.2, -0.3])
    assert "<b>" not in html and "&lt;" in html and "&amp;" in html and "&quot;" in html
    spans = html.split("<span")[1:]
    assert len(spans) == 6
    # +1 (the largest |v|) is deep red, −1 deep blue, 0 near white
    assert "rgb(103, 0, 31)" in spans[0] or "rgb(103,0,31)" in spans[0].replace(" ", "")
    assert "↵" in spans[5] and spans[5].endswith("<br></div>")
    assert "rgb(5, 48, 97)" in spans[1]
    try:
        coloured_text("ab", [1.0])
    except ValueError as e:
        assert "2 characters" in str(e)
    else:
        raise AssertionError("a length mismatch must be refused")


def test_tall_grid_pick_gets_guide_lines_and_half_width_ticks_thin_out():
    fig = gate_figure(torch.rand(50, 128), "y" * 50, kind="h", pick=(7, 39), max_ticks=40)
    box, vertical, horizontal = fig.layout.shapes
    assert (box.x0, box.y0) == (6.5, 38.5)
    assert (vertical.x0, vertical.x1) == (7, 7) and (horizontal.y0, horizontal.y1) == (39, 39)
    # ⌈50 / 40⌉ = 2: every second character labelled
    assert list(fig.layout.xaxis.tickvals) == list(range(0, 50, 2))
