"""Figures for the loss page: the probabilities with the true class marked, both gradients at the
output as bars, the gradient norms as one wrong logit grows, the float32 losses against the gap,
and the LaTeX of each loss and gradient with the live numbers substituted.

Every function takes the typed traces of engine.ops.loss (LossTrace, SaturationStudy,
UnderflowStudy) and returns a plotly figure or a LaTeX string; nothing here computes a loss.
"""

from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go

from engine.ops.loss import LossTrace, SaturationStudy, UnderflowStudy
from figures.cnn import num, term
from figures.common import as_numpy

TRUE = "#F59E0B"  # the true class y
OTHER = "#4F46E5"
CE = "#DC2626"  # cross-entropy's colour in every figure
SE = "#2563EB"  # squared error's
EXACT = "#6B7280"


def _layout(title: str | None, height: int, **axes) -> dict:
    layout = dict(height=height, margin=dict(l=10, r=10, t=40 if title else 10, b=10), **axes)
    if title:
        layout["title"] = dict(text=title, font=dict(size=14))
    return layout


# ----- bars ----------------------------------------------------------------------------------------

def probability_figure(tr: LossTrace, *, title: str | None = None, height: int = 280) -> go.Figure:
    """p_k for k = 0 … K−1, the true class y in orange: the bar cross-entropy wants at 1."""
    p = as_numpy(tr.p)
    bar = dict(type="bar", x=[str(k) for k in range(tr.K)], y=p,
               marker=dict(color=[TRUE if k == tr.y else OTHER for k in range(tr.K)]),
               text=[f"{v:.3f}" for v in p], textposition="outside", hovertemplate="p[%{x}] = %{y:.4g}<extra></extra>")
    layout = _layout(title, height, yaxis=dict(range=[0, 1.15], tickformat=".0%"), xaxis=dict(type="category"))
    return go.Figure(dict(data=[bar], layout=layout), _validate=False)


def gradient_figure(grad, y: int, *, title: str | None = None, ymax: float | None = None,
                    height: int = 260) -> go.Figure:
    """A gradient ∂L/∂z_k as signed bars (red > 0: gradient descent lowers z_k; blue < 0: raises it),
    the true class's bar outlined; `ymax` fixes a symmetric axis so two gradients compare by eye."""
    g = as_numpy(grad)
    K = len(g)
    top = ymax if ymax is not None else max(float(np.abs(g).max()), 1e-12)
    bar = dict(type="bar", x=[str(k) for k in range(K)], y=g,
               marker=dict(color=["#DC2626" if v > 0 else "#2563EB" for v in g],
                           line=dict(color=[TRUE if k == y else "rgba(0,0,0,0)" for k in range(K)], width=3)),
               text=[f"{v:+.3g}" for v in g], textposition="outside",
               hovertemplate="∂L/∂z[%{x}] = %{y:.4g}<extra></extra>")
    layout = _layout(title, height, yaxis=dict(range=[-1.3 * top, 1.3 * top], zeroline=True),
                     xaxis=dict(type="category"))
    return go.Figure(dict(data=[bar], layout=layout), _validate=False)


# ----- the saturation study ----------------------------------------------------------------------

def saturation_figure(s: SaturationStudy, *, names: tuple[str, str], title: str | None = None,
                      x_title: str = "", start_name: str = "", height: int = 340) -> go.Figure:
    """‖∂L/∂z‖ of both losses against the margin z_j − z_y, √2 dashed, the learner's logits marked."""
    x = as_numpy(s.margin).tolist()
    ce, se = as_numpy(s.norm_ce), as_numpy(s.norm_se)
    data = [
        dict(type="scatter", mode="lines", x=x, y=ce.tolist(), name=names[0], line=dict(color=CE, width=3)),
        dict(type="scatter", mode="lines", x=x, y=se.tolist(), name=names[1], line=dict(color=SE, width=3)),
        dict(type="scatter", mode="lines", x=[x[0], x[-1]], y=[math.sqrt(2)] * 2, name="√2",
             line=dict(color=EXACT, dash="dash", width=1)),
        dict(type="scatter", mode="markers", x=[x[s.start]] * 2, y=[ce[s.start], se[s.start]], name=start_name,
             marker=dict(color=TRUE, size=11, symbol="circle-open", line=dict(width=3))),
    ]
    layout = _layout(title, height, xaxis=dict(title=dict(text=x_title), zeroline=True),
                     yaxis=dict(title=dict(text="‖∂L/∂z‖"), range=[0, max(1.6, 1.1 * float(se.max()))]),
                     legend=dict(orientation="h", y=-0.25))
    return go.Figure(dict(data=data, layout=layout), _validate=False)


