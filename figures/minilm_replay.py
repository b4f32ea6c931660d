"""LaTeX and figures for "Our engine replays the real model": the attention and Transformer
formulas with MiniLM's real sizes, one query's scores written out with the learner's numbers,
and the per-layer gaps between our replay and transformers'."""

from __future__ import annotations

from collections.abc import Sequence

import plotly.graph_objects as go

from engine.models.minilm import Comparison, EmbeddingTrace, MiniLMConfig, QueryScores
from engine.ops.transformer import EncoderTrace

_TEX_SPECIAL = {"\\": r"\backslash{}", "#": r"\#", "$": r"\$", "%": r"\%", "&": r"\&", "_": r"\_",
                "{": r"\{", "}": r"\}", "~": r"\sim{}", "^": r"\hat{}"}


def tex_text(s: str) -> str:
    """A token as KaTeX text: \\text{…} with LaTeX's special characters escaped."""
    return r"\text{" + "".join(_TEX_SPECIAL.get(c, c) for c in s) + "}"


def num(v: float, digits: int = 3) -> str:
    """A number after an operator: negative ones in parentheses."""
    s = f"{v:.{digits}f}"
    return f"({s})" if v < 0 else s


def model_latex(c: MiniLMConfig) -> str:
    """The whole model: the embedding sum, N post-LN blocks, attention per head, the FFN."""
    return (r"\begin{aligned}"
            r"h^{(0)}_t &= \mathrm{LN}\big(W_{\text{word}}[\mathrm{id}_t] + W_{\text{type}}[s_t] + P_t\big) \\"
            rf"Z^{{(l)}} &= \mathrm{{LN}}\big(h^{{(l-1)}} + \mathrm{{MHA}}(h^{{(l-1)}})\big),\quad l = 1,\dots,{c.N} \\"
            r"h^{(l)} &= \mathrm{LN}\big(Z^{(l)} + \mathrm{FFN}(Z^{(l)})\big) \\"
            rf"\mathrm{{head}}_i &= \mathrm{{softmax}}\!\Big(\frac{{Q_i K_i^\top}}{{\sqrt{{{c.d_k}}}}}\Big) V_i,"
            rf"\quad i = 1,\dots,{c.h} \\"
            r"Q_i &= h\,W_{Q,i}^\top + b_{Q,i}\quad(\text{likewise } K_i, V_i) \\"
            rf"\mathrm{{MHA}}(h) &= \mathrm{{Concat}}(\mathrm{{head}}_1,\dots,\mathrm{{head}}_{{{c.h}}})\,W_O^\top + b_O \\"
            r"\mathrm{FFN}(z) &= W_2\,\mathrm{GELU}(W_1 z + b_1) + b_2 \\"
            r"\mathrm{GELU}(a) &= a\,\Phi(a) = \tfrac{a}{2}\big(1 + \mathrm{erf}(a/\sqrt{2})\big) \\"
            rf"\mathrm{{LN}}(x) &= \gamma \odot \frac{{x - \mu}}{{\sqrt{{\sigma^2 + 10^{{{_exponent(c.eps)}}}}}}} + \beta"
            r"\end{aligned}")


def sizes_latex(c: MiniLMConfig) -> str:
    """Every weight matrix's shape, with the model's real d_model, h, d_k and d_ff."""
    R = r"\in \mathbb{R}^"
    rows = [rf"W_{{\text{{word}}}} &{R}{{{c.vocab_size}\times {c.d_model}}}",
            rf"P &{R}{{{c.max_position}\times {c.d_model}}}",
            rf"W_{{\text{{type}}}} &{R}{{{c.type_vocab_size}\times {c.d_model}}}",
            rf"W_{{Q,i}}, W_{{K,i}}, W_{{V,i}} &{R}{{{c.d_k}\times {c.d_model}}}",
            rf"d_k &= {c.d_model}/{c.h} = {c.d_k}",
            rf"W_O &{R}{{{c.d_model}\times {c.d_model}}}",
            rf"{c.h}\cdot {c.d_k} &= {c.d_model}",
            rf"W_1 &{R}{{{c.d_ff}\times {c.d_model}}}",
            rf"W_2 &{R}{{{c.d_model}\times {c.d_ff}}}"]
    return r"\begin{aligned}" + r" \\ ".join(rows) + r"\end{aligned}"


