"""Scaled dot-product attention on the learner's sentence (or on a Q, K, V typed by hand): every
stage QKᵀ → ÷√d_k → mask → softmax → ·V as a token-labelled heatmap beside its formula with the
live numbers, the scale / mask / temperature switches, why √d_k exists (softmax statistics
against d_k), the circulating wrong identity computed both ways, and a check against
F.scaled_dot_product_attention."""

from __future__ import annotations

import math

import streamlit as st

from engine.data.tokens import token_vector
from engine.ops.attention import causal_mask, scaled_dot_product, softmax_stats
from engine.ops.attention_setup import (
    TEMPERATURE_MAX,
    TEMPERATURE_MIN,
    LabError,
    check_temperature,
    projection_bound,
    sdpa_gap,
    softmax_terms,
    wrong_identity,
)
from figures import attention as fa
from views.attention.parts import hand_inputs, pick_index, sentence_inputs, stage, t
from widgets.blocks import show_code, torch_check
from widgets.i18n import T

TERMS = 8  # products of a dot product written out before \dots
STATS_D_K = (1, 2, 4, 8, 16, 32, 64, 128, 256)
STATS_KEYS, STATS_SAMPLES = 16, 2000


@st.cache_data(show_spinner=False)
def scale_stats():
    return softmax_stats(STATS_D_K, n_keys=STATS_KEYS, seed=0, samples=STATS_SAMPLES)


# ----- title, intuition, formula -----------------------------------------------------------------
st.title(t("title"))
st.markdown(t.section("intuition"))
st.latex(r"\mathrm{Attention}(Q, K, V) = \mathrm{softmax}\!\left(\frac{QK^\top}{\sqrt{d_k}}\right) V")
st.latex(r"\begin{aligned}"
         r" S &= QK^\top & S_{ij} &= \textstyle\sum_d Q_{id}\,K_{jd} \\"
         r" S' &= S / \sqrt{d_k} & \tilde S_{ij} &= \begin{cases} S'_{ij} & " + t("latex_kept") + r" \\"
         r" -\infty & " + t("latex_masked") + r" \end{cases} \\"
         r" A &= \mathrm{softmax}_j(\tilde S) & a_{ij} &= e^{\tilde S_{ij}} \big/ \textstyle\sum_{j'} e^{\tilde S_{ij'}} \\"
         r" O &= AV & o_i &= \textstyle\sum_j a_{ij}\, V_j"
         r"\end{aligned}")
st.markdown(t.section("symbols"))

# ----- controls ----------------------------------------------------------------------------------
st.header(t("controls_header"))
# a toggle, not a radio: a keyed radio loses its shown choice when its option texts change language
by_hand = st.toggle(t("mode_hand"), value=False, key="att_by_hand", help=t("mode_help"))
mode = "hand" if by_hand else "sentence"
inputs = hand_inputs() if mode == "hand" else sentence_inputs()
Q, K, V = inputs.qkv.Q, inputs.qkv.K, inputs.qkv.V
T_len, d_k, d_v = Q.shape[0], Q.shape[1], V.shape[1]
labels = fa.token_labels(inputs.tokens)

st.subheader(t("switches_header"))
c_scale, c_mask, c_tau = st.columns([1, 1, 2])
with c_scale:
    scale = st.toggle(t("scale_label"), value=True, key="att_scale", help=t("scale_help"))
with c_mask:
    causal = st.toggle(t("causal_label"), value=False, key="att_causal", help=t("causal_help"))
with c_tau:
    tau_in = st.slider(t("tau_label"), TEMPERATURE_MIN, TEMPERATURE_MAX, 1.0, step=0.1, key="att_tau",
                       help=t("tau_help"))
try:
    tau = check_temperature(tau_in)
except LabError as e:
    st.error(t.error(e))
    st.stop()

keep = causal_mask(T_len) if causal else None
trace = scaled_dot_product(Q, K, V, mask=keep, scale=scale, temperature=tau)

