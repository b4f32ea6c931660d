"""Quantisation drawn: one weight's steps as LaTeX, each channel's range against the layer's, the
layer's weights with the grid of levels over them and the error x − x̂, accuracy against bit width."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from engine.models.cnn_quant import LayerQuant, QuantTable
from engine.ops.quantise import TensorQuant, WeightSteps
from figures.cnn import num, term
from figures.common import as_numpy

TENSOR_COLOR = "#4F46E5"  # per tensor
CHANNEL_COLOR = "#10B981"  # per output channel
PICK_COLOR = "#F59E0B"  # the picked weight
GRID_COLOR = "rgba(220, 38, 38, 0.45)"  # the levels
MAX_POINTS = 3000  # weights drawn in the error plot (evenly spaced through the layer)


def _layout(title: str | None, height: int, **extra) -> dict:
    # the legend under the plot: above it, a two-row legend ran over the title
    layout = dict(height=height, margin=dict(l=10, r=10, t=40 if title else 10, b=10),
                  legend=dict(orientation="h", yanchor="top", y=-0.22, x=0, xanchor="left"), **extra)
    if title:
        layout["title"] = dict(text=title, font=dict(size=14))
    return layout


def _fig(data: list[dict], layout: dict) -> go.Figure:
    """A figure from plain dicts, without plotly's per-property validation (several times faster)."""
    return go.Figure(dict(data=data, layout=layout), _validate=False)


# ----- LaTeX -----------------------------------------------------------------------------------------

def formulas_latex() -> str:
    """The two formulas and where s and z come from (affine, b bits)."""
    return (r"\begin{gathered}"
            r"q = \operatorname{clamp}\!\Big(\operatorname{round}\!\Big(\frac{x}{s}\Big) + z,\ q_{\min},\ q_{\max}\Big)"
            r",\qquad \hat{x} = s\,(q - z)\\[4pt]"
            r"q_{\min} = 0,\quad q_{\max} = 2^b - 1,\qquad "
            r"s = \frac{\operatorname{max}^{+} - \operatorname{min}^{-}}{q_{\max} - q_{\min}},\qquad "
            r"z = q_{\min} - \operatorname{round}\!\Big(\frac{\operatorname{min}^{-}}{s}\Big)"
            r"\end{gathered}")


def steps_latex(st: WeightSteps, digits: int = 6) -> str:
    """The picked weight through every step, with its numbers."""
    def n(v: float) -> str:
        return num(v, digits)

    clamp = (rf"\operatorname{{clamp}}({st.rounded} + {st.z},\ {st.q_min},\ {st.q_max}) = "
             rf"\operatorname{{clamp}}({st.unclamped},\ {st.q_min},\ {st.q_max}) = {st.q}")
    return (r"\begin{aligned}"
            rf"x &= {n(st.x)}, \qquad s = {n(st.s)}, \qquad z = {st.z}\\"
            rf"x / s &= {n(st.x)} / {n(st.s)} = {num(st.x_over_s, 4)}\\"
            rf"\operatorname{{round}}(x/s) &= {st.rounded}\\"
            rf"q &= {clamp}\\"
            rf"\hat{{x}} &= s\,(q - z) = {n(st.s)}\cdot({st.q} - {term(st.z, 0)}) = {n(st.x_hat)}\\"
            rf"x - \hat{{x}} &= {n(st.x)} - {term(st.x_hat, digits)} = {num(st.error, digits)}"
            r"\end{aligned}")


# ----- per tensor against per channel ----------------------------------------------------------------

def ranges_figure(L: LayerQuant, names: Sequence[str], *, title: str | None = None,
                  height: int = 320) -> go.Figure:
    """Each output channel's [min, max] (a bar) against the layer's (two lines).
    `names` = the legend's (channel range, layer range)."""
    lo, hi = as_numpy(L.ch_min), as_numpy(L.ch_max)
    c = np.arange(len(lo))
    bars = dict(type="bar", x=c, y=hi - lo, base=lo, name=names[0], marker=dict(color=CHANNEL_COLOR),
                hovertemplate="c = %{x}<br>[%{base:.4f}, %{customdata:.4f}]<extra></extra>", customdata=hi)
    t_lo, t_hi = float(lo.min()), float(hi.max())
    line = dict(type="scatter", mode="lines", x=[-0.5, len(c) - 0.5, None, -0.5, len(c) - 0.5],
                y=[t_lo, t_lo, None, t_hi, t_hi], name=names[1], line=dict(color=TENSOR_COLOR, dash="dash"),
                hoverinfo="skip")
    return _fig([bars, line], _layout(title, height, bargap=0.15, xaxis=dict(title=dict(text="c")),
                                      yaxis=dict(title=dict(text="w"))))


def channel_error_figure(L: LayerQuant, names: Sequence[str], *, title: str | None = None,
                         height: int = 320) -> go.Figure:
    """Each channel's RMS error √mean(x − x̂)² with the layer's (s, z) and with its own.
    `names` = (per tensor, per channel)."""
    c = np.arange(len(L.rms_tensor))
    data = [dict(type="scatter", mode="lines+markers", x=c, y=as_numpy(rms), name=name,
                 line=dict(color=color), marker=dict(size=5),
                 hovertemplate="c = %{x}<br>RMS %{y:.2e}<extra></extra>")
            for rms, name, color in ((L.rms_tensor, names[0], TENSOR_COLOR), (L.rms_channel, names[1], CHANNEL_COLOR))]
    return _fig(data, _layout(title, height, xaxis=dict(title=dict(text="c")),
                              yaxis=dict(title=dict(text="RMS(x − x̂)"), rangemode="tozero", exponentformat="e")))


