"""What the 4-bit file holds: one block's levels and weights, its bytes by field, the
dequantisation written out as LaTeX."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from engine.ops.block_quant import FieldBytes, StoredBlock

FIELD_COLORS = {"d": "#F59E0B", "m": "#10B981", "q": "#4F46E5"}


def levels_figure(block: StoredBlock, levels: np.ndarray, names: Sequence[str], *,
                  title: str | None = None, height: int = 360) -> go.Figure:
    """The values the block can express (horizontal lines; for Q8_0 only the range its weights
    use) and its 32 weights on them (points, x = the weight's index j). `names` = the legend's
    names of the levels and the weights."""
    j = np.arange(len(block.w))
    shown = levels if block.kind == "Q4_1" else levels[block.q.min() + 128: block.q.max() + 129]
    fig = go.Figure()
    xs, ys = [], []
    for y in shown:
        xs += [-0.5, len(j) - 0.5, None]
        ys += [float(y), float(y), None]
    fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", line=dict(color="#D1D5DB", width=1), name=names[0],
                             hoverinfo="skip"))
    fig.add_trace(go.Scatter(x=j, y=block.w.astype(float), mode="markers", name=names[1],
                             marker=dict(color="#4F46E5", size=8), customdata=block.q,
                             hovertemplate="j = %{x}<br>q = %{customdata}<br>w = %{y:.6f}<extra></extra>"))
    fig.update_layout(title=title, height=height, margin=dict(l=10, r=10, t=40 if title else 10, b=10),
                      legend=dict(orientation="h", yanchor="bottom", y=1.0, x=1, xanchor="right"))
    fig.update_xaxes(title_text="j", dtick=4)
    fig.update_yaxes(title_text="w", tickformat=".3f")
    return fig


def hex_bytes(raw: bytes) -> str:
    return " ".join(f"{b:02X}" for b in raw)


def bytes_markdown(f: FieldBytes, labels: dict[str, str]) -> str:
    """The block's bytes, field by field, each a code span with its label."""
    rows = [(labels["d"], f.d), (labels["m"], f.m), (labels["q"], f.q)]
    return "  \n".join(f"**{name}** `{hex_bytes(raw)}`" for name, raw in rows if raw)


def layout_latex(kind: str, bytes_word: str = "bytes") -> str:
    """The block's layout and its dequantisation, symbolically, on two lines (it fits a narrow
    column); `bytes_word` in the learner's language."""
    if kind == "Q4_1":
        return (r"\begin{gathered}"
                r"\underbrace{d}_{\text{float16}}\;\underbrace{m}_{\text{float16}}\;"
                r"\underbrace{b_0\,b_1 \cdots b_{15}}_{16\ \text{" + bytes_word + r"}}\\"
                r"q_j = b_j \,\&\, \texttt{0x0F},\quad q_{j+16} = b_j \gg 4\quad(j = 0\ldots 15),\qquad "
                r"w_j = d\cdot q_j + m"
                r"\end{gathered}")
    return (r"\begin{gathered}"
            r"\underbrace{d}_{\text{float16}}\;\underbrace{q_0\,q_1 \cdots q_{31}}_{32\ \text{int8}}\\"
            r"w_j = d\cdot q_j"
            r"\end{gathered}")


def weights_latex(block: StoredBlock, js: Sequence[int]) -> str:
    """w_j = d·q_j + m with the numbers, for the weights js."""
    lines = []
    for j in js:
        q, w = int(block.q[j]), float(block.w[j])
        if block.kind == "Q4_1":
            b = block.raw[4 + j % 16]
            nib = rf"b_{{{j % 16}}} \,\&\, \texttt{{0x0F}}" if j < 16 else rf"b_{{{j - 16}}} \gg 4"
            lines.append(rf"q_{{{j}}} &= {nib} = \texttt{{0x{b:02X}}} \to {q}, & "
                         rf"w_{{{j}}} &= {block.d:.6g}\cdot {q} + ({block.m:.6g}) = {w:.6g}")
        else:
            lines.append(rf"q_{{{j}}} &= {q}, & w_{{{j}}} &= {block.d:.6g}\cdot ({q}) = {w:.6g}")
    return r"\begin{aligned}" + r"\\".join(lines) + r"\end{aligned}"
