"""LSTM: every gate of a trained character model computed live on the learner's text, one unit's six
equations with the numbers, units that track a property of the text (found by correlation), the
next-character predictions and sampling, ablations, gradient flow against an RNN, and the two
common mistakes (one W_x for all gates; no cell state) computed wrong vs right."""

from __future__ import annotations

import math

import pandas as pd
import streamlit as st

from engine.data.corpus import UNK, VOCAB, CorpusError, decode, one_hot, unknown_chars
from engine.limits import BOUNDS
from engine.models import char_rnn
from engine.ops import lstm_units
from engine.ops.recurrent import lstm, lstm_step, torch_gap
from engine.ops.recurrent_units import at_temperature, unit_step
from figures.common import bars
from figures.recurrent import char_labels, gate_figure
from views.lstm import parts, sections
from views.lstm.parts import GATE_ACTS, TERMS, clamp, gate_equation, state_equations, top5, traced
from views.lstm.sections import HALF_TICKS, SEED_MAX, Run
from widgets import blocks
from widgets.blocks import show_code, torch_check
from widgets.i18n import T

t = T("lstm")
V = len(VOCAB)
MAX_CHARS = BOUNDS["seq_len"].high  # one LSTM call; the engine refuses longer sequences
KINDS = ("i", "f", "g", "o", "c", "h")
SAMPLE_RANGE = (20, 600, 200)


def label(i: int) -> str:
    return char_labels(VOCAB[i])[0]


# ----- title, intuition, formulas ------------------------------------------------------------------
st.title(t("title"))
st.markdown(t.section("intuition"))
st.latex(r"\begin{aligned}"
         rf" i_t &= \sigma(W_{{ii}}\,x_t + b_{{ii}} + W_{{hi}}\,h_{{t-1}} + b_{{hi}}) &&\text{{{t('name_i')}}} \\"
         rf" f_t &= \sigma(W_{{if}}\,x_t + b_{{if}} + W_{{hf}}\,h_{{t-1}} + b_{{hf}}) &&\text{{{t('name_f')}}} \\"
         rf" g_t &= \tanh(W_{{ig}}\,x_t + b_{{ig}} + W_{{hg}}\,h_{{t-1}} + b_{{hg}}) &&\text{{{t('name_g')}}} \\"
         rf" o_t &= \sigma(W_{{io}}\,x_t + b_{{io}} + W_{{ho}}\,h_{{t-1}} + b_{{ho}}) &&\text{{{t('name_o')}}} \\"
         rf" c_t &= f_t \odot c_{{t-1}} + i_t \odot g_t &&\text{{{t('name_c')}}} \\"
         rf" h_t &= o_t \odot \tanh(c_t) &&\text{{{t('name_h')}}}"
         r"\end{aligned}")
st.markdown(t.section("symbols"))

# ----- controls ------------------------------------------------------------------------------------
st.header(t("controls_header"))
raw = st.text_area(t("text_label"), value=t("text_default"), key="lstm_text", height=110,
                   max_chars=MAX_CHARS, help=t("text_help", n=MAX_CHARS))
c_src, c_seed = st.columns([3, 1])
with c_src:
    # labels looked up during the run (AppTest formats options outside it)
    source_names = {"trained": t("weights_trained"), "random": t("weights_random")}
    source = st.radio(t("weights_label"), tuple(source_names), key="lstm_weights", horizontal=True,
                      format_func=source_names.get)
with c_seed:
    seed = st.number_input(t("seed_label"), 0, SEED_MAX, 0, step=1, key="lstm_seed", help=t("seed_help"),
                           disabled=source != "random")
if source not in ("trained", "random") or not 0 <= int(seed) <= SEED_MAX:
    sections.bad_controls()
seed = int(seed)

text = raw or ""
if len(text) > MAX_CHARS:
    st.warning(t("too_long", n=len(text), max=MAX_CHARS))
    text = text[:MAX_CHARS]
if not text.strip():
    st.info(t("empty"))
    st.stop()
