"""Figures and written-out formulas for "Inside the language model" (SmolLM2): causal attention
maps, the logit lens as a layer × position grid, the parameters by part, RoPE's angles for one
query, and the per-layer gaps to transformers."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from engine.models.smollm_check import Comparison
from engine.models.smollm_lens import LensTrace, ParamCount, RopeView
from figures.attention import MASKED_GREY, cell_text, token_labels
from figures.common import POSITIVE, as_numpy, colorscale_stops

LENS_TEXT_MAX = 24  # top tokens written in the lens cells up to this many positions


def attention_figure(weights, tokens: Sequence[str], *, title: str, height: int | None = None,
                     annotate: bool | None = None) -> go.Figure:
    """One head's causal weights (T, T), row i the query, column j the key. The cells above the
    diagonal are left empty (NaN) and show the grey background: the masked future.

    Built as a plain dict with numpy arrays (sent as typed arrays): a 64 × 64 map in a few ms,
    where matrix_figure's per-cell hover lists take ~10× longer."""
    w = as_numpy(weights)
    T = len(tokens)
    if w.shape != (T, T):
        raise ValueError(f"a ({T}, {T}) map is needed for {T} tokens, got {w.shape}")
    z = np.where(np.tril(np.ones((T, T), dtype=bool)), w, np.nan)
    labels = [f"{i}:{tok}" for i, tok in enumerate(token_labels(tokens))]
    trace = dict(type="heatmap", z=z, x=np.arange(T), y=np.arange(T), zmin=0.0, zmax=1.0, showscale=False,
                 colorscale=[list(s) for s in colorscale_stops(POSITIVE)], xgap=1 if T <= 16 else 0,
                 ygap=1 if T <= 16 else 0, hovertemplate="%{y} → %{x}<br>%{z:.4f}<extra></extra>")
    if annotate if annotate is not None else T <= 8:
        trace.update(text=[["" if j > i else cell_text(w[i, j]) for j in range(T)] for i in range(T)],
                     texttemplate="%{text}", textfont=dict(size=10))
    every = -(-T // 16)
    ticks = dict(tickmode="array", tickvals=list(range(0, T, every)), ticktext=labels[::every], showgrid=False,
                 zeroline=False)
    layout = dict(height=height or min(140 + 22 * T, 560), margin=dict(l=10, r=10, t=40, b=10),
                  title=dict(text=title, font=dict(size=14)), plot_bgcolor=MASKED_GREY,
                  xaxis=dict(**ticks), yaxis=dict(**ticks, autorange="reversed"))
    return go.Figure(dict(data=[trace], layout=layout), _validate=False)


def lens_figure(lens: LensTrace, top_pieces: Sequence[Sequence[str]], tokens: Sequence[str], *,
                title: str, x_title: str, y_title: str, hover: str) -> go.Figure:
    """Rows: layers 0 (embeddings) … L (the model's output), the last at the top; columns: the
    prompt's positions. Colour: the top token's probability; text: the top token itself."""
    p = as_numpy(lens.top_p)[::-1]
    pieces = [list(row) for row in top_pieces][::-1]
    L1, T = p.shape
    layers = list(range(L1))[::-1]
    trace = dict(type="heatmap", z=p, x=list(range(T)), y=list(range(L1)), zmin=0.0, zmax=1.0,
                 colorscale=[list(s) for s in colorscale_stops(POSITIVE)], colorbar=dict(thickness=10),
                 customdata=[[[layers[r], pieces[r][c], tokens[c]] for c in range(T)] for r in range(L1)],
                 hovertemplate=hover + "<extra></extra>", xgap=1, ygap=1)
    if T <= LENS_TEXT_MAX:
        trace.update(text=[[_short(s) for s in row] for row in pieces], texttemplate="%{text}",
                     textfont=dict(size=9 if T > 12 else 10))
    xt = [f"{i}:{tok}" for i, tok in enumerate(token_labels(tokens))]
    every = -(-T // 16)
    layout = dict(height=170 + 17 * L1, margin=dict(l=10, r=10, t=40, b=10),
                  title=dict(text=title, font=dict(size=14)),
                  xaxis=dict(tickmode="array", tickvals=list(range(0, T, every)), ticktext=xt[::every],
                             title=dict(text=x_title), showgrid=False, zeroline=False),
                  yaxis=dict(tickmode="array", tickvals=list(range(0, L1, 2)),
                             ticktext=[str(layers[r]) for r in range(0, L1, 2)], title=dict(text=y_title),
                             showgrid=False, zeroline=False))
    return go.Figure(dict(data=[trace], layout=layout), _validate=False)


def _short(piece: str) -> str:
    return piece if len(piece) <= 6 else piece[:5] + "…"


def params_figure(n: ParamCount, names: dict[str, str], *, title: str) -> go.Figure:
    """The parts as horizontal bars, in millions."""
    parts = [("embeddings", n.embeddings), ("attention", n.attention), ("mlp", n.mlp), ("norms", n.norms)]
    fig = go.Figure(go.Bar(y=[names[k] for k, _ in parts], x=[v / 1e6 for _, v in parts], orientation="h",
                           marker_color=["#F59E0B", "#4F46E5", "#10B981", "#EF4444"],
                           text=[f"{v:,} ({100 * v / n.total:.2f} %)" for _, v in parts], textposition="auto"))
    fig.update_layout(title=title, height=260, margin=dict(l=10, r=10, t=40, b=10),
                      xaxis=dict(title="M"), yaxis=dict(autorange="reversed"))
    return fig


def rope_figure(view: RopeView, *, title: str, x_title: str, y_title: str) -> go.Figure:
    """The angle m·θ_i each pair turns by at position m, wrapped to [0, 2π) (bars) and as it is
    (line, log scale would hide 0): low pairs spin many times, high pairs barely move."""
    angle = as_numpy(view.angle)
    wrapped = np.mod(angle, 2 * math.pi)
    fig = go.Figure(go.Bar(x=list(range(len(angle))), y=wrapped, marker_color="#4F46E5",
                           customdata=angle, hovertemplate="i = %{x}<br>mθ_i = %{customdata:.4f} rad"
                           "<br>mod 2π = %{y:.4f}<extra></extra>"))
    fig.update_layout(title=title, height=280, margin=dict(l=10, r=10, t=40, b=10),
                      xaxis=dict(title=x_title), yaxis=dict(title=y_title, range=[0, 2 * math.pi]))
    return fig


def rope_pair_latex(view: RopeView, i: int) -> str:
    """Pair i of the query at position m, turned by m·θ_i, with the numbers."""
    a, b = 2 * i, 2 * i + 1
    x, y = float(view.q[a]), float(view.q[b])
    xr, yr = float(view.q_rot[a]), float(view.q_rot[b])
    phi, th = float(view.angle[i]), float(view.theta[i])
    c, s = math.cos(phi), math.sin(phi)
    return (r"\begin{aligned}"
            rf" \theta_{{{i}}} &= 100000^{{-{2 * i}/64}} = {th:.6g} \\"
            rf" m\theta_{{{i}}} &= {view.m} \cdot {th:.6g} = {phi:.4f}\ \text{{rad}} \\"
            rf" \begin{{bmatrix}} q'_{{{a}}} \\ q'_{{{b}}} \end{{bmatrix}} &="
            rf" \begin{{bmatrix}} {c:.4f} & {-s:.4f} \\ {s:.4f} & {c:.4f} \end{{bmatrix}}"
            rf" \begin{{bmatrix}} {x:.4f} \\ {y:.4f} \end{{bmatrix}} \\"
            rf" &= \begin{{bmatrix}} {xr:.4f} \\ {yr:.4f} \end{{bmatrix}}"
            r" \end{aligned}")


def gaps_figure(gaps: Comparison, names: dict[str, str], *, title: str, x_title: str) -> go.Figure:
    """Per layer, max |Δ| of the hidden state (relative to its scale) and of the attention
    weights, on a log axis; a gap of exactly 0 is drawn at 1e-12."""
    floor = 1e-12
    hid = [max(v, floor) for v in gaps.hidden_relative]
    att = [max(v, floor) for v in gaps.attention]
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=list(range(len(hid))), y=hid, mode="lines+markers", name=names["hidden"]))
    fig.add_trace(go.Scatter(x=list(range(1, len(att) + 1)), y=att, mode="lines+markers", name=names["attention"]))
    fig.update_layout(title=title, height=300, margin=dict(l=10, r=10, t=40, b=10),
                      xaxis=dict(title=x_title), yaxis=dict(type="log", exponentformat="power"),
                      legend=dict(orientation="h", y=-0.25))
    return fig
