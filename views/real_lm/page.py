"""A language model's next token: the learner's prompt through SmolLM2's BPE tokenizer, the
next-token distribution from our own engine, temperature, top-k and top-p written out with the
live numbers, and seeded generation one token at a time.

Glue only: lessons/ for the text, engine.models.lm_prompt / lm_generate and engine.ops.sampling
for every number (views/real_lm/parts.py caches them), figures.real_lm to draw.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from engine.limits import BOUNDS
from engine.models.lm_generate import generate, room_left
from engine.models.lm_prompt import prompt_tokens
from engine.ops.sampling import (
    CUT_GREEDY,
    CUT_TOP_K,
    CUT_TOP_P,
    KEPT,
    filter_logits,
    kth_largest,
    nucleus_mass,
    reference_gap,
    rows,
    top_k_cut,
    top_p_cut,
)
from figures import real_lm as fl
from views.real_lm import parts
from widgets.blocks import show_code, torch_check
from widgets.i18n import T
from widgets.real_models import smollm_engine, smollm_tokenizer

t = T("smollm")
TOP = 20

# ----- title, intuition, formula ----------------------------------------------------------------

st.title(t("title"))
st.markdown(t.section("intuition"))
st.header(t("formula_header"))
st.latex(fl.formula_latex({k: t(f"tex_{k}") for k in (
    "temperature", "greedy", "top_k", "nucleus", "renormalise", "otherwise")}))
st.markdown(t.section("formula"))

# ----- the prompt and its tokens ---------------------------------------------------------------

st.header(t("prompt_header"))
tok = smollm_tokenizer()
smollm_engine()  # loaded here, under its spinner, before any control is drawn
st.session_state.setdefault("lm_prompt", parts.DEFAULT_PROMPT)
text = st.text_area(t("prompt"), key="lm_prompt", height=90, persist_state="session",
                    help=t("prompt_help", max=BOUNDS["prompt_tokens"].high))
prompt = parts.read_prompt(text)
if prompt is None:
    st.stop()
st.markdown(t("tokens_note", n=len(prompt.ids), max=BOUNDS["prompt_tokens"].high))
st.markdown(fl.tokens_markdown(prompt.pieces, prompt.ids))
st.caption(t.section("tokens"))

shown = parts.continuation(prompt.ids)
context = (*prompt.ids, *(s.step.token_id for s in shown))

# ----- the settings ------------------------------------------------------------------------------

st.header(t("controls_header"))
c_T, c_k, c_p, c_seed = st.columns(4, gap="medium", vertical_alignment="bottom")
with c_T:
    T_value = st.slider(t("temperature"), 0.0, 2.0, 0.8, 0.05, key="lm_T", persist_state="session",
                        help=t("temperature_help"))
with c_k:
    use_k = st.toggle(t("use_top_k"), value=True, key="lm_use_k", persist_state="session")
    k_value = st.number_input(t("top_k"), 0, BOUNDS["top_k"].high, 50, 1, key="lm_k", disabled=not use_k,
                              persist_state="session", help=t("top_k_help"))
with c_p:
    p_value = st.number_input(t("top_p"), 0.0, 2.0, 0.9, 0.05, key="lm_p", format="%.3f", persist_state="session",
                              help=t("top_p_help"))
with c_seed:
    seed = st.number_input(t("seed"), 0, BOUNDS["seed"].high, 0, 1, key="lm_seed", persist_state="session",
                           help=t("seed_help"))
s = parts.read_settings(T_value, use_k, k_value, p_value)
if s.greedy:
    st.info(t("greedy_note"))

# ----- the next-token distribution, step by step -----------------------------------------------

st.header(t("dist_header"))
tr = filter_logits(parts.next_logits(context), s)
table = rows(tr, TOP)
pieces = [parts.piece(tok, r.token_id) for r in table]
st.caption(t("dist_context", n=len(context), gen=len(shown)))
st.plotly_chart(fl.top_bars(table, pieces, (t("bar_p_T"), t("bar_q")), title=t("bars_title", n=TOP)),
                key="lm_bars")
st.markdown(t.section("distribution"))

n_kept, n_k = int(tr.kept.numel()), int((tr.cut != CUT_TOP_K).sum())
with st.container(border=True):
    st.markdown(t("step_temperature", T=f"{s.T:g}") if not s.greedy else t("step_greedy"))
    st.latex(fl.temperature_latex(tr, table[0], pieces[0]))
    if s.top_k is not None and not s.greedy:
        st.markdown(t("step_top_k", k=s.top_k, n=n_k, z=f"{kth_largest(tr.z, s.top_k):.3f}"))
    else:
        st.markdown(t("step_top_k_off"))
    if s.top_p < 1.0 and not s.greedy:
        st.markdown(t("step_top_p", p=f"{s.top_p:g}", n=n_kept))
        st.latex(fl.nucleus_latex(table, s.top_p, n_kept, nucleus_mass(tr), t("tex_tokens")))
    else:
        st.markdown(t("step_top_p_off"))
    st.markdown(t("step_renormalise", n=n_kept, mass=f"{tr.kept_mass:.4f}"))
    st.latex(fl.renormalise_latex(tr, table[0], pieces[0]))

cut_names = {KEPT: t("cut_kept"), CUT_TOP_K: t("cut_top_k"), CUT_TOP_P: t("cut_top_p"), CUT_GREEDY: t("cut_greedy")}
st.dataframe(pd.DataFrame({
    t("col_rank"): range(1, len(table) + 1), t("col_token"): pieces, t("col_id"): [r.token_id for r in table],
    "z": [round(r.z, 3) for r in table], "p": [round(r.p, 4) for r in table],
    "p_T": [round(r.p_T, 4) for r in table], "p_K": [round(r.p_k, 4) for r in table],
    "C": [round(r.C, 4) for r in table], t("col_cut"): [cut_names[r.cut] for r in table],
    "q": [round(r.q, 4) for r in table],
}), hide_index=True, width="stretch")
st.caption(t("table_note"))

# ----- generation, one token at a time ------------------------------------------------------------

st.header(t("gen_header"))
st.markdown(t.section("generation"))
room = room_left(len(prompt.ids), len(shown))
b_one, n_col, b_n, b_clear = st.columns([2, 2, 2, 1], vertical_alignment="bottom")
with n_col:
    n_more = st.slider(t("gen_n"), 1, parts.generate_bound(), 5, key="lm_n", persist_state="session")
with b_one:
    st.button(t("next_token"), key="lm_next", disabled=room == 0, on_click=parts.extend,
              args=(prompt.ids, 1, s, seed), type="primary")
with b_n:
    st.button(t("generate_n", n=min(n_more, room) if room else n_more), key="lm_gen", disabled=room == 0,
              on_click=parts.extend, args=(prompt.ids, n_more, s, seed))
with b_clear:
    st.button(t("clear"), key="lm_clear", disabled=not shown, on_click=parts.clear, args=(prompt.ids,))
if error := st.session_state.pop("lm_gen_error", None):
    st.error(error)
if room == 0:
    st.info(t("room_full", n=BOUNDS["tokens"].high))
if shown:
    st.markdown(t("gen_text"))
    st.code(tok.decode([*prompt.ids, *(x.step.token_id for x in shown)]), language=None, wrap_lines=True)
    if shown[-1].step.token_id in parts.EOS_IDS:
        st.info(t("gen_eos"))
    st.dataframe(pd.DataFrame({
        t("col_step"): [x.step.step + 1 for x in shown], t("col_token"): [x.piece for x in shown],
        t("col_id"): [x.step.token_id for x in shown], "q": [round(x.step.q, 4) for x in shown],
        "p": [round(x.step.p, 4) for x in shown], t("col_raw_rank"): [x.step.rank + 1 for x in shown],
        t("col_kept"): [x.step.n_kept for x in shown],
        t("col_settings"): [t("settings_row", T=f"{x.T:g}", k=x.top_k if x.top_k else "–", p=f"{x.top_p:g}",
                              seed=x.seed) for x in shown],
    }), hide_index=True, width="stretch")
else:
    st.caption(t("gen_empty"))

# ----- code and the check against transformers --------------------------------------------------

st.header(t("code_header"))
show_code(filter_logits, top_k_cut, top_p_cut, generate, prompt_tokens)

st.header(t("check_header"))
st.markdown(t.section("check"))
torch_check(reference_gap(tr), t("check_ref"))

# ----- what next ------------------------------------------------------------------------------------

st.header(t("next_header"))
st.markdown(t.section("next"))
st.page_link("views/attention/page.py", label=t("link_attention"), icon=":material/arrow_back:")
st.page_link("views/real_encoder/page.py", label=t("link_encoder"), icon=":material/arrow_back:")
st.page_link("views/real_inside/page.py", label=t("link_inside"), icon=":material/arrow_forward:")