# ----- the float32 underflow study ----------------------------------------------------------------

def underflow_figure(u: UnderflowStudy, *, names: tuple[str, str, str], title: str | None = None,
                     x_title: str = "", inf_name: str = "+∞", height: int = 360) -> go.Figure:
    """The loss against the gap z_max − z_y: the log of float32 softmax (gone to +∞ past the break,
    drawn as markers at the top), F.cross_entropy in float32, and the exact float64 value."""
    x = as_numpy(u.gaps)
    article, lse, exact = as_numpy(u.article32), as_numpy(u.lse32), as_numpy(u.exact)
    finite = np.isfinite(article)
    cap = 1.1 * float(exact.max())
    data = [
        dict(type="scatter", mode="lines", x=x.tolist(), y=exact.tolist(), name=names[2],
             line=dict(color=EXACT, width=7)),
        dict(type="scatter", mode="lines", x=x.tolist(), y=lse.tolist(), name=names[1], line=dict(color=SE, width=3)),
        dict(type="scatter", mode="lines", x=x[finite].tolist(), y=article[finite].tolist(), name=names[0],
             line=dict(color=CE, width=2, dash="dot")),
        dict(type="scatter", mode="markers", x=x[~finite].tolist(), y=[cap] * int((~finite).sum()), name=inf_name,
             marker=dict(color=CE, symbol="x", size=7)),
    ]
    layout = _layout(title, height, xaxis=dict(title=dict(text=x_title)), yaxis=dict(title=dict(text="L")),
                     legend=dict(orientation="h", y=-0.25),
                     shapes=[dict(type="line", x0=u.break_gap, x1=u.break_gap, y0=0, y1=1, yref="paper",
                                  line=dict(color=CE, dash="dash", width=1))],
                     annotations=[dict(x=u.break_gap, y=1, yref="paper", text=f"{u.break_gap:.2f}", showarrow=False,
                                       xanchor="right", yanchor="top", font=dict(color=CE))])
    return go.Figure(dict(data=data, layout=layout), _validate=False)


# ----- LaTeX with the live numbers ------------------------------------------------------------------

def definitions_latex() -> str:
    """The formulas of the page, symbols only."""
    return (r"\begin{aligned}"
            r"p_k &= \mathrm{softmax}(z)_k = \frac{e^{z_k}}{\sum_j e^{z_j}} \\"
            r"L_{\mathrm{CE}} &= -\sum_k y_k \log p_k = -\log p_y \\"
            r"L_{\mathrm{SE}} &= \sum_k (p_k - y_k)^2 \\"
            r"\frac{\partial L_{\mathrm{CE}}}{\partial z} &= p - y, \qquad"
            r"\frac{\partial L_{\mathrm{SE}}}{\partial z} = J^{\top}\, 2(p - y),\quad J = \mathrm{diag}(p) - p\,p^{\top}"
            r"\end{aligned}")


def ce_latex(tr: LossTrace) -> str:
    """L_CE = −log p_y = −log 0.973 = 0.027, and the same through log-sum-exp of the logits."""
    y = tr.y
    # log Σ_j e^{z_j} = z_y − log p_y
    lse = float(tr.z[y] - tr.log_p[y])
    lines = [
        rf"L_{{\mathrm{{CE}}}} &= -\log p_{{{y}}} = -\log {num(tr.p[y], 4)} = {num(tr.L_ce, 4)}",
        rf"&= -z_{{{y}}} + \log \textstyle\sum_j e^{{z_j}}",
        rf"&= -{term(tr.z[y], 5)} + {num(lse, 5)} = {num(tr.L_ce, 4)}",
    ]
    return r"\begin{aligned}" + r" \\ ".join(lines) + r"\end{aligned}"


