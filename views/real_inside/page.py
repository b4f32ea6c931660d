"""Inside the language model: SmolLM2-135M-Instruct replayed by our own engine on the learner's
prompt. Its BPE tokens; the causal attention maps of any block and head, with grouped-query
attention made visible (three query heads per key/value head); RoPE as this model applies it
(θ_i = 100000^(−2i/64), one query's pairs turned, with the numbers); the logit lens (every
layer's top token at every position); the parameters by part against the card's 135 M; and, on
request, every layer checked against transformers."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from engine.models import smollm as lm
from engine.models import smollm_lens as sl
from engine.ops import ffn, gqa, positional, rms_norm
from figures import smollm_inside as fs
from views.real_inside import parts
from views.real_inside.parts import N_BLOCKS, N_HEADS, N_PAIRS, pick, t
from widgets import real_models
from widgets.blocks import localized_text_input, show_code

# ----- title, intuition, formula -----------------------------------------------------------------
st.title(t("title"))
st.markdown(t.section("intuition"))
st.latex(r"\begin{aligned}"
         r" n &= \mathrm{RMSNorm}(x)\odot g_{\text{attn}}, \quad "
         r"\mathrm{RMSNorm}(x) = \frac{x}{\sqrt{\tfrac{1}{d}\sum_e x_e^2 + \varepsilon}} \\"
         r" h &= x + W_O\,\big[\mathrm{GQA}\big(\mathrm{RoPE}(W_Q n),\ \mathrm{RoPE}(W_K n),\ W_V n\big)\big] \\"
         r" x' &= h + W_{\text{down}}\big(\mathrm{SiLU}(W_{\text{gate}}\, m) \odot W_{\text{up}}\, m\big), \quad"
         r" m = \mathrm{RMSNorm}(h)\odot g_{\text{ffn}} \\"
         r" p(\text{next}) &= \mathrm{softmax}\big(E\,(\mathrm{RMSNorm}(x_{30}) \odot g_{\text{out}})\big)"
         r"\end{aligned}")
st.markdown(t.section("symbols"))

tokenizer = real_models.smollm_tokenizer()
model = real_models.smollm_engine()

# ----- the learner's prompt ------------------------------------------------------------------------
st.header(t("prompt_header"))
text = localized_text_input(t, t("prompt_label"), "si_prompt", "prompt_default", help=t("prompt_help"),
                            max_chars=2000)
prompt = parts.read_prompt(tokenizer, text)
ids = tuple(prompt.ids)
T = len(ids)
st.markdown(t.section("tokens"))
st.code("  ".join(f"{i}:{p}" for i, p in enumerate(prompt.pieces)), language=None, wrap_lines=True)
st.caption(t("tokens_caption", T=T, max=parts.MAX_TOKENS))
with st.spinner(t("running"), show_time=True):
    trace = parts.trace_for(model, ids)

# ----- attention, grouped-query ------------------------------------------------------------------
st.header(t("attention_header"))
st.markdown(t.section("attention"))
c_block, c_head = st.columns(2)
with c_block:
    block = pick(t("block_label"), "si_block", 1, N_BLOCKS, 1, help=t("block_help"))
with c_head:
    head = pick(t("head_label"), "si_head", 0, N_HEADS - 1, 0, help=t("head_help"))
A = trace.attentions[block - 1]
g = int(gqa.kv_heads(N_HEADS, 3)[head])
groups = gqa.sharing(N_HEADS, 3)
st.latex(rf"A^{{({block},{head})}} = \mathrm{{softmax}}\!\left(\frac{{\tilde q_{{{head}}}\,"
         rf"\tilde k_{{{g}}}^{{\top}}}}{{\sqrt{{64}}}} + M_{{\text{{causal}}}}\right), \quad"
         rf" g({head}) = \lfloor {head}/3 \rfloor = {g}")
c_map, c_groups = st.columns([3, 2])
with c_map:
    st.plotly_chart(fs.attention_figure(A[head], prompt.pieces, title=t("fig_map", block=block, head=head, g=g)),
                    key="si_fig_map")
    st.caption(t("map_caption", T=T))
with c_groups:
    st.dataframe(pd.DataFrame({t("col_kv"): list(range(3)),
                               t("col_queries"): [", ".join(map(str, q)) for q in groups]}), hide_index=True)
    st.caption(t("gqa_caption", g=g, heads=", ".join(map(str, groups[g]))))
    st.markdown(t.section("gqa"))
st.subheader(t("group_header", g=g, block=block))
for col, h in zip(st.columns(3), groups[g], strict=True):
    with col:
        mark = " ◀" if h == head else ""
        st.plotly_chart(fs.attention_figure(A[h], prompt.pieces, title=t("fig_group", head=h) + mark,
                                            height=min(120 + 14 * T, 420), annotate=False),
                        key=f"si_fig_group_{h}")
st.caption(t("group_caption", g=g))

# ----- RoPE in this model ------------------------------------------------------------------------
st.header(t("rope_header"))
st.markdown(t.section("rope"))
st.latex(r"\begin{bmatrix} q'_{2i} \\ q'_{2i+1} \end{bmatrix} = \begin{bmatrix} \cos m\theta_i & -\sin m\theta_i"
         r" \\ \sin m\theta_i & \cos m\theta_i \end{bmatrix} \begin{bmatrix} q_{2i} \\ q_{2i+1} \end{bmatrix},"
         r" \qquad \theta_i = 100000^{-2i/64}, \ i = 0 \dots 31")
c_m, c_i = st.columns(2)
with c_m:
    m = pick(t("m_label"), "si_m", 0, T - 1, T - 1, help=t("m_help"))
with c_i:
    i = pick(t("pair_label"), "si_pair", 0, N_PAIRS - 1, 0, help=t("pair_help"))
view = sl.rope_view(model, trace, block - 1, head, m)
st.caption(t("rope_which", block=block, head=head, m=m, piece=prompt.pieces[m]))
c_fig, c_eq = st.columns(2)
with c_fig:
    st.plotly_chart(fs.rope_figure(view, title=t("fig_rope", m=m), x_title=t("axis_pair"),
                                   y_title=t("axis_angle")), key="si_fig_rope")
with c_eq:
    st.latex(fs.rope_pair_latex(view, i))
    st.caption(t("rope_norm", a=2 * i, b=2 * i + 1))
with st.expander(t("rope_table")):
    st.dataframe(pd.DataFrame({
        "i": range(N_PAIRS), "θ_i": view.theta.numpy(), "mθ_i": view.angle.numpy(),
        "q_2i": view.q[0::2].numpy(), "q_2i+1": view.q[1::2].numpy(),
        "q'_2i": view.q_rot[0::2].numpy(), "q'_2i+1": view.q_rot[1::2].numpy()}), hide_index=True)
st.markdown(t.section("rope_order"))
st.page_link("views/positional/page.py", label=t("link_positional"), icon=":material/arrow_back:")

# ----- the logit lens ----------------------------------------------------------------------------
st.header(t("lens_header"))
st.markdown(t.section("lens"))
st.latex(r"p_l = \mathrm{softmax}\big(E\,(\mathrm{RMSNorm}(x_l) \odot g_{\text{out}})\big), \quad l = 0 \dots 30")
with st.spinner(t("running_lens"), show_time=True):
    lens = parts.lens_for(model, tokenizer, ids)
st.plotly_chart(fs.lens_figure(lens.lens, lens.pieces, prompt.pieces, title=t("fig_lens"),
                               x_title=t("axis_position"), y_title=t("axis_layer"), hover=t("lens_hover")),
                key="si_fig_lens")
st.caption(t("lens_caption", T=T))
pos = pick(t("lens_pos_label"), "si_lens_pos", 0, T - 1, T - 1)
final_piece = lens.pieces[-1][pos]
st.dataframe(pd.DataFrame({
    t("col_layer"): range(len(lens.pieces)),
    t("col_top"): [row[pos] for row in lens.pieces],
    t("col_p"): lens.lens.top_p[:, pos].numpy(),
    t("col_final", piece=final_piece): lens.lens.final_p[:, pos].numpy()}), hide_index=True, height=260)
st.caption(t("lens_pos_caption", pos=pos, piece=prompt.pieces[pos], final=final_piece,
             p=f"{float(lens.lens.top_p[-1, pos]):.3f}"))

# ----- parameters ----------------------------------------------------------------------------------
st.header(t("params_header"))
n = parts.params_for(model)
names = {k: t(f"part_{k}") for k in ("embeddings", "attention", "mlp", "norms")}
c_tab, c_bar = st.columns(2)
with c_tab:
    st.dataframe(pd.DataFrame({
        t("col_part"): list(names.values()),
        t("col_formula"): ["V·d = 49152·576", "30·(576·576·2 + 576·192·2)", "30·3·576·1536", "30·2·576 + 576"],
        t("col_count"): [f"{v:,}" for v in (n.embeddings, n.attention, n.mlp, n.norms)]}), hide_index=True)
    st.metric(t("params_total"), f"{n.total:,}", delta=f"{n.total - n.card:,}", delta_color="off")
with c_bar:
    st.plotly_chart(fs.params_figure(n, names, title=t("fig_params")), key="si_fig_params")
st.markdown(t.section("params"))

# ----- show the code, check against transformers -----------------------------------------------------
show_code(lm.forward, lm.block, rms_norm.rms_norm, positional.rope, gqa.grouped_query_attention, ffn.swiglu,
          sl.logit_lens, sl.param_count)
st.header(t("check_header"))
st.markdown(t.section("check"))
if st.button(t("compare_button"), key="si_compare"):
    st.session_state["si_compared"] = True
if st.session_state.get("si_compared"):
    ref = real_models.smollm_reference()
    with st.spinner(t("running_compare"), show_time=True):
        gaps = parts.compare_for(ref.model, model, ids)
    c1, c2, c3 = st.columns(3)
    c1.metric(t("gap_hidden"), f"{max(gaps.hidden):.2e}")
    c2.metric(t("gap_attention"), f"{max(gaps.attention):.2e}")
    c3.metric(t("gap_logits"), f"{gaps.logits:.2e}")
    st.plotly_chart(fs.gaps_figure(gaps, {"hidden": t("gap_hidden_rel"), "attention": t("gap_attention")},
                                   title=t("fig_gaps"), x_title=t("axis_layer")), key="si_fig_gaps")
    if gaps.worst_relative <= 1e-4:
        st.success(t("check_ok", worst=f"{gaps.worst_relative:.1e}"))
    else:
        st.error(t("check_bad", worst=f"{gaps.worst_relative:.1e}"))

# ----- what next ---------------------------------------------------------------------------------
st.header(t("what_next"))
st.page_link("views/positional/page.py", label=t("next_positional"), icon=":material/arrow_back:")
st.page_link("views/multihead.py", label=t("next_multihead"), icon=":material/arrow_back:")
st.page_link("views/real_lm/page.py", label=t("next_lm"), icon=":material/arrow_back:")
st.page_link("views/real_gguf/page.py", label=t("next_gguf"), icon=":material/arrow_forward:")
