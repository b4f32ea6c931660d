"""The Transformer page's formulas written out with the live numbers (LaTeX strings only)."""

from __future__ import annotations

import math

from widgets.latex import num

SHOWN_TERMS = 3  # terms of a written-out sum before \dots
ACT_LATEX = {"relu": r"\mathrm{ReLU}(a) &= \max(0,\,a)", "gelu": r"\mathrm{GELU}(a) &= a\,\Phi(a)"}


def tex_num(v: float, digits: int = 3, paren: bool = True) -> str:
    """num(), but a number that would round to ±0.000 in scientific form (−2.4 × 10⁻⁴, not −0.000).
    paren=False: no parentheses around a negative number (after "=")."""
    if v != 0 and abs(v) < 0.5 * 10 ** -digits:
        mantissa, exponent = f"{v:.1e}".split("e")
        s = rf"{mantissa}\times 10^{{{int(exponent)}}}"
    else:
        s = f"{v:.{digits}f}"
    return f"({s})" if v < 0 and paren else s


def signed_terms(values, shown: int = SHOWN_TERMS, digits: int = 2) -> str:
    """'0.12 - 0.46 + 1.23 + \\dots': the first terms of a sum with their signs, then \\dots."""
    out = []
    for i, v in enumerate(values[:shown]):
        mag = f"{abs(v):.{digits}f}"
        out.append((("-" if v < 0 else "") + mag) if i == 0 else ((" - " if v < 0 else " + ") + mag))
    if len(values) > shown:
        out.append(r" + \dots")
    return "".join(out)


def power_of_ten(v: float) -> str:
    """1e-05 → '10^{-5}'; other numbers as they are."""
    e = math.log10(v) if v > 0 else 0.5
    return f"10^{{{int(e)}}}" if e == int(e) else f"{v:g}"


def html(symbol: str) -> str:
    """'R_1' → 'R<sub>1</sub>' for a plotly title (LaTeX is not rendered there)."""
    base, _, sub = symbol.partition("_")
    return f"{base}<sub>{sub}</sub>" if sub else base


def layer_norm_latex(x_row, norm, gamma, beta, p: int, k: int, eps: float) -> str:
    """μ and σ² of position p, then x̂_k and y_k, written out with the numbers of the
    LayerNormTrace `norm` (x_row: that position's input to the LayerNorm)."""
    x = x_row.tolist()
    d = len(x)
    mu, var = float(norm.mean[0, p]), float(norm.var[0, p])
    x_hat, y = float(norm.normalized[0, p, k]), float(norm.output[0, p, k])
    g, b = float(gamma[k]), float(beta[k])
    return (
        r"\begin{aligned}"
        rf"\mu &= \tfrac{{1}}{{d}}\textstyle\sum_k x_k \\ "
        rf"&= \tfrac{{1}}{{{d}}}\,({signed_terms(x)}) \\ "
        rf"&= \tfrac{{1}}{{{d}}}\cdot{tex_num(d * mu, 3)} = {tex_num(mu, 4, paren=False)} \\ "
        rf"\sigma^2 &= \tfrac{{1}}{{d}}\textstyle\sum_k (x_k-\mu)^2 \\ "
        rf"&= \tfrac{{1}}{{{d}}}\,({signed_terms([(v - mu) ** 2 for v in x])}) \\ "
        rf"&= \tfrac{{1}}{{{d}}}\cdot{d * var:.3f} = {var:.4f} \\ "
        rf"\hat x_k &= (x_k-\mu)\,/\sqrt{{\sigma^2+\varepsilon}} \\ "
        rf"\hat x_{{{k}}} &= \frac{{{num(x[k], 3)} - {tex_num(mu, 3)}}}{{\sqrt{{{var:.3f} + {power_of_ten(eps)}}}}}"
        rf" = {x_hat:.4f} \\ "
        rf"y_k &= \gamma_k\,\hat x_k + \beta_k \\ "
        rf"y_{{{k}}} &= {g:.3f}\cdot{num(x_hat, 4)} + {num(b, 3)} = {y:.4f}"
        r"\end{aligned}"
    )


def residual_latex(out: str, x: str, f: str, vx: float, vf: float, vout: float, p: int, k: int) -> str:
    return (r"\begin{aligned}"
            rf"{out} &= {x} + {f} \\ "
            rf"{out}[{p},{k}] &= {x}[{p},{k}] + {f}[{p},{k}] \\ "
            rf"&= {num(vx, 3)} + {num(vf, 3)} = {vout:.4f}"
            r"\end{aligned}")


def attention_latex(src: str, d: int, h: int, value: float, p: int, k: int) -> str:
    return (r"\begin{aligned}"
            rf"Q_i,\,K_i,\,V_i &= {src}W_i^Q,\ {src}W_i^K,\ {src}W_i^V \\ "
            r"\mathrm{head}_i &= \mathrm{softmax}\big(Q_iK_i^\top/\sqrt{d_k}\big)\,V_i \\ "
            r"A &= [\mathrm{head}_1;\dots;\mathrm{head}_h]\,W^O \\ "
            rf"d_k &= d/h = {d}/{h} = {d // h} \\ "
            rf"A[{p},{k}] &= {value:.4f}"
            r"\end{aligned}")


def ffn_latex(src: str, d: int, d_ff: int, activation: str, value: float, p: int, k: int) -> str:
    return (r"\begin{aligned}"
            rf"F &= W_2\,\mathrm{{act}}(W_1 {src} + b_1) + b_2 \\ "
            rf"W_1 &\in \mathbb{{R}}^{{{d_ff}\times {d}}},\; b_1 \in \mathbb{{R}}^{{{d_ff}}} \\ "
            rf"W_2 &\in \mathbb{{R}}^{{{d}\times {d_ff}}},\; b_2 \in \mathbb{{R}}^{{{d}}} \\ "
            rf"{ACT_LATEX[activation]} \\ "
            rf"F[{p},{k}] &= {value:.4f}"
            r"\end{aligned}")