def _exponent(eps: float) -> str:
    """1e-12 → "-12" (ε is a power of ten in BERT and in torch's default)."""
    return str(int(f"{eps:.0e}".split("e")[1]))


def shapes_latex(c: MiniLMConfig, T: int) -> str:
    """The shapes every stage has for the learner's T tokens."""
    return (r"\begin{aligned}"
            rf"T &= {T}:\quad h^{{(l)}} \in \mathbb{{R}}^{{{T}\times {c.d_model}}},\quad "
            rf"Q_i, K_i, V_i \in \mathbb{{R}}^{{{T}\times {c.d_k}}},\quad "
            rf"Q_i K_i^\top \in \mathbb{{R}}^{{{T}\times {T}}} \\"
            rf"&\mathrm{{Concat}} \in \mathbb{{R}}^{{{T}\times {c.h * c.d_k}}},\quad "
            rf"W_1 z + b_1 \in \mathbb{{R}}^{{{T}\times {c.d_ff}}},\quad "
            rf"A \in \mathbb{{R}}^{{{c.N}\times {c.h}\times {T}\times {T}}}\ (\text{{softmax}})"
            r"\end{aligned}")


def query_latex(s: QueryScores, tokens: Sequence[str], terms: int = 3) -> str:
    """s_ij = q_i·k_j/√d_k for the first keys, the dot product written out for the first key,
    and the weights a_ij (of the softmax over every key)."""
    i = s.query
    q, k0 = s.q.tolist(), s.k[0].tolist()
    shown = " + ".join(rf"{num(a, 2)}\cdot{num(b, 2)}" for a, b in zip(q[:terms], k0[:terms]))
    lines = [rf"q_{{{i}}}\cdot k_{{0}} &= \textstyle\sum_{{d=1}}^{{{s.d_k}}} q_{{{i},d}}\,k_{{0,d}}"
             rf" = {shown} + \dots = {float(s.dots[0]):.3f}"]
    for n, j in enumerate(s.keys):
        lines.append(rf"s_{{{i},{j}}} &= \frac{{q_{{{i}}}\cdot k_{{{j}}}}}{{\sqrt{{{s.d_k}}}}}"
                     rf" = \frac{{{float(s.dots[n]):.3f}}}{{{s.d_k ** 0.5:.3f}}} = {float(s.scaled[n]):.3f}"
                     rf"\;\Rightarrow\; a_{{{i},{j}}} = {float(s.weights[n]):.4f}\quad"
                     rf"({tex_text(tokens[i])} \to {tex_text(tokens[j])})")
    lines.append(rf"\textstyle\sum_{{j}} a_{{{i},j}} &= {s.row_sum:.6f}")
    return r"\begin{aligned}" + r" \\ ".join(lines) + r"\end{aligned}"


def gap_figure(c32: Comparison, c64: Comparison, names: dict[str, str], depths: Sequence[str], *,
               title: str | None = None) -> go.Figure:
    """max |Δ| per depth on a log scale: hidden states and attention weights, float32 and float64,
    with each dtype's tolerance as a dashed line. names: hidden, attention, tolerance; depths: one
    label per depth (the embeddings, then each layer)."""
    fig = go.Figure()
    x = list(depths)
    if len(x) != len(c32.gaps):
        raise ValueError(f"{len(c32.gaps)} depths need as many labels, got {len(x)}")
    # one colour per quantity, float64 hatched: four bars per depth (three at the embeddings)
    for c, pattern in ((c32, ""), (c64, "/")):
        kind = str(c.dtype).removeprefix("torch.")
        fig.add_bar(x=x, y=[max(g.hidden, 1e-18) for g in c.gaps], name=f"{names['hidden']} · {kind}",
                    marker=dict(color="#1f77b4", pattern_shape=pattern))
        fig.add_bar(x=x[1:], y=[max(g.attention, 1e-18) for g in c.gaps[1:]], name=f"{names['attention']} · {kind}",
                    marker=dict(color="#ff7f0e", pattern_shape=pattern))
        fig.add_hline(y=c.tolerance, line_dash="dash", line_color="gray",
                      annotation_text=f"{names['tolerance']} {kind}: {c.tolerance:.0e}", annotation_position="top left")
    fig.update_yaxes(type="log", title="max |Δ|", exponentformat="power")
    fig.update_layout(barmode="group", title=title, height=360, margin=dict(l=10, r=10, t=50, b=10),
                      legend=dict(orientation="h", y=-0.15))
    return fig


