"""Figures of the "Where the time goes" page: the roofline (log-log: the measured roof and SeedCNN's
layers under it), training throughput against batch size, threads and memory layout, and the
formulas with one layer's numbers.

Inputs are the engine's results (engine.ops.cost.CostTable, engine.lab.measure.Measurement);
every number drawn is one of theirs. Text comes in as arguments (the page translates it).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import plotly.graph_objects as go

from engine.lab.measure import LayerTime, Measurement, Throughput
from engine.ops.cost import LayerCost, attainable, ridge
from figures.common import legend_top_layout

FORWARD, BACKWARD, ROOF, GPU_COLOR = "#4F46E5", "#EF4444", "#111827", "#10B981"
I_RANGE = (0.05, 500.0)  # FLOP/byte drawn on the x axis (widened to fit every point)
G = 1e9


_layout = legend_top_layout  # figures.common


def _log_axis(title: str) -> dict:
    return dict(title=dict(text=title), type="log", exponentformat="power", showgrid=True)


def roof_points(peak: float, bandwidth: float, I_min: float, I_max: float) -> tuple[list[float], list[float]]:
    """The roof min(π, β·I) in GFLOP/s as a polyline: its slope, the ridge, its flat top."""
    I_star = ridge(peak, bandwidth)
    xs = sorted({I_min, min(max(I_star, I_min), I_max), I_max})
    return xs, [attainable(I, peak, bandwidth) / G for I in xs]


def roofline_figure(m: Measurement, labels: Mapping[str, str], *, height: int = 460) -> go.Figure:
    """The measured roof (when measured) and each layer's forward and backward point at (I, FLOP/s).

    Points with no arithmetic (pooling's backward pass) have I = 0 and are left off the log axis.
    labels: title, x, y, roof, ridge, forward, backward."""
    drawn = [l for l in m.layers if l.flops > 0]
    I_min = min([I_RANGE[0], *(l.intensity / 2 for l in drawn)])
    I_max = max([I_RANGE[1], *(l.intensity * 2 for l in drawn)])
    data = []
    if math.isfinite(m.peak) and math.isfinite(m.bandwidth):
        xs, ys = roof_points(m.peak, m.bandwidth, I_min, I_max)
        data.append(dict(type="scatter", x=xs, y=ys, mode="lines", name=labels["roof"],
                         line=dict(color=ROOF, width=3),
                         hovertemplate="I = %{x:.3g} FLOP/B<br>%{y:.4g} GFLOP/s<extra></extra>"))
        I_star = ridge(m.peak, m.bandwidth)
        data.append(dict(type="scatter", x=[I_star], y=[m.peak / G], mode="markers+text", name=labels["ridge"],
                         text=[f"I* = {I_star:.3g}"], textposition="bottom right",
                         marker=dict(color=ROOF, size=9, symbol="x"), showlegend=False,
                         hovertemplate=f"{labels['ridge']}: I* = π/β = {I_star:.3g} FLOP/B<extra></extra>"))
    # forward names above their points, backward names below: a layer's two points share its I
    for direction, color, symbol, place in (("forward", FORWARD, "circle", "top center"),
                                            ("backward", BACKWARD, "diamond", "bottom center")):
        points = [l for l in drawn if l.direction == direction]
        data.append(dict(type="scatter", x=[l.intensity for l in points], y=[l.rate / G for l in points],
                         mode="markers+text", name=labels[direction], text=[l.name for l in points],
                         textposition=place, marker=dict(color=color, size=11, symbol=symbol),
                         customdata=[[_share(l, m)] for l in points],
                         hovertemplate="%{text}: I = %{x:.3g} FLOP/B, %{y:.3g} GFLOP/s"
                                       "<br>%{customdata[0]}<extra></extra>"))
    layout = _layout(labels["title"], height, xaxis=_log_axis(labels["x"]), yaxis=_log_axis(labels["y"]))
    return go.Figure(dict(data=data, layout=layout), _validate=False)


def _share(l: LayerTime, m: Measurement) -> str:
    """The point's rate as a share of the roof above it (empty before the roof is measured)."""
    if not (math.isfinite(m.peak) and math.isfinite(m.bandwidth)):
        return ""
    return f"{l.rate / attainable(l.intensity, m.peak, m.bandwidth):.0%} · min(π, β·I)"


def _line(points: list[Throughput], name: str, color: str) -> dict:
    return dict(type="scatter", x=[p.batch for p in points], y=[p.samples_per_s for p in points],
                mode="lines+markers", name=name, line=dict(color=color, width=2), marker=dict(size=8),
                hovertemplate="B = %{x}<br>%{y:,.0f} samples/s<extra></extra>")


def batch_figure(m: Measurement, labels: Mapping[str, str], *, height: int = 380) -> go.Figure:
    """Training samples/s against batch size: the CPU (all threads), and the GPU when measured.
    labels: title, x, y, cpu, gpu."""
    data = [_line(list(m.batch_sweep), labels["cpu"], FORWARD)]
    if m.gpu_sweep:
        data.append(_line(list(m.gpu_sweep), labels["gpu"], GPU_COLOR))
    batches = sorted({p.batch for p in m.batch_sweep + m.gpu_sweep})
    xaxis = {**_log_axis(labels["x"]), "tickvals": batches, "ticktext": [str(B) for B in batches]}
    layout = _layout(labels["title"], height, xaxis=xaxis, yaxis=_log_axis(labels["y"]))
    layout["showlegend"] = True
    return go.Figure(dict(data=data, layout=layout), _validate=False)


def bars_figure(points: list[Throughput], names: list[str], labels: Mapping[str, str], *,
                height: int = 320) -> go.Figure:
    """samples/s of a few runs side by side (threads, or memory layouts), one bar each, the value on it.
    labels: title, y."""
    values = [p.samples_per_s for p in points]
    data = [dict(type="bar", x=names, y=values, marker=dict(color=[FORWARD, BACKWARD, GPU_COLOR][: len(points)]),
                 text=[f"{v:,.0f}" for v in values], textposition="auto",
                 hovertemplate="%{x}: %{y:,.0f} samples/s<extra></extra>")]
    layout = _layout(labels["title"], height, yaxis=dict(title=dict(text=labels["y"]), rangemode="tozero"),
                     xaxis=dict(type="category"))
    layout["showlegend"] = False
    return go.Figure(dict(data=data, layout=layout), _validate=False)


# ----- formulas ----------------------------------------------------------------------------------

INTENSITY_LATEX = r"I = \frac{\text{FLOPs}}{\text{bytes}} = \frac{2\cdot\text{MACs}}{4\cdot(\#x + \#\theta + \#y)}"
ROOFLINE_LATEX = r"P(I) = \min\left(\pi,\; \beta \cdot I\right), \qquad I^{*} = \frac{\pi}{\beta}"


def _num(v: float) -> str:
    """A number for KaTeX with thin-space thousands (no commas, which KaTeX spaces oddly)."""
    return f"{v:,}".replace(",", r"\,") if isinstance(v, int) else f"{v:.3g}"


def layer_latex(row: LayerCost, N: int) -> str:
    """The forward intensity of one layer with its numbers: MACs, traffic, I."""
    n_x, n_y = N * math.prod(row.x_shape), N * math.prod(row.y_shape)
    f = row.forward
    ops = rf"2\cdot{_num(f.macs)}" if f.macs else rf"3\cdot{_num(n_y)}"
    return (rf"I_{{\text{{{row.name}}}}} = \frac{{{ops}}}{{4\cdot({_num(n_x)} + {_num(row.params)} + {_num(n_y)})}}"
            rf" = \frac{{{_num(f.flops)}}}{{{_num(f.bytes)}}} = {_num(f.intensity)}\ \text{{FLOP/B}}")


def attainable_latex(I: float, peak: float, bandwidth: float) -> str:
    """P = min(π, β·I) with the measured π and β (GFLOP/s, GB/s) and one layer's I."""
    P = attainable(I, peak, bandwidth)
    return (rf"P = \min\left({_num(peak / G)},\; {_num(bandwidth / G)} \cdot {_num(I)}\right)"
            rf" = {_num(P / G)}\ \text{{GFLOP/s}}")