T_len = blocks.checked(t, "seq_len", len(text))
unknown = unknown_chars(text)
if unknown:
    st.info(t("unknown", chars=" ".join(f"`{c}`" for c in unknown), unk=UNK, count=len(unknown)))

try:
    meta = parts.trained().meta
except CorpusError as e:
    st.error(t.error(e))
    st.stop()
W = parts.weights(source, seed)
H = W.H
intact = traced(text, source, seed)
trace, pred, ids = intact.trace, intact.pred, intact.ids
seen = decode(ids)  # what the cell reads: folded quotes and dashes, ¿ for unknown characters
labels = char_labels(seen)
if source == "trained":
    st.caption(t("model_trained", H=H, V=V, loss=f"{meta.get('val_loss', float('nan')):.3f}",
                 bits=f"{meta.get('val_bits', float('nan')):.2f}", uni=f"{meta.get('unigram_entropy', float('nan')):.2f}",
                 chars=f"{int(meta.get('corpus_chars', 0)):,}"))
else:
    st.caption(t("model_random", H=H, V=V, seed=seed, k=f"{1 / math.sqrt(H):.3f}"))

# ----- heatmaps -------------------------------------------------------------------------------------
st.header(t("heatmaps_header"))
st.caption(t("heatmaps_help", T=T_len, H=H))
clamp("lstm_t", 1, max(T_len, 2), min(6, T_len))
clamp("lstm_j", 0, H - 1, 0)
c_t, c_j = st.columns(2)
with c_t:
    tt = st.slider(t("t_label"), 1, max(T_len, 2), key="lstm_t", disabled=T_len == 1)
with c_j:
    j = st.slider(t("j_label"), 0, H - 1, key="lstm_j")
step, j = min(int(tt), T_len) - 1, int(j)
for tab, kind in zip(st.tabs([t(f"tab_{q}") for q in KINDS]), KINDS):
    with tab:
        st.plotly_chart(gate_figure(getattr(trace, kind)[:, 0], seen, kind=kind, title=t(f"fig_{kind}"),
                                    pick=(step, j), height=520, unit_label=t("unit_axis")), key=f"lstm_fig_{kind}")

# ----- trained and random, side by side --------------------------------------------------------------
st.subheader(t("side_header"))
kind_names = {q: t(f"tab_{q}") for q in KINDS}
side_kind = st.selectbox(t("side_label"), KINDS, index=1, key="lstm_side_kind", format_func=kind_names.get)
if side_kind not in KINDS:
    sections.bad_controls()
side = {name: getattr(traced(text, name, seed).trace, side_kind) for name in ("trained", "random")}
for col, name in zip(st.columns(2), ("trained", "random")):
    with col:
        st.plotly_chart(gate_figure(side[name][:, 0], seen, kind=side_kind,
                                    title=t("side_title", weights=source_names[name], fig=t(f"fig_{side_kind}")),
                                    height=420, unit_label=t("unit_axis"), max_ticks=HALF_TICKS),
                        key=f"lstm_side_{name}")
summary = {name: lstm_units.gate_summary(v, side_kind) for name, v in side.items()}
if side_kind in ("i", "f", "o"):
    st.caption(t("side_gates", trained=f"{summary['trained']:.0f}", random=f"{summary['random']:.0f}"))
else:
    st.caption(t("side_states", trained=f"{summary['trained']:.3f}", random=f"{summary['random']:.3f}"))

# ----- one unit, six equations ---------------------------------------------------------------------
st.subheader(t("unit_header", t=step + 1, j=j, ch=labels[step]))
k = int(ids[step])
st.markdown(t("one_hot_note", t=step + 1, ch=labels[step], k=k, j=j))
if step == 0:
    st.caption(t("h0_note"))
unit = unit_step("lstm", W.cell, trace, k, step, j)
for gate, fn in GATE_ACTS:
    st.latex(gate_equation(gate, fn, unit.gates[gate], k, step + 1, j))
st.latex(state_equations(unit, step + 1, j))
st.caption(t("sum_note", terms=TERMS, H=H))

run = Run(text=text, seen=seen, source=source, seed=seed, H=H, intact=intact, step=step, j=j)
sections.unit_search(run)

