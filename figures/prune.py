"""Figures for the pruning page: the first layer's 32 filters with their mask, accuracy against
sparsity for each method (with the fine-tuned points), and the LaTeX of a prune with its live
numbers. Inputs are engine results (PruneMask, Curve, Pruning); nothing here computes a prune.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go

from engine.models.cnn_prune import Pruning
from engine.models.prune_study import Curve
from engine.ops.prune import PruneMask
from figures.common import as_numpy, colorscale_stops

PRUNED = "#9CA3AF"  # a pruned weight: grey
COLORS = {"layer": "#2563EB", "global": "#16A34A", "channels": "#DC2626"}


def tiles(a: np.ndarray, ncols: int) -> np.ndarray:
    """(K, k, k) → one mosaic, tiles in rows of ncols, one NaN cell between tiles."""
    K, kh, kw = a.shape
    rows = -(-K // ncols)
    out = np.full((rows * (kh + 1) - 1, ncols * (kw + 1) - 1), np.nan)
    for c in range(K):
        r, q = divmod(c, ncols)
        out[r * (kh + 1): r * (kh + 1) + kh, q * (kw + 1): q * (kw + 1) + kw] = a[c]
    return out


def mask_figure(W, mask: PruneMask, *, title: str, kept: str, pruned: str, filter_word: str = "filter",
                ncols: int = 8, height: int = 300) -> go.Figure:
    """conv1's filters W (C, 1, k, k): kept weights on a diverging scale, pruned ones grey."""
    w, m = as_numpy(W)[:, 0], as_numpy(mask.M)[:, 0]
    K = w.shape[0]
    kept_z = tiles(np.where(m > 0, w, np.nan), ncols)
    pruned_z = tiles(np.where(m > 0, np.nan, 1.0), ncols)
    filt = tiles(np.broadcast_to(np.arange(K)[:, None, None], w.shape).astype(float), ncols)
    lim = max(float(np.nanmax(np.abs(w))), 1e-6)
    scale = [list(s) for s in colorscale_stops("RdBu_r")]
    fig = go.Figure()
    fig.add_trace(go.Heatmap(z=kept_z, customdata=filt, colorscale=scale, zmin=-lim, zmax=lim, name=kept,
                             hovertemplate=filter_word + " %{customdata:.0f}<br>w = %{z:.3f}<extra>" + kept + "</extra>"))
    fig.add_trace(go.Heatmap(z=pruned_z, customdata=filt, colorscale=[[0, PRUNED], [1, PRUNED]], showscale=False,
                             name=pruned, hovertemplate=filter_word + " %{customdata:.0f}<extra>" + pruned + "</extra>"))
    fig.update_yaxes(autorange="reversed", scaleanchor="x", showticklabels=False, showgrid=False, zeroline=False)
    fig.update_xaxes(showticklabels=False, showgrid=False, zeroline=False)
    fig.update_layout(title=title, height=height, margin=dict(l=10, r=10, t=40, b=10),
                      plot_bgcolor="white")
    return fig


@dataclass(frozen=True)
class Point:
    """A point on the curves: method, sparsity and held-out accuracy (a fine-tuned run's, or
    the chosen prune's)."""

    method: str
    s: float
    accuracy: float


def curves_figure(curves: Sequence[Curve], names: Mapping[str, str], *, chosen: Point,
                  tuned: Sequence[Point] = (), tuned_name: str = "", title: str = "", x_title: str = "",
                  y_title: str = "", height: int = 380) -> go.Figure:
    """Held-out accuracy against sparsity, one line per method; the chosen prune ringed; the
    fine-tuned points as diamonds joined by a dashed line in the method's colour."""
    fig = go.Figure()
    for c in curves:
        fig.add_trace(go.Scatter(x=[100 * s for s in c.s], y=list(c.accuracy), mode="lines+markers",
                                 name=names[c.method], line=dict(color=COLORS[c.method], width=2),
                                 hovertemplate="%{x:.0f} %: %{y:.1%}<extra>" + names[c.method] + "</extra>"))
    for method in COLORS:
        pts = sorted((p for p in tuned if p.method == method), key=lambda p: p.s)
        if pts:
            fig.add_trace(go.Scatter(x=[100 * p.s for p in pts], y=[p.accuracy for p in pts], mode="lines+markers",
                                     name=f"{names[method]} · {tuned_name}",
                                     line=dict(color=COLORS[method], dash="dash", width=1.5),
                                     marker=dict(symbol="diamond", size=11)))
    fig.add_trace(go.Scatter(x=[100 * chosen.s], y=[chosen.accuracy], mode="markers", showlegend=False, hoverinfo="skip",
                             marker=dict(size=18, color="rgba(0,0,0,0)", line=dict(color="black", width=2))))
    fig.update_layout(title=title, height=height, margin=dict(l=10, r=10, t=40, b=10),
                      legend=dict(orientation="h", y=-0.25))
    fig.update_xaxes(title=x_title, range=[-2, 97])
    fig.update_yaxes(title=y_title, range=[0, 1.02], tickformat=".0%")
    return fig


def _int(n: int) -> str:
    """An integer with thousands separators that KaTeX does not space out."""
    return f"{n:,}".replace(",", "{,}")


def prune_latex(pruning: Pruning, sizes: Mapping[str, int], tau: str, layer: str = "conv1") -> str:
    """The chosen prune's rule with its live numbers for one layer: k = round(s·n) and the threshold.
    sizes: that layer's n (weights, or output channels for a structured prune) and, for the global
    prune, every layer's weights together under "all"."""
    mask = pruning.layer(layer)
    s = pruning.s
    if pruning.method == "channels":
        n = sizes[layer]
        return (r"\begin{aligned}"
                rf" k &= \operatorname{{round}}(s\cdot C_{{\text{{out}}}}) = \operatorname{{round}}({s:g}\cdot {n})"
                rf" = {mask.k}\ \text{{{tau}}} \\"
                rf" M[c,\cdot] &= \mathbf{{1}}\!\left[\lVert W_c\rVert_1 > {mask.tau:.4f}\right]"
                r"\end{aligned}") if mask.k else rf"k = \operatorname{{round}}({s:g}\cdot {n}) = 0"
    n = sizes["all"] if pruning.method == "global" else sizes[layer]
    k = round(s * n)
    return (r"\begin{aligned}"
            rf" k &= \operatorname{{round}}(s\cdot n) = \operatorname{{round}}({s:g}\cdot {_int(n)}) = {_int(k)} \\"
            rf" M_{{ij}} &= \mathbf{{1}}\!\left[\,|W_{{ij}}| > \tau\,\right],\quad \tau = {mask.tau:.4f}"
            rf"\ \text{{{tau}}}"
            r"\end{aligned}") if k else rf"k = \operatorname{{round}}({s:g}\cdot {n}) = 0"
