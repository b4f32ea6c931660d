"""Figures for the Transformer-block lesson: tokens × features heatmaps of each stage, and
attention weights (queries × keys).

Token axes use the positions 0 … T − 1 as coordinates and the token texts as tick labels, so a
repeated word keeps its own row or column.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from figures.common import DIVERGING, POSITIVE, add_box, as_numpy, heatmap
from figures.recurrent import token_label

ATTENTION_ANNOTATE_MAX = 8  # numbers written in the cells up to this many queries/keys
FLAT_LABEL_WIDTH = 24  # key labels up to this total width (a CJK character counts 2) stay upright


def symmetric_range(*arrays) -> float:
    """max |value| over the arrays (at least 1e-6): one colour scale, symmetric about 0, for all."""
    return max([float(np.abs(as_numpy(a)).max()) for a in arrays if as_numpy(a).size] + [1e-6])


def label_width(label: str) -> int:
    """Display width of a tick label: wide (CJK, full-width) characters count 2, others 1."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in label)


def tick_angle(labels: Sequence[str]) -> int:
    """0 (upright) when the labels fit side by side, e.g. single Chinese characters; −45 when
    long words would overlap."""
    return 0 if sum(label_width(x) for x in labels) <= FLAT_LABEL_WIDTH else -45


def _token_ticks(tokens: Sequence[str]) -> dict:
    n = len(tokens)
    return dict(tickmode="array", tickvals=list(range(n)), ticktext=[token_label(tok) for tok in tokens])


def token_feature_figure(z, tokens: Sequence[str], *, title: str | None = None,
                         zmax: float | None = None, pick: tuple[int, int] | None = None,
                         feature_label: str = "feature", height: int | None = None) -> go.Figure:
    """z (T, d) as a heatmap: one row per token (top to bottom), one column per feature.

    Diverging colours symmetric about 0 (±zmax, by default the largest |value|). pick = (t, k)
    outlines that cell. Cells fill the width (d can be 64 while T is a dozen)."""
    z = as_numpy(z)
    if z.ndim != 2 or z.shape[0] != len(tokens):
        raise ValueError(f"z must be (T, d) with T = {len(tokens)} tokens, got shape {z.shape}")
    T, d = z.shape
    zmax = symmetric_range(z) if zmax is None else float(zmax)
    fig = heatmap(z, title=title, colorscale=DIVERGING, zmin=-zmax, zmax=zmax, zmid=0.0,
                  x_labels=list(range(d)), y_labels=list(range(T)),
                  height=height or max(170, 80 + 24 * T))
    fig.update_traces(customdata=[[token_label(tokens[t])] * d for t in range(T)],
                      hovertemplate=(f"%{{customdata}} (t=%{{y}}), {feature_label} %{{x}}"
                                     "<br>%{z:.4f}<extra></extra>"))
    # fill the width: a 12 × 64 grid with square cells would be a thin strip
    fig.update_yaxes(scaleanchor=None, constrain=None, **_token_ticks(tokens))
    every = 1 if d <= 16 else (2 if d <= 32 else 4)
    fig.update_xaxes(tickmode="array", tickvals=list(range(0, d, every)),
                     title=dict(text=feature_label, standoff=4))
    if pick is not None:
        add_box(fig, pick[0], pick[1], 1, 1, line_width=2)
    return fig


def attention_figure(weights, query_tokens: Sequence[str], key_tokens: Sequence[str], *,
                     title: str | None = None, annotate: bool | None = None,
                     height: int | None = None, zmax: float = 1.0, showscale: bool = False) -> go.Figure:
    """weights (T, S): row i is query i's softmax over the keys, coloured from 0 to zmax (1 by
    default; a smaller zmax shows near-uniform rows, as untrained weights give, more clearly).

    Numbers are written in the cells when the grid is small (annotate=None decides by size).
    Cells fill the figure's width rather than staying square."""
    w = as_numpy(weights)
    T, S = len(query_tokens), len(key_tokens)
    if w.shape != (T, S):
        raise ValueError(f"weights must be (T, S) = ({T}, {S}), got {w.shape}")
    if annotate is None:
        annotate = max(T, S) <= ATTENTION_ANNOTATE_MAX
    if not 0 < zmax <= 1:
        raise ValueError(f"zmax must be in (0, 1] for attention weights, got {zmax}")
    fig = heatmap(w, title=title, colorscale=POSITIVE, zmin=0.0, zmax=float(zmax), annotate=annotate,
                  fmt=".2f", hover_fmt=".4f", text_size=10, x_labels=list(range(S)), y_labels=list(range(T)),
                  height=height or max(180, 100 + (24 if annotate else 18) * T), showscale=showscale)
    fig.update_traces(customdata=[[f"{token_label(query_tokens[i])} → {token_label(key_tokens[j])}"
                                   for j in range(S)] for i in range(T)],
                      hovertemplate="%{customdata}<br>%{z:.4f}<extra></extra>")
    # cells fill the width: a grid of small maps, or long token labels, leaves little room
    fig.update_yaxes(scaleanchor=None, constrain=None, **_token_ticks(query_tokens))
    fig.update_xaxes(tickangle=tick_angle([token_label(tok) for tok in key_tokens]), **_token_ticks(key_tokens))
    return fig
