"""figures.recurrent.gate_figure (the GRU and LSTM heatmaps): what it draws, checked on its plotly spec."""

from __future__ import annotations

import numpy as np
import torch

from figures.recurrent import char_labels, gate_figure


def test_char_labels_make_space_and_newline_visible():
    assert char_labels("a b\nc") == ["a", "␣", "b", "↵", "c"]


def test_gate_figure_is_units_by_time_with_characters_as_ticks():
    values = torch.rand(5, 3)  # (T, H)
    fig = gate_figure(values, "ab ba", kind="z", title="z_t")
    z = np.asarray(fig.data[0].z, dtype=float)
    # one row per unit, one column per step: the (T, H) values transposed
    np.testing.assert_allclose(z, values.numpy().T.astype(float), atol=1e-7)
    assert list(fig.layout.xaxis.tickvals) == [0, 1, 2, 3, 4]
    # repeated characters stay separate columns (numeric x, characters only as tick text)
    assert list(fig.layout.xaxis.ticktext) == ["a", "b", "␣", "b", "a"]
    assert fig.layout.title.text == "z_t"


def test_gate_figure_colour_ranges_follow_the_activation():
    sig = gate_figure(torch.rand(4, 2), "abcd", kind="r")
    tanh = gate_figure(torch.rand(4, 2) * 2 - 1, "abcd", kind="h")
    assert (sig.data[0].zmin, sig.data[0].zmax) == (0.0, 1.0)
    assert (tanh.data[0].zmin, tanh.data[0].zmax) == (-1.0, 1.0)


def test_gate_figure_outlines_the_picked_cell():
    fig = gate_figure(torch.rand(6, 4), "abcdef", kind="n", pick=(2, 3))
    (box,) = fig.layout.shapes
    # step 2 on x, unit 3 on y
    assert (box.x0, box.x1, box.y0, box.y1) == (1.5, 2.5, 2.5, 3.5)
    assert not gate_figure(torch.rand(6, 4), "abcdef", kind="n").layout.shapes
