"""The optimisers page's figures: the race on a contour plot, loss against step, the learning-rate
schedules, and each optimiser's update for one step written out in LaTeX with its numbers.

Built as plain dicts without plotly's validation (see figures.common.heatmap): several per rerun.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from engine.lab.schedule import Curve
from engine.ops.optim import OptimTrace
from engine.ops.surfaces import SurfaceGrid
from figures.common import as_numpy, colorscale_stops

COLOURS = {"sgd": "#1f77b4", "momentum": "#ff7f0e", "nesterov": "#2ca02c", "rmsprop": "#d62728",
           "adam": "#9467bd", "adamw": "#8c564b"}
SCHEDULE_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd")
NAMES = {"sgd": "SGD", "momentum": "Momentum", "nesterov": "Nesterov", "rmsprop": "RMSProp",
         "adam": "Adam", "adamw": "AdamW"}


def _layout(title: str | None, height: int, **kw) -> dict:
    layout = dict(height=height, margin=dict(l=10, r=10, t=40 if title else 10, b=10),
                  legend=dict(orientation="h", y=-0.15), **kw)
    if title:
        layout["title"] = dict(text=title, font=dict(size=14))
    return layout


def contour_values(grid: SurfaceGrid, log: bool) -> np.ndarray:
    """What the contours show: f, or log10(1 + f − min f) when f spans decades."""
    Z = as_numpy(grid.Z)
    return np.log10(1 + Z - Z.min()) if log else Z


def race_figure(grid: SurfaceGrid, traces: Sequence[OptimTrace], cursor: int, *, log: bool,
                minima: Sequence = (), title: str | None = None, z_title: str = "f",
                names: dict[str, str] | None = None, height: int = 520) -> go.Figure:
    """Contours of the surface, one path per optimiser, a marker at step `cursor` of each."""
    Z = contour_values(grid, log)
    names = names or NAMES
    data = [dict(type="contour", x=as_numpy(grid.xs), y=as_numpy(grid.ys), z=Z, ncontours=30,
                 colorscale=[list(s) for s in colorscale_stops("Viridis")], opacity=0.75,
                 contours=dict(coloring="heatmap", showlines=True), line=dict(width=0.5),
                 colorbar=dict(thickness=12, title=dict(text=z_title)), hoverinfo="skip")]
    if minima:
        mx, my = zip(*minima, strict=True)
        data.append(dict(type="scatter", x=list(mx), y=list(my), mode="markers", name="min",
                         marker=dict(symbol="star", size=14, color="white", line=dict(color="black", width=1)),
                         showlegend=False, hoverinfo="skip"))
    for tr in traces:
        P = as_numpy(tr.points)
        colour = COLOURS[tr.optimizer]
        data.append(dict(type="scatter", x=P[:, 0], y=P[:, 1], mode="lines+markers", name=names[tr.optimizer],
                         line=dict(color=colour, width=2), marker=dict(size=3, color=colour),
                         hovertemplate="t=%{text}<br>(%{x:.4g}, %{y:.4g})<extra>" + names[tr.optimizer] + "</extra>",
                         text=list(range(len(P)))))
        k = min(cursor, len(P) - 1)
        data.append(dict(type="scatter", x=[P[k, 0]], y=[P[k, 1]], mode="markers", showlegend=False,
                         marker=dict(size=11, color=colour, line=dict(color="white", width=2)), hoverinfo="skip"))
    x0, x1 = float(grid.xs[0]), float(grid.xs[-1])
    y0, y1 = float(grid.ys[0]), float(grid.ys[-1])
    layout = _layout(title, height, xaxis=dict(range=[x0, x1], title=dict(text="x")),
                     yaxis=dict(range=[y0, y1], title=dict(text="y"), scaleanchor="x", constrain="domain"))
    return go.Figure(dict(data=data, layout=layout), _validate=False)


def loss_figure(traces: Sequence[OptimTrace], cursor: int | None, *, names: Sequence[str] | dict | None = None,
                title: str | None = None, x_title: str = "t", y_title: str = "f(θ_t)", log: bool = True,
                height: int = 360) -> go.Figure:
    """f(θ_t) against t, one line per trace (log axis when every loss is positive)."""
    data, positive = [], True
    for n, tr in enumerate(traces):
        L = as_numpy(tr.losses)
        positive &= bool((L[np.isfinite(L)] > 0).all())
        by_optimizer = names is None or isinstance(names, dict)
        name = (names or NAMES)[tr.optimizer] if by_optimizer else names[n]
        colour = COLOURS[tr.optimizer] if by_optimizer else SCHEDULE_COLOURS[n % len(SCHEDULE_COLOURS)]
        data.append(dict(type="scatter", x=list(range(len(L))), y=L, mode="lines", name=name,
                         line=dict(color=colour, width=2)))
        if tr.diverged is not None:
            data.append(dict(type="scatter", x=[len(L) - 1], y=[L[-1] if math.isfinite(L[-1]) else None],
                             mode="markers", marker=dict(symbol="x", size=12, color=colour), showlegend=False))
    layout = _layout(title, height, xaxis=dict(title=dict(text=x_title)),
                     yaxis=dict(title=dict(text=y_title), type="log" if log and positive else "linear"))
    if cursor is not None:
        layout["shapes"] = [dict(type="line", x0=cursor, x1=cursor, yref="paper", y0=0, y1=1,
                                 line=dict(color="gray", dash="dot"))]
    return go.Figure(dict(data=data, layout=layout), _validate=False)


def schedule_figure(curves: Sequence[Curve], labels: Sequence[str], *, title: str | None = None,
                    x_title: str = "t", y_title: str = "η_t", height: int = 340) -> go.Figure:
    """lr(t) of each schedule against the step."""
    data = [dict(type="scatter", x=list(range(len(c.lr))), y=list(c.lr), mode="lines", name=label,
                 line=dict(color=SCHEDULE_COLOURS[n % len(SCHEDULE_COLOURS)], width=2))
            for n, (c, label) in enumerate(zip(curves, labels, strict=True))]
    layout = _layout(title, height, xaxis=dict(title=dict(text=x_title)), yaxis=dict(title=dict(text=y_title)))
    return go.Figure(dict(data=data, layout=layout), _validate=False)


# ----- one step written out ----------------------------------------------------------------------------

def _v(x) -> str:
    """A number for LaTeX: 4 significant digits, powers of ten written out."""
    x = float(x)
    if not math.isfinite(x):
        return r"\infty" if x > 0 else (r"-\infty" if x < 0 else r"\text{NaN}")
    s = f"{x:.4g}"
    if "e" in s:
        m, e = s.split("e")
        return rf"{m}\!\times\!10^{{{int(e)}}}"
    return s


def _vec(a) -> str:
    a = as_numpy(a)
    return r"\begin{pmatrix}" + r" \\ ".join(_v(x) for x in a) + r"\end{pmatrix}"


def update_latex(tr: OptimTrace, t: int) -> str:
    """Step t + 1 of the trace (0 ≤ t < steps done): θ_t, the gradient, the state, θ_{t+1}, with numbers."""
    o, lr, hp = tr.optimizer, tr.lr, tr.hp
    s = t + 1  # the step number the bias correction uses
    theta, g, new = tr.points[t], tr.g[t], tr.points[t + 1]
    lines = [rf"\theta_{{{t}}} &&&= {_vec(theta)}", rf"g_{{{s}}} &= \nabla f(\theta_{{{t}}}) &&= {_vec(g)}"]
    lam = hp.get("weight_decay", 0.0)
    if o in ("sgd", "momentum", "nesterov", "rmsprop", "adam") and lam:
        lines.append(rf"g_{{{s}}} &\leftarrow g_{{{s}}} + {_v(lam)}\,\theta_{{{t}}} &&= {_vec(g + lam * theta)}")
    if o in ("momentum", "nesterov") or (o == "sgd" and hp.get("momentum")):
        mu = hp["momentum"]
        first = r"\;(b_1 = g_1)" if t == 0 else ""
        lines.append(rf"b_{{{s}}} &= {_v(mu)}\, b_{{{t}}} + g_{{{s}}}{first} &&= {_vec(tr.velocity[t])}")
        step = rf"{_v(lr)}\,(g_{{{s}}} + {_v(mu)}\, b_{{{s}}})" if o == "nesterov" else rf"{_v(lr)}\, b_{{{s}}}"
        lines.append(rf"\theta_{{{s}}} &= \theta_{{{t}}} - {step} &&= {_vec(new)}")
    elif o == "sgd":
        lines.append(rf"\theta_{{{s}}} &= \theta_{{{t}}} - {_v(lr)}\, g_{{{s}}} &&= {_vec(new)}")
    elif o == "rmsprop":
        a, eps = hp["alpha"], hp["eps"]
        lines.append(rf"v_{{{s}}} &= {_v(a)}\, v_{{{t}}} + {_v(1 - a)}\, g_{{{s}}}^2 &&= {_vec(tr.v[t])}")
        frac = rf"\frac{{g_{{{s}}}}}{{\sqrt{{v_{{{s}}}}} + {_v(eps)}}}"
        if hp.get("momentum"):  # torch's RMSprop with momentum: a velocity of the scaled steps
            lines.append(rf"b_{{{s}}} &= {_v(hp['momentum'])}\, b_{{{t}}} + {frac} &&= {_vec(tr.velocity[t])}")
            lines.append(rf"\theta_{{{s}}} &= \theta_{{{t}}} - {_v(lr)}\, b_{{{s}}} &&= {_vec(new)}")
        else:
            lines.append(rf"\theta_{{{s}}} &= \theta_{{{t}}} - {_v(lr)}\,{frac} &&= {_vec(new)}")
    else:
        (b1, b2), eps = hp["betas"], hp["eps"]
        base = rf"\theta_{{{t}}}"
        if o == "adamw":  # decoupled weight decay shrinks θ first
            lines.append(rf"\theta'_{{{t}}} &= \theta_{{{t}}}\,(1 - {_v(lr)}\cdot{_v(lam)}) &&= {_vec(theta * (1 - lr * lam))}")
            base = rf"\theta'_{{{t}}}"
        lines += [
            rf"m_{{{s}}} &= {_v(b1)}\, m_{{{t}}} + {_v(1 - b1)}\, g_{{{s}}} &&= {_vec(tr.m[t])}",
            rf"v_{{{s}}} &= {_v(b2)}\, v_{{{t}}} + {_v(1 - b2)}\, g_{{{s}}}^2 &&= {_vec(tr.v[t])}",
            rf"\hat m_{{{s}}} &= \frac{{m_{{{s}}}}}{{1 - {_v(b1)}^{{{s}}}}} = \frac{{m_{{{s}}}}}{{{_v(1 - b1**s)}}}"
            rf" &&= {_vec(tr.m_hat[t])}",
            rf"\hat v_{{{s}}} &= \frac{{v_{{{s}}}}}{{1 - {_v(b2)}^{{{s}}}}} = \frac{{v_{{{s}}}}}{{{_v(1 - b2**s)}}}"
            rf" &&= {_vec(tr.v_hat[t])}",
            rf"\theta_{{{s}}} &= {base} - {_v(lr)}\,\frac{{\hat m_{{{s}}}}}{{\sqrt{{\hat v_{{{s}}}}} + {_v(eps)}}}"
            rf" &&= {_vec(new)}",
        ]
    lines.append(rf"\Delta\theta &= \theta_{{{s}}} - \theta_{{{t}}} &&= {_vec(tr.delta[t])}")
    return r"\begin{aligned}" + r" \\ ".join(lines) + r"\end{aligned}"


RULES = (  # (optimiser, its rule); Adam's takes two rows
    ("sgd", r"\theta_{t} = \theta_{t-1} - \eta\, g_t"),
    ("momentum", r"b_t = \mu\, b_{t-1} + g_t,\quad \theta_t = \theta_{t-1} - \eta\, b_t"),
    ("nesterov", r"b_t = \mu\, b_{t-1} + g_t,\quad \theta_t = \theta_{t-1} - \eta\,(g_t + \mu\, b_t)"),
    ("rmsprop", r"v_t = \alpha\, v_{t-1} + (1-\alpha)\, g_t^2,\quad "
                r"\theta_t = \theta_{t-1} - \eta\,\frac{g_t}{\sqrt{v_t} + \varepsilon}"),
    ("adam", r"m_t = \beta_1 m_{t-1} + (1-\beta_1)\, g_t,\quad v_t = \beta_2 v_{t-1} + (1-\beta_2)\, g_t^2,"),
    ("", r"\hat m_t = \frac{m_t}{1-\beta_1^t},\quad \hat v_t = \frac{v_t}{1-\beta_2^t},\quad "
         r"\theta_t = \theta_{t-1} - \eta\,\frac{\hat m_t}{\sqrt{\hat v_t} + \varepsilon}"),
    ("adamw", r"\theta_t = \theta_{t-1} - \eta\Big(\frac{\hat m_t}{\sqrt{\hat v_t} + \varepsilon} + \lambda\,\theta_{t-1}\Big)"),
)


def rules_latex(names: dict[str, str] | None = None) -> str:
    """The six update rules, one line each (Adam two), g_t = ∇f(θ_{t−1})."""
    names = names or NAMES
    rows = [(rf"\text{{{names[o]}}} &: " if o else "&\\phantom{:}\\ ") + rule for o, rule in RULES]
    return r"\begin{aligned}" + r" \\ ".join(rows) + r"\end{aligned}"
