"""The Transformer block: the learner's sentence through one encoder block stage by stage
(multi-head self-attention, residual, LayerNorm with its numbers, FFN, residual, LayerNorm), in
either LayerNorm placement; LayerNorm's invariant; the FFN with a wrong extra activation; a
decoder block (causal self-attention, cross-attention on the encoder's output); the "one fixed
vector" erratum; and checks against nn.TransformerEncoderLayer / nn.TransformerDecoderLayer."""

from __future__ import annotations

import math

import pandas as pd
import streamlit as st
import torch

import lessons
from engine.data.tokens import TokenError, tokenize
from engine.ops.attention import causal_mask
from engine.ops.transformer import (
    BlockConfig,
    decoder_block,
    encoder_block,
    ffn,
    layer_norm,
    seeded_block_params,
    torch_decoder_layer,
    torch_encoder_layer,
)
from engine.ops.transformer_setup import block_input, ffn_outer_activation, position_moments
from figures.recurrent import token_label
from figures.transformer import attention_figure, symmetric_range, token_feature_figure
from widgets import blocks
from widgets.blocks import show_code, torch_check
from widgets.i18n import T
from widgets.latex import num

t = T("transformer")
MAX_TOKENS = 12  # the page's bound on a sentence (engine.limits allows more): heatmaps stay readable
SEED_MAX = 9999
DECODER_SEED_OFFSET = 1  # the decoder's weights come from seed + 1: its own, not the encoder's
D_MODEL = dict(min_value=8, max_value=64, value=16, step=4)
HEADS = dict(min_value=1, max_value=8, value=4)
D_FF = dict(min_value=8, max_value=256, value=64, step=8)
HEADS_PER_ROW = 4
GRID_ANNOTATE_MAX = 5  # numbers in the small per-head maps up to this many tokens
SHOWN_TERMS = 3  # terms of a written-out sum before \dots
ACT_LATEX = {"relu": r"\mathrm{ReLU}(a) &= \max(0,\,a)", "gelu": r"\mathrm{GELU}(a) &= a\,\Phi(a)"}
ACT_NAMES = {"relu": "ReLU", "gelu": "GELU"}


def checked(name: str, value: int) -> int:
    return blocks.checked(t, name, value)


