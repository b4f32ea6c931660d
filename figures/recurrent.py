"""Figures for the recurrent lessons: gates and states over time, gradient norms through time,
and text coloured by a unit's activation."""

from __future__ import annotations

import html
from collections.abc import Sequence

import numpy as np
import plotly.colors
import plotly.graph_objects as go

from figures.common import DIVERGING, POSITIVE, add_box, as_numpy, heatmap

# characters that would be invisible (or break a line) as an axis label
VISIBLE = {" ": "␣", "\n": "↵", "\t": "⇥"}


def token_label(ch: str) -> str:
    """A character as a readable axis/table label (space → ␣, newline → ↵)."""
    return VISIBLE.get(ch, ch)


def char_labels(chars: str) -> list[str]:
    """Characters as tick labels: a space or newline would be invisible, so they get a symbol."""
    return [token_label(c) for c in chars]


# how each quantity is coloured: sigmoid gates in (0, 1), tanh values in (−1, 1), the LSTM's cell
# state c_t unbounded (a range symmetric about 0, from the values)
SCALES = {**dict.fromkeys("rzifo", (POSITIVE, 0.0, 1.0)), **dict.fromkeys("nhg", (DIVERGING, -1.0, 1.0)),
          "c": (DIVERGING, None, None)}
MAX_TICKS = 80  # character labels on the time axis; beyond this every k-th step is labelled


