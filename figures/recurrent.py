"""Figures for the recurrent lessons: the hidden state over time, and gradient norms through time."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from figures.common import DIVERGING, as_numpy, heatmap

# characters that would be invisible (or break a line) as an axis label
VISIBLE = {" ": "␣", "\n": "↵", "\t": "⇥"}


def token_label(ch: str) -> str:
    """A character as a readable axis/table label (space → ␣, newline → ↵)."""
    return VISIBLE.get(ch, ch)


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
    y = as_numpy(norms).reshape(-1)
    t = np.arange(1, y.size + 1)
    fig = go.Figure(dict(
        data=[dict(type="scatter", x=t.tolist(), y=y.tolist(), mode="lines+markers",
                   hovertemplate="t=%{x}<br>%{y:.3e}<extra></extra>")],
        layout=dict(height=height, margin=dict(l=10, r=10, t=40 if title else 10, b=10),
                    xaxis=dict(title=dict(text=x_title)),
                    yaxis=dict(type="log", title=dict(text=y_title), exponentformat="power")),
    ), _validate=False)
    if title:
        fig.update_layout(title=dict(text=title, font=dict(size=14)))
    return fig