def sentence(raw: str, empty_key: str) -> list[str] | None:
    """The learner's text as tokens, at most MAX_TOKENS (a warning says what was cut); None, with
    a friendly note, when there are no words."""
    text, n = raw.strip(), None
    while True:
        try:
            tokens = tokenize(text)
            break
        except TokenError as e:
            if e.code != "too_many_tokens":
                st.info(t(empty_key))
                return None
            # far past the engine's bound: keep a prefix it accepts
            n = n or e.params["n"]
            text = text[: len(text) // 2]
    n = n or len(tokens)
    if n > MAX_TOKENS:
        tokens = tokens[:MAX_TOKENS]
        st.warning(t("too_long", n=n, max=MAX_TOKENS, kept=" ".join(token_label(x) for x in tokens)))
    return tokens


# ----- LaTeX with the live numbers ---------------------------------------------------------


def tex_num(v: float, digits: int = 3, paren: bool = True) -> str:
    """num(), but a number that would round to ±0.000 in scientific form (−2.4 × 10⁻⁴, not −0.000).
    paren=False: no parentheses around a negative number (after "=")."""
    if v != 0 and abs(v) < 0.5 * 10 ** -digits:
        mantissa, exponent = f"{v:.1e}".split("e")
        s = rf"{mantissa}\times 10^{{{int(exponent)}}}"
    else:
        s = f"{v:.{digits}f}"
    return f"({s})" if v < 0 and paren else s


def localized_text_input(label: str, key: str, default_key: str, **kw) -> str:
    """A text box whose example follows the language: a box still holding another language's
    example gets this language's one (Streamlit keeps a keyed widget's value and ignores a new
    default); a sentence the learner typed is kept."""
    defaults = {lang: lessons.text("transformer", default_key, lang) for lang in lessons.LANGS}
    if st.session_state.get(key) in set(defaults.values()) - {defaults[t.lang]}:
        st.session_state[key] = defaults[t.lang]
    st.session_state.setdefault(key, defaults[t.lang])
    return st.text_input(label, key=key, **kw)


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


def layer_norm_latex(x_row: torch.Tensor, norm, gamma: torch.Tensor, beta: torch.Tensor,
                     p: int, k: int, eps: float) -> str:
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


# ----- page sections -----------------------------------------------------------------------


def chart(fig, key: str) -> None:
    st.plotly_chart(fig, key=key, config={"displayModeBar": False})


def heads_grid(weights: torch.Tensor, q_tokens, k_tokens, key: str) -> None:
    """One small heatmap per head, HEADS_PER_ROW to a row."""
    h = weights.shape[0]
    # one colour scale for every head, 0 … the largest weight of any of them
    zmax = float(weights.max())
    T_q = weights.shape[-1]
    st.caption(t("heads_help", zmax=f"{zmax:.2f}", T=T_q, uniform=f"{1 / T_q:.2f}"))
    for start in range(0, h, HEADS_PER_ROW):
        cols = st.columns(HEADS_PER_ROW)
        for i in range(start, min(start + HEADS_PER_ROW, h)):
            with cols[i - start]:
                chart(attention_figure(weights[i], q_tokens, k_tokens, title=t("head_title", i=i + 1),
                                       annotate=len(q_tokens) <= GRID_ANNOTATE_MAX, zmax=zmax), f"{key}_{i}")


def html(symbol: str) -> str:
    """'R_1' → 'R<sub>1</sub>' for a plotly title (LaTeX is not rendered there)."""
    base, _, sub = symbol.partition("_")
    return f"{base}<sub>{sub}</sub>" if sub else base


def stage(number: int, title: str, z: torch.Tensor, fig_title: str, latex: str, key: str,
          note: str | None = None, extra=None, before=None) -> None:
    """A stage of the block: its heatmap (tokens × features) beside its formula. `before` draws
    full-width content under the subheader; `extra`, more figures above the stage's own."""
    st.subheader(f"{number}. {title}")
    if before is not None:
        before()
    # top-aligned: the formula column is often the taller one, and a centred chart would
    # leave a blank above it
    left, right = st.columns(2, vertical_alignment="top")
    with left:
        if extra is not None:
            extra()
        chart(token_feature_figure(z[0], tokens, title=fig_title, pick=(p, k), feature_label=t("feature_axis")),
              key)
    with right:
        st.latex(latex)
        if note:
            st.caption(note)


def position_labels(toks) -> list[str]:
    return [f"{i} · {token_label(x)}" for i, x in enumerate(toks)]


def norm_table(sub, which: int) -> pd.DataFrame:
    """Per position: the LayerNorm's input μ, σ², and the mean and variance of x̂ (checked anew)."""
    mean_hat, var_hat = position_moments(sub.norm.normalized[0])
    return pd.DataFrame({
        t("col_token"): position_labels(tokens),
        "μ": [f"{v:+.4f}" for v in sub.norm.mean[0].tolist()],
        "σ²": [f"{v:.4f}" for v in sub.norm.var[0].tolist()],
        t("col_mean_hat"): [f"{v:+.1e}" for v in mean_hat.tolist()],
        t("col_var_hat"): [f"{v:.6f}" for v in var_hat.tolist()],
    })


# ----- title, intuition, formula ---------------------------------------------------------
st.title(t("title"))
st.markdown(t.section("intuition"))
st.latex(r"\begin{aligned}"
         r"X &= E + PE \\"
         r"Z &= \mathrm{LN}\big(X + \mathrm{MHA}(X)\big) \\"
         r"Y &= \mathrm{LN}\big(Z + \mathrm{FFN}(Z)\big) \\"
         r"\mathrm{FFN}(z) &= W_2\,\mathrm{act}(W_1 z + b_1) + b_2"
         r"\end{aligned}")
st.markdown(t.section("symbols"))

# ----- controls ---------------------------------------------------------------------------
st.header(t("controls_header"))
raw_source = localized_text_input(t("source_label"), "tf_src", "source_default",
                                  help=t("source_help", max=MAX_TOKENS))
c_d, c_h, c_ff = st.columns(3)
with c_d:
    d_model = checked("d_model", st.slider(t("d_label"), key="tf_d", **D_MODEL))
with c_h:
    h = checked("num_heads", st.slider(t("h_label"), key="tf_h", help=t("h_help"), **HEADS))
with c_ff:
    d_ff = checked("d_ff", st.slider(t("dff_label"), key="tf_dff", **D_FF))
c_act, c_norm, c_seed = st.columns(3)
with c_act:
    activation = st.radio(t("act_label"), list(ACT_NAMES), format_func=ACT_NAMES.get, horizontal=True,
                          key="tf_act")
with c_norm:
    norm_labels = {False: t("post_ln"), True: t("pre_ln")}
    norm_first = st.radio(t("norm_label"), [False, True], format_func=norm_labels.get, horizontal=True,
                          key="tf_norm", help=t("norm_help"))
with c_seed:
    seed = st.number_input(t("seed_label"), 0, SEED_MAX, 0, step=1, key="tf_seed", help=t("seed_help"))
if not 0 <= int(seed) <= SEED_MAX:
    st.error(t("err_seed", high=SEED_MAX))
    st.stop()
seed = int(seed)
if activation not in ACT_NAMES:
    st.error(t("err_activation"))
    st.stop()
if d_model % h:
    st.error(t("not_divisible", d=d_model, h=h))
    st.stop()

tokens = sentence(raw_source, "err_no_tokens")
if tokens is None:
    st.stop()
T_len = checked("tokens", len(tokens))
config = BlockConfig(d_model=d_model, h=h, d_ff=d_ff, activation=activation, norm_first=bool(norm_first))
params = seeded_block_params(config, seed)
inp = block_input(tokens, d_model, seed)
# (T, d) → (1, T, d): a batch of one sentence, torch's batch_first layout
X = inp.X[None]
with torch.no_grad():
    enc = encoder_block(X, params, h, config.norm_first, activation, eps=config.eps)
    other = encoder_block(X, params, h, not config.norm_first, activation, eps=config.eps)
st.caption(t("setup", T=T_len, d=d_model, h=h, d_k=config.d_k, d_ff=d_ff, seed=seed))

# ----- the input --------------------------------------------------------------------------
st.header(t("flow_header"))
st.markdown(t("flow_help"))
st.session_state["tf_pos"] = min(int(st.session_state.get("tf_pos", min(1, T_len - 1))), T_len - 1)
st.session_state["tf_k"] = min(int(st.session_state.get("tf_k", 0)), d_model - 1)
c_p, c_k = st.columns(2)
with c_p:
    p = int(st.slider(t("pos_label"), 0, max(T_len - 1, 1), key="tf_pos", disabled=T_len == 1))
with c_k:
    k = int(st.slider(t("k_label"), 0, d_model - 1, key="tf_k"))
p = min(p, T_len - 1)
st.caption(t("pick_note", p=p, tok=token_label(tokens[p]), k=k))

stage(0, t("stage_input"), X, t("fig_X"),
      residual_latex("X", "E", "PE", float(inp.embedding[p, k]), float(inp.position[p, k]),
                     float(inp.X[p, k]), p, k),
      "tf_fig_X", note=t("input_note"))

# the stages in the order the chosen placement computes them
s1, s2 = enc.self_attn, enc.feed_forward
attn_out, ffn_out = s1.inner.output, s2.inner.output


def show_heads():
    heads_grid(enc.weights[0], tokens, tokens, "tf_fig_head")


def attention_stage(n: int, src: str):
    stage(n, t("stage_attention", src=src), attn_out, t("fig_A"),
          attention_latex(src, d_model, h, float(attn_out[0, p, k]), p, k), "tf_fig_A", before=show_heads)


def ffn_stage(n: int, src: str):
    active = int((enc.ffn.hidden[0, p] > 0).sum())
    stage(n, t("stage_ffn", src=src), ffn_out, t("fig_F"),
          ffn_latex(src, d_model, d_ff, activation, float(ffn_out[0, p, k]), p, k), "tf_fig_F",
          note=t("ffn_note", n=active, d_ff=d_ff, p=p),
          extra=lambda: chart(token_feature_figure(enc.ffn.activated[0], tokens, title=t("fig_hidden"),
                                                   feature_label=t("hidden_axis")), "tf_fig_hidden"))


def norm_stage(n: int, which: int, sub, x_in: torch.Tensor, src: str, out: str):
    gamma_beta = params.norm1 if which == 1 else params.norm2
    latex = layer_norm_latex(x_in[0, p], sub.norm, gamma_beta.weight, gamma_beta.bias, p, k, config.eps)
    stage(n, t("stage_norm", i=which, src=src, out=out), sub.norm.output,
          t("fig_norm", i=which, out=html(out), src=html(src)),
          latex, f"tf_fig_norm{which}", note=t("norm_note", p=p, tok=token_label(tokens[p]), src=f"${src}$"))


def residual_stage(n: int, x_sym: str, f_sym: str, out: str, x_val: torch.Tensor, f_val: torch.Tensor,
                   out_val: torch.Tensor, key: str):
    stage(n, t("stage_residual", out=out, x=x_sym, f=f_sym), out_val,
          t("fig_residual", out=html(out), x=html(x_sym), f=html(f_sym)),
          residual_latex(out, x_sym, f_sym, float(x_val[0, p, k]), float(f_val[0, p, k]),
                         float(out_val[0, p, k]), p, k), key)


if not config.norm_first:
    # post-LN: A = MHA(X), R₁ = X + A, Z = LN₁(R₁), F = FFN(Z), R₂ = Z + F, Y = LN₂(R₂)
    attention_stage(1, "X")
    residual_stage(2, "X", "A", "R_1", X, attn_out, s1.residual, "tf_fig_R1")
    norm_stage(3, 1, s1, s1.residual, "R_1", "Z")
    ffn_stage(4, "Z")
    residual_stage(5, "Z", "F", "R_2", s2.x, ffn_out, s2.residual, "tf_fig_R2")
    norm_stage(6, 2, s2, s2.residual, "R_2", "Y")
else:
    # pre-LN: N₁ = LN₁(X), A = MHA(N₁), Z = X + A, N₂ = LN₂(Z), F = FFN(N₂), Y = Z + F
    norm_stage(1, 1, s1, X, "X", "N_1")
    attention_stage(2, "N_1")
    residual_stage(3, "X", "A", "Z", X, attn_out, s1.residual, "tf_fig_R1")
    norm_stage(4, 2, s2, s1.output, "Z", "N_2")
    ffn_stage(5, "N_2")
    residual_stage(6, "Z", "F", "Y", s2.x, ffn_out, s2.residual, "tf_fig_R2")
st.caption(t("output_note", T=T_len, d=d_model))

# ----- LayerNorm's invariant --------------------------------------------------------------
st.header(t("invariant_header"))
st.markdown(t.section("invariant"))
st.latex(r"\hat x_k = \frac{x_k-\mu}{\sqrt{\sigma^2+\varepsilon}}"
         r"\;\Rightarrow\; \tfrac{1}{d}\textstyle\sum_k \hat x_k = 0,\quad"
         r"\tfrac{1}{d}\textstyle\sum_k \hat x_k^2 = \frac{\sigma^2}{\sigma^2+\varepsilon} \approx 1")
c_n1, c_n2 = st.columns(2)
for col, which, sub in ((c_n1, 1, s1), (c_n2, 2, s2)):
    with col:
        st.markdown(f"**{t('table_norm', i=which)}**")
        st.dataframe(norm_table(sub, which), hide_index=True, key=f"tf_table_norm{which}")
st.caption(t("invariant_note", eps=f"{config.eps:g}"))

# ----- the FFN erratum --------------------------------------------------------------------
st.header(t("ffn_erratum_header"))
st.markdown(t.section("ffn_erratum"))
st.latex(r"\begin{aligned}"
         rf"\text{{{t('tex_right')}}}\quad \mathrm{{FFN}}(x) &= W_2\,\mathrm{{act}}(W_1x + b_1) + b_2 \\"
         rf"\text{{{t('tex_wrong')}}}\quad \mathrm{{FFN}}(x) &= \mathrm{{act}}\big(W_2\,\mathrm{{act}}(W_1x + b_1)\big) + b_2"
         r"\end{aligned}")
# the same input the block's FFN received: Z (post-LN) or N₂ = LN₂(Z) (pre-LN)
ffn_in = s2.norm.output if config.norm_first else s2.x
P = params.ffn
with torch.no_grad():
    wrong = ffn_outer_activation(ffn_in, P.W_1, P.b_1, P.W_2, P.b_2, activation)
scale = symmetric_range(wrong.right.output, wrong.wrong)
c_right, c_wrong = st.columns(2)
with c_right:
    chart(token_feature_figure(wrong.right.output[0], tokens, title=t("fig_ffn_right"), zmax=scale,
                               feature_label=t("feature_axis")), "tf_fig_ffn_right")
with c_wrong:
    chart(token_feature_figure(wrong.wrong[0], tokens, title=t("fig_ffn_wrong"), zmax=scale,
                               feature_label=t("feature_axis")), "tf_fig_ffn_wrong")
n_neg, n_all = int(wrong.negative.sum()), wrong.projected[0].numel()
floor = float((wrong.wrong - P.b_2).min())
m1, m2, m3 = st.columns(3)
m1.metric(t("metric_ffn_delta"), f"{float(wrong.delta.abs().max()):.4f}")
m2.metric(t("metric_negative"), f"{n_neg} / {n_all}")
m3.metric(t("metric_floor"), f"{floor:.4f}")
st.markdown(t(f"ffn_erratum_{activation}", n=n_neg, total=n_all, floor=f"{floor:.4f}"))

# ----- pre-LN vs post-LN ------------------------------------------------------------------
st.header(t("order_header"))
st.markdown(t.section("norm_order"))
st.latex(r"\begin{aligned}"
         r"\text{post-LN:}\quad x &\leftarrow \mathrm{LN}\big(x + \mathrm{Sublayer}(x)\big) \\"
         r"\text{pre-LN:}\quad x &\leftarrow x + \mathrm{Sublayer}\big(\mathrm{LN}(x)\big)"
         r"\end{aligned}")
post, pre = (other, enc) if config.norm_first else (enc, other)
scale = symmetric_range(post.output, pre.output)
c_post, c_pre = st.columns(2)
with c_post:
    chart(token_feature_figure(post.output[0], tokens, title=t("fig_post"), zmax=scale,
                               feature_label=t("feature_axis")), "tf_fig_post")
with c_pre:
    chart(token_feature_figure(pre.output[0], tokens, title=t("fig_pre"), zmax=scale,
                               feature_label=t("feature_axis")), "tf_fig_pre")
st.metric(t("metric_order_delta"), f"{float((post.output - pre.output).abs().max()):.4f}")
post_mean, post_var = position_moments(post.output[0])
pre_mean, pre_var = position_moments(pre.output[0])
st.dataframe(pd.DataFrame({
    t("col_token"): position_labels(tokens),
    t("col_post_mean"): [f"{v:+.4f}" for v in post_mean.tolist()],
    t("col_post_var"): [f"{v:.4f}" for v in post_var.tolist()],
    t("col_pre_mean"): [f"{v:+.4f}" for v in pre_mean.tolist()],
    t("col_pre_var"): [f"{v:.4f}" for v in pre_var.tolist()],
}), hide_index=True, key="tf_table_order")
st.caption(t("order_note"))

# ----- the decoder ------------------------------------------------------------------------
st.header(t("decoder_header"))
st.markdown(t.section("decoder"))
if config.norm_first:
    st.latex(r"\begin{aligned}"
             r"Z_1 &= X' + \mathrm{MHA}_{\text{causal}}\big(\mathrm{LN}_1(X')\big) \\"
             r"Z_2 &= Z_1 + \mathrm{MHA}\big(\mathrm{LN}_2(Z_1),\,M,\,M\big) \\"
             r"Y' &= Z_2 + \mathrm{FFN}\big(\mathrm{LN}_3(Z_2)\big)"
             r"\end{aligned}")
else:
    st.latex(r"\begin{aligned}"
             r"Z_1 &= \mathrm{LN}_1\big(X' + \mathrm{MHA}_{\text{causal}}(X')\big) \\"
             r"Z_2 &= \mathrm{LN}_2\big(Z_1 + \mathrm{MHA}(Z_1,\,M,\,M)\big) \\"
             r"Y' &= \mathrm{LN}_3\big(Z_2 + \mathrm{FFN}(Z_2)\big)"
             r"\end{aligned}")
st.latex(r"S_{ij} = -\infty\;\;(j > i) \;\Rightarrow\; "
         r"\alpha_{ij} = \frac{e^{S_{ij}}}{\sum_{j'} e^{S_{ij'}}} = 0\;\;(j > i)")
raw_target = localized_text_input(t("target_label"), "tf_tgt", "target_default",
                                  help=t("target_help", max=MAX_TOKENS))
tgt_tokens = sentence(raw_target, "empty_target")
dec = None
if tgt_tokens is not None:
    T_tgt = checked("tokens", len(tgt_tokens))
    dec_params = seeded_block_params(config, seed + DECODER_SEED_OFFSET, decoder=True)
    # (T', d) → (1, T', d)
    X_tgt = block_input(tgt_tokens, d_model, seed).X[None]
    memory = enc.output
    with torch.no_grad():
        dec = decoder_block(X_tgt, memory, dec_params, h, config.norm_first, activation, causal=True,
                            eps=config.eps)
    st.caption(t("decoder_setup", T=T_tgt, S=T_len, d=d_model, seed=seed + DECODER_SEED_OFFSET))
    st.session_state["tf_head"] = min(int(st.session_state.get("tf_head", 1)), h)
    head = min(int(st.slider(t("head_label"), 1, max(h, 2), key="tf_head", disabled=h == 1)), h) - 1
    c_self, c_cross = st.columns(2)
    with c_self:
        chart(attention_figure(dec.self_weights[0, head], tgt_tokens, tgt_tokens,
                               title=t("fig_causal", i=head + 1)), "tf_fig_causal")
    with c_cross:
        cross = dec.cross_weights[0, head]
        chart(attention_figure(cross, tgt_tokens, tokens, title=t("fig_cross", i=head + 1),
                               zmax=float(cross.max()), showscale=True), "tf_fig_cross")
    # the largest weight above the diagonal, over every head: must be exactly 0
    above = float(dec.self_weights[0].triu(diagonal=1).abs().max()) if T_tgt > 1 else 0.0
    st.markdown(t("causal_ok" if above == 0.0 else "causal_bad", max=f"{above:.1e}", h=h))
    chart(token_feature_figure(dec.output[0], tgt_tokens, title=t("fig_dec_out"), pick=None,
                               feature_label=t("feature_axis")), "tf_fig_dec_out")
    st.caption(t("decoder_shapes", T=T_tgt, S=T_len, d=d_model, h=h))

# ----- the "one fixed-length vector" erratum ----------------------------------------------
st.header(t("encoder_erratum_header"))
st.markdown(t.section("encoder_erratum"))
st.latex(r"\begin{aligned}"
         rf"\text{{{t('tex_wrong')}}}\quad \mathrm{{Encoder}}(x_1,\dots,x_{{{T_len}}}) &= c \in \mathbb{{R}}^{{{d_model}}} \\"
         rf"\text{{{t('tex_right')}}}\quad \mathrm{{Encoder}}(x_1,\dots,x_{{{T_len}}}) &= (y_1,\dots,y_{{{T_len}}})"
         rf" \in \mathbb{{R}}^{{{T_len}\times {d_model}}}"
         r"\end{aligned}")


def shape(x: torch.Tensor) -> str:
    return " × ".join(str(n) for n in x.shape)


shapes = [
    (t("shape_input"), "X", shape(X[0])),
    (t("shape_weights"), "α", shape(enc.weights[0])),
    (t("shape_hidden"), "act(W₁z + b₁)", shape(enc.ffn.hidden[0])),
    (t("shape_output"), "Y", shape(enc.output[0])),
]
if dec is not None:
    shapes.append((t("shape_cross"), "α′", shape(dec.cross_weights[0])))
shapes.append((t("shape_claim"), "c", f"{d_model}"))
st.dataframe(pd.DataFrame(shapes, columns=[t("col_quantity"), t("col_symbol"), t("col_shape")]),
             hide_index=True, key="tf_table_shapes")
chart(token_feature_figure(enc.output[0], tokens, title=t("fig_Y", T=T_len, d=d_model),
                           feature_label=t("feature_axis")), "tf_fig_Y")
if dec is not None:
    # the erratum taken literally: memory is one vector (the last position's), S = 1
    with torch.no_grad():
        one = decoder_block(X_tgt, enc.output[:, -1:], dec_params, h, config.norm_first, activation,
                            causal=True, eps=config.eps)
    w1 = one.cross_weights
    st.markdown(t("one_vector", lo=f"{float(w1.min()):.6f}", hi=f"{float(w1.max()):.6f}",
                  shape=shape(w1[0]), S=T_len))
else:
    st.caption(t("one_vector_needs_target"))

# ----- show the code, check against torch -------------------------------------------------
show_code(encoder_block, layer_norm, ffn, decoder_block, ffn_outer_activation)

st.header(t("check_torch"))
st.caption(t("check_help_enc", T=T_len, d=d_model, h=h, d_ff=d_ff, act=ACT_NAMES[activation],
             norm=norm_labels[config.norm_first]))
with torch.no_grad():
    ref = torch_encoder_layer(config, params)(X)
torch_check(float((enc.output - ref).abs().max()), "nn.TransformerEncoderLayer")
if dec is not None:
    st.caption(t("check_help_dec", T=T_tgt, S=T_len))
    with torch.no_grad():
        # torch's bool masks mean "blocked": the future, the opposite of our keep-mask
        ref_dec = torch_decoder_layer(config, dec_params)(X_tgt, memory, tgt_mask=~causal_mask(T_tgt),
                                                          tgt_is_causal=True)
    torch_check(float((dec.output - ref_dec).abs().max()), "nn.TransformerDecoderLayer")

# ----- what next --------------------------------------------------------------------------
st.header(t("what_next"))
st.markdown(t.section("next"))