def se_latex(tr: LossTrace, per_line: int = 2) -> str:
    """L_SE = Σ_k (p_k − y_k)², every term written out, `per_line` terms a line."""
    p, Y = as_numpy(tr.p), as_numpy(tr.Y)
    terms = [rf"({num(p[k], 4)} - {int(Y[k])})^2" for k in range(tr.K)]
    chunks = [" + ".join(terms[i : i + per_line]) for i in range(0, len(terms), per_line)]
    lines = [r"L_{\mathrm{SE}} &= \textstyle\sum_k (p_k - y_k)^2"]
    lines += [("&= " if i == 0 else r"&\quad + ") + chunk for i, chunk in enumerate(chunks)]
    lines.append(rf"&= {num(tr.L_se, 4)}")
    return r"\begin{aligned}" + r" \\ ".join(lines) + r"\end{aligned}"


def ce_grad_latex(tr: LossTrace) -> str:
    """∂L_CE/∂z_k = p_k − y_k: the true class and the strongest other class with the numbers."""
    y = tr.y
    others = [k for k in range(tr.K) if k != y]
    k = max(others, key=lambda i: float(tr.p[i]))
    norm = float(np.linalg.norm(as_numpy(tr.grad_ce)))
    lines = [
        r"\frac{\partial L_{\mathrm{CE}}}{\partial z_k} &= p_k - y_k",
        rf"\frac{{\partial L_{{\mathrm{{CE}}}}}}{{\partial z_{{{y}}}}} &= {num(tr.p[y], 4)} - 1 = {num(tr.grad_ce[y], 4)}",
        rf"\frac{{\partial L_{{\mathrm{{CE}}}}}}{{\partial z_{{{k}}}}} &= {num(tr.p[k], 4)} - 0 = {num(tr.grad_ce[k], 4)}",
        rf"\lVert \partial L_{{\mathrm{{CE}}}} / \partial z \rVert &= {num(norm, 4)}",
    ]
    return r"\begin{aligned}" + r" \\ ".join(lines) + r"\end{aligned}"


def se_grad_latex(tr: LossTrace) -> str:
    """∂L_SE/∂z_k = 2 p_k ((p_k − y_k) − Σ_j p_j (p_j − y_j)), i.e. Jᵀ·2(p − y), for the true class."""
    y = tr.y
    p, Y = as_numpy(tr.p), as_numpy(tr.Y)
    # s = Σ_j p_j (p_j − y_j)
    s = float((p * (p - Y)).sum())
    norm = float(np.linalg.norm(as_numpy(tr.grad_se)))
    lines = [
        r"\frac{\partial L_{\mathrm{SE}}}{\partial z_k} &= \textstyle\sum_j J_{jk}\, 2(p_j - y_j)",
        r"&= 2p_k\big((p_k - y_k) - s\big)",
        rf"s &= \textstyle\sum_j p_j (p_j - y_j) = {num(s, 4)}",
        rf"\frac{{\partial L_{{\mathrm{{SE}}}}}}{{\partial z_{{{y}}}}} &= 2 \cdot {num(p[y], 4)}"
        rf"\,\big(({num(p[y], 4)} - 1) \\ &\qquad - {term(s, 4)}\big)",
        rf"&= {num(tr.grad_se[y], 4)}",
        rf"\lVert \partial L_{{\mathrm{{SE}}}} / \partial z \rVert &= {num(norm, 4)}",
    ]
    return r"\begin{aligned}" + r" \\ ".join(lines) + r"\end{aligned}"


def underflow_latex(u: UnderflowStudy) -> str:
    """Where the float32 softmax breaks: p_y = e^{−g}/Σ, 0 once e^{−g} is below half the smallest float32."""
    return (r"\begin{aligned}"
            r"p_y &= \frac{e^{z_y - m}}{\sum_j e^{z_j - m}},\quad m = \max_j z_j \\"
            r"g &= m - z_y \\"
            r"\log p_y &= z_y - \Big(m + \log \textstyle\sum_j e^{z_j - m}\Big) \\"
            r"&= -g - \log \textstyle\sum_j e^{z_j - m} \\"
            rf"g \ge {u.break_gap:.3f} &\ \Rightarrow\ p_y^{{\,\mathrm{{float32}}}} = 0 \\"
            r"&\ \Rightarrow\ -\log p_y = +\infty"
            r"\end{aligned}")
