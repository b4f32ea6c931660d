"""A real sentence encoder's attention: all-MiniLM-L6-v2 (transformers' BertModel) on the learner's
sentence or pair. The WordPiece pieces and special tokens; every layer's and head's attention map
(the 6 × 12 model view, a click picks a head), the picked head with the tokens on both axes and
its summaries written out; each summary for all 72 heads; the mean-pooled, normalised sentence
embedding, and the cosine similarity of the learner's sentences."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from engine.models import minilm_hf as mh
from engine.ops import head_stats as hs
from engine.ops import sentence_embedding as se
from figures import real_encoder as fe
from views.real_encoder import parts
from views.real_encoder.parts import t
from widgets import real_models
from widgets.blocks import localized_text_input, show_code, torch_check

# ----- title, intuition, formula -----------------------------------------------------------------
st.title(t("title"))
st.markdown(t.section("intuition"))
ref = real_models.minilm_reference()

st.header(t("formula_header"))
st.latex(r"A^{(l,h)} = \mathrm{softmax}\!\left(\frac{Q^{(l,h)} {K^{(l,h)}}^{\top}}{\sqrt{d_k}}\right),"
         r"\quad l = 1 \dots 6,\ h = 1 \dots 12,\ d_k = 384/12 = 32")
st.markdown(t.section("formula"))

# ----- the learner's text ------------------------------------------------------------------------
st.header(t("input_header"))
text_a = localized_text_input(t, t("text_a_label"), "enc_text_a", "text_a_default", help=t("text_help", max=mh.MAX_TOKENS),
                              max_chars=mh.MAX_CHARS)
pair = st.toggle(t("pair_label"), value=False, key="enc_pair", help=t("pair_help"))
text_b = (localized_text_input(t, t("text_b_label"), "enc_text_b", "text_b_default", help=t("text_help", max=mh.MAX_TOKENS),
                               max_chars=mh.MAX_CHARS) if pair else None)
try:
    analysis = parts.analyse(ref, text_a, text_b)
except mh.EncoderError as e:
    st.info(t.error(e))
    st.stop()
tr, stats = analysis.trace, analysis.stats
tok = tr.tokens
key = (tr.a.text, tr.b.text if tr.b else None)
parts.text_notes(tr)

# ----- tokens ------------------------------------------------------------------------------------
st.header(t("tokens_header"))
st.markdown(t.section("tokens"))
st.code("  ".join(tok.pieces), language=None, wrap_lines=True)
counts = mh.pieces_of(tok)
st.caption(t("tokens_caption", T=tok.T, special=counts["special"], cont=counts["continuation"],
             word=counts["word"]))
with st.expander(t("tokens_table")):
    st.dataframe(pd.DataFrame({
        t("col_pos"): range(tok.T), t("col_piece"): tok.pieces, t("col_id"): tok.ids.tolist(),
        t("col_type"): tok.token_type_ids.tolist(),
    }), hide_index=True, width="stretch")
parts.vocab_note(parts.vocab_report(ref, " ".join(filter(None, key))), len(ref.tokenizer))

# ----- the model view: every layer and head ------------------------------------------------------
st.header(t("model_view_header"))
st.markdown(t.section("model_view"))
l, h = parts.pickers()
parts.model_view(key, tr.attentions, (l, h))

# ----- the head view and its summaries, written out ----------------------------------------------
st.header(t("head_view_header", l=l + 1, h=h + 1))
st.markdown(t.section("head_view"))
figs = parts.head_figures(key, t.lang, analysis, (l, h))
fig_col, text_col = st.columns(2, gap="large")  # the written-out summaries need half the width
with fig_col:
    st.plotly_chart(figs["head"], key="enc_head_view")
with text_col:
    st.latex(fe.head_summary_latex(stats, l, h, tok.T, len(tok.positions("[SEP]"))))
    st.caption(t("rows_sum", delta=f"{hs.row_sum_gap(tr.attentions):.1e}"))

# ----- every head's summaries ----------------------------------------------------------------------
st.header(t("summary_header"))
st.markdown(t.section("summaries"))
for name, tab in zip(hs.SUMMARIES, st.tabs([t(f"sum_{name}") for name in hs.SUMMARIES])):
    with tab:
        st.plotly_chart(figs[name], key=f"enc_sum_{name}")
rows = []
for name in hs.SUMMARIES:
    for largest in ((True, False) if name == "entropy" else (True,)):
        pick = hs.strongest_head(stats.get(name), largest=largest)
        rows.append({t("col_summary"): t(f"sum_{name}") + ("" if largest else t("lowest")),
                     t("col_head"): f"L{pick.layer + 1} H{pick.head + 1}", t("col_value"): f"{pick.value:.3f}"})
st.markdown(t("strongest_intro"))
st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")

# ----- the sentence embedding --------------------------------------------------------------------
st.header(t("embedding_header"))
st.markdown(t.section("embedding"))
pooled = tr.pooled
st.latex(fe.pooling_latex(tok.T, float(pooled.norm[0]), pooled.u[0, :3].tolist(), pooled.e[0, :3].tolist()))

st.subheader(t("similarity_header"))
st.markdown(t.section("similarity"))
lines = parts.localized_text_area(t("sentences_label"), "enc_sentences", "sentences_default",
                                  help=t("sentences_help", max=mh.MAX_SENTENCES), height=170)
try:
    sim = parts.compare(ref, lines)
except mh.EncoderError as e:
    st.info(t.error(e))
    sim = None
if sim is not None:
    parts.similarity_notes(sim)
    fig_col, text_col = st.columns([3, 2], gap="large")
    with fig_col:
        st.plotly_chart(fe.similarity_figure(sim.cos, title=t("sim_title")), key="enc_sim")
    with text_col:
        st.dataframe(pd.DataFrame({t("col_sentence"): sim.sentences, t("col_tokens"): sim.n_tokens,
                                   t("col_unk"): sim.n_unk}, index=range(1, len(sim.sentences) + 1)),
                     width="stretch")
        best = mh.closest_pair(sim.cos)
        if best is not None:
            st.success(t("sim_closest", i=best.i + 1, j=best.j + 1, cos=f"{best.cos:.3f}"))
        else:
            st.info(t("sim_one"))

# ----- code and checks ---------------------------------------------------------------------------
st.header(t("code_header"))
show_code(mh.run, hs.key_mass, hs.diagonal_mass, hs.entropy, se.mean_pool, se.l2_normalize, se.cosine_matrix)

st.header(t("check_header"))
st.markdown(t.section("check"))
if sim is not None:
    torch_check(mh.similarity_gap(sim), t("check_ref"))
torch_check(mh.trace_gap(tr), t("check_ref_one"))

# ----- what next ---------------------------------------------------------------------------------
st.header(t("next_header"))
st.markdown(t.section("next"))
st.page_link("views/attention/page.py", label=t("next_attention"), icon=":material/arrow_back:")
st.page_link("views/multihead.py", label=t("next_multihead"), icon=":material/arrow_back:")
st.page_link("views/real_replay/page.py", label=t("next_replay"), icon=":material/arrow_forward:")
