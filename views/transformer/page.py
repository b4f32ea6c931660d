"""The Transformer block: the learner's sentence through one encoder block stage by stage
(multi-head self-attention, residual, LayerNorm with its numbers, FFN, residual, LayerNorm), in
either LayerNorm placement; LayerNorm's invariant; the FFN with a wrong extra activation; a
decoder block (causal self-attention, cross-attention on the encoder's output); the "one fixed
vector" erratum; and checks against nn.TransformerEncoderLayer / nn.TransformerDecoderLayer.
Every number comes from engine.ops.transformer (run_encoder, run_decoder)."""

from __future__ import annotations

import streamlit as st

from engine.ops.ffn import ffn, ffn_outer_activation
from engine.ops.layer_norm import layer_norm
from engine.ops.transformer import BlockConfig, decoder_block, encoder_block, run_encoder
from figures.recurrent import token_label
from figures.transformer import symmetric_range
from views.transformer.decoder import decoder_section
from views.transformer.parts import (
    MAX_TOKENS,
    features,
    localized_text_input,
    norm_table,
    order_table,
    sentence,
    shape,
)
from views.transformer.stages import Flow, encoder_stages, input_stage
from widgets import blocks
from widgets.blocks import show_code, torch_check
from widgets.i18n import T

t = T("transformer")
SEED_MAX = 9999
DECODER_SEED_OFFSET = 1  # the decoder's weights come from seed + 1: its own, not the encoder's
D_MODEL = dict(min_value=8, max_value=64, value=16, step=4)
HEADS = dict(min_value=1, max_value=8, value=4)
D_FF = dict(min_value=8, max_value=256, value=64, step=8)
ACT_NAMES = {"relu": "ReLU", "gelu": "GELU"}


def checked(name: str, value: int) -> int:
    return blocks.checked(t, name, value)


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
run = run_encoder(tokens, config, seed)
enc = run.trace
st.caption(t("setup", T=T_len, d=d_model, h=h, d_k=config.d_k, d_ff=d_ff, seed=seed))

# ----- the input, then the block stage by stage -------------------------------------------
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
flow = Flow(run, tokens, p, k)
input_stage(flow)
encoder_stages(flow)
st.caption(t("output_note", T=T_len, d=d_model))

# ----- LayerNorm's invariant --------------------------------------------------------------
st.header(t("invariant_header"))
st.markdown(t.section("invariant"))
st.latex(r"\hat x_k = \frac{x_k-\mu}{\sqrt{\sigma^2+\varepsilon}}"
         r"\;\Rightarrow\; \tfrac{1}{d}\textstyle\sum_k \hat x_k = 0,\quad"
         r"\tfrac{1}{d}\textstyle\sum_k \hat x_k^2 = \frac{\sigma^2}{\sigma^2+\varepsilon} \approx 1")
c_n1, c_n2 = st.columns(2)
for col, which, sub in ((c_n1, 1, enc.self_attn), (c_n2, 2, enc.feed_forward)):
    with col:
        st.markdown(f"**{t('table_norm', i=which)}**")
        st.dataframe(norm_table(sub, tokens), hide_index=True, key=f"tf_table_norm{which}")
st.caption(t("invariant_note", eps=f"{config.eps:g}"))

# ----- the FFN erratum, on the same input the block's FFN received ------------------------
st.header(t("ffn_erratum_header"))
st.markdown(t.section("ffn_erratum"))
st.latex(r"\begin{aligned}"
         rf"\text{{{t('tex_right')}}}\quad \mathrm{{FFN}}(x) &= W_2\,\mathrm{{act}}(W_1x + b_1) + b_2 \\"
         rf"\text{{{t('tex_wrong')}}}\quad \mathrm{{FFN}}(x) &= \mathrm{{act}}\big(W_2\,\mathrm{{act}}(W_1x + b_1)\big) + b_2"
         r"\end{aligned}")
wrong = run.outer_activation()
scale = symmetric_range(wrong.right.output, wrong.wrong)
c_right, c_wrong = st.columns(2)
with c_right:
    features(wrong.right.output[0], tokens, t("fig_ffn_right"), "tf_fig_ffn_right", zmax=scale)
with c_wrong:
    features(wrong.wrong[0], tokens, t("fig_ffn_wrong"), "tf_fig_ffn_wrong", zmax=scale)
