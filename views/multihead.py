"""Multi-head attention on the learner's sentence: the shapes at every step with the live sizes,
every head's attention map side by side, one head written out with its numbers, the heads
concatenated and mixed by W_O, the parameter count 4E² + 4E against torch's, and a check against
nn.MultiheadAttention with the same weights."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from engine.data.tokens import embed
from engine.ops.attention import causal_mask, multi_head_attention, split_heads
from engine.ops.attention_setup import (
    LabError,
    check_heads,
    mha_gaps,
    mha_param_count,
    seeded_mha_params,
    softmax_terms,
    torch_mha_params,
)
from figures import attention as fa
from views.attention.parts import SEED_MAX, pick_index, sentence_box, sentence_tokens, valid_seed
from widgets import blocks
from widgets.blocks import show_code, torch_check
from widgets.i18n import T

t = T("multihead")
E_RANGE = (4, 32, 8)  # slider: low, high, default
H_RANGE = (1, 8, 2)
TERMS = 8  # products of a dot product written out before \dots
GRID_COLS = 4  # head maps per row


def checked(name: str, value: int) -> int:
    return blocks.checked(t, name, value)


# ----- title, intuition, formula -----------------------------------------------------------------
st.title(t("title"))
st.markdown(t.section("intuition"))
st.latex(r"\begin{aligned}"
         r" Q &= X W_Q^\top + b_Q, \quad K = X W_K^\top + b_K, \quad V = X W_V^\top + b_V \\"
         r" \mathrm{head}_i &= \mathrm{softmax}\!\left(\frac{Q_i K_i^\top}{\sqrt{d_k}}\right) V_i,"
         r" \qquad d_k = E / h \\"
         r" \mathrm{MultiHead}(X) &= \mathrm{Concat}(\mathrm{head}_1, \dots, \mathrm{head}_h)\, W_O^\top + b_O"
         r"\end{aligned}")
st.markdown(t.section("symbols"))

# ----- controls ----------------------------------------------------------------------------------
st.header(t("controls_header"))
# bottom-aligned: a label that wraps to two lines does not push its box below the others
c_text, c_E, c_h, c_seed = st.columns([4, 2, 2, 1], vertical_alignment="bottom")
with c_text:
    raw = sentence_box(t, "mh_text")
with c_E:
    E = checked("d_model", st.slider(t("E_label"), *E_RANGE, key="mh_E", help=t("E_help")))
with c_h:
    h = checked("num_heads", st.slider(t("h_label"), *H_RANGE, key="mh_h", help=t("h_help")))
with c_seed:
    seed = st.number_input(t("seed_label"), 0, SEED_MAX, 0, step=1, key="mh_seed", help=t("seed_help"))
causal = st.toggle(t("causal_label"), value=False, key="mh_causal", help=t("causal_help"))
seed = valid_seed(t, seed)
try:
    d_k = check_heads(E, h, h_max=H_RANGE[1])
except LabError as e:
    st.error(t.error(e))
    st.stop()
tokens = sentence_tokens(t, raw)
T_len = len(tokens)
labels = fa.token_labels(tokens)

# (T, E) → (B, T, E) with B = 1
X = embed(tokens, E, seed)[None]
p = seeded_mha_params(E, seed)
keep = causal_mask(T_len) if causal else None
trace = multi_head_attention(X, X, X, h, p.in_proj_weight, p.in_proj_bias, p.out_proj_weight, p.out_proj_bias,
                             mask=keep)
st.caption(t("setup_caption", T=T_len, E=E, h=h, d_k=d_k, seed=seed))

# ----- shapes ------------------------------------------------------------------------------------
st.header(t("shapes_header"))
st.markdown(t("shapes_intro"))
B = X.shape[0]
shape = lambda s: str(tuple(int(n) for n in s))  # noqa: E731
merged = (B, trace.q.shape[2], trace.q.shape[1] * trace.q.shape[3])  # (B, h, T, d_k) → (B, T, E)
rows = [
    ("X", t("step_X"), "(B, T, E)", shape(X.shape)),
    ("Q, K, V", t("step_qkv"), "(B, T, E)", shape(merged)),
    ("q, k, v", t("step_split"), "(B, h, T, d_k)", shape(trace.q.shape)),
    ("A", t("step_weights"), "(B, h, T, T)", shape(trace.weights.shape)),
    ("head", t("step_heads"), "(B, h, T, d_k)", shape(trace.heads.output.shape)),
    ("Concat", t("step_concat"), "(B, T, E)", shape(trace.concat.shape)),
    ("Y", t("step_out"), "(B, T, E)", shape(trace.output.shape)),
]
st.dataframe(pd.DataFrame(rows, columns=[t("col_name"), t("col_step"), t("col_symbolic"), t("col_live")]),
             hide_index=True)
st.caption(t("shapes_caption", B=B, T=T_len, E=E, h=h, d_k=d_k))

# ----- every head --------------------------------------------------------------------------------
st.header(t("heads_header"))
st.markdown(t("heads_intro", h=h, d_k=d_k))
keep_np = None if keep is None else keep.numpy()
n_cols = min(h, GRID_COLS)
# numbers in the cells only where a cell is wide enough to hold them
annotate = T_len <= {1: 12, 2: 12, 3: 8, 4: 6}[n_cols]
for start in range(0, h, n_cols):
    for col, hd in zip(st.columns(n_cols), range(start, min(start + n_cols, h))):
        with col:
            st.plotly_chart(fa.matrix_figure(trace.weights[0, hd], labels, labels, title=t("fig_head", i=hd + 1),
                                             kind="weights", keep=keep_np, masked_text="0", annotate=annotate,
                                             colorbar=False, height=90 + 26 * T_len),
                            key=f"mh_fig_head_{hd}")
st.caption(t("heads_caption"))

# ----- one head, written out ---------------------------------------------------------------------
st.header(t("one_head_header"))
tok_labels = {k: f"{k + 1} · {tok}" for k, tok in enumerate(labels)}
c_hd, c_i, c_j = st.columns(3)
with c_hd:
    # numbers only: a keyed selectbox keeps its option texts when the language changes
    hd = pick_index("mh_head", t("head_label"), h, 0, {k: str(k + 1) for k in range(h)})
with c_i:
    i = pick_index("mh_i", t("i_label"), T_len, T_len - 1, tok_labels)
with c_j:
    j = pick_index("mh_j", t("j_label"), T_len, 0, tok_labels)
H = hd + 1
q, k, v = trace.q[0, hd], trace.k[0, hd], trace.v[0, hd]
st.markdown(t("one_head_intro", H=H, lo=hd * d_k + 1, hi=(hd + 1) * d_k, d_k=d_k))
left, right = st.columns([1, 1], gap="medium")
with left:
    st.plotly_chart(fa.matrix_figure(trace.weights[0, hd], labels, labels, title=t("fig_head", i=H), kind="weights",
                                     keep=keep_np, masked_text="0", pick=(i, j), y_title=t("query_axis"),
                                     x_title=t("key_axis"), colorbar=False), key="mh_fig_one_head")
with right:
    st.latex(fa.dot_product_latex(i, j, q[i], k[j], float(trace.heads.scores[0, hd, i, j]), sym=f"S^{{({H})}}",
                                  Q=f"q^{{({H})}}", K=f"k^{{({H})}}", terms=TERMS))
    st.latex(fa.scale_latex(i, j, float(trace.heads.scores[0, hd, i, j]), d_k=d_k, scale=True, tau=1.0))
    if causal:
        st.latex(fa.mask_latex(i, j, float(trace.heads.scaled[0, hd, i, j]), masked=j > i))
st.latex(fa.softmax_latex(i, j, softmax_terms(trace.heads.masked[0, hd, i])))
st.latex(fa.output_latex(i, trace.weights[0, hd, i], v, trace.heads.output[0, hd, i], o=f"o^{{({H})}}",
                         V_sym=f"v^{{({H})}}", keep_row=None if keep is None else keep[i]))
st.caption(t("one_head_caption", d_k=d_k))

# ----- concatenate, then W_O ---------------------------------------------------------------------
st.header(t("concat_header"))
st.markdown(t("concat_intro", h=h, d_k=d_k, E=E))
dims = [str(d) for d in range(1, E + 1)]
bounds = [b * d_k for b in range(1, h)]
annotate_E = E <= 4  # three maps side by side: numbers fit in the cells of small ones only
side_height = max(320, 130 + 30 * T_len)  # the three maps side by side, one height
c_cat, c_W, c_out = st.columns(3)
with c_cat:
    st.plotly_chart(fa.matrix_figure(trace.concat[0], labels, dims, title=t("fig_concat"), boundaries=bounds,
                                     annotate=annotate_E, x_title=t("dim_axis"), box=(i, 0, 1, E), height=side_height),
                    key="mh_fig_concat")
with c_W:
    st.plotly_chart(fa.matrix_figure(p.out_proj_weight, dims, dims, title=t("fig_W_O"), annotate=annotate_E,
                                     x_title=t("W_O_in"), y_title=t("W_O_out"), boundaries=bounds, box=(0, 0, 1, E),
                                     height=side_height), key="mh_fig_W_O")
with c_out:
    st.plotly_chart(fa.matrix_figure(trace.output[0], labels, dims, title=t("fig_out"), annotate=annotate_E,
                                     x_title=t("dim_axis"), pick=(i, 0), height=side_height), key="mh_fig_out")
st.latex(fa.dot_product_latex(i, 0, trace.concat[0, i], p.out_proj_weight[0], float(trace.output[0, i, 0]),
                              sym="Y", Q=r"\mathrm{Concat}", K="(W_O)", bias=float(p.out_proj_bias[0]), b_sym="(b_O)",
                              terms=TERMS, per_line=4))
st.caption(t("concat_caption", i=i + 1, E=E))

# ----- parameter count ---------------------------------------------------------------------------
st.header(t("params_header"))
st.markdown(t("params_intro"))
ours = mha_param_count(E)
theirs = torch_mha_params(E, h)
total_torch = sum(row.numel for row in theirs)
st.latex(rf"\begin{{aligned}} \text{{{t('params_word')}}} &= \underbrace{{3E\cdot E + 3E}}_{{\text{{in\_proj}}}} + "
         rf"\underbrace{{E\cdot E + E}}_{{\text{{out\_proj}}}} = 4E^2 + 4E \\ "
         rf"&= 4\cdot {E}^2 + 4\cdot {E} = {4 * E * E} + {4 * E} = {ours:,} \end{{aligned}}".replace(",", "{,}"))
formula_of = {"in_proj_weight": ("3E × E", 3 * E * E), "in_proj_bias": ("3E", 3 * E),
              "out_proj.weight": ("E × E", E * E), "out_proj.bias": ("E", E)}
table = pd.DataFrame({
    t("col_param"): [row.name for row in theirs],
    t("col_shape"): [shape(row.shape) for row in theirs],
    t("col_formula"): [formula_of.get(row.name, ("?", 0))[0] for row in theirs],
    t("col_ours"): [formula_of.get(row.name, ("?", 0))[1] for row in theirs],
    t("col_numel"): [row.numel for row in theirs],
})
st.dataframe(table, hide_index=True)
st.markdown(t("params_total", ours=f"{ours:,}", torch=f"{total_torch:,}", h=h,
              verdict=t("params_equal") if ours == total_torch else t("params_differ")))

# ----- show the code, check against torch --------------------------------------------------------
show_code(multi_head_attention, split_heads)

st.header(t("check_torch"))
st.caption(t("check_help", E=E, h=h, mask=t("mask_causal") if causal else t("mask_none")))
gaps = mha_gaps(X, h, p, trace, keep)
c_o, c_w = st.columns(2)
with c_o:
    torch_check(gaps.output, t("ref_output"))
with c_w:
    torch_check(gaps.weights, t("ref_weights"))

# ----- what next ---------------------------------------------------------------------------------
st.header(t("what_next"))
st.markdown(t.section("next"))
st.page_link("views/real_encoder/page.py", label=T("common")("nav_minilm"), icon=":material/arrow_forward:")
