"""figures.pooling: what each figure draws, checked on its plotly spec."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import pytest
import torch

from engine.ops.pooling import EDGE_KERNELS, STAGES, max_pool2d_trace, translation_demo
from figures.pooling import (
    HIGHLIGHT,
    WINNER,
    argmax_cells,
    change_table,
    kernel_figure,
    pool_input_figure,
    pooled_figure,
    shift_figure,
    window_figure,
)


def _image() -> torch.Tensor:
    x = torch.zeros(8, 8)
    x[2, 3], x[5, 5], x[6, 1] = 0.9, 0.4, 0.7
    return x


def _trace(x, k=2, s=2):
    t = max_pool2d_trace(x[None, None], k, s)
    return t.rows[0, 0], t.cols[0, 0]


def _rects(fig: go.Figure) -> list[tuple[float, float, float, float, str]]:
    return [(s.x0, s.x1, s.y0, s.y1, s.line.color) for s in fig.layout.shapes]


def test_argmax_cells_split_winners_and_ties():
    x = _image()
    rows, cols = _trace(x)
    winners, ties = argmax_cells(x, rows, cols)
    assert sorted(map(tuple, winners.tolist())) == [(2, 3), (5, 5), (6, 1)]
    # 16 windows: 3 hold ink, the 13 all-zero ones tie and give their first (top-left) cell
    assert len(ties) == 13
    assert all(r % 2 == 0 and c % 2 == 0 for r, c in ties.tolist())


def test_argmax_cells_are_distinct_when_windows_overlap():
    x = _image()
    rows, cols = _trace(x, k=3, s=1)  # 6×6 = 36 windows, many share a winner
    winners, ties = argmax_cells(x, rows, cols)
    cells = [tuple(c) for c in np.concatenate([winners, ties]).tolist()]
    assert len(cells) == len(set(cells)) < 36


def test_pool_input_figure_marks_winners_and_boxes_the_window():
    x = _image()
    rows, cols = _trace(x)
    fig = pool_input_figure(x, rows=rows, cols=cols, window=(2, 2, 2), title="in")
    kinds = [d.type for d in fig.data]
    assert kinds == ["heatmap", "scatter", "scatter"]
    winners = fig.data[2]
    assert sorted(zip(winners.y, winners.x)) == [(2, 3), (5, 5), (6, 1)]
    assert winners.marker.color == WINNER
    assert _rects(fig) == [(1.5, 3.5, 1.5, 3.5, HIGHLIGHT)]
    np.testing.assert_allclose(np.asarray(fig.data[0].z), x.numpy())
    assert fig.data[0].zmin == 0 and fig.data[0].zmax == pytest.approx(0.9)


def test_pool_input_figure_without_trace_has_no_markers():
    fig = pool_input_figure(_image(), window=(0, 0, 3))
    assert [d.type for d in fig.data] == ["heatmap"]
    assert len(fig.layout.shapes) == 1


def test_pooled_figure_annotates_small_maps_and_boxes_the_cell():
    out = np.arange(16, dtype=float).reshape(4, 4) / 10
    fig = pooled_figure(out, cell=(1, 2))
    assert fig.data[0].texttemplate == "%{text}"
    assert fig.data[0].text[1][2] == "0.60"
    assert _rects(fig) == [(1.5, 2.5, 0.5, 1.5, HIGHLIGHT)]
    big = pooled_figure(np.zeros((14, 14)))
    assert big.data[0].text is None
    assert big.data[0].zmax == 1.0  # an all-zero map still gets a colour range


def test_window_figure_labels_input_positions_and_boxes_the_max():
    window = torch.tensor([[0.0, 0.31], [0.87, 0.12]])
    fig = window_figure(window, arg=(1, 0), origin=(22, 14), zmax=2.0)
    assert list(fig.layout.xaxis.ticktext) == ["14", "15"]
    assert list(fig.layout.yaxis.ticktext) == ["22", "23"]
    assert fig.data[0].text[1][0] == "0.87"
    assert _rects(fig) == [(-0.5, 0.5, 0.5, 1.5, WINNER)]
    assert fig.data[0].zmax == 2.0  # the whole map's scale, not the window's


def test_kernel_figure_is_symmetric_around_zero():
    fig = kernel_figure(torch.tensor([[-1.0, 0.0, 2.0], [0.0, 0.5, 0.0], [0.0, 0.0, 0.0]]))
    assert fig.data[0].zmin == -2.0 and fig.data[0].zmax == 2.0 and fig.data[0].zmid == 0


def test_shift_figure_tiles_original_shifted_and_delta_in_one_trace():
    a = np.array([[0.0, 1.0], [0.5, 0.0]])
    b = np.array([[1.0, 0.0], [0.5, 0.0]])
    fig = shift_figure(a, b, labels=["o", "s", "d"], title="t")
    assert len(fig.data) == 1
    z = np.asarray(fig.data[0].z, dtype=float)
    assert z.shape == (2, 2 * 3 + 2)  # three 2×2 tiles, one NaN column between tiles
    np.testing.assert_allclose(z[:, 0:2], a)
    np.testing.assert_allclose(z[:, 3:5], b)
    np.testing.assert_allclose(z[:, 6:8], np.abs(b - a))
    assert [ann.text for ann in fig.layout.annotations] == ["o", "s", "d"]
    assert fig.data[0].zmin == 0 and fig.data[0].zmax == 1.0


@pytest.mark.parametrize("size", [2, 6, 13])
def test_shift_figure_has_no_gaps_or_zero_lines_across_its_rows(size):
    """The shared heatmap gaps an axis of ≤ 12 cells only: a row of 6×6 tiles (6 × 20) got a
    1-px gap between rows and none between columns, white lines across every row."""
    a = np.random.default_rng(0).random((size, size))
    fig = shift_figure(a, a[::-1], labels=["o", "s", "d"], title="t")
    assert fig.data[0].xgap == 0 and fig.data[0].ygap == 0
    assert fig.layout.xaxis.zeroline is False and fig.layout.yaxis.zeroline is False


def test_shift_figure_labels_sit_above_their_tiles():
    a = np.zeros((6, 6))
    fig = shift_figure(a, a, labels=["o", "s", "d"], title="t")
    anns = fig.layout.annotations
    # centred over tile c, whose columns are c·7 … c·7 + 5; anchored on the tiles' top edge
    assert [ann.x for ann in anns] == [2.5, 9.5, 16.5]
    assert all(ann.xref == "x" and ann.yref == "y domain" and ann.y == 1 and ann.yanchor == "bottom"
               for ann in anns)
    assert fig.layout.margin.t >= 60  # room for the title and the labels above the tiles


def test_change_table_has_one_row_per_stage_with_the_engine_numbers():
    g = torch.Generator().manual_seed(3)
    digit = torch.zeros(28, 28)
    digit[6:22, 8:20] = torch.rand(16, 12, generator=g)
    demo = translation_demo(digit, EDGE_KERNELS["sobel_x"], 0.0, 1, 0)
    headers = ["stage", "shape", "changed", "fraction", "mean", "relative"]
    table = change_table(demo, {name: name.upper() for name in STAGES}, headers)
    assert list(table.columns) == headers and list(table["stage"]) == [n.upper() for n in STAGES]
    c = demo.change["pool1"]
    assert table["shape"][1] == f"{c.shape[0]}×{c.shape[1]}" and table["changed"][1] == f"{c.changed} / {c.active}"