def vec(v, terms: int = 3) -> str:
    """The first `terms` entries of a vector, then … : (0.012, −0.034, 0.051, …)."""
    shown = ", ".join(f"{float(x):.3f}" for x in v[:terms])
    return rf"({shown}, \dots)" if len(v) > terms else f"({shown})"


def embedding_latex(e: EmbeddingTrace, t: int, token_id: int, segment: int, eps: float) -> str:
    """Token t's input to layer 1: the three embedding rows, their sum, LayerNorm's μ and σ²."""
    d = e.total.shape[-1]
    return (r"\begin{aligned}"
            rf"W_{{\text{{word}}}}[{token_id}] &= {vec(e.word[0, t])} \\"
            rf"W_{{\text{{type}}}}[{segment}] &= {vec(e.token_type[0, t])} \\"
            rf"P_{{{t}}} &= {vec(e.position[0, t])} \\"
            rf"x_{{{t}}} &= W_{{\text{{word}}}}[{token_id}] + W_{{\text{{type}}}}[{segment}] + P_{{{t}}} \\"
            rf"&= {vec(e.total[0, t])} \\"
            rf"\mu &= \tfrac{{1}}{{{d}}}\textstyle\sum_e x_{{{t},e}} = {float(e.norm.mean[0, t]):.4f} \\"
            rf"\sigma^2 &= {float(e.norm.var[0, t]):.4f},\quad \varepsilon = 10^{{{_exponent(eps)}}} \\"
            rf"h^{{(0)}}_{{{t}}} &= \gamma \odot \frac{{x_{{{t}}} - \mu}}{{\sqrt{{\sigma^2 + \varepsilon}}}} + \beta \\"
            rf"&= {vec(e.output[0, t])}"
            r"\end{aligned}")


def block_latex(b: EncoderTrace, l: int, t: int) -> str:
    """Token t through layer l's two post-LN residual sub-layers, with its numbers."""
    s1, s2 = b.self_attn, b.feed_forward
    active, d_ff = int((s2.inner.hidden[0, t] > 0).sum()), s2.inner.hidden.shape[-1]
    x, z, h = rf"h^{{({l - 1})}}_{{{t}}}", rf"Z^{{({l})}}_{{{t}}}", rf"h^{{({l})}}_{{{t}}}"

    def moments(s) -> str:
        return rf"\quad(\mu = {float(s.norm.mean[0, t]):.3f},\ \sigma^2 = {float(s.norm.var[0, t]):.3f})"

    rows = [rf"{x} &= {vec(s1.x[0, t])}",
            rf"\mathrm{{MHA}}(h^{{({l - 1})}})_{{{t}}} &= {vec(s1.inner.output[0, t])}",
            rf"{x} + \mathrm{{MHA}} &= {vec(s1.residual[0, t])}{moments(s1)}",
            rf"{z} = \mathrm{{LN}}(\cdot) &= {vec(s1.output[0, t])}",
            rf"\mathrm{{FFN}}({z}) &= {vec(s2.inner.output[0, t])}",
            rf"\#\{{j : (W_1 z + b_1)_j > 0\}} &= {active}/{d_ff}",
            rf"{z} + \mathrm{{FFN}} &= {vec(s2.residual[0, t])}{moments(s2)}",
            rf"{h} = \mathrm{{LN}}(\cdot) &= {vec(s2.output[0, t])}"]
    return r"\begin{aligned}" + r" \\ ".join(rows) + r"\end{aligned}"