n_all = wrong.projected[0].numel()
m1, m2, m3 = st.columns(3)
m1.metric(t("metric_ffn_delta"), f"{wrong.max_delta:.4f}")
m2.metric(t("metric_negative"), f"{wrong.n_negative} / {n_all}")
m3.metric(t("metric_floor"), f"{wrong.floor:.4f}")
st.markdown(t(f"ffn_erratum_{activation}", n=wrong.n_negative, total=n_all, floor=f"{wrong.floor:.4f}"))

# ----- pre-LN vs post-LN ------------------------------------------------------------------
st.header(t("order_header"))
st.markdown(t.section("norm_order"))
st.latex(r"\begin{aligned}"
         r"\text{post-LN:}\quad x &\leftarrow \mathrm{LN}\big(x + \mathrm{Sublayer}(x)\big) \\"
         r"\text{pre-LN:}\quad x &\leftarrow x + \mathrm{Sublayer}\big(\mathrm{LN}(x)\big)"
         r"\end{aligned}")
scale = symmetric_range(run.post.output, run.pre.output)
c_post, c_pre = st.columns(2)
with c_post:
    features(run.post.output[0], tokens, t("fig_post"), "tf_fig_post", zmax=scale)
with c_pre:
    features(run.pre.output[0], tokens, t("fig_pre"), "tf_fig_pre", zmax=scale)
st.metric(t("metric_order_delta"), f"{run.order_gap:.4f}")
st.dataframe(order_table(run.post, run.pre, tokens), hide_index=True, key="tf_table_order")
st.caption(t("order_note"))

# ----- the decoder ------------------------------------------------------------------------
dec = decoder_section(run, tokens, seed + DECODER_SEED_OFFSET)

# ----- the "one fixed-length vector" erratum ----------------------------------------------
st.header(t("encoder_erratum_header"))
st.markdown(t.section("encoder_erratum"))
st.latex(r"\begin{aligned}"
         rf"\text{{{t('tex_wrong')}}}\quad \mathrm{{Encoder}}(x_1,\dots,x_{{{T_len}}}) &= c \in \mathbb{{R}}^{{{d_model}}} \\"
         rf"\text{{{t('tex_right')}}}\quad \mathrm{{Encoder}}(x_1,\dots,x_{{{T_len}}}) &= (y_1,\dots,y_{{{T_len}}})"
         rf" \in \mathbb{{R}}^{{{T_len}\times {d_model}}}"
         r"\end{aligned}")
shapes = [
    (t("shape_input"), "X", shape(run.X[0])),
    (t("shape_weights"), "α", shape(enc.weights[0])),
    (t("shape_hidden"), "act(W₁z + b₁)", shape(enc.ffn.hidden[0])),
    (t("shape_output"), "Y", shape(enc.output[0])),
]
if dec is not None:
    shapes.append((t("shape_cross"), "α′", shape(dec.trace.cross_weights[0])))
shapes.append((t("shape_claim"), "c", f"{d_model}"))
st.dataframe({t("col_quantity"): [s[0] for s in shapes], t("col_symbol"): [s[1] for s in shapes],
              t("col_shape"): [s[2] for s in shapes]}, hide_index=True, key="tf_table_shapes")
features(enc.output[0], tokens, t("fig_Y", T=T_len, d=d_model), "tf_fig_Y")
if dec is not None:
    # the erratum taken literally: memory is one vector (the last position's), S = 1
    lo, hi = dec.one_vector_range
    st.markdown(t("one_vector", lo=f"{lo:.6f}", hi=f"{hi:.6f}", shape=shape(dec.one_vector.cross_weights[0]),
                  S=T_len))
else:
    st.caption(t("one_vector_needs_target"))

# ----- show the code, check against torch -------------------------------------------------
show_code(encoder_block, layer_norm, ffn, decoder_block, ffn_outer_activation)

st.header(t("check_torch"))
st.caption(t("check_help_enc", T=T_len, d=d_model, h=h, d_ff=d_ff, act=ACT_NAMES[activation],
             norm=norm_labels[config.norm_first]))
torch_check(run.torch_gap(), "nn.TransformerEncoderLayer")
if dec is not None:
    st.caption(t("check_help_dec", T=dec.X.shape[-2], S=T_len))
    torch_check(dec.torch_gap(), "nn.TransformerDecoderLayer")

# ----- what next --------------------------------------------------------------------------
st.header(t("what_next"))
st.markdown(t.section("next"))
st.page_link("views/real_replay/page.py", label=T("common")("nav_minilm_replay"), icon=":material/arrow_forward:")
st.page_link("views/train_transformer.py", label=T("common")("nav_train_transformer"), icon=":material/arrow_forward:")