# ----- inputs: tokens → X → Q, K, V --------------------------------------------------------------
st.header(t("inputs_header"))
dims = lambda n: [str(d) for d in range(1, n + 1)]  # noqa: E731
if mode == "sentence":
    st.markdown(t.section("embedding"))
    d_model = inputs.d_model
    st.caption(t("shapes_caption", T=T_len, d_model=d_model, d_k=d_k, seed=inputs.seed,
                 b=f"{projection_bound(d_model):.3f}"))
    st.plotly_chart(fa.matrix_figure(inputs.X, labels, dims(d_model), title=t("fig_X", T=T_len, d=d_model),
                                     x_title=t("dim_axis"), annotate=d_model <= 8), key="att_fig_X")
    # the first repeated token (copies share one vector); none repeated: the first token, once
    tokens = inputs.tokens
    word = next((tok for tok in tokens if tokens.count(tok) > 1), tokens[0])
    same = [k + 1 for k, tok in enumerate(tokens) if tok == word]
    vec = ", ".join(f"{x:.2f}" for x in token_vector(word, d_model, inputs.seed)[:4].tolist())
    if len(same) > 1:
        st.caption(t("same_token", tok=word, where=", ".join(map(str, same)), v=vec))
    else:
        st.caption(t("same_token_once", tok=word, v=vec))
else:
    st.markdown(t("hand_intro"))
for col, name, M in zip(st.columns(3), ("Q", "K", "V"), (Q, K, V)):
    with col:
        st.plotly_chart(fa.matrix_figure(M, labels, dims(M.shape[1]), title=t(f"fig_{name}", T=T_len, d=M.shape[1]),
                                         x_title=t("dim_axis")), key=f"att_fig_{name}")

# ----- the pipeline, one stage at a time ---------------------------------------------------------
st.header(t("pipeline_header"))
st.caption(t("pipeline_help"))
tok_labels = {k: f"{k + 1} · {tok}" for k, tok in enumerate(labels)}
c_i, c_j = st.columns(2)
with c_i:
    i = pick_index("att_i", t("i_label"), T_len, T_len - 1, tok_labels)
with c_j:
    j = pick_index("att_j", t("j_label"), T_len, 0, tok_labels)
masked_ij = causal and j > i
keep_np = None if keep is None else keep.numpy()


# the numbers are in the cells: no colour bar, so the cells get its width
fig_kw = dict(y_title=t("query_axis"), x_title=t("key_axis"), pick=(i, j), colorbar=False)
stage("scores", fa.matrix_figure(trace.scores, labels, labels, title=t("fig_scores"), **fig_kw),
      fa.dot_product_latex(i, j, Q[i], K[j], float(trace.scores[i, j]), terms=TERMS), t("scores_note", i=i + 1, j=j + 1))
stage("scaled", fa.matrix_figure(trace.scaled, labels, labels, title=t("fig_scaled"), **fig_kw),
      fa.scale_latex(i, j, float(trace.scores[i, j]), d_k=d_k, scale=scale, tau=tau),
      t("scaled_note_on" if scale else "scaled_note_off", d_k=d_k, root=f"{math.sqrt(d_k):.4f}",
        div=f"{trace.divisor:.4f}"))
if causal:
    stage("masked", fa.matrix_figure(trace.masked, labels, labels, title=t("fig_masked"), keep=keep_np, **fig_kw),
          fa.mask_latex(i, j, float(trace.scaled[i, j]), masked=masked_ij), t("masked_note_on", n=int((~keep).sum())))
else:
    stage("masked", None, None, t("masked_note_off"))
row = softmax_terms(trace.masked[i])
stage("weights", fa.matrix_figure(trace.weights, labels, labels, title=t("fig_weights"), kind="weights",
                                  keep=keep_np, masked_text="0", **fig_kw),
      fa.softmax_latex(i, j, row),
      t("weights_note_shift", m=f"{row.shift:.2f}") if row.shift else t("weights_note", i=i + 1,
                                                                          s=f"{float(trace.weights[i].sum()):.6f}"))
stage("output", fa.matrix_figure(trace.output, labels, dims(d_v), title=t("fig_output", T=T_len, d=d_v),
                                 y_title=t("query_axis"), x_title=t("dim_axis"), pick=(i, 0), colorbar=False),
      fa.output_latex(i, trace.weights[i], V, trace.output[i], keep_row=None if keep is None else keep[i]),
      t("output_note", i=i + 1))

