"""Figures for the training lab: metric curves (live and compared across runs), the confusion
matrix, misclassified digits, and every head's attention on one probe sequence.

Inputs are the metric records (engine.lab.records: TrainRecord, EvalRecord, read from one
MetricsSnapshot) and tensors from a task's probe(); nothing here trains or computes a metric.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import plotly.colors
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from figures.common import POSITIVE, as_numpy, bars, colorscale_stops, heatmap, mosaic_figure

PALETTE = plotly.colors.qualitative.Plotly
TRAIN_COLOR, HELD_OUT_COLOR = "#4F46E5", "#F59E0B"


@dataclass(frozen=True)
class Line:
    """One curve: its legend name, points, and style (dash "solid" / "dot" / "dash")."""

    name: str
    x: Sequence[float]
    y: Sequence[float]
    color: str | None = None
    dash: str = "solid"
    width: float = 2.0
    markers: bool = False


def series(records: Sequence, key: str, x: str = "step") -> tuple[list[float], list[float]]:
    """(x, y) of the records (frozen dataclasses) whose field `key` is a finite number, in their order."""
    xs, ys = [], []
    for r in records:
        v, at = getattr(r, key, None), getattr(r, x, None)
        if isinstance(v, int | float) and math.isfinite(v) and at is not None:
            xs.append(float(at))
            ys.append(float(v))
    return xs, ys


def curves_figure(lines: Sequence[Line], *, title: str | None = None, x_title: str = "step",
                  y_title: str = "", height: int = 320, y_range: tuple[float, float] | None = None,
                  log_y: bool = False) -> go.Figure:
    """Several curves on one pair of axes; a curve of one point is drawn as a marker."""
    traces = []
    for line in lines:
        mode = "lines+markers" if line.markers or len(line.x) <= 1 else "lines"
        traces.append(dict(type="scatter", x=list(line.x), y=list(line.y), name=line.name, mode=mode,
                           line=dict(color=line.color, dash=line.dash, width=line.width),
                           marker=dict(size=6, color=line.color),
                           hovertemplate=f"{line.name}<br>%{{x:.0f}}: %{{y:.4f}}<extra></extra>"))
    yaxis = dict(title=dict(text=y_title), type="log" if log_y else "linear", zeroline=False)
    if y_range is not None:
        yaxis["range"] = list(y_range)
    layout = dict(height=height, margin=dict(l=10, r=10, t=40 if title else 10, b=10),
                  xaxis=dict(title=dict(text=x_title), zeroline=False), yaxis=yaxis,
                  legend=dict(orientation="h", yanchor="bottom", y=1.0, xanchor="right", x=1.0),
                  hovermode="closest")
    if title:
        layout["title"] = dict(text=title, font=dict(size=14), y=0.98, yanchor="top")
        layout["margin"]["t"] = 70
    return go.Figure(dict(data=traces, layout=layout), _validate=False)


def class_probs_figure(probs, labels: Sequence[str], *, title: str | None = None,
                       height: int = 260) -> go.Figure:
    """P(class | image) as bars named by the classes, the most likely one highlighted."""
    p = as_numpy(probs)
    fig = bars(p, list(labels), title=title, highlight=int(p.argmax()), height=height, fmt=".3f")
    fig.update_yaxes(range=[0, 1.15], tickformat=".0%")
    fig.update_xaxes(type="category")
    return fig


def confusion_figure(C, labels: Sequence[str], *, title: str | None = None, true_label: str = "true",
                     predicted_label: str = "predicted", height: int = 420) -> go.Figure:
    """C[t, p] counts (rows: true class, columns: predicted class) with the counts written in."""
    C = as_numpy(C)
    fig = heatmap(C, title=title, colorscale="Blues", zmin=0, annotate=True, fmt=".0f", text_size=10,
                  height=height, showscale=False)
    n = C.shape[0]
    fig.update_traces(hovertemplate=f"{true_label} %{{y}}, {predicted_label} %{{x}}: %{{z:.0f}}<extra></extra>")
    ticks = dict(tickmode="array", tickvals=list(range(n)), ticktext=list(labels))
    fig.update_xaxes(title=dict(text=predicted_label), side="bottom", **ticks)
    fig.update_yaxes(title=dict(text=true_label), **ticks)
    fig.update_layout(margin=dict(l=10, r=10, t=40 if title else 10, b=10))
    return fig


def examples_figure(images, captions: Sequence[str], *, title: str | None = None, ncols: int = 8,
                    height: int | None = None) -> go.Figure:
    """Digits (K, 28, 28) as one mosaic, each captioned in its corner (e.g. "7→1")."""
    images = as_numpy(images)
    K = images.shape[0]
    ncols = max(1, min(ncols, K))
    nrows = -(-K // ncols)
    fig = mosaic_figure(images, ncols, title=title, colorscale="gray", labels=list(captions),
                        height=height or max(160, 60 + nrows * 90))
    fig.update_traces(zmin=0.0, zmax=1.0, showscale=False)
    return fig


def attention_grid(A, x_labels: Sequence[str], *, title: str | None = None,
                   y_labels: Sequence[str] | None = None, head_titles: Sequence[Sequence[str]] | None = None,
                   height_per_row: int = 230) -> go.Figure:
    """A (N, h, T, T): one heatmap per (layer, head), rows = layers, columns = heads.

    Positions stay numeric (a digit can repeat); the tokens are tick text. Query i on y (row),
    key j on x, weights on one scale 0…1 (each row sums to 1)."""
    A = as_numpy(A)
    N, h, T, _ = A.shape
    y_labels = list(y_labels) if y_labels is not None else list(x_labels)
    titles = [head_titles[l][k] if head_titles is not None else f"{l + 1}·{k + 1}"
              for l in range(N) for k in range(h)]
    fig = make_subplots(rows=N, cols=h, subplot_titles=titles, horizontal_spacing=0.03,
                        vertical_spacing=0.12 if N > 1 else 0.05)
    scale = [list(stop) for stop in colorscale_stops(POSITIVE)]
    for l in range(N):
        for k in range(h):
            fig.add_trace(go.Heatmap(z=A[l, k], zmin=0.0, zmax=1.0, colorscale=scale,
                                     showscale=(l == 0 and k == h - 1), colorbar=dict(thickness=10),
                                     hovertemplate="query %{y}, key %{x}: %{z:.3f}<extra></extra>"),
                          row=l + 1, col=k + 1)
    ticks = dict(tickmode="array", tickvals=list(range(T)), showgrid=False, zeroline=False,
                 tickfont=dict(size=9))
    fig.update_xaxes(ticktext=list(x_labels), constrain="domain", **ticks)
    fig.update_yaxes(ticktext=y_labels, autorange="reversed", constrain="domain", **ticks)
    for i in range(1, N * h + 1):
        # square cells: each y axis follows its own x axis
        fig.update_layout({f"yaxis{'' if i == 1 else i}": dict(scaleanchor=f"x{'' if i == 1 else i}")})
    fig.update_annotations(font=dict(size=11))
    fig.update_layout(height=60 + height_per_row * N, margin=dict(l=10, r=10, t=60 if title else 30, b=10),
                      title=dict(text=title, font=dict(size=14)) if title else None)
    return fig