# ----- next-character predictions ------------------------------------------------------------------
st.header(t("predict_header"))
st.latex(r"y_t = W_{hy}\,h_t + b_y, \qquad p_t = \mathrm{softmax}(y_t), \qquad "
         r"\ell_t = -\log p_t[\text{char}_{t+1}]")
m1, m2, m3 = st.columns(3)
m1.metric(t("metric_loss"), "—" if T_len < 2 else f"{pred.mean_loss:.3f}")
m2.metric(t("metric_bits"), "—" if T_len < 2 else f"{pred.mean_loss / math.log(2):.2f}")
m3.metric(t("metric_acc"), "—" if T_len < 2 else f"{100 * pred.accuracy(ids):.0f} %")
st.dataframe(pd.DataFrame({
    t("col_t"): range(1, T_len + 1), t("col_char"): labels, t("col_next"): labels[1:] + ["—"],
    t("col_p_next"): [f"{100 * p:.1f}%" for p in pred.next_probs(ids)] + ["—"], t("col_top5"): top5(pred, label),
}), hide_index=True, width="stretch", height=min(420, 38 + 35 * T_len))
st.caption(t("predict_help", V=V, uniform=f"{math.log(V):.2f}"))

# ----- sampling --------------------------------------------------------------------------------------
st.header(t("sample_header"))
st.markdown(t.section("sampling"))
st.latex(r"p_k = \frac{\exp(y_k/\tau)}{\sum_{m} \exp(y_m/\tau)}")
c_tau, c_n, c_s = st.columns([2, 2, 1])
with c_tau:
    tau = st.slider(t("tau_label"), 0.1, 2.0, 0.8, 0.05, key="lstm_tau")
with c_n:
    n_chars = st.slider(t("n_label"), *SAMPLE_RANGE, step=20, key="lstm_n")
with c_s:
    sample_seed = st.number_input(t("sample_seed_label"), 0, SEED_MAX, 0, key="lstm_sample_seed")
try:
    tau = char_rnn.check_temperature(tau)
except CorpusError as e:
    st.error(t.error(e))
    st.stop()
# the distribution after the last character of the text at this τ
tempered = at_temperature(pred.logits[-1], tau, k=10)
st.plotly_chart(bars([p for _, p in tempered.top], [label(i) for i, _ in tempered.top],
                     title=t("tau_bars", tau=f"{tau:.2f}", ch=labels[-1]), height=260), key="lstm_tau_bars")
st.caption(t("tau_entropy", H_=f"{tempered.entropy:.2f}", top=f"{100 * tempered.top[0][1]:.1f}"))
if st.button(t("sample_button"), key="lstm_sample_button", type="primary"):
    if source != "trained":
        st.info(t("sample_trained_only"))
    with st.spinner(t("sampling")):
        st.session_state["lstm_sample"] = (text, tau, int(n_chars), int(sample_seed),
                                           parts.sample(text, int(n_chars), tau, int(sample_seed)))
if "lstm_sample" in st.session_state:
    prompt, s_tau, s_n, s_seed, sampled = st.session_state["lstm_sample"]
    st.caption(t("sample_caption", tau=f"{s_tau:.2f}", n=s_n, seed=s_seed, end=prompt[-30:].replace("\n", " ↵ ")))
    st.code(sampled, language=None, wrap_lines=True)

sections.ablations(run)
sections.gradient_flow(run)
sections.mistakes(run, labels)

# ----- show the code, check against torch -------------------------------------------------------------
show_code(lstm, lstm_step)
st.header(t("check_torch"))
st.caption(t("check_help", T=T_len, V=V, H=H))
torch_check(torch_gap("lstm", W.cell, one_hot(ids, V), trace.h), "nn.LSTM")

# ----- what next ---------------------------------------------------------------------------------------
st.header(t("what_next"))
st.markdown(t.section("next"))
st.page_link("views/gru.py", label=t("link_gru"), icon=":material/arrow_forward:")
st.page_link("views/rnn.py", label=t("link_rnn"), icon=":material/arrow_back:")