# ----- why divide by √d_k ------------------------------------------------------------------------
st.header(t("why_scale_header"))
st.markdown(t.section("why_scale"))
stats = scale_stats()
fig_H, fig_max = fa.scale_stats_figures(
    stats, names={"unscaled": t("curve_unscaled"), "scaled": t("curve_scaled"), "uniform": t("curve_uniform")},
    titles={"entropy": t("fig_entropy", n=STATS_KEYS), "max": t("fig_max"), "x": "d<sub>k</sub>"},
    d_k_now=d_k if d_k in STATS_D_K else None)
c_H, c_max = st.columns(2)
with c_H:
    st.plotly_chart(fig_H, key="att_fig_entropy")
with c_max:
    st.plotly_chart(fig_max, key="att_fig_max")
last = len(STATS_D_K) - 1
st.markdown(t("why_scale_numbers", n=STATS_KEYS, samples=STATS_SAMPLES, d=STATS_D_K[last],
              m_u=f"{float(stats.max_weight_unscaled[last]):.2f}", m_s=f"{float(stats.max_weight_scaled[last]):.2f}",
              H_u=f"{float(stats.entropy_unscaled[last]):.2f}", H_s=f"{float(stats.entropy_scaled[last]):.2f}",
              H_max=f"{stats.max_entropy:.2f}", sd_u=f"{float(stats.logit_std_unscaled[last]):.1f}",
              sd_s=f"{float(stats.logit_std_scaled[last]):.2f}", m_1=f"{float(stats.max_weight_unscaled[0]):.2f}",
              uniform=f"{1 / STATS_KEYS:.4f}"))

# ----- the wrong identity ------------------------------------------------------------------------
st.header(t("erratum_header"))
st.markdown(t.section("erratum"))
st.latex(r"\mathrm{softmax}\!\left(\frac{QK^\top}{\sqrt{d_k}}\right)V \;\overset{?}{=}\; "
         r"\frac{1}{d_v}\,\mathrm{softmax}\!\left(QK^\top\right)V")
wrong = wrong_identity(Q, K, V, mask=keep)
c_left, c_right = st.columns(2)
with c_left:
    st.plotly_chart(fa.matrix_figure(wrong.correct, labels, dims(d_v), title=t("fig_correct"), x_title=t("dim_axis"),
                                     y_title=t("query_axis")), key="att_fig_correct")
with c_right:
    st.plotly_chart(fa.matrix_figure(wrong.wrong, labels, dims(d_v), title=t("fig_wrong", d_v=d_v),
                                     x_title=t("dim_axis"), y_title=t("query_axis")), key="att_fig_wrong")
# plain decimals, as the sentence below writes them; scientific notation only when tiny
st.metric(t("erratum_metric"), f"{wrong.max_abs_delta:.4f}" if wrong.max_abs_delta >= 1e-3
          else f"{wrong.max_abs_delta:.2e}")
if wrong.max_abs_delta > 1e-9:
    st.markdown(t("erratum_false", delta=f"{wrong.max_abs_delta:.4f}", i=i + 1, d_v=d_v,
                  a_s=", ".join(f"{a:.3f}" for a in wrong.weights_scaled[i].tolist()),
                  a_u=", ".join(f"{a:.3f}" for a in wrong.weights_unscaled[i].tolist())))
else:
    st.info(t("erratum_same"))

# ----- show the code, check against torch --------------------------------------------------------
show_code(scaled_dot_product, causal_mask)

st.header(t("check_torch"))
st.caption(t("check_help", div=f"{trace.divisor:.4f}", mask=t("mask_causal") if causal else t("mask_none")))
torch_check(sdpa_gap(inputs.qkv, trace, keep), "F.scaled_dot_product_attention")

# ----- what next ---------------------------------------------------------------------------------
st.header(t("what_next"))
st.markdown(t.section("next"))
st.page_link("views/real_encoder/page.py", label=T("common")("nav_minilm"), icon=":material/arrow_forward:")
