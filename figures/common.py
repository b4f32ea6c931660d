"""Figure helpers every lesson uses: image-like heatmaps, highlighted cells, mosaics."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache

import numpy as np
import plotly.colors
import plotly.graph_objects as go

DIVERGING = "RdBu_r"  # signed values (kernels, pre-activations): blue < 0 < red
INK = "gray"  # images: black background, white ink, as MNIST
POSITIVE = "Viridis"  # non-negative activations


def as_numpy(a) -> np.ndarray:
    """Tensors (any device) or arrays → float64 numpy."""
    if hasattr(a, "detach"):
        a = a.detach().cpu().numpy()
    return np.asarray(a, dtype=np.float64)


@cache
def colorscale_stops(name: str) -> tuple[tuple[float, str], ...]:
    """A named plotly colorscale ("RdBu_r", "gray") as explicit stops: plotly.js knows only a few
    names, and figures built without validation are not translated for it."""
    return tuple((float(v), c) for v, c in plotly.colors.get_colorscale(name))


def heatmap(
    z,
    *,
    title: str | None = None,
    colorscale: str = POSITIVE,
    zmid: float | None = None,
    zmin: float | None = None,
    zmax: float | None = None,
    annotate: bool = False,
    fmt: str = ".2f",
    hover_fmt: str | None = None,
    text_size: int = 11,
    height: int = 320,
    showscale: bool = True,
    x_labels: Sequence | None = None,
    y_labels: Sequence | None = None,
) -> go.Figure:
    """An image-like heatmap: row 0 at the top, square cells, optional numbers in the cells.

    Built as a plain dict without plotly's per-property validation: ~3-10× faster, which
    matters with a dozen figures per rerun.
    """
    z = as_numpy(z)
    # cell gaps only on small grids (both axes), else one axis gets white stripes
    gap = 1 if max(z.shape) <= 12 else 0
    trace = dict(
        type="heatmap", z=z, colorscale=[list(stop) for stop in colorscale_stops(colorscale)],
        zmid=zmid, zmin=zmin, zmax=zmax, showscale=showscale, xgap=gap, ygap=gap,
        hovertemplate="row %{y}, col %{x}<br>%{z:" + (hover_fmt or fmt) + "}<extra></extra>",
    )
    trace = {k: v for k, v in trace.items() if v is not None}
    if x_labels is not None:
        trace["x"] = list(x_labels)
    if y_labels is not None:
        trace["y"] = list(y_labels)
    if showscale:
        trace["colorbar"] = dict(thickness=12)
    if annotate:
        trace.update(text=[[format(v, fmt) for v in row] for row in z], texttemplate="%{text}",
                     textfont=dict(size=text_size))
    layout = dict(
        height=height, margin=dict(l=10, r=10, t=40 if title else 10, b=10),
        yaxis=dict(autorange="reversed", scaleanchor="x", constrain="domain", showgrid=False,
                   zeroline=False),
        xaxis=dict(constrain="domain", showgrid=False, zeroline=False, side="bottom"),
    )
    if title:
        layout["title"] = dict(text=title, font=dict(size=14))
    return go.Figure(dict(data=[trace], layout=layout), _validate=False)


def add_box(fig: go.Figure, row: int, col: int, height: int, width: int,
            color: str = "#F59E0B", line_width: float = 3) -> go.Figure:
    """Outline cells [row, row+height) × [col, col+width) on a heatmap."""
    fig.add_shape(
        type="rect", x0=col - 0.5, x1=col + width - 0.5, y0=row - 0.5, y1=row + height - 0.5,
        line=dict(color=color, width=line_width), fillcolor="rgba(0,0,0,0)",
    )
    return fig


def mosaic(maps, ncols: int, gap: int = 1) -> np.ndarray:
    """Tile K maps (K, H, W) into one array, NaN between tiles (drawn as gaps)."""
    maps = as_numpy(maps)
    K, H, W = maps.shape
    nrows = -(-K // ncols)
    out = np.full((nrows * (H + gap) - gap, ncols * (W + gap) - gap), np.nan)
    for k in range(K):
        r, c = divmod(k, ncols)
        out[r * (H + gap) : r * (H + gap) + H, c * (W + gap) : c * (W + gap) + W] = maps[k]
    return out


def mosaic_figure(maps, ncols: int, *, title: str | None = None, colorscale: str = POSITIVE,
                  zmid: float | None = None, labels: Sequence[str] | None = None,
                  height: int | None = None) -> go.Figure:
    """Many feature maps as one figure (one heatmap trace: fast to build and to draw)."""
    maps = as_numpy(maps)
    K, H, W = maps.shape
    tiled = mosaic(maps, ncols)
    nrows = -(-K // ncols)
    fig = heatmap(tiled, title=title, colorscale=colorscale, zmid=zmid,
                  height=height or max(220, 70 + nrows * 95))
    fig.update_traces(hovertemplate="%{z:.3f}<extra></extra>")
    fig.update_xaxes(showticklabels=False)
    fig.update_yaxes(showticklabels=False)
    if labels is not None:
        # one update_layout with every label: add_annotation one at a time re-validates the
        # whole layout each call (~15 ms per label for 64 maps)
        fig.update_layout(annotations=[
            dict(x=(k % ncols) * (W + 1) - 0.5, y=(k // ncols) * (H + 1) - 0.5, text=str(label),
                 showarrow=False, xanchor="left", yanchor="top", font=dict(size=10, color="#F59E0B"))
            for k, label in enumerate(labels)
        ])
    return fig


def bars(values, labels: Sequence[str], *, title: str | None = None, highlight: int | None = None,
         height: int = 280, fmt: str = ".3f") -> go.Figure:
    """A bar chart (e.g. softmax probabilities), one bar highlighted."""
    values = as_numpy(values)
    colors = ["#4F46E5" if i != highlight else "#F59E0B" for i in range(len(values))]
    fig = go.Figure(go.Bar(x=list(labels), y=values, marker_color=colors,
                           text=[format(v, fmt) for v in values], textposition="outside"))
    fig.update_layout(title=title, height=height, margin=dict(l=10, r=10, t=40 if title else 10, b=10))
    fig.update_xaxes(type="category")  # labels such as "0".."9" are names, each one shown
    return fig


def legend_top_layout(title: str | None, height: int, **axes) -> dict:
    """A plot's layout with a horizontal legend above it, right-aligned, and room for a title
    over the legend."""
    layout = dict(height=height, margin=dict(l=10, r=10, t=40 if title else 10, b=10), hovermode="closest",
                  legend=dict(orientation="h", yanchor="bottom", y=1.0, xanchor="right", x=1.0), **axes)
    if title:
        layout["title"] = dict(text=title, font=dict(size=14), y=0.98, yanchor="top")
        layout["margin"]["t"] = 70
    return layout
