"""Figures and written-out formulas for the attention lessons.

Heatmaps label their axes by token but keep positions numeric (0, 1, …), so a repeated word stays
its own row and column. Masked cells are drawn grey with their value as text (−∞ for scores, 0
for weights). The LaTeX builders write one attention computation with its live numbers, split
over short `aligned` rows so each fits a ~700 px column.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from engine.ops.attention import SoftmaxStats
from engine.ops.attention_setup import SoftmaxTerms
from figures.common import DIVERGING, POSITIVE, add_box, as_numpy, heatmap

MASKED_GREY = "#D1D5DB"
ANNOTATE_MAX_CELLS = 160  # numbers in the cells up to this many cells (12 × 12 tokens fits)
ANNOTATE_MAX_COLS = 16
MAX_TICKS = 16  # labels on an axis; the sentence is cut to 12 tokens, so token axes are all labelled


def _signed_range(z: np.ndarray) -> float:
    finite = z[np.isfinite(z)]
    return max(float(np.abs(finite).max()) if finite.size else 0.0, 1e-6)


def cell_text(v: float, fmt: str = ".2f") -> str:
    """A cell's number; one that rounds to zero is written 0.00, never −0.00."""
    s = format(v, fmt)
    return s[1:] if s.startswith("-") and float(s) == 0 else s


