"""GRU figures: a gate or state over time (x: the learner's characters) and units (y)."""

from __future__ import annotations

from collections.abc import Sequence

import plotly.graph_objects as go

from figures.common import DIVERGING, POSITIVE, add_box, as_numpy, heatmap

# how each quantity is coloured: sigmoid gates live in (0, 1), tanh values in (−1, 1)
SCALES = {"r": (POSITIVE, 0.0, 1.0), "z": (POSITIVE, 0.0, 1.0), "n": (DIVERGING, -1.0, 1.0),
          "h": (DIVERGING, -1.0, 1.0)}
SHOWN = {" ": "␣", "\n": "↵"}


def char_labels(chars: str) -> list[str]:
    """Characters as tick labels: a space or newline would be invisible, so they get a symbol."""
    return [SHOWN.get(c, c) for c in chars]


def gate_figure(values, chars: str, *, kind: str, title: str | None = None,
                pick: tuple[int, int] | None = None, height: int = 300,
                unit_label: str = "j", step_label: str = "t") -> go.Figure:
    """values (T, H) as a heatmap with time on x (ticks: the characters) and units on y.

    pick = (t, j), 0-based, outlines that cell.
    """
    z = as_numpy(values)
    T, H = z.shape
    colorscale, zmin, zmax = SCALES[kind]
    # (T, H) → (H, T): one row per unit, one column per time step
    fig = heatmap(z.T, title=title, colorscale=colorscale, zmin=zmin, zmax=zmax, height=height)
    labels = char_labels(chars)
    fig.update_traces(customdata=[[labels[t] for t in range(T)] for _ in range(H)],
                      hovertemplate=(f"{step_label}=%{{x}} ('%{{customdata}}'), {unit_label}=%{{y}}"
                                     "<br>%{z:.4f}<extra></extra>"))
    fig.update_xaxes(tickmode="array", tickvals=list(range(T)), ticktext=labels, tickangle=0)
    fig.update_yaxes(tickmode="array", tickvals=list(range(H)), ticktext=[str(j) for j in range(H)],
                     title=dict(text=unit_label))
    if pick is not None:
        add_box(fig, pick[1], pick[0], 1, 1, line_width=2)
    return fig


def gate_figures(trace_values: dict, chars: str, titles: dict, *,
                 pick: tuple[int, int] | None = None, height: int = 300) -> dict[str, go.Figure]:
    """One gate_figure per quantity in trace_values (kind → (T, H))."""
    return {kind: gate_figure(v, chars, kind=kind, title=titles[kind], pick=pick, height=height)
            for kind, v in trace_values.items()}


def param_bars(counts: Sequence[int], labels: Sequence[str], *, title: str | None = None,
               height: int = 260) -> go.Figure:
    """Parameter counts per cell kind as bars with the numbers on them."""
    fig = go.Figure(go.Bar(x=list(labels), y=list(counts), text=[f"{c:,}" for c in counts],
                           textposition="outside", marker_color="#4F46E5"))
    fig.update_layout(title=title, height=height, margin=dict(l=10, r=10, t=40 if title else 10, b=10),
                      yaxis=dict(rangemode="tozero"))
    return fig
