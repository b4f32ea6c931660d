"""Figures for the positional-encoding lesson: position × dimension tables, the sine/cosine waves
of chosen pairs, wavelengths on a log axis, similarity against distance, the shift matrix M_k, and
attention weights with tokens on both axes."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from figures.common import DIVERGING, POSITIVE, add_box, as_numpy, heatmap
from figures.recurrent import token_label

PALETTE = ("#4F46E5", "#F59E0B", "#10B981", "#EF4444", "#8B5CF6", "#0EA5E9", "#EC4899", "#84CC16")
MAX_TOKEN_TICKS = 40
MAX_FLAT_CHARS = 40  # key labels (characters in all) that still fit side by side, unslanted


def _layout(fig: go.Figure, title: str | None, x_title: str, y_title: str) -> go.Figure:
    fig.update_layout(margin=dict(l=10, r=10, t=40 if title else 10, b=10))
    if title:
        fig.update_layout(title=dict(text=title, font=dict(size=14)))
    fig.update_xaxes(title=dict(text=x_title))
    fig.update_yaxes(title=dict(text=y_title))
    return fig


def _free_aspect(fig: go.Figure) -> go.Figure:
    """Cells stretch to fill the width (a 128 × 8 table would be a thin strip if kept square)."""
    fig.update_yaxes(scaleanchor=None, constrain=None)
    fig.update_xaxes(constrain=None)
    return fig


def table_heatmap(values, *, title: str | None = None, pick: tuple[int, int] | None = None,
                  x_title: str = "dimension j", y_title: str = "position pos", zmax: float | None = None,
                  height: int = 380, row_name: str = "pos", col_name: str = "j", pick_width: int = 1) -> go.Figure:
    """A (positions, d_model) table with positions down and dimensions across, blue < 0 < red.

    zmax: the colour range ±zmax (default: the largest |value|). pick = (pos, j) outlines cells
    j … j + pick_width − 1 of row pos (2 for a sine/cosine pair)."""
    z = as_numpy(values)
    if z.ndim != 2:
        raise ValueError(f"a (positions, dimensions) table is needed, got shape {z.shape}")
    zmax = float(zmax if zmax is not None else max(float(np.abs(z).max()), 1e-9))
    fig = heatmap(z, title=title, colorscale=DIVERGING, zmin=-zmax, zmax=zmax, zmid=0.0, height=height)
    fig.update_traces(hovertemplate=f"{row_name}=%{{y}}, {col_name}=%{{x}}<br>%{{z:.4f}}<extra></extra>")
    _free_aspect(_layout(fig, title, x_title, y_title))
    if pick is not None:
        add_box(fig, pick[0], pick[1], 1, pick_width, line_width=2.5)
    return fig


def square_heatmap(values, *, title: str | None = None, x_title: str = "q", y_title: str = "p",
                   height: int = 380, symmetric: bool = True, row_name: str = "p",
                   col_name: str = "q") -> go.Figure:
    """An (L, L) matrix over pairs of positions (similarities, scores), square cells."""
    z = as_numpy(values)
    if symmetric:
        zmax = max(float(np.abs(z).max()), 1e-9)
        fig = heatmap(z, title=title, colorscale=DIVERGING, zmin=-zmax, zmax=zmax, zmid=0.0, height=height)
    else:
        fig = heatmap(z, title=title, colorscale=POSITIVE, height=height)
    fig.update_traces(hovertemplate=f"{row_name}=%{{y}}, {col_name}=%{{x}}<br>%{{z:.4f}}<extra></extra>")
    return _layout(fig, title, x_title, y_title)


def shift_matrix_figure(M, *, pair: int | None = None, title: str | None = None, x_title: str = "",
                        y_title: str = "", height: int = 380) -> go.Figure:
    """The block-diagonal M_k (d × d) on a −1 … 1 scale; pair i's 2×2 block outlined."""
    z = as_numpy(M)
    fig = heatmap(z, title=title, colorscale=DIVERGING, zmin=-1.0, zmax=1.0, zmid=0.0, height=height,
                  annotate=z.shape[0] <= 8, fmt=".2f")
    fig.update_traces(hovertemplate="row %{y}, col %{x}<br>%{z:.4f}<extra></extra>")
    _layout(fig, title, x_title, y_title)
    if pair is not None:
        add_box(fig, 2 * pair, 2 * pair, 2, 2, line_width=2)
    return fig


