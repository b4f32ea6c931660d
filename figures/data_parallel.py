"""The data-parallel page's figures: the two averages against the full-batch gradient, one
coordinate written out, and where a real run's time per step goes."""

from __future__ import annotations

from collections.abc import Sequence

import plotly.graph_objects as go

from engine.lab.ddp_records import PHASES, DDPResult
from engine.ops.data_parallel import DataParallelTrace, EntryTerms
from figures.cnn import num, term

RIGHT, WRONG = "#16A34A", "#DC2626"
PHASE_COLORS = {"compute": "#4F46E5", "wait": "#9CA3AF", "all_reduce": "#F59E0B", "step": "#16A34A"}
FLOOR = 1e-20  # a max |Δ| of exactly 0 drawn at this height on the log axis (its hover says 0)
TOLERANCE = 1e-12


def formula_latex() -> str:
    """L as a weighted sum of the shards' losses, hence its gradient; equal shards: the plain mean."""
    return (r"\begin{aligned}"
            r"L &= \frac{1}{N}\sum_{i=1}^{N}\ell_i = \sum_{k=1}^{K}\frac{n_k}{N}\,L_k,"
            r"\qquad L_k = \frac{1}{n_k}\sum_{i\in S_k}\ell_i \\"
            r"\nabla L &= \sum_{k=1}^{K}\frac{n_k}{N}\,\nabla L_k"
            r"\;\overset{n_k = N/K}{=}\;\frac{1}{K}\sum_{k=1}^{K}\nabla L_k"
            r"\end{aligned}")


def param_tex(name: str, index: Sequence[int]) -> str:
    """fc2.bias, (3,) → \\texttt{fc2.bias}[3]."""
    return rf"\texttt{{{name}}}[{', '.join(map(str, index))}]"


def entry_latex(e: EntryTerms, per_line: int = 4) -> str:
    """∂L/∂θ_j = Σ_k (n_k/N)·g_k with the numbers, per_line terms a line; then the plain mean."""
    g = rf"\frac{{\partial L}}{{\partial\,{param_tex(e.name, e.index)}}}"
    terms = [rf"\tfrac{{{n}}}{{{e.N}}}\cdot {term(v, 4)}" for n, v in zip(e.n, e.g_k, strict=True)]
    lines = [" + ".join(terms[i:i + per_line]) for i in range(0, len(terms), per_line)]
    body = r" \\ &\quad + ".join(lines)
    K = len(e.g_k)
    plain = " + ".join(term(v, 4) for v in e.g_k[:per_line]) + (r" + \cdots" if K > per_line else "")
    return (r"\begin{aligned}"
            rf"{g} &= {body} \\ &= {num(e.weighted, 6)}"
            rf"\quad\text{{(full batch: }}{num(e.full, 6)}\text{{)}} \\"
            rf"\tfrac{{1}}{{{K}}}\textstyle\sum_k g_k &= \tfrac{{1}}{{{K}}}\,({plain}) = {num(e.plain, 6)}"
            r"\end{aligned}")


def deltas_figure(tr: DataParallelTrace, labels: tuple[str, str], title: str, *, height: int = 340) -> go.Figure:
    """Per parameter: max |Σ (n_k/N) g_k − ∇L| (right) and max |(1/K) Σ g_k − ∇L| (wrong), log scale."""
    names = [r.name for r in tr.rows]
    fig = go.Figure()
    for label, values, color in ((labels[0], [r.delta_weighted for r in tr.rows], RIGHT),
                                 (labels[1], [r.delta_plain for r in tr.rows], WRONG)):
        fig.add_trace(go.Bar(x=names, y=[max(v, FLOOR) for v in values], name=label, marker_color=color,
                             customdata=values, hovertemplate="%{x}: %{customdata:.3e}<extra></extra>"))
    fig.add_hline(y=TOLERANCE, line_dash="dot", line_color="#6B7280", annotation_text="10⁻¹²",
                  annotation_position="top left")
    fig.update_layout(title=title, height=height, barmode="group", margin=dict(l=10, r=10, t=50, b=10),
                      legend=dict(orientation="h", y=-0.25))
    fig.update_yaxes(type="log", exponentformat="power", title="max |Δ|")
    fig.update_xaxes(type="category")
    return fig


def phases_figure(result: DDPResult, labels: dict[str, str], rank_label: str, title: str,
                  *, height: int = 230) -> go.Figure:
    """Time per step, phase by phase (medians over the steps after the first), one bar per rank."""
    ranks = [rank_label.format(r=r) for r in range(len(result.ranks))]
    medians = [result.median_times(r) for r in range(len(result.ranks))]
    fig = go.Figure()
    for phase in PHASES:
        ms = [1e3 * getattr(m, phase) for m in medians]
        fig.add_trace(go.Bar(y=ranks, x=ms, name=labels[phase], orientation="h", marker_color=PHASE_COLORS[phase],
                             text=[f"{v:.1f}" for v in ms], textposition="inside",
                             hovertemplate="%{y} · " + labels[phase] + ": %{x:.2f} ms<extra></extra>"))
    fig.update_layout(title=title, height=height, barmode="stack", margin=dict(l=10, r=10, t=50, b=10),
                      legend=dict(orientation="h", y=-0.3))
    fig.update_xaxes(title="ms")
    return fig


def tensors_figure(result: DDPResult, title: str, size_label: str, *, height: int = 300) -> go.Figure:
    """Each gradient tensor's all-reduce time per step against its size: small tensors cost about as
    much as large ones when the time is mostly the fixed cost of one call."""
    t = result.tensors
    fig = go.Figure(go.Bar(x=[x.name for x in t], y=[1e3 * x.seconds for x in t], marker_color=PHASE_COLORS["all_reduce"],
                           text=[f"{x.numel:,}" for x in t], textposition="outside",
                           hovertemplate="%{x}: %{y:.2f} ms · %{text} " + size_label + "<extra></extra>"))
    fig.update_layout(title=title, height=height, margin=dict(l=10, r=10, t=50, b=10))
    fig.update_yaxes(title="ms")
    fig.update_xaxes(type="category")
    return fig