# ----- the grid over the weights ------------------------------------------------------------------------

def _stride(n: int) -> int:
    """Every k-th weight, k = ⌈n / MAX_POINTS⌉, so that at most MAX_POINTS are drawn."""
    return max(1, -(-n // MAX_POINTS))


def shown_points(n: int) -> int:
    """How many of n weights the error panel draws."""
    return len(range(0, n, _stride(n)))


def grid_figure(t: TensorQuant, levels, picked: int, names: Sequence[str], *, title: str | None = None,
                bins: int = 80, height: int = 460) -> go.Figure:
    """Top: a histogram of the layer's weights with the grid's levels as vertical lines and the picked
    weight in orange. Bottom: the error x − x̂ of the weights (evenly spaced, at most MAX_POINTS),
    a sawtooth of amplitude s/2 inside the range. `names` = (weights, levels, picked weight, error)."""
    x, e = as_numpy(t.x).reshape(-1), as_numpy(t.error).reshape(-1)
    counts, edges = np.histogram(x, bins=bins)
    top = float(counts.max()) * 1.05
    hist = dict(type="bar", x=(edges[:-1] + edges[1:]) / 2, y=counts, width=float(edges[1] - edges[0]),
                name=names[0], marker=dict(color="#9CA3AF"), xaxis="x", yaxis="y",
                hovertemplate="%{x:.4f}: %{y}<extra></extra>")
    lv = as_numpy(levels)
    gx = np.repeat(lv, 3)
    gy = np.tile([0.0, top, np.nan], len(lv))
    grid = dict(type="scatter", mode="lines", x=gx, y=gy, name=names[1], line=dict(color=GRID_COLOR, width=1),
                xaxis="x", yaxis="y", hoverinfo="skip")
    step = _stride(len(x))
    err = dict(type="scattergl", mode="markers", x=x[::step], y=e[::step], name=names[3], xaxis="x", yaxis="y2",
               marker=dict(color=TENSOR_COLOR, size=3, opacity=0.6),
               hovertemplate="x = %{x:.4f}<br>x − x̂ = %{y:.2e}<extra></extra>")
    xp = float(x[picked])
    pick = dict(type="scatter", mode="lines", x=[xp, xp], y=[0.0, top], name=names[2],
                line=dict(color=PICK_COLOR, width=2), xaxis="x", yaxis="y", hoverinfo="skip")
    pick_err = dict(type="scatter", mode="markers", x=[xp], y=[float(e[picked])], showlegend=False, xaxis="x",
                    yaxis="y2", marker=dict(color=PICK_COLOR, size=10, symbol="diamond"), hoverinfo="skip")
    layout = _layout(title, height, bargap=0,
                     xaxis=dict(anchor="y2", title=dict(text="x")),
                     yaxis=dict(domain=[0.42, 1.0], title=dict(text="#"), range=[0, top]),
                     yaxis2=dict(domain=[0.0, 0.34], title=dict(text="x − x̂"), exponentformat="e"))
    return _fig([hist, grid, pick, err, pick_err], layout)


# ----- accuracy and size ---------------------------------------------------------------------------------

SERIES = ((False, False, TENSOR_COLOR, "solid"), (True, False, CHANNEL_COLOR, "solid"),
          (False, True, TENSOR_COLOR, "dot"), (True, True, CHANNEL_COLOR, "dot"))


def accuracy_figure(table: QuantTable, names: Sequence[str], *, bits: int | None = None, title: str | None = None,
                    height: int = 380) -> go.Figure:
    """Held-out accuracy (%) against b, four lines (weights only / weights and activations × per tensor /
    per channel) and float32 as a dashed line. `names` = those four, then float32's; `bits` is marked."""
    bs = sorted({r.bits for r in table.rows}, reverse=True)
    data = []
    for (channelwise, activations, color, dash), name in zip(SERIES, names):
        acc = [100 * table.row(b, channelwise, activations).accuracy for b in bs]
        data.append(dict(type="scatter", mode="lines+markers", x=bs, y=acc, name=name,
                         line=dict(color=color, dash=dash), marker=dict(size=7),
                         hovertemplate="b = %{x}<br>%{y:.1f} %<extra></extra>"))
    f = 100 * table.float_accuracy
    data.append(dict(type="scatter", mode="lines", x=[max(bs) + 0.3, min(bs) - 0.3], y=[f, f], name=names[4],
                     line=dict(color="#6B7280", dash="dash"), hoverinfo="skip"))
    layout = _layout(title, height, xaxis=dict(title=dict(text="b"), autorange="reversed", tickvals=bs),
                     yaxis=dict(title=dict(text="%"), range=[0, 101]))
    if bits is not None:
        layout["shapes"] = [dict(type="line", x0=bits, x1=bits, y0=0, y1=1, yref="paper",
                                 line=dict(color=PICK_COLOR, width=2, dash="dot"))]
    return _fig(data, layout)