def waves_figure(PE, pairs: Sequence[int], *, title: str | None = None, x_title: str = "pos",
                 y_title: str = "PE", height: int = 340) -> go.Figure:
    """PE[:, 2i] (sine, solid) and PE[:, 2i+1] (cosine, dashed) against the position, for each pair i."""
    z = as_numpy(PE)
    L, d = z.shape
    pos = list(range(L))
    data = []
    for n, i in enumerate(pairs):
        if not 0 <= 2 * i < d:
            raise ValueError(f"pair {i} is outside d_model = {d}")
        colour = PALETTE[n % len(PALETTE)]
        for col, dash, fn in ((2 * i, "solid", "sin"), (2 * i + 1, "dash", "cos")):
            if col >= d:
                continue
            name = f"{fn}(pos·ω<sub>{i}</sub>), j={col}"
            data.append(dict(type="scatter", x=pos, y=z[:, col].tolist(), mode="lines", name=name,
                             line=dict(color=colour, dash=dash, width=2), legendgroup=str(i),
                             hovertemplate=f"{name}<br>pos=%{{x}}<br>%{{y:.4f}}<extra></extra>"))
    fig = go.Figure(dict(data=data, layout=dict(
        height=height, legend=dict(x=1.02, y=1, xanchor="left"), yaxis=dict(range=[-1.1, 1.1]))),
        _validate=False)
    return _layout(fig, title, x_title, y_title)


def wavelength_figure(wavelengths, *, pick: int | None = None, title: str | None = None,
                      x_title: str = "i", y_title: str = "λ", height: int = 320) -> go.Figure:
    """λ_i against i on a log axis, between the lines 2π and 10000·2π; pair `pick` highlighted."""
    lam = as_numpy(wavelengths).reshape(-1)
    i = list(range(lam.size))
    data = [dict(type="scatter", x=i, y=lam.tolist(), mode="lines+markers", name="λ<sub>i</sub>",
                 marker=dict(size=5, color=PALETTE[0]), line=dict(color=PALETTE[0]),
                 hovertemplate="i=%{x}<br>λ=%{y:.4g}<extra></extra>")]
    if pick is not None:
        data.append(dict(type="scatter", x=[pick], y=[float(lam[pick])], mode="markers", name=f"i={pick}",
                         marker=dict(size=12, color=PALETTE[1], symbol="circle-open", line=dict(width=3)),
                         hoverinfo="skip"))
    x_end = max(lam.size - 1, 1)
    # the bounds as two-point lines (traces, not shapes: data coordinates on a log axis are unambiguous)
    for v, label in ((2 * math.pi, "2π"), (10000 * 2 * math.pi, "10000·2π")):
        data.append(dict(type="scatter", x=[0, x_end], y=[v, v], mode="lines+text", name=label,
                         text=["", label], textposition="top left", textfont=dict(size=11, color="gray"),
                         line=dict(color="gray", dash="dot", width=1), hoverinfo="skip"))
    fig = go.Figure(dict(data=data, layout=dict(
        height=height, showlegend=False,
        yaxis=dict(type="log", exponentformat="power", range=[0.5, math.log10(10000 * 2 * math.pi) + 0.4]))),
        _validate=False)
    return _layout(fig, title, x_title, y_title)