def matrix_figure(values, row_labels: Sequence[str], col_labels: Sequence[str], *, title: str | None = None,
                  kind: str = "signed", keep=None, masked_text: str = "−∞", pick: tuple[int, int] | None = None,
                  annotate: bool | None = None, height: int | None = None, x_title: str | None = None,
                  y_title: str | None = None, boundaries: Sequence[int] = (), fmt: str = ".2f",
                  colorbar: bool = True, box: tuple[int, int, int, int] | None = None) -> go.Figure:
    """values (rows, cols) as a heatmap: rows top to bottom, tick text the labels.

    kind "signed": blue < 0 < red, symmetric about 0 (scores, Q, K, V, outputs); "weights": 0 → 1.
    keep: bool (rows, cols), False cells are masked: drawn grey with `masked_text`, their value
    left out of z (NaN). pick = (row, col) outlines a cell. boundaries: vertical lines before these
    columns (head boundaries). annotate: numbers in the cells (default: small grids only).
    colorbar=False leaves the scale out (the numbers are in the cells) to give the cells the width.
    box = (row, col, height, width) outlines a block of cells (e.g. a whole row)."""
    z = as_numpy(values).copy()
    if z.ndim != 2:
        raise ValueError(f"a matrix figure needs 2-D values, got shape {z.shape}")
    n_rows, n_cols = z.shape
    if len(row_labels) != n_rows or len(col_labels) != n_cols:
        raise ValueError(f"{len(row_labels)}×{len(col_labels)} labels for a {n_rows}×{n_cols} matrix")
    masked = np.zeros_like(z, dtype=bool) if keep is None else ~np.asarray(as_numpy(keep), dtype=bool)
    z[masked] = np.nan
    if annotate is None:
        annotate = n_rows * n_cols <= ANNOTATE_MAX_CELLS and n_cols <= ANNOTATE_MAX_COLS
    if kind == "weights":
        scale = dict(colorscale=POSITIVE, zmin=0.0, zmax=1.0)
    elif kind == "signed":
        r = _signed_range(z)
        scale = dict(colorscale=DIVERGING, zmin=-r, zmax=r, zmid=0.0)
    else:
        raise ValueError(f"kind must be 'signed' or 'weights', got {kind!r}")
    # cells fill the column's width (square cells would leave a narrow column mostly empty)
    fig = heatmap(z, title=title, annotate=False, height=height or 100 + 30 * n_rows + (30 if title else 0),
                  showscale=colorbar, **scale)
    trace = fig.data[0]
    rows, cols = list(map(str, row_labels)), list(map(str, col_labels))
    fig.update_traces(
        x=list(range(n_cols)), y=list(range(n_rows)),
        customdata=[[[rows[r], cols[c]] for c in range(n_cols)] for r in range(n_rows)],
        hovertemplate="%{customdata[0]} → %{customdata[1]}<br>%{z:.4f}<extra></extra>")
    if annotate:
        text = [["" if masked[r, c] else cell_text(z[r, c], fmt) for c in range(n_cols)] for r in range(n_rows)]
        fig.update_traces(text=text, texttemplate="%{text}", textfont=dict(size=11 if n_cols <= 8 else 10))
    if masked.any():
        _grey_cells(fig, masked, masked_text if annotate else "")
    # no fixed tick angle: plotly tilts the token labels only when they would overlap; past
    # MAX_TICKS rows or columns (dimensions, never a sentence's tokens) every k-th is labelled
    x_every, y_every = -(-n_cols // MAX_TICKS), -(-n_rows // MAX_TICKS)
    fig.update_xaxes(tickmode="array", tickvals=list(range(0, n_cols, x_every)), ticktext=cols[::x_every],
                     title=dict(text=x_title) if x_title else None)
    fig.update_yaxes(tickmode="array", tickvals=list(range(0, n_rows, y_every)), ticktext=rows[::y_every],
                     title=dict(text=y_title) if y_title else None)
    fig.update_yaxes(scaleanchor=None, constrain=None)
    fig.update_xaxes(constrain=None)
    for b in boundaries:
        fig.add_shape(type="line", x0=b - 0.5, x1=b - 0.5, y0=-0.5, y1=n_rows - 0.5,
                      line=dict(color="black", width=2))
    if pick is not None:
        add_box(fig, pick[0], pick[1], 1, 1, line_width=2.5)
    if box is not None:
        add_box(fig, *box, line_width=2.5)
    if colorbar:
        trace.update(colorbar=dict(thickness=10))
    return fig


def _grey_cells(fig: go.Figure, masked: np.ndarray, text: str) -> None:
    """A second heatmap over the masked cells only: flat grey, with their value as text."""
    n_rows, n_cols = masked.shape
    grey = np.where(masked, 1.0, np.nan)
    layer = dict(type="heatmap", z=grey, x=list(range(n_cols)), y=list(range(n_rows)),
                 colorscale=[[0, MASKED_GREY], [1, MASKED_GREY]], zmin=0, zmax=1, showscale=False,
                 xgap=fig.data[0].xgap, ygap=fig.data[0].ygap, hoverinfo="skip", name="masked")
    if text:
        layer.update(text=[[text if m else "" for m in row] for row in masked], texttemplate="%{text}",
                     textfont=dict(size=11, color="#374151"))
    fig.add_trace(go.Heatmap(layer))


def token_labels(tokens: Sequence[str]) -> list[str]:
    """Tokens as tick labels, long words shortened so a 12-token axis stays readable."""
    return [tok if len(tok) <= 8 else tok[:7] + "…" for tok in tokens]


# ----- why divide by √d_k ---------------------------------------------------------------------


def scale_stats_figures(stats: SoftmaxStats, *, names: dict[str, str], titles: dict[str, str],
                        d_k_now: int | None = None, height: int = 320) -> tuple[go.Figure, go.Figure]:
    """Mean softmax entropy and mean largest weight against d_k (log axis), unscaled vs scaled.

    names: {"unscaled", "scaled", "uniform"} curve names; titles: {"entropy", "max", "x"}.
    The entropy chart also draws log n (uniform weights); d_k_now marks the learner's d_k."""
    x = list(stats.d_k)
    series = {
        "entropy": ((stats.entropy_unscaled, stats.entropy_scaled), (0.0, stats.max_entropy * 1.08)),
        "max": ((stats.max_weight_unscaled, stats.max_weight_scaled), (0.0, 1.05)),
    }
    figs = []
    for key, ((unscaled, scaled), y_range) in series.items():
        data = [dict(type="scatter", x=x, y=as_numpy(v).tolist(), mode="lines+markers", name=names[name],
                     line=dict(color=color, width=2.5),
                     hovertemplate=f"{names[name]}<br>d_k=%{{x}}<br>%{{y:.3f}}<extra></extra>")
                for v, name, color in ((unscaled, "unscaled", "#DC2626"), (scaled, "scaled", "#2563EB"))]
        if key == "entropy":
            data.append(dict(type="scatter", x=[x[0], x[-1]], y=[stats.max_entropy] * 2, mode="lines",
                             name=names["uniform"], line=dict(color="#6B7280", dash="dash", width=1.5),
                             hoverinfo="skip"))
        shapes = []
        if d_k_now is not None:
            shapes.append(dict(type="line", x0=d_k_now, x1=d_k_now, yref="paper", y0=0, y1=1,
                               line=dict(color="#F59E0B", width=2, dash="dot")))
        layout = dict(height=height, margin=dict(l=10, r=10, t=40, b=10), title=dict(text=titles[key], font=dict(size=14)),
                      xaxis=dict(type="log", title=dict(text=titles["x"]), tickvals=x, ticktext=[str(d) for d in x]),
                      yaxis=dict(range=list(y_range)), legend=dict(orientation="h", y=-0.3), shapes=shapes)
        figs.append(go.Figure(dict(data=data, layout=layout), _validate=False))
    return figs[0], figs[1]


# ----- formulas with live numbers ---------------------------------------------------------------


def num(v: float, digits: int = 3) -> str:
    """A number for LaTeX: negative ones in parentheses, since they follow an operator (one that
    rounds to zero is written 0.000, without a sign)."""
    s = cell_text(v, f".{digits}f")
    return f"({s})" if s.startswith("-") else s


def big(v: float, digits: int = 3) -> str:
    """A non-negative number that may be huge or tiny (an exponential): a·10^{n} outside [1e-3, 1e4)."""
    if v == 0:
        return "0"
    if 1e-3 <= abs(v) < 1e4:
        return f"{v:.{digits}f}"
    mantissa, exponent = f"{v:.{digits - 1}e}".split("e")
    return rf"{mantissa}\times 10^{{{int(exponent)}}}"


INDENT = r"&\; "  # continuation rows of a sum: a small indent, so the rows stay narrow


def _rows(terms: list[str], per_line: int, indent: str = INDENT) -> str:
    """Terms joined by +, `per_line` to an aligned row; continuation rows start with +."""
    lines = [" + ".join(terms[k:k + per_line]) for k in range(0, len(terms), per_line)]
    return (r" \\ " + indent + "+ ").join(lines)


def _product(x: float, y: float, dx: int = 2, dy: int = 2) -> tuple[str, str]:
    """x·y as (sign, body): the sign of x becomes the operator before the term, and a negative y,
    in parentheses, needs no dot: −1.71·0.52 is written "−" "1.71·0.52", 0.80·(−0.3) "+" "0.80(−0.30)"."""
    ny = num(y, dy)
    return ("-" if x < 0 else "+"), f"{abs(x):.{dx}f}" + ("" if ny.startswith("(") else r"{\cdot}") + ny


def _signed_rows(terms: list[tuple[str, str]], per_line: int) -> str:
    """(sign, body) terms as a signed sum, `per_line` to an aligned row."""
    out = []
    for n, (sign, body) in enumerate(terms):
        if n == 0:
            out.append(("-" if sign == "-" else "") + body)
        elif n % per_line == 0:
            out.append(rf" \\ {INDENT}{sign} {body}")
        else:
            out.append(f" {sign} {body}")
    return "".join(out)


def dot_product_latex(i: int, j: int, q, k, total: float, *, sym: str = "S", Q: str = "Q", K: str = "K",
                      bias: float | None = None, b_sym: str = "b", terms: int = 8, per_line: int = 2) -> str:
    """S_ij = Σ_d Q_id K_jd (+ b_j) written out term by term (0-based i, j shown 1-based): at most
    `terms` products, then \\dots, then `total` (the engine's value, over every d)."""
    q, k = as_numpy(q).reshape(-1), as_numpy(k).reshape(-1)
    shown = [_product(x, y) for x, y in zip(q[:terms], k[:terms])]
    if q.size > terms:
        shown.append(("+", r"\dots"))
    a, c = i + 1, j + 1
    plus_b, plus_b_num = ("", "") if bias is None else (rf" + {b_sym}_{{{c}}}", rf" \\ {INDENT}+ {num(bias, 3)}")
    return (rf"\begin{{aligned}} {sym}_{{{a},{c}}} &= \textstyle\sum_{{d=1}}^{{{q.size}}} {Q}_{{{a},d}}\,{K}_{{{c},d}}"
            rf"{plus_b} \\ &= {_signed_rows(shown, per_line)}{plus_b_num} \\ &= {total:.4f} \end{{aligned}}")


def scale_latex(i: int, j: int, score: float, *, d_k: int, scale: bool, tau: float) -> str:
    """S'_ij = S_ij / (√d_k·τ) with the numbers; τ shown only when ≠ 1, √d_k only when scale."""
    a, b = i + 1, j + 1
    parts, numbers = [], []
    if scale:
        parts.append(r"\sqrt{d_k}")
        numbers.append(rf"\sqrt{{{d_k}}}")
    if tau != 1.0:
        parts.append(r"\tau")
        numbers.append(f"{tau:g}")
    divisor = (math.sqrt(d_k) if scale else 1.0) * tau
    value = score / divisor
    if parts:
        den, den_num = r" \cdot ".join(parts), r" \cdot ".join(numbers)
        body = (rf"S'_{{{a},{b}}} &= \frac{{S_{{{a},{b}}}}}{{{den}}} = \frac{{{score:.4f}}}{{{den_num}}} "
                rf"\\ &= \frac{{{score:.4f}}}{{{divisor:.4f}}} = {value:.4f}")
    else:
        body = rf"S'_{{{a},{b}}} &= S_{{{a},{b}}} = {value:.4f}"
    return rf"\begin{{aligned}} {body} \end{{aligned}}"


def mask_latex(i: int, j: int, value: float, *, masked: bool) -> str:
    """The causal mask on cell (i, j): −∞ when key j comes after query i, else S'_ij unchanged."""
    a, b = i + 1, j + 1
    if masked:
        return rf"\tilde S_{{{a},{b}}} = -\infty \qquad (j = {b} > i = {a})"
    return rf"\tilde S_{{{a},{b}}} = S'_{{{a},{b}}} = {value:.4f} \qquad (j = {b} \le i = {a})"


def softmax_latex(i: int, j: int, terms: SoftmaxTerms, *, per_line: int = 2) -> str:
    """a_ij = e^{s_ij} / Σ_j' e^{s_ij'} with every exponential of row i, their sum Z and a_ij."""
    a, b = i + 1, j + 1
    s = as_numpy(terms.logits)
    m = terms.shift
    shift = "" if m == 0 else rf" - {num(m, 2)}"
    exps = []
    for sj, ej in zip(s, as_numpy(terms.exps)):
        if not math.isfinite(sj):
            exps.append(r"e^{-\infty} = 0")
        else:
            exps.append(rf"e^{{{sj:.2f}{shift}}} = {big(ej)}")
    head = (rf"a_{{{a},{b}}} &= \frac{{e^{{\tilde S_{{{a},{b}}}{' - m' if m else ''}}}}}"
            rf"{{\sum_{{j'}} e^{{\tilde S_{{{a},j'}}{' - m' if m else ''}}}}}")
    lines = [exps[k:k + per_line] for k in range(0, len(exps), per_line)]
    first = rf"e^{{\tilde S_{{{a},j}}{' - m' if m else ''}}} &:\ "
    rows = r" \\ ".join((r"&\phantom{:}\ " if n else first) + r",\ \ ".join(line) for n, line in enumerate(lines))
    Z_terms = [big(float(e)) for e in as_numpy(terms.exps)]
    out = (rf"\begin{{aligned}} {head} \\ {rows} \\ Z &= {_rows(Z_terms, 2 * per_line)} \\ &= {big(terms.Z)} \\ "
           rf"a_{{{a},{b}}} &= \frac{{{big(float(terms.exps[j]))}}}{{{big(terms.Z)}}} = {float(terms.weights[j]):.4f}"
           r" \end{aligned}")
    return out


def output_latex(i: int, weights_row, V, output_row, *, component: int = 0, keep_row=None, o: str = "o",
                 V_sym: str = "V", per_line: int = 2, show: int = 4) -> str:
    """o_i = Σ_j a_ij V_j: component `component` written out term by term (masked keys, with
    a_ij = 0, left out), then the first `show` components of `output_row` (the engine's o_i)."""
    a_row, V, out = as_numpy(weights_row).reshape(-1), as_numpy(V), as_numpy(output_row).reshape(-1)
    keep = np.ones_like(a_row, dtype=bool) if keep_row is None else np.asarray(as_numpy(keep_row), dtype=bool)
    c = component
    products = [_product(a_row[jj], V[jj, c], 3, 2) for jj in range(a_row.size) if keep[jj]]
    vec = r",\,".join(f"{v:.3f}" for v in out[:show]) + (r",\,\dots" if out.size > show else "")
    a = i + 1
    return (rf"\begin{{aligned}} {o}_{{{a},{c + 1}}} &= \textstyle\sum_j a_{{{a},j}}\,{V_sym}_{{j,{c + 1}}} \\ "
            rf"&= {_signed_rows(products, per_line)} \\ &= {float(out[c]):.4f} \\ "
            rf"{o}_{{{a}}} &= ({vec}) \end{{aligned}}")