def gate_figure(values, chars: str, *, kind: str, title: str | None = None,
                pick: tuple[int, int] | None = None, height: int = 300,
                unit_label: str = "j", step_label: str = "t", max_ticks: int = MAX_TICKS) -> go.Figure:
    """values (T, H) as a heatmap with time on x (ticks: the characters) and units on y.

    pick = (t, j), 0-based, outlines that cell; on a tall grid (rows a few pixels high) dashed
    guide lines through its row and column point to it. Small grids get square cells; a wide or
    tall one (many units or steps) fills the width instead. At most max_ticks characters label
    the time axis (every k-th beyond that).
    """
    z = as_numpy(values)
    T, H = z.shape
    colorscale, zmin, zmax = SCALES[kind]
    if zmin is None:
        zmax = max(float(np.abs(z).max()), 1e-6)
        zmin = -zmax
    # (T, H) → (H, T): one row per unit, one column per time step
    fig = heatmap(z.T, title=title, colorscale=colorscale, zmin=zmin, zmax=zmax, height=height)
    labels = char_labels(chars)
    fig.update_traces(customdata=[[labels[t] for t in range(T)] for _ in range(H)],
                      hovertemplate=(f"{step_label}=%{{x}} ('%{{customdata}}'), {unit_label}=%{{y}}"
                                     "<br>%{z:.4f}<extra></extra>"))
    every = -(-T // max_ticks)  # ⌈T / max_ticks⌉
    fig.update_xaxes(tickmode="array", tickvals=list(range(0, T, every)), ticktext=labels[::every], tickangle=0)
    unit_every = 1 if H <= 24 else 16
    fig.update_yaxes(tickmode="array", tickvals=list(range(0, H, unit_every)),
                     ticktext=[str(j) for j in range(0, H, unit_every)], title=dict(text=unit_label))
    if H > 24 or T > 40:
        fig.update_yaxes(scaleanchor=None, constrain=None)
    if pick is not None:
        add_box(fig, pick[1], pick[0], 1, 1, line_width=2)
        if H > 24:
            guide = dict(color="#F59E0B", width=1, dash="dot")
            fig.add_shape(type="line", x0=pick[0], x1=pick[0], y0=-0.5, y1=H - 0.5, line=guide)
            fig.add_shape(type="line", x0=-0.5, x1=T - 0.5, y0=pick[1], y1=pick[1], line=guide)
    return fig


def hidden_heatmap(h, tokens: Sequence[str], *, title: str | None = None, unit_label: str = "unit",
                   step_label: str = "t", height: int | None = None) -> go.Figure:
    """h (T, H) as a units × time heatmap: column t is h_t, labelled with its step and character.

    x positions are the step numbers 1..T (characters repeat, so they cannot be the categories).
    """
    h = as_numpy(h)
    T, H = h.shape
    if len(tokens) != T:
        raise ValueError(f"{len(tokens)} tokens for {T} steps")
    # (T, H) → (H, T): one row per unit, one column per step
    z = h.T
    fig = heatmap(z, title=title, colorscale=DIVERGING, zmin=-1.0, zmax=1.0, zmid=0.0,
                  x_labels=list(range(1, T + 1)), y_labels=list(range(H)),
                  height=height or max(220, 90 + 26 * H))
    fig.update_traces(hovertemplate=f"{step_label}=%{{x}}, {unit_label} %{{y}}<br>%{{z:.4f}}<extra></extra>")
    fig.update_xaxes(tickmode="array", tickvals=list(range(1, T + 1)),
                     ticktext=[f"{token_label(ch)}" for ch in tokens], tickangle=0, title_text=step_label)
    fig.update_yaxes(tickmode="array", tickvals=list(range(H)), title_text=unit_label)
    return fig


def grad_norm_figure(norms, *, title: str | None = None, x_title: str = "t",
                     y_title: str = "‖∂h_T/∂h_t‖", height: int = 320) -> go.Figure:
    """‖∂h_T/∂h_t‖ for t = 1..T on a log y axis (entry t−1 of `norms`)."""
    return grad_norms_figure({"": norms}, title=title, x_title=x_title, y_title=y_title, height=height)


def grad_norms_figure(series: dict[str, object], *, title: str | None = None, x_title: str = "t",
                      y_title: str = "‖∂h_T/∂h_t‖", height: int = 320) -> go.Figure:
    """Several gradient-norm curves (name → (T,) norms, entry t−1 for step t) on one log axis.
    Zeros (a gradient that vanished completely) cannot sit on a log axis and are left out."""
    data = []
    for name, norms in series.items():
        y = as_numpy(norms).reshape(-1)
        t = np.arange(1, y.size + 1)
        keep = y > 0
        data.append(dict(type="scatter", x=t[keep].tolist(), y=y[keep].tolist(), mode="lines+markers", name=name,
                         hovertemplate=(f"{name}<br>" if name else "") + "t=%{x}<br>%{y:.3e}<extra></extra>"))
    fig = go.Figure(dict(
        data=data,
        layout=dict(height=height, margin=dict(l=10, r=10, t=40 if title else 10, b=10),
                    showlegend=len(series) > 1, legend=dict(orientation="h", y=-0.25),
                    xaxis=dict(title=dict(text=x_title)),
                    yaxis=dict(type="log", title=dict(text=y_title), exponentformat="power")),
    ), _validate=False)
    if title:
        fig.update_layout(title=dict(text=title, font=dict(size=14)))
    return fig


def step_lines(series: dict[str, object], chars: str, *, title: str | None = None, y_title: str = "",
               x_title: str = "t", height: int = 300) -> go.Figure:
    """Curves over the steps of a text (name → (T,) values, or shorter: a value per step from t = 1),
    the characters shown on hover."""
    labels = char_labels(chars)
    data = []
    for name, values in series.items():
        y = as_numpy(values).reshape(-1)
        t = np.arange(1, y.size + 1)
        data.append(dict(type="scatter", x=t.tolist(), y=y.tolist(), mode="lines", name=name,
                         customdata=labels[: y.size],
                         hovertemplate=f"{name}<br>t=%{{x}} ('%{{customdata}}')<br>%{{y:.4f}}<extra></extra>"))
    fig = go.Figure(dict(data=data, layout=dict(
        height=height, margin=dict(l=10, r=10, t=40 if title else 10, b=10), showlegend=len(series) > 1,
        legend=dict(orientation="h", y=-0.3), xaxis=dict(title=dict(text=x_title)),
        yaxis=dict(title=dict(text=y_title)))), _validate=False)
    if title:
        fig.update_layout(title=dict(text=title, font=dict(size=14)))
    return fig


def coloured_text(text: str, values, *, vmax: float | None = None, tooltip: str = "t={t}: {v:+.3f}") -> str:
    """HTML: every character of `text` on a background coloured by its value (blue < 0 < red, the
    scale symmetric about 0, ±vmax, by default the largest |value|). Characters are HTML-escaped;
    spaces and newlines stay visible (␣ is not drawn, but the newline keeps its ↵)."""
    v = as_numpy(values).reshape(-1)
    if v.size != len(text):
        raise ValueError(f"{v.size} values for {len(text)} characters")
    vmax = float(vmax or max(float(np.abs(v).max()), 1e-9))
    colours = plotly.colors.sample_colorscale(DIVERGING, list(np.clip(0.5 + 0.5 * v / vmax, 0, 1)))
    spans = []
    for t, (ch, value, colour) in enumerate(zip(text, v, colours, strict=True)):
        ink = "#fff" if abs(value) > 0.6 * vmax else "#111"
        shown = "↵" if ch == "\n" else html.escape(ch)
        tip = html.escape(tooltip.format(t=t + 1, v=value), quote=True)
        spans.append(f'<span title="{tip}" style="background:{colour};color:{ink};padding:1px 0">{shown}</span>'
                     + ("<br>" if ch == "\n" else ""))
    return ('<div style="font-family:ui-monospace,Menlo,Consolas,monospace;font-size:15px;line-height:1.9;'
            'white-space:pre-wrap;word-break:break-all">' + "".join(spans) + "</div>")