def distance_figure(distance, low, high, *, title: str | None = None, x_title: str = "|p − q|",
                    y_title: str = "PE(p)·PE(q)", low_name: str = "min", high_name: str = "max",
                    height: int = 340) -> go.Figure:
    """For every distance, the largest (line) and smallest (markers) PE(p)·PE(q) over the pairs at
    that distance: when the two coincide, the dot product depends on the distance alone."""
    x = as_numpy(distance).reshape(-1).tolist()
    data = [
        dict(type="scatter", x=x, y=as_numpy(high).reshape(-1).tolist(), mode="lines", name=high_name,
             line=dict(color=PALETTE[0], width=2), hovertemplate="Δ=%{x}<br>%{y:.6f}<extra></extra>"),
        dict(type="scatter", x=x, y=as_numpy(low).reshape(-1).tolist(), mode="markers", name=low_name,
             marker=dict(color=PALETTE[1], size=5), hovertemplate="Δ=%{x}<br>%{y:.6f}<extra></extra>"),
    ]
    fig = go.Figure(dict(data=data, layout=dict(height=height, legend=dict(orientation="h", y=-0.25))),
                    _validate=False)
    return _layout(fig, title, x_title, y_title)


def token_ticks(tokens: Sequence[str]) -> tuple[list[int], list[str]]:
    """Numeric positions and their token labels (repeated words stay separate rows/columns)."""
    every = -(-len(tokens) // MAX_TOKEN_TICKS)
    vals = list(range(0, len(tokens), every))
    return vals, [token_label(tokens[v]) for v in vals]


def weights_figure(A, row_tokens: Sequence[str], col_tokens: Sequence[str] | None = None, *,
                   title: str | None = None, x_title: str = "key", y_title: str = "query",
                   height: int | None = None) -> go.Figure:
    """Attention weights (T, S) in 0 … 1, queries down and keys across, labelled by their tokens."""
    z = as_numpy(A)
    col_tokens = row_tokens if col_tokens is None else col_tokens
    T, S = z.shape
    if len(row_tokens) != T or len(col_tokens) != S:
        raise ValueError(f"{len(row_tokens)}×{len(col_tokens)} tokens for a {T}×{S} matrix")
    fig = heatmap(z, title=title, colorscale=POSITIVE, zmin=0.0, zmax=1.0, annotate=max(T, S) <= 10,
                  fmt=".2f", text_size=10, height=height or max(260, 120 + 26 * T))
    rows = [token_label(tok) for tok in row_tokens]
    cols = [token_label(tok) for tok in col_tokens]
    fig.update_traces(customdata=[[[rows[r], cols[c]] for c in range(S)] for r in range(T)],
                      hovertemplate=("%{customdata[0]} (%{y}) → %{customdata[1]} (%{x})"
                                     "<br>%{z:.4f}<extra></extra>"))
    xv, xt = token_ticks(col_tokens)
    yv, yt = token_ticks(row_tokens)
    # long words side by side would overlap: slant them
    angle = 0 if sum(len(label) for label in xt) <= MAX_FLAT_CHARS else -60
    fig.update_xaxes(tickmode="array", tickvals=xv, ticktext=xt, tickangle=angle)
    fig.update_yaxes(tickmode="array", tickvals=yv, ticktext=yt)
    # fill the column: square cells would leave most of it empty, the colour bar far to the right
    return _free_aspect(_layout(fig, title, x_title, y_title))


# ----- formulas with live numbers (LaTeX strings) -----------------------------------------------


def plain(v: float) -> str:
    """A measured number as plain decimals (1.580, not 1.58e+00); scientific only when tiny."""
    if v == 0:
        return "0"
    return f"{v:.2e}" if abs(v) < 1e-3 else f"{v:.3f}"


def sig(v: float, digits: int = 4) -> str:
    """A number for LaTeX with `digits` decimals, or in scientific form when it is that small."""
    if v == 0 or abs(v) >= 0.01:
        return f"{v:.{digits}f}"
    mantissa, exponent = f"{v:.{digits - 1}e}".split("e")
    return rf"{mantissa}\times 10^{{{int(exponent)}}}"


def errata_latex(pos: int, i: int, d: int, theta: float, sin_v: float, cos_v: float) -> str:
    """θ = pos/10000^{2i/d} with its sine and cosine: the two entries the wrong form makes equal."""
    return (rf"\begin{{aligned}} \theta &= \frac{{{pos}}}{{10000^{{{2 * i}/{d}}}}} = {sig(theta)} \\ "
            rf"\sin\theta &= {sin_v:.4f}, \quad \cos\theta = {cos_v:.4f} \\ "
            rf"\sin\theta - \cos\theta &= {sin_v - cos_v:.4f} \ne 0 \end{{aligned}}")


def row_latex(PE, omega, angle, pos: int, pairs: Sequence[int]) -> str:
    """PE[pos, 2i] and PE[pos, 2i+1] written out for the given pairs i: the angle, then both entries.
    omega (d/2,) holds ω_i, angle (L, d/2) holds pos·ω_i."""
    d = PE.shape[1]
    lines = []
    for i in pairs:
        lines.append(rf"\theta_{{{i}}} &= {pos}\cdot 10000^{{-{2 * i}/{d}}} = {pos}\cdot {sig(float(omega[i]))}"
                     rf" = {sig(float(angle[pos, i]))}")
        lines.append(rf"PE[{pos},{2 * i}] &= \sin\theta_{{{i}}} = {float(PE[pos, 2 * i]):.4f}, \quad "
                     rf"PE[{pos},{2 * i + 1}] = \cos\theta_{{{i}}} = {float(PE[pos, 2 * i + 1]):.4f}")
    return r"\begin{aligned} " + r" \\ ".join(lines) + r" \end{aligned}"


def wavelength_latex(lam, i: int, d: int) -> str:
    """λ_i = 2π·10000^{2i/d}: the first, the picked and the last wavelength, and their ratio."""
    n_pairs = len(lam)
    ratio = float(lam[1] / lam[0]) if n_pairs > 1 else float("nan")
    lines = [r"\lambda_i &= 2\pi/\omega_i = 2\pi\cdot 10000^{2i/d}", rf"\lambda_0 &= 2\pi = {float(lam[0]):.4f}"]
    if 0 < i < n_pairs - 1:
        lines.append(rf"\lambda_{{{i}}} &= 2\pi\cdot 10000^{{{2 * i}/{d}}} = {float(lam[i]):,.2f}")
    lines += [rf"\lambda_{{{n_pairs - 1}}} &= 2\pi\cdot 10000^{{{d - 2}/{d}}} = {float(lam[-1]):,.1f}",
              rf"10000\cdot 2\pi &= {10000 * 2 * math.pi:,.1f}",
              rf"\lambda_{{i+1}}/\lambda_i &= 10000^{{2/{d}}} = {ratio:.4f}"]
    # thousands separators in braces, so LaTeX does not space them as punctuation
    return (r"\begin{aligned} " + r" \\ ".join(lines) + r" \end{aligned}").replace(",", "{,}")


def _column(x: float, y: float) -> str:
    return rf"\begin{{bmatrix}} {x:.4f} \\ {y:.4f} \end{{bmatrix}}"


def block_latex(shift, pos: int, i: int) -> str:
    """One 2×2 block of M_k times pair i of PE(pos), and PE(pos + k) beside it (shift: a ShiftTrace)."""
    a, b = 2 * i, 2 * i + 1
    M = shift.M[a:b + 1, a:b + 1]
    s, c = float(shift.PE[pos, a]), float(shift.PE[pos, b])
    ps, pc = float(shift.predicted[pos, a]), float(shift.predicted[pos, b])
    s2, c2 = float(shift.actual[pos, a]), float(shift.actual[pos, b])
    k = shift.k
    return (rf"\begin{{aligned}} M^{{({i})}}_{{{k}}}\,PE_{{{pos}}}^{{({i})}} &= "
            rf"\begin{{bmatrix}} {float(M[0, 0]):.4f} & {float(M[0, 1]):.4f} \\ "
            rf"{float(M[1, 0]):.4f} & {float(M[1, 1]):.4f} \end{{bmatrix}} {_column(s, c)} = {_column(ps, pc)} \\ "
            rf"PE_{{{pos + k}}}^{{({i})}} &= {_column(s2, c2)} \end{{aligned}}")
