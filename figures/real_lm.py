"""The language model's next token: the top tokens as bars (tempered and renormalised
probabilities, cut tokens grey), the prompt's pieces, and the sampling steps as LaTeX."""

from __future__ import annotations

from collections.abc import Sequence

import plotly.graph_objects as go

from engine.ops.sampling import CUT_TOP_K, CUT_TOP_P, KEPT, SamplingTrace, TokenRow

KEPT_COLOR, CUT_COLOR, TEMPERED_COLOR = "#4F46E5", "#D1D5DB", "#F59E0B"


def top_bars(table: Sequence[TokenRow], pieces: Sequence[str], names: Sequence[str], *,
             title: str | None = None, height: int = 340) -> go.Figure:
    """Two bars a token, most probable first: p_T (softmax(z/T)) and q (renormalised after the
    cuts; 0 for a cut token). `names` = the legend's names of p_T and q."""
    x = list(range(len(table)))
    q_colors = [KEPT_COLOR if r.cut == KEPT else CUT_COLOR for r in table]
    fig = go.Figure([
        go.Bar(x=x, y=[r.p_T for r in table], name=names[0], marker_color=TEMPERED_COLOR, opacity=0.55,
               hovertemplate="%{customdata}<br>p_T = %{y:.4f}<extra></extra>", customdata=list(pieces)),
        go.Bar(x=x, y=[r.q for r in table], name=names[1], marker_color=q_colors,
               text=[f"{r.q:.3f}" if r.cut == KEPT else "" for r in table], textposition="outside",
               hovertemplate="%{customdata}<br>q = %{y:.4f}<extra></extra>", customdata=list(pieces)),
    ])
    top = max([r.q for r in table] + [r.p_T for r in table] + [1e-9])
    fig.update_layout(title=title, height=height, barmode="group", bargap=0.25,
                      margin=dict(l=10, r=10, t=40 if title else 10, b=10),
                      legend=dict(orientation="h", yanchor="bottom", y=1.0, x=1, xanchor="right"))
    fig.update_xaxes(tickmode="array", tickvals=x, ticktext=list(pieces), tickangle=-45)
    fig.update_yaxes(range=[0, 1.18 * top], tickformat=".0%")
    return fig


def _md_code(text: str) -> str:
    """A markdown code span around any text: the fence is one backtick longer than the longest
    run of backticks inside (CommonMark), so nothing a learner types escapes it."""
    run = n = 0
    for c in text:
        run = run + 1 if c == "`" else 0
        n = max(n, run)
    fence = "`" * (n + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


SUBSCRIPT = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")


def tokens_markdown(pieces: Sequence[str], ids: Sequence[int]) -> str:
    """Each piece as a code span with its id as a subscript: `The`₅₀₄ `␣capital`₃₅₇₅ …"""
    return " ".join(f"{_md_code(p)}{str(i).translate(SUBSCRIPT)}" for p, i in zip(pieces, ids, strict=True))


_TEX_TEXT_ESCAPES = {"\\": r"\textbackslash{}", "{": r"\{", "}": r"\}", "$": r"\$", "%": r"\%", "&": r"\&",
                     "#": r"\#", "_": r"\_", "^": r"\textasciicircum{}", "~": r"\textasciitilde{}"}


def _tex_text(s: str) -> str:
    """A token piece inside \\text{…}: LaTeX's special characters escaped."""
    # one pass, character by character: a replacement is never escaped again
    out = "".join(_TEX_TEXT_ESCAPES.get(c, c) for c in s)
    return r"\text{“" + out + r"”}"


def formula_latex(words: dict[str, str]) -> str:
    """The four steps, symbolically; `words` = the notes in the learner's language (keys
    temperature, greedy, top_k, nucleus, top_p, renormalise, otherwise)."""
    w = {k: _tex_words(v) for k, v in words.items()}
    return (r"\begin{aligned}"
            rf"p_{{T,i}} &= \frac{{e^{{z_i/T}}}}{{\sum_j e^{{z_j/T}}}} && {w['temperature']}\ T>0\\"
            rf"& && T=0:\ {w['greedy']}\ \arg\max_i z_i\\"
            rf"K &= \{{\,i : z_i \ge z_{{(k)}}\,\}} && \text{{top-}}k\text{{: }}{w['top_k']}\\"
            rf"N &= {w['nucleus']} && \text{{top-}}p\\"
            rf"&\quad \textstyle\sum_{{i\in N}} p_{{K,i}} \ge p\\"
            rf"q_i &= \frac{{p_{{T,i}}}}{{\sum_{{j\in N}} p_{{T,j}}}}\ (i\in N) && {w['renormalise']}\\"
            rf"q_i &= 0\ {w['otherwise']}"
            r"\end{aligned}")


def _tex_words(s: str) -> str:
    return r"\text{" + s.replace("{", r"\{").replace("}", r"\}") + "}"


def temperature_latex(tr: SamplingTrace, row: TokenRow, piece: str) -> str:
    """p_T of the most probable token with its numbers."""
    T = tr.settings.T
    return (rf"p_{{T}}({_tex_text(piece)}) = \frac{{e^{{{row.z:.3f}/{T:g}}}}}{{\sum_j e^{{z_j/{T:g}}}}}"
            rf" = {row.p_T:.4f} \qquad (T = 1:\ p = {row.p:.4f})")


def nucleus_latex(table: Sequence[TokenRow], top_p: float, n_kept: int, mass: float, tokens_word: str,
                  shown: int = 6) -> str:
    """The running sum of p_K, most probable first, up to the token that reaches top-p: the
    first `shown` terms written, the rest as … (`mass` = Σ p_K over the n_kept survivors)."""
    terms = [f"{r.p_k:.3f}" for r in table[:min(n_kept, shown)]]
    if n_kept > shown:
        terms.append(r"\dots")
    sign = r"\ge" if mass >= top_p else "<"
    return (rf"\underbrace{{{' + '.join(terms)}}}_{{{n_kept}\ {_tex_words(tokens_word)}}} = {mass:.4f} {sign} p = {top_p:g}")


def renormalise_latex(tr: SamplingTrace, row: TokenRow, piece: str) -> str:
    """q of the most probable token: p_T divided by the kept mass."""
    return (rf"q({_tex_text(piece)}) = \frac{{{row.p_T:.4f}}}{{{tr.kept_mass:.4f}}} = {row.q:.4f}"
            rf"\qquad \textstyle\sum_{{i \in N}} q_i = {float(tr.q.sum()):.6f}")


CUT_NAMES = {KEPT: "kept", CUT_TOP_K: "top-k", CUT_TOP_P: "top-p"}
