"""Figures of the training-knobs page: the spread of mini-batch gradients against B (log-log), the
signal through a deep MLP per initialisation (log y), conv1's pre-activations under three
preprocessings, a batch of feature maps with the axes a normalisation averages over outlined, and
one example normalised in two batches.

Inputs are the engine's traces (engine.ops.grad_noise, init_study, preprocess, batch_norm); nothing
here computes a statistic the page reports.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import plotly.colors
import plotly.graph_objects as go

from engine.ops.batch_norm import BatchDependence
from engine.ops.grad_noise import GradNoiseStudy
from engine.ops.init_study import InitTrace
from engine.ops.preprocess import Preprocessed
from figures.common import DIVERGING, as_numpy, colorscale_stops, legend_top_layout

PALETTE = plotly.colors.qualitative.Plotly
SCHEME_COLORS = {"small": "#6B7280", "xavier": "#4F46E5", "kaiming": "#10B981", "large": "#EF4444"}
HIGHLIGHT = "#F59E0B"


_layout = legend_top_layout  # figures.common


def noise_figure(study: GradNoiseStudy, *, measured_name: str, law_name: str, title: str | None = None,
                 x_title: str = "B", y_title: str = "E‖g_B − g‖²", height: int = 380) -> go.Figure:
    """The measured mean ‖g_B − g‖² over the M batches (points) and the law (dashed), on log-log axes."""
    B = list(study.batch_sizes)
    data = [
        dict(type="scatter", x=B, y=as_numpy(study.predicted).tolist(), mode="lines", name=law_name,
             line=dict(color="#6B7280", dash="dash", width=2),
             hovertemplate=f"{law_name}<br>B=%{{x}}: %{{y:.4g}}<extra></extra>"),
        dict(type="scatter", x=B, y=as_numpy(study.measured).tolist(), mode="markers", name=measured_name,
             marker=dict(size=10, color="#4F46E5"),
             hovertemplate=f"{measured_name}<br>B=%{{x}}: %{{y:.4g}}<extra></extra>"),
    ]
    axes = dict(xaxis=dict(type="log", title=dict(text=x_title), tickvals=B),
                yaxis=dict(type="log", title=dict(text=y_title), exponentformat="power"))
    return go.Figure(dict(data=data, layout=_layout(title, height, **axes)), _validate=False)


def depth_figure(traces: Mapping[str, InitTrace], field: str, names: Mapping[str, str], *,
                 title: str | None = None, x_title: str = "l", y_title: str = "", height: int = 360) -> go.Figure:
    """One curve per scheme of `field` ("var_z" or "std_a") against the layer l, on a log y axis.
    Zeros and infinities (a signal gone entirely) cannot sit on a log axis and are left out."""
    data = []
    for scheme, tr in traces.items():
        y = as_numpy(getattr(tr, field))
        l = np.arange(1, y.size + 1)
        keep = np.isfinite(y) & (y > 0)
        data.append(dict(type="scatter", x=l[keep].tolist(), y=y[keep].tolist(), mode="lines+markers",
                         name=names[scheme], line=dict(color=SCHEME_COLORS.get(scheme)), marker=dict(size=5),
                         hovertemplate=f"{names[scheme]}<br>l=%{{x}}: %{{y:.3e}}<extra></extra>"))
    axes = dict(xaxis=dict(title=dict(text=x_title)),
                yaxis=dict(type="log", title=dict(text=y_title), exponentformat="power"))
    return go.Figure(dict(data=data, layout=_layout(title, height, **axes)), _validate=False)


def histogram_figure(pre: Preprocessed, *, title: str | None = None, x_title: str = "z₁",
                     y_title: str = "", color: str = "#4F46E5", height: int = 300) -> go.Figure:
    """The histogram of conv1's pre-activations under one preprocessing, z = 0 (the ReLU's edge) marked."""
    centres = (pre.edges[:-1] + pre.edges[1:]) / 2
    colors = [color if c > 0 else "#9CA3AF" for c in centres]
    data = [dict(type="bar", x=centres.tolist(), y=pre.counts.tolist(), marker=dict(color=colors),
                 width=float(pre.edges[1] - pre.edges[0]), showlegend=False,
                 hovertemplate="z ≈ %{x:.3g}: %{y}<extra></extra>")]
    layout = _layout(title, height, xaxis=dict(title=dict(text=x_title)),
                     yaxis=dict(type="log", title=dict(text=y_title)), bargap=0)
    layout["shapes"] = [dict(type="line", x0=0, x1=0, yref="paper", y0=0, y1=1, line=dict(color="#111827", dash="dot"))]
    return go.Figure(dict(data=data, layout=layout), _validate=False)


def tensor_picture(x, mode: str, n: int, c: int, p: int, *, title: str | None = None,
                   x_title: str = "", y_title: str = "c", height: int = 330) -> go.Figure:
    """A batch x (N, C, H, W) laid out flat: one row per channel c, then for each example n a block
    of its H·W positions. The cells one statistic of `mode` averages over are outlined: "batch" —
    channel c across every example and position; "layer" — every channel and position of example n;
    "position" — every channel at position p of example n."""
    x = as_numpy(x)
    N, C, H, W = x.shape
    P = H * W
    flat = np.full((C, N * (P + 1) - 1), np.nan)  # a NaN column between examples
    for k in range(N):
        flat[:, k * (P + 1): k * (P + 1) + P] = x[k].reshape(C, P)
    lim = float(np.nanmax(np.abs(flat))) or 1.0
    data = [dict(type="heatmap", z=flat, colorscale=[list(s) for s in colorscale_stops(DIVERGING)],
                 zmin=-lim, zmax=lim, zmid=0, showscale=False, hoverongaps=False,
                 hovertemplate="c=%{y}<br>%{z:.3f}<extra></extra>")]
    if mode == "batch":
        boxes = [(-0.5, flat.shape[1] - 0.5, c - 0.5, c + 0.5)]
    elif mode == "layer":
        boxes = [(n * (P + 1) - 0.5, n * (P + 1) + P - 0.5, -0.5, C - 0.5)]
    else:
        boxes = [(n * (P + 1) + p - 0.5, n * (P + 1) + p + 0.5, -0.5, C - 0.5)]
    shapes = [dict(type="rect", x0=x0, x1=x1, y0=y0, y1=y1, line=dict(color=HIGHLIGHT, width=3))
              for x0, x1, y0, y1 in boxes]
    ticks = [k * (P + 1) + P / 2 for k in range(N)]
    layout = _layout(title, height, xaxis=dict(title=dict(text=x_title), tickvals=ticks,
                                               ticktext=[f"n={k}" for k in range(N)], showgrid=False),
                     yaxis=dict(title=dict(text=y_title), autorange="reversed", showgrid=False))
    layout["shapes"] = shapes
    return go.Figure(dict(data=data, layout=layout), _validate=False)


def dependence_figure(deps: Mapping[str, BatchDependence], names: Mapping[str, str], *, title: str | None = None,
                      x_title: str = "A", y_title: str = "B", height: int = 380, max_points: int = 1500) -> go.Figure:
    """The same example's normalised values in batch A (x) against batch B (y), one colour per
    normalisation: on the diagonal when the batch does not matter."""
    data, lo, hi = [], math.inf, -math.inf
    for i, (mode, dep) in enumerate(deps.items()):
        a, b = as_numpy(dep.out_a).reshape(-1), as_numpy(dep.out_b).reshape(-1)
        step = max(1, a.size // max_points)
        a, b = a[::step], b[::step]
        lo, hi = min(lo, a.min(), b.min()), max(hi, a.max(), b.max())
        data.append(dict(type="scatter", x=a.tolist(), y=b.tolist(), mode="markers", name=names[mode],
                         marker=dict(size=4, opacity=0.6, color=PALETTE[i % len(PALETTE)]),
                         hovertemplate=f"{names[mode]}<br>%{{x:.3f}} → %{{y:.3f}}<extra></extra>"))
    data.insert(0, dict(type="scatter", x=[lo, hi], y=[lo, hi], mode="lines", showlegend=False,
                        line=dict(color="#9CA3AF", dash="dot"), hoverinfo="skip"))
    axes = dict(xaxis=dict(title=dict(text=x_title)), yaxis=dict(title=dict(text=y_title), scaleanchor="x"))
    return go.Figure(dict(data=data, layout=_layout(title, height, **axes)), _validate=False)
