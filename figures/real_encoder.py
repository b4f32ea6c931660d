"""Figures and written-out formulas for the MiniLM encoder page (views/real_encoder/).

- the model view: every layer's and head's attention map as one tiled heatmap (layers down,
  heads across), the chosen head outlined, one invisible marker per tile so a click selects it;
- the head view: one head's weights with the tokens on both axes (figures.attention's matrix);
- a summary table: one number per head as a 6 × 12 heatmap with the numbers in the cells;
- the cosine-similarity matrix of the learner's sentences;
- LaTeX for one head's summaries and for the pooled embedding, with the live numbers.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from engine.ops.head_stats import HeadStats
from figures.attention import matrix_figure
from figures.common import POSITIVE, add_box, as_numpy, colorscale_stops, mosaic

PICK_COLOR = "#F59E0B"


def piece_labels(pieces: Sequence[str]) -> list[str]:
    """Pieces as tick labels, numbered (a repeated piece keeps its own row), long ones shortened."""
    return [f"{i} {p if len(p) <= 10 else p[:9] + '…'}" for i, p in enumerate(pieces)]


def model_view_figure(A, pick: tuple[int, int], *, title: str | None = None, layer_word: str = "L",
                      head_word: str = "H", hover: str = "layer {l}, head {h}") -> go.Figure:
    """A (L, H, T, T) as an L × H grid of T × T maps (weights 0 … 1), the picked (layer, head)
    outlined. Trace 1 holds one marker per tile (customdata = [layer, head], from 0) for clicks."""
    A = as_numpy(A)
    L, H, T, _ = A.shape
    gap = max(1, T // 8)
    tiled = mosaic(A.reshape(L * H, T, T), H, gap=gap).astype(np.float32)  # NaN between tiles
    step = T + gap
    centre = lambda k: k * step + (T - 1) / 2  # noqa: E731
    heat = dict(type="heatmap", z=tiled, colorscale=[list(s) for s in colorscale_stops(POSITIVE)], zmin=0.0,
                zmax=1.0, hoverinfo="skip", colorbar=dict(thickness=10))
    tiles = [(l, h) for l in range(L) for h in range(H)]
    marks = dict(type="scatter", mode="markers", x=[centre(h) for _, h in tiles], y=[centre(l) for l, _ in tiles],
                 customdata=[[l, h] for l, h in tiles], showlegend=False,
                 marker=dict(size=22, symbol="square", color="rgba(0,0,0,0)"),
                 hovertext=[hover.format(l=l + 1, h=h + 1) for l, h in tiles], hoverinfo="text",
                 selected=dict(marker=dict(opacity=1)), unselected=dict(marker=dict(opacity=1)))
    layout = dict(
        height=170 + 62 * L, margin=dict(l=10, r=10, t=75 if title else 30, b=10),
        # a click anywhere picks the nearest tile centre: no hover cut-off (click selection follows hover)
        clickmode="event+select", hovermode="closest", hoverdistance=-1,
        xaxis=dict(tickmode="array", tickvals=[centre(h) for h in range(H)],
                   ticktext=[f"{head_word}{h + 1}" for h in range(H)], showgrid=False, zeroline=False,
                   range=[-0.5, H * step - gap - 0.5], side="top", fixedrange=True),
        yaxis=dict(tickmode="array", tickvals=[centre(l) for l in range(L)],
                   ticktext=[f"{layer_word}{l + 1}" for l in range(L)], showgrid=False, zeroline=False,
                   range=[L * step - gap - 0.5, -0.5], fixedrange=True),
    )
    if title:
        layout["title"] = dict(text=title, font=dict(size=14))
    fig = go.Figure(dict(data=[heat, marks], layout=layout), _validate=False)
    l, h = pick
    pad = gap / 2
    fig.add_shape(type="rect", x0=h * step - 0.5 - pad, x1=h * step + T - 0.5 + pad, y0=l * step - 0.5 - pad,
                  y1=l * step + T - 0.5 + pad, line=dict(color=PICK_COLOR, width=3), fillcolor="rgba(0,0,0,0)")
    return fig


def head_view_figure(A_lh, pieces: Sequence[str], *, title: str | None = None, x_title: str | None = None,
                     y_title: str | None = None) -> go.Figure:
    """One head's weights (T, T): queries down, keys across, both labelled by their pieces."""
    labels = piece_labels(pieces)
    T = len(labels)
    return matrix_figure(A_lh, labels, labels, kind="weights", title=title, x_title=x_title, y_title=y_title,
                         annotate=T <= 12, height=min(760, 140 + 22 * T))


