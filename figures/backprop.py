"""Drawing backpropagation: the small expression graph and torch's own graph as DOT text (for
st.graphviz_chart; no graphviz package), each edge's chain-rule step in LaTeX, and the CNN's
gradient stages as heatmaps and formulas with the live numbers."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from engine.ops.autodiff import OP_SIGN, Edge, GraphTrace, Node, TorchGraph
from engine.ops.backprop import CNNBackward, PoolRoute, WeightCell
from figures import cnn as fc
from figures.cnn import maps_figure
from figures.common import DIVERGING, INK, as_numpy, bars, heatmap

VAR, CONST, OP, PICKED = "#DBEAFE", "#F3F4F6", "#FEF3C7", "#DC2626"


# ----- the small graph ----------------------------------------------------------------------------


def num(v: float, digits: int = 3) -> str:
    """figures.cnn.num, with ∞ and NaN written as such (a learner's graph may hold them)."""
    v = float(v)
    if math.isnan(v):
        return r"\text{NaN}"
    if math.isinf(v):
        return r"\infty" if v > 0 else r"-\infty"
    return fc.num(v, digits)


def term(v: float, digits: int = 3) -> str:
    """A number as a term of a sum: negatives (and −∞) in parentheses."""
    s = num(v, digits)
    return f"({s})" if float(v) < 0 else s


def dot_escape(text: str) -> str:
    """Text safe inside a DOT double-quoted label (a learner's text included)."""
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def fmt(v: float | None) -> str:
    """A value for a graph label: 4 significant digits; ∞ and NaN said as such."""
    if v is None:
        return "–"
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "∞" if v > 0 else "−∞"
    return f"{v:.4g}".replace("-", "−")


def node_formula(tr: GraphTrace, node: Node) -> str:
    """What a node computes from its inputs' names: 'x × y', 'sigmoid(u2)', '−x'."""
    args = [tr.nodes[i].name for i in node.inputs]
    if node.kind in ("add", "sub", "mul", "div", "pow"):
        return f"{args[0]} {OP_SIGN[node.kind]} {args[1]}"
    if node.kind == "neg":
        return f"−{args[0]}"
    return f"{node.kind}({', '.join(args)})"


def graph_dot(tr: GraphTrace, picked: int | None = None, *, value: str = "value", grad: str = "grad") -> str:
    """Our graph, inputs on the left, f on the right: each node with its value and ∂f/∂node;
    each edge labelled with its local derivative; the picked edge (index into tr.edges) in red."""
    lines = ['digraph G {', 'rankdir=LR;', 'node [fontname="Helvetica", fontsize=11, style=filled];',
             'edge [fontname="Helvetica", fontsize=10];']
    for n in tr.nodes:
        if n.kind == "const":
            lines.append(f'n{n.id} [shape=box, fillcolor="{CONST}", label="{dot_escape(n.name)}"];')
            continue
        head = n.name if n.kind == "var" else f"{n.name} = {node_formula(tr, n)}"
        label = f"{head}\n{value} = {fmt(n.value)}\n{grad} = {fmt(n.grad)}"
        shape, fill = ("ellipse", VAR) if n.kind == "var" else ("box", OP)
        border = ', color="#DC2626", penwidth=2' if n.id == tr.bad_node else ""
        lines.append(f'n{n.id} [shape={shape}, fillcolor="{fill}", label="{dot_escape(label)}"{border}];')
    needs = {(e.child, e.parent, e.slot): k for k, e in enumerate(tr.edges)}
    for p in tr.nodes:
        for slot, c in enumerate(p.inputs):
            k = needs.get((c, p.id, slot))
            if k is None:
                lines.append(f"n{c} -> n{p.id} [color=gray];")
                continue
            style = f', color="{PICKED}", fontcolor="{PICKED}", penwidth=2.5' if k == picked else ""
            lines.append(f'n{c} -> n{p.id} [label="{dot_escape(fmt(tr.edges[k].local))}"{style}];')
    return "\n".join(lines + ["}"])


def torch_dot(tg: TorchGraph) -> str:
    """torch's backward graph: grad_fn nodes (MulBackward0, …) and AccumulateGrad for each leaf,
    edges along next_functions (from the output towards the leaves), drawn leaves on the left."""
    lines = ['digraph T {', 'rankdir=RL;', 'node [fontname="Helvetica", fontsize=11, style=filled, shape=box];']
    for n in tg.nodes:
        label = n.name if n.leaf is None else f"{n.name}\n({n.leaf})"
        fill = VAR if n.leaf is not None else "#E0E7FF"
        lines.append(f't{n.id} [fillcolor="{fill}", label="{dot_escape(label)}"];')
    lines += [f"t{a} -> t{b};" for a, b in tg.edges]
    return "\n".join(lines + ["}"])


def edge_choice(tr: GraphTrace, e: Edge) -> str:
    """A short label for an edge picker: 'x → u1 = x × y'."""
    parent = tr.nodes[e.parent]
    return f"{tr.nodes[e.child].name} → {parent.name} = {node_formula(tr, parent)}"


def tex_name(name: str) -> str:
    """u1 → u_{1}, w_1 → w_{1}, pi → \\pi; numbers stay as written."""
    if name == "pi":
        return r"\pi"
    m = re.fullmatch(r"([A-Za-z]+)_?(\d+)", name)
    if m:
        return rf"{m.group(1)}_{{{m.group(2)}}}"
    base, _, sub = name.partition("_")
    return rf"\mathit{{{base}}}_{{\mathit{{{sub}}}}}" if sub else (rf"\mathit{{{name}}}" if len(name) > 1 else name)


def local_tex(kind: str, slot: int, a: str, b: str | None) -> str:
    """The symbolic local derivative ∂parent/∂(argument `slot`), with the arguments' names a, b."""
    other = (b if slot == 0 else a) or ""
    me, you = (a, b) if slot == 0 else (b, a)
    table = {
        "add": "1", "sub": "1" if slot == 0 else "-1", "mul": other, "neg": "-1",
        "div": rf"\frac{{1}}{{{b}}}" if slot == 0 else rf"-\frac{{{a}}}{{{b}^{{2}}}}",
        "pow": rf"{b}\,{a}^{{{b}-1}}" if slot == 0 else rf"{a}^{{{b}}}\ln {a}",
        "sigmoid": rf"\sigma({a})\,(1-\sigma({a}))", "tanh": rf"1-\tanh^{{2}}({a})", "exp": rf"e^{{{a}}}",
        "log": rf"\frac{{1}}{{{a}}}", "sqrt": rf"\frac{{1}}{{2\sqrt{{{a}}}}}", "sin": rf"\cos {a}",
        "cos": rf"-\sin {a}", "tan": rf"1+\tan^{{2}}({a})", "sinh": rf"\cosh {a}", "cosh": rf"\sinh {a}",
        "erf": rf"\tfrac{{2}}{{\sqrt{{\pi}}}}\,e^{{-{a}^{{2}}}}", "abs": rf"\operatorname{{sign}}({a})", "relu": rf"[{a} > 0]",
        "softplus": rf"\sigma({a})", "gelu": rf"\Phi({a}) + {a}\,\varphi({a})",
        "max": rf"[{me} > {you}]", "min": rf"[{me} < {you}]",
    }
    return table[kind]


def edge_latex(tr: GraphTrace, e: Edge) -> str:
    """∂f/∂child += ∂parent/∂child · ∂f/∂parent = (symbolic) · ḡ = local · upstream = share."""
    child, parent = tr.nodes[e.child], tr.nodes[e.parent]
    c, p = tex_name(child.name), tex_name(parent.name)
    args = [tex_name(tr.nodes[i].name) for i in parent.inputs] + [None]
    sym = local_tex(parent.kind, e.slot, args[0], args[1])
    upstream = r"1" if parent is tr.output else rf"\frac{{\partial f}}{{\partial {p}}}"
    return (rf"\frac{{\partial f}}{{\partial {c}}} \mathrel{{+}}= \frac{{\partial {p}}}{{\partial {c}}}"
            rf"\cdot {upstream} = {sym} \cdot {term(e.upstream, 4)} = {term(e.local, 4)} \cdot {term(e.upstream, 4)}"
            rf" = {num(e.contribution, 4)}")


def node_sum_latex(tr: GraphTrace, node: Node) -> str:
    """∂f/∂node as the sum of its shares (one per parent edge)."""
    shares = [e.contribution for e in tr.edges if e.child == node.id]
    body = " + ".join(term(s, 4) for s in shares) if shares else "1"
    return rf"\frac{{\partial f}}{{\partial {tex_name(node.name)}}} = {body} = {num(node.grad or 0.0, 4)}"


# ----- the CNN's stages ---------------------------------------------------------------------------


def output_figure(bw: CNNBackward, title: str) -> go.Figure:
    """∂L/∂z5 for the ten classes (image 0); the true label's bar highlighted (it is negative)."""
    return bars(bw.dL_dz5[0], [str(k) for k in range(10)], title=title, highlight=int(bw.y[0]), fmt=".3g")


def output_latex(bw: CNNBackward, k_other: int) -> str:
    """∂L/∂z5[k] = (p_k − y_k)/N, for the true label and one other class."""
    y, N = int(bw.y[0]), bw.y.shape[0]
    p = as_numpy(bw.fwd.p[0])
    g = as_numpy(bw.dL_dz5[0])
    return (r"\begin{aligned}\frac{\partial L}{\partial z_5[k]} &= \frac{p_k - y_k}{N} \\"
            rf"\frac{{\partial L}}{{\partial z_5[{y}]}} &= \frac{{{num(p[y], 4)} - 1}}{{{N}}} \\ &= {num(g[y], 4)} \\"
            rf"\frac{{\partial L}}{{\partial z_5[{k_other}]}} &= \frac{{{num(p[k_other], 4)} - 0}}{{{N}}}"
            rf" \\ &= {num(g[k_other], 4)}\end{{aligned}}")


def matrix_figure(g, title: str, *, height: int = 260, x_title: str | None = None, y_title: str | None = None) -> go.Figure:
    """A gradient matrix (or a row vector) on a signed scale centred on 0."""
    g = as_numpy(g)
    g = g[None, :] if g.ndim == 1 else g
    m = max(float(np.abs(g).max()), 1e-12)
    fig = heatmap(g, title=title, colorscale=DIVERGING, zmid=0.0, zmin=-m, zmax=m, height=height, hover_fmt=".3e")
    fig.update_layout(yaxis=dict(autorange="reversed", showgrid=False, zeroline=False, title=y_title),
                      xaxis=dict(showgrid=False, zeroline=False, title=x_title))
    return fig


def dense_latex(bw: CNNBackward, l: int, k: int, u: int) -> str:
    """∂L/∂W_l[k,u] = δ_l[k] · in[u] for one weight of dense layer l (4 or 5), image 0."""
    delta = bw.dL_dz5 if l == 5 else bw.dL_dz4
    src, name = (bw.fwd.a4, "a_4") if l == 5 else (bw.fwd.f, "f")
    grads = bw.fc2 if l == 5 else bw.fc1
    d, a = float(delta[0, k]), float(src[0, u])
    return (rf"\begin{{aligned}}\frac{{\partial L}}{{\partial W_{l}}} &= \delta_{l}^{{\top}} {name},\quad "
            rf"\frac{{\partial L}}{{\partial b_{l}}} = \sum_n \delta_{l},\quad "
            rf"\frac{{\partial L}}{{\partial {'a_4' if l == 5 else 'f'}}} = \delta_{l} W_{l} \\"
            rf"\frac{{\partial L}}{{\partial W_{l}[{k},{u}]}} &= \delta_{l}[{k}]\cdot {name}[{u}] = {term(d, 4)}\cdot"
            rf" {term(a, 4)} = {num(float(grads.dW[k, u]), 4)}\end{{aligned}}")


def relu_latex(l: int, src: str, g: float, z: float, out: float, where: str) -> str:
    """δ_l = ∂L/∂a_l ⊙ [z_l > 0], one cell written out."""
    return (rf"\begin{{aligned}}\delta_{l} = \frac{{\partial L}}{{\partial z_{l}}} &= \frac{{\partial L}}{{\partial {src}}}"
            rf" \odot [z_{l} > 0] \\ \delta_{l}{where} &= {term(g, 4)} \cdot [{num(z, 3)} > 0] = {num(out, 4)}"
            r"\end{aligned}")


def flatten_latex(c: int, i: int, j: int, W: int, C: int, value: float) -> str:
    """∂L/∂a3[c,i,j] = ∂L/∂f[(i·W + j)·C + c]: the channels-last order, backwards."""
    k = (i * W + j) * C + c
    return (rf"\frac{{\partial L}}{{\partial a_3[c,i,j]}} = \frac{{\partial L}}{{\partial f[(i\cdot {W} + j)\cdot {C} + c]}}"
            rf"\quad\Rightarrow\quad \frac{{\partial L}}{{\partial a_3[{c},{i},{j}]}} = \frac{{\partial L}}{{\partial f[{k}]}}"
            rf" = {num(value, 4)}")


def conv_weight_latex(l: int, src: str, cell: WeightCell) -> str:
    """∂L/∂W_l[o,c,m,n] = Σ_ij δ_l[o,i,j] · src[c,i+m,j+n], written out (first three terms and the last)."""
    t = as_numpy(cell.terms)
    nz = t[t != 0]  # ReLU and pooling leave most products 0: write out the ones that are not
    shown = (" + ".join(term(v, 3) for v in nz[:3]) + (rf" + \dots + {term(nz[-1], 3)}" if len(nz) > 3 else "")
             if len(nz) else "0")
    return (rf"\begin{{aligned}}\frac{{\partial L}}{{\partial W_{l}[o,c,m,n]}} &= \sum_{{i,j}}"
            rf" \delta_{l}[o,i,j]\; {src}[c,\, i+m,\, j+n] \\"
            rf"\frac{{\partial L}}{{\partial W_{l}[{cell.o},{cell.c},{cell.m},{cell.n}]}} &= {shown}"
            rf" = {num(cell.value, 4)}\end{{aligned}}")


def conv_input_latex(l: int, src: str) -> str:
    """∂L/∂src = the full convolution of δ_l with the flipped kernel (padding k − 1)."""
    return (rf"\frac{{\partial L}}{{\partial {src}[c,a,b]}} = \sum_o \sum_{{m,n}} \delta_{l}[o,\, a-m,\, b-n]\;"
            rf" W_{l}[o,c,m,n] = \big(\delta_{l} * W_{l}\big)_{{\text{{full}}}},\quad \frac{{\partial L}}{{\partial b_{l}[o]}}"
            rf" = \sum_{{i,j}} \delta_{l}[o,i,j]")


def _matrix(a, mark: tuple[int, int] | None = None) -> str:
    rows = as_numpy(a)
    cells = [[(rf"\boxed{{{num(v, 3)}}}" if mark == (r, s) else num(v, 3)) for s, v in enumerate(row)]
             for r, row in enumerate(rows)]
    return r"\begin{bmatrix}" + r" \\ ".join(" & ".join(row) for row in cells) + r"\end{bmatrix}"


def pool_latex(l: int, route: PoolRoute) -> str:
    """A 2×2 window of a_l, its winner boxed, and the gradient sent back to the winner only."""
    return (rf"a_{l}[{route.c}, {2 * route.i}{{:}}{2 * route.i + 2}, {2 * route.j}{{:}}{2 * route.j + 2}] = "
            rf"{_matrix(route.window, route.winner)} \;\Rightarrow\; "
            rf"\frac{{\partial L}}{{\partial p_{l}[{route.c},{route.i},{route.j}]}} = {num(route.g, 4)} \;\Rightarrow\;"
            rf" \frac{{\partial L}}{{\partial a_{l}}}\Big|_{{\text{{window}}}} = {_matrix(route.routed, route.winner)}")


def grad_maps(g, channels: Sequence[int], title: str, cell: tuple[int, int, int] | None = None) -> go.Figure:
    """A few channels of a gradient stack (C, H, W) on a signed scale, one tile per channel."""
    g = as_numpy(g)
    return maps_figure(g[list(channels)], channels, signed=True, title=title, cell=cell)


def saliency_figures(digit, saliency, titles: tuple[str, str]) -> tuple[go.Figure, go.Figure]:
    """The learner's digit, and |∂L/∂x| over it (same 28×28 grid)."""
    left = heatmap(digit, title=titles[0], colorscale=INK, zmin=0.0, zmax=1.0, height=320, showscale=False)
    right = heatmap(np.abs(as_numpy(saliency)), title=titles[1], colorscale="Hot", zmin=0.0, height=320)
    for fig in (left, right):
        fig.update_xaxes(showticklabels=False)
        fig.update_yaxes(showticklabels=False)
    return left, right


def sgd_latex(eta: float, loss_before: float, loss_after: float, step_norm: float, grad_norm: float) -> str:
    """W ← W − η∇W, with the loss before and after."""
    return (rf"\begin{{aligned}}W &\leftarrow W - \eta\,\nabla_W L,\quad \eta = {num(eta, 4)} \\"
            rf"\lVert\nabla L\rVert &= {num(grad_norm, 4)},\quad \lVert\eta\nabla L\rVert = {num(step_norm, 4)} \\"
            rf"L_{{\text{{before}}}} &= {num(loss_before, 4)} \;\rightarrow\; L_{{\text{{after}}}} = {num(loss_after, 4)}"
            r"\end{aligned}")
