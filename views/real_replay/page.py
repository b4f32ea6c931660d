"""Our engine replays the real model: all-MiniLM-L6-v2's weights in the app's own attention,
LayerNorm, FFN and encoder block, beside transformers' BertModel on the learner's sentence; every
layer's max |Δ| in float32 and float64, the formulas with the model's real sizes, one query's
scores written out, the parameter count by part.

Glue only: engine.models.minilm computes, figures.minilm_replay writes and draws."""

from __future__ import annotations

import streamlit as st

from engine.models import minilm as M
from engine.models import minilm_text as MT
from engine.ops.attention import multi_head_attention
from engine.ops.ffn import gelu
from engine.ops.transformer import encoder_block
from figures import minilm_replay as fm
from figures.transformer import attention_figure
from views.real_replay import parts
from widgets import real_models
from widgets.blocks import localized_text_input, show_code, torch_check
from widgets.i18n import T

t = T("minilm_replay")
N_KEYS = 4  # keys written out for the chosen query

# ----- title, intuition, formula ---------------------------------------------------------
st.title(t("title"))
st.markdown(t.section("intuition"))

reference = real_models.minilm_reference()
engines = parts.engines(reference)
config = engines.weights32.config

st.header(t("formula_header"))
left, right = st.columns([3, 2], gap="large")
with left:
    st.latex(fm.model_latex(config))
with right:
    st.latex(fm.sizes_latex(config))
st.markdown(t.section("formula"))

# ----- the learner's sentence --------------------------------------------------------------
st.header(t("input_header"))
raw = localized_text_input(t, t("sentence_label"), "rp_text", "sentence_default", max_chars=MT.MAX_CHARS,
                           help=t("sentence_help", max_chars=MT.MAX_CHARS, max_tokens=MT.MAX_TOKENS))
raw_pair = st.text_input(t("pair_label"), key="rp_pair", max_chars=MT.MAX_CHARS, help=t("pair_help"))
texts = parts.read_texts(raw, raw_pair)

run = parts.replay_run(texts.text, texts.pair, engines, reference.tokenizer)
encoded = run.encoded
tokens, T_len = encoded.tokens[0], encoded.T
if encoded.truncated:
    st.warning(t("warn_truncated", n=encoded.full_lengths[0], max=MT.MAX_TOKENS))
unknown = tokens.count(reference.tokenizer.unk_token)
if unknown:
    st.info(t("note_unk", n=unknown))
st.dataframe(parts.token_table(encoded), width="stretch")
st.caption(t("tokens_caption", T=T_len, decoded=MT.decode(reference.tokenizer, encoded)))
st.markdown(t("shapes_note"))
st.latex(fm.shapes_latex(config, T_len))

# ----- the replay, layer by layer -----------------------------------------------------------
st.header(t("replay_header"))
st.markdown(t.section("replay"))
table, chart = st.columns([1, 1], gap="large")
with table:
    st.dataframe(parts.gap_table(run), hide_index=True, width="stretch")
    parts.verdicts(run)
with chart:
    names = {k: t(f"gap_{k}") for k in ("hidden", "attention", "tolerance")}
    depths = [parts.depth_label(g.layer) for g in run.float32.gaps]
    st.plotly_chart(fm.gap_figure(run.float32, run.float64, names, depths, title=t("gap_title")), key="rp_gaps")

# ----- one query written out --------------------------------------------------------------
st.header(t("query_header"))
st.markdown(t.section("query"))
c_layer, c_head, c_query = st.columns(3)
with c_layer:
    layer = parts.pick(t("pick_layer"), list(range(1, config.N + 1)), "rp_layer", 1)
with c_head:
    head = parts.pick(t("pick_head"), list(range(1, config.h + 1)), "rp_head", 1)
with c_query:
    query = parts.pick(t("pick_query"), list(range(T_len)), "rp_query", min(1, T_len - 1),
                       format_func=lambda j: f"{j}: {tokens[j]}")

scores = M.query_scores(run.trace32, layer, head - 1, query, n_keys=N_KEYS)
st.markdown(t("query_note", layer=layer, head=head, query=query, token=tokens[query],
              n=len(scores.keys), T=T_len))
# the written-out scores at full width (a score, its weight and the token pair on one line)
st.latex(fm.query_latex(scores, tokens))
_, fig, _ = st.columns([1, 3, 1])
with fig:
    weights = run.trace32.attentions[layer - 1][0, head - 1]
    st.plotly_chart(attention_figure(weights, tokens, tokens, title=t("heatmap_title", layer=layer, head=head),
                                     showscale=True), key="rp_heatmap")

# ----- the query token through the embeddings and layer l -------------------------------------
st.header(t("token_header", token=tokens[query], query=query, layer=layer))
st.markdown(t.section("token"))
# one after the other at full width: each line carries a vector and LayerNorm's moments
st.markdown(t("embedding_note", query=query))
st.latex(fm.embedding_latex(run.trace32.embeddings, query, int(encoded.input_ids[0, query]),
                            int(encoded.token_type_ids[0, query]), config.eps))
st.markdown(t("block_note", layer=layer, query=query))
st.latex(fm.block_latex(run.trace32.layers[layer - 1], layer, query))

# ----- parameters ---------------------------------------------------------------------------
st.header(t("params_header"))
st.markdown(t.section("params"))
count = M.param_count(engines.weights32)
st.dataframe(parts.param_table(count), hide_index=True, width="stretch")
st.markdown(t("params_total", total=f"{count.total:,}", share=f"{count.of('word') / count.total:.0%}"))

# ----- code and the check -----------------------------------------------------------------
st.header(t("code_header"))
show_code(M.bert_layer_params, M.embed, M.replay, encoder_block, multi_head_attention, gelu)

st.header(t("check_header"))
st.markdown(t.section("check"))
torch_check(run.float64.max_abs, t("check_ref"))

# ----- what next ----------------------------------------------------------------------------
st.header(t("next_header"))
st.markdown(t.section("next"))
st.page_link("views/attention/page.py", label=t("next_attention"), icon=":material/arrow_back:")
st.page_link("views/transformer/page.py", label=t("next_transformer"), icon=":material/arrow_back:")
st.page_link("views/real_encoder/page.py", label=t("next_encoder"), icon=":material/hub:")
st.page_link("views/real_lm/page.py", label=t("next_lm"), icon=":material/arrow_forward:")