def summary_figure(values, pick: tuple[int, int], *, title: str | None = None, fmt: str = ".2f",
                   zmax: float | None = None, layer_word: str = "L", head_word: str = "H") -> go.Figure:
    """An (L, H) table of one summary as a heatmap with the numbers in the cells, the picked head outlined."""
    z = as_numpy(values)
    L, H = z.shape
    cells = [[format(v, fmt) for v in row] for row in z]
    trace = dict(type="heatmap", z=z, x=list(range(H)), y=list(range(L)), zmin=0.0,
                 zmax=zmax if zmax is not None else max(float(z.max()), 1e-9),
                 colorscale=[list(s) for s in colorscale_stops(POSITIVE)], xgap=1, ygap=1, text=cells,
                 texttemplate="%{text}", textfont=dict(size=10), colorbar=dict(thickness=10),
                 hovertemplate=f"{layer_word}%{{customdata[0]}} {head_word}%{{customdata[1]}}: %{{z:.4f}}<extra></extra>",
                 customdata=[[[l + 1, h + 1] for h in range(H)] for l in range(L)])
    layout = dict(
        height=110 + 34 * L + (45 if title else 0), margin=dict(l=10, r=10, t=75 if title else 30, b=10),
        xaxis=dict(tickmode="array", tickvals=list(range(H)), ticktext=[f"{head_word}{h + 1}" for h in range(H)],
                   showgrid=False, zeroline=False, side="top"),
        yaxis=dict(tickmode="array", tickvals=list(range(L)), ticktext=[f"{layer_word}{l + 1}" for l in range(L)],
                   autorange="reversed", showgrid=False, zeroline=False),
    )
    if title:
        layout["title"] = dict(text=title, font=dict(size=14))
    fig = go.Figure(dict(data=[trace], layout=layout), _validate=False)
    return add_box(fig, pick[0], pick[1], 1, 1, color=PICK_COLOR, line_width=3)


def similarity_figure(cos, *, title: str | None = None) -> go.Figure:
    """The cosine matrix (n, n) with the numbers in the cells; sentences numbered from 1."""
    n = as_numpy(cos).shape[0]
    labels = [str(i + 1) for i in range(n)]
    fig = matrix_figure(cos, labels, labels, kind="signed", title=title, annotate=True, height=120 + 40 * n)
    fig.update_traces(zmin=-1.0, zmax=1.0, selector=dict(type="heatmap"))
    return fig


# ----- formulas with the live numbers ---------------------------------------------------------


def _n(v: float, digits: int = 3) -> str:
    return format(float(v), f".{digits}f")


def head_summary_latex(stats: HeadStats, l: int, h: int, T: int, n_sep: int) -> str:
    """The six summaries of head (l, h) (from 0), each as its formula = its value."""
    sup = f"^{{({l + 1},{h + 1})}}"
    rows = [
        rf"m_{{\mathrm{{CLS}}}}{sup} &= \tfrac{{1}}{{{T}}}\textstyle\sum_i a_{{i,\mathrm{{CLS}}}} = {_n(stats.cls[l, h])}",
        rf"m_{{\mathrm{{SEP}}}}{sup} &= \tfrac{{1}}{{{T}}}\textstyle\sum_i \sum_{{j \in \mathrm{{SEP}}}} a_{{ij}}"
        rf" = {_n(stats.sep[l, h])}",
        rf"\lvert \mathrm{{SEP}} \rvert &= {n_sep}",
        rf"m_{{-1}}{sup} &= \tfrac{{1}}{{{max(T - 1, 1)}}}\textstyle\sum_{{i \ge 2}} a_{{i,i-1}} = {_n(stats.prev[l, h])}",
        rf"m_{{+1}}{sup} &= \tfrac{{1}}{{{max(T - 1, 1)}}}\textstyle\sum_{{i < T}} a_{{i,i+1}} = {_n(stats.next[l, h])}",
        rf"m_{{0}}{sup} &= \tfrac{{1}}{{{T}}}\textstyle\sum_i a_{{ii}} = {_n(stats.same[l, h])}",
        rf"\bar H{sup} &= \tfrac{{1}}{{{T}}}\textstyle\sum_i \Big(-\sum_j a_{{ij}} \ln a_{{ij}}\Big)"
        rf" = {_n(stats.entropy[l, h])}",
        rf"&\le \ln {T} = {_n(np.log(T))}",
    ]
    return r"\begin{aligned}" + r" \\ ".join(rows) + r"\end{aligned}"


def pooling_latex(T: int, norm: float, u_head: Sequence[float], e_head: Sequence[float]) -> str:
    """u = (1/T) Σ_t h_t and e = u/‖u‖ with the first components of each."""
    u = ", ".join(_n(x) for x in u_head)
    e = ", ".join(_n(x) for x in e_head)
    return (r"\begin{aligned}"
            rf" u &= \tfrac{{1}}{{{T}}}\textstyle\sum_{{t=1}}^{{{T}}} m_t\, h^{{(6)}}_t = ({u}, \dots) \in \mathbb{{R}}^{{384}} \\"
            rf" \lVert u \rVert_2 &= {_n(norm, 4)} \\"
            rf" e &= u / \lVert u \rVert_2 = ({e}, \dots), \quad \lVert e \rVert_2 = 1"
            r"\end{aligned}")
