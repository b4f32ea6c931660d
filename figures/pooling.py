"""Figures for the pooling lesson: the pooled input with its argmax cells, the pooled map,
one window with its numbers, and the translation demo's before/after maps.

Labels come in as arguments (the page translates them); nothing here imports streamlit.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from engine.ops.pooling import STAGES, PoolCellTrace, TranslationTrace
from figures.common import DIVERGING, INK, POSITIVE, add_box, as_numpy, heatmap, mosaic_figure

HIGHLIGHT = "#F59E0B"  # the chosen window / output cell
WINNER = "#EF4444"  # an input cell that is the max of some window
TIE = "rgba(148, 163, 184, 0.45)"  # the max of an all-zero window (every cell ties)


def _range(z: np.ndarray) -> dict:
    """Colour range: from 0 for non-negative maps (ReLU outputs, images), else automatic."""
    if z.size and z.min() >= 0:
        return {"zmin": 0.0, "zmax": float(z.max()) if z.max() > 0 else 1.0}
    return {}


def argmax_cells(x, rows, cols) -> tuple[np.ndarray, np.ndarray]:
    """Distinct (row, col) input cells that won a window, split by whether the max is > 0.

    Returns two (n, 2) arrays: winners with a positive max, and winners of all-zero windows
    (where every cell ties and the first one is taken, as torch does).
    """
    x, rows, cols = as_numpy(x), as_numpy(rows).astype(int), as_numpy(cols).astype(int)
    # (H_out, W_out) index maps → distinct (row, col) pairs; overlapping windows can share one
    cells = np.unique(np.stack([rows.ravel(), cols.ravel()], axis=1), axis=0)
    positive = x[cells[:, 0], cells[:, 1]] > 0
    return cells[positive], cells[~positive]


def pool_input_figure(x, *, rows=None, cols=None, window: tuple[int, int, int] | None = None,
                      title: str | None = None, colorscale: str = INK,
                      winner_label: str = "max", tie_label: str = "tie",
                      height: int = 400) -> go.Figure:
    """The map being pooled; argmax cells marked (max pooling) and the chosen window boxed."""
    x = as_numpy(x)
    fig = heatmap(x, title=title, colorscale=colorscale, height=height, **_range(x))
    if rows is not None and cols is not None:
        winners, ties = argmax_cells(x, rows, cols)
        # faint first: all-zero windows, whose "max" is just the first cell
        for cells, color, size, name in ((ties, TIE, 4, tie_label), (winners, WINNER, 8, winner_label)):
            fig.add_trace(go.Scatter(
                x=cells[:, 1], y=cells[:, 0], mode="markers", name=name,
                marker=dict(symbol="square-open", size=size, color=color, line=dict(width=1.5 if size < 6 else 2,
                                                                                       color=color)),
                hovertemplate="row %{y}, col %{x}<extra>" + name + "</extra>",
            ))
        fig.update_layout(showlegend=False)  # the page's caption explains red and grey
    if window is not None:
        r, c, k = window
        add_box(fig, r, c, k, k, color=HIGHLIGHT, line_width=3)
    return fig


def pooled_figure(out, *, cell: tuple[int, int] | None = None, title: str | None = None,
                  colorscale: str = POSITIVE, height: int = 400) -> go.Figure:
    """The pooled map, the chosen output cell boxed; numbers in the cells when it is small."""
    out = as_numpy(out)
    small = max(out.shape) <= 10
    fig = heatmap(out, title=title, colorscale=colorscale, height=height, annotate=small, **_range(out))
    if cell is not None:
        add_box(fig, cell[0], cell[1], 1, 1, color=HIGHLIGHT, line_width=3)
    return fig


def window_figure(window, *, arg: tuple[int, int] | None = None, origin: tuple[int, int] = (0, 0),
                  title: str | None = None, colorscale: str = POSITIVE, zmax: float | None = None,
                  height: int = 260) -> go.Figure:
    """One k×k window with its numbers, labelled by input row/column; the max boxed.

    `zmax` (e.g. the whole map's maximum) keeps the window's colours those of the big map.
    """
    window = as_numpy(window)
    colour_range = _range(window)
    if zmax is not None and colour_range:
        colour_range["zmax"] = max(float(zmax), colour_range["zmax"])
    k_h, k_w = window.shape
    r0, c0 = origin
    fig = heatmap(window, title=title, colorscale=colorscale, annotate=True, height=height,
                  showscale=False, **colour_range)
    fig.update_xaxes(tickmode="array", tickvals=list(range(k_w)), ticktext=[str(c0 + n) for n in range(k_w)])
    fig.update_yaxes(tickmode="array", tickvals=list(range(k_h)), ticktext=[str(r0 + m) for m in range(k_h)])
    fig.update_traces(textfont=dict(size=14))
    if arg is not None:
        add_box(fig, arg[0], arg[1], 1, 1, color=WINNER, line_width=4)
    return fig


def kernel_figure(kernel, *, title: str | None = None, height: int = 200) -> go.Figure:
    """A small signed kernel (blue < 0 < red) with its weights written in."""
    k = as_numpy(kernel)
    bound = float(np.abs(k).max()) or 1.0
    fig = heatmap(k, title=title, colorscale=DIVERGING, zmid=0, zmin=-bound, zmax=bound,
                  annotate=True, height=height, showscale=False)
    fig.update_xaxes(showticklabels=False, ticks="")
    fig.update_yaxes(showticklabels=False, ticks="")
    return fig


def shift_figure(original, shifted, *, labels: Sequence[str], title: str | None = None,
                 height: int = 260) -> go.Figure:
    """Original map, shifted-input map and |Δ| side by side, one colour scale (one trace).

    No gaps between cells (the shared heatmap puts a 1-px gap only along an axis of ≤ 12 cells,
    which on a row of 6×6 tiles draws white lines across the rows), and each tile's label sits
    above it, off the cells.
    """
    a, b = as_numpy(original), as_numpy(shifted)
    # (3, H, W): original, shifted, |shifted − original|
    maps = np.stack([a, b, np.abs(b - a)])
    _, H, W = maps.shape
    fig = mosaic_figure(maps, ncols=3, title=title, height=height)
    fig.update_traces(zmin=0, zmax=float(max(maps.max(), 1e-12)), xgap=0, ygap=0)
    fig.update_xaxes(ticks="", zeroline=False)
    fig.update_yaxes(ticks="", zeroline=False)
    # tile c spans columns [c·(W+1), c·(W+1)+W) of the mosaic (one NaN column between tiles);
    # y = 1 in "y domain" is the top edge of the tiles, whatever the figure's aspect
    fig.update_layout(
        annotations=[dict(x=c * (W + 1) + (W - 1) / 2, xref="x", y=1, yref="y domain",
                          text=str(label), showarrow=False, xanchor="center", yanchor="bottom",
                          font=dict(size=12, color="#6B7280"))
                     for c, label in enumerate(labels)],
        margin=dict(t=64 if title else 28),
    )
    return fig


def fmt(v: float) -> str:
    return f"{v:.2f}"


def cell_formula_latex(cell: PoolCellTrace, mode: str, i: int, j: int, k: int, s: int) -> str:
    """out[i,j] of a PoolCellTrace written out with the window's real numbers (one line per
    window row when long)."""
    rows = [r",\; ".join(fmt(v) for v in row) for row in cell.window.tolist()]
    joiner = r",\; \\ &\qquad " if k >= 3 else r",\; "
    at = rf"x[{i}\cdot{s} + m,\; {j}\cdot{s} + n]"
    if mode == "max":
        head = rf"\mathrm{{out}}[{i},{j}] &= \max_{{0 \le m,\,n < {k}}} {at}"
        body = r"&= \max(\," + joiner.join(rows) + r"\,)"
    else:
        plus = [row.replace(r",\;", " +") for row in rows]
        head = rf"\mathrm{{out}}[{i},{j}] &= \frac{{1}}{{{k * k}}} \sum_{{m,n}} {at}"
        body = rf"&= \tfrac{{1}}{{{k * k}}}(\," + joiner.replace(",", " +").join(plus) + r"\,)"
    return rf"\begin{{aligned}} {head} \\ {body} \\ &= {fmt(cell.value)} \end{{aligned}}"


def change_table(trace: TranslationTrace, stage_names: dict[str, str], headers: Sequence[str]) -> pd.DataFrame:
    """The translation demo's numbers, one row per stage; `headers` name its six columns."""
    change = [trace.change[name] for name in STAGES]
    columns = [
        [stage_names[name] for name in STAGES],
        [f"{c.shape[0]}×{c.shape[1]}" for c in change],
        [f"{c.changed} / {c.active}" for c in change],
        [f"{100 * c.changed_fraction:.1f} %" for c in change],
        [f"{c.mean_abs_delta:.4f}" for c in change],
        [f"{100 * c.relative_change:.1f} %" for c in change],
    ]
    return pd.DataFrame(dict(zip(headers, columns, strict=True)))
