"""The Transformer page's decoder section: the target sentence through a causal decoder block on the
encoder's output, its causal and cross-attention maps for one head, and its output."""

from __future__ import annotations

import streamlit as st

from engine.ops.transformer import DecoderRun, EncoderRun, run_decoder
from figures.transformer import attention_figure, symmetric_range
from views.transformer.parts import MAX_TOKENS, chart, features, localized_text_input, sentence, t
from widgets import blocks

POST_LN = (r"\begin{aligned}"
           r"Z_1 &= \mathrm{LN}_1\big(X' + \mathrm{MHA}_{\text{causal}}(X')\big) \\"
           r"Z_2 &= \mathrm{LN}_2\big(Z_1 + \mathrm{MHA}(Z_1,\,M,\,M)\big) \\"
           r"Y' &= \mathrm{LN}_3\big(Z_2 + \mathrm{FFN}(Z_2)\big)"
           r"\end{aligned}")
PRE_LN = (r"\begin{aligned}"
          r"Z_1 &= X' + \mathrm{MHA}_{\text{causal}}\big(\mathrm{LN}_1(X')\big) \\"
          r"Z_2 &= Z_1 + \mathrm{MHA}\big(\mathrm{LN}_2(Z_1),\,M,\,M\big) \\"
          r"Y' &= Z_2 + \mathrm{FFN}\big(\mathrm{LN}_3(Z_2)\big)"
          r"\end{aligned}")
CAUSAL = (r"S_{ij} = -\infty\;\;(j > i) \;\Rightarrow\; "
          r"\alpha_{ij} = \frac{e^{S_{ij}}}{\sum_{j'} e^{S_{ij'}}} = 0\;\;(j > i)")


def decoder_section(run: EncoderRun, tokens: list[str], seed: int) -> DecoderRun | None:
    """The section, with the decoder's weights from `seed`; None (and a note) without a target."""
    config = run.config
    h, T_len = config.h, len(tokens)
    st.header(t("decoder_header"))
    st.markdown(t.section("decoder"))
    st.latex(PRE_LN if config.norm_first else POST_LN)
    st.latex(CAUSAL)
    raw_target = localized_text_input(t("target_label"), "tf_tgt", "target_default",
                                      help=t("target_help", max=MAX_TOKENS))
    tgt_tokens = sentence(raw_target, "empty_target")
    if tgt_tokens is None:
        return None
    T_tgt = blocks.checked(t, "tokens", len(tgt_tokens))
    dec = run_decoder(tgt_tokens, run, seed)
    st.caption(t("decoder_setup", T=T_tgt, S=T_len, d=config.d_model, seed=seed))
    st.session_state["tf_head"] = min(int(st.session_state.get("tf_head", 1)), h)
    head = min(int(st.slider(t("head_label"), 1, max(h, 2), key="tf_head", disabled=h == 1)), h) - 1
    c_self, c_cross = st.columns(2)
    with c_self:
        chart(attention_figure(dec.trace.self_weights[0, head], tgt_tokens, tgt_tokens,
                               title=t("fig_causal", i=head + 1)), "tf_fig_causal")
    with c_cross:
        cross = dec.trace.cross_weights[0, head]
        chart(attention_figure(cross, tgt_tokens, tokens, title=t("fig_cross", i=head + 1),
                               zmax=symmetric_range(cross), showscale=True), "tf_fig_cross")
    st.markdown(t("causal_ok" if dec.causal_leak == 0.0 else "causal_bad", max=f"{dec.causal_leak:.1e}", h=h))
    features(dec.trace.output[0], tgt_tokens, t("fig_dec_out"), "tf_fig_dec_out", pick=None)
    st.caption(t("decoder_shapes", T=T_tgt, S=T_len, d=config.d_model, h=h))
    return dec
