"""LSTM: every gate of a trained character model computed live on the learner's text, one unit's six
equations with the numbers, units that track a property of the text (found by correlation), the
next-character predictions and sampling, ablations, gradient flow against an RNN, and the two
common mistakes (one W_x for all gates; no cell state) computed wrong vs right."""

from __future__ import annotations

import math

import pandas as pd
import streamlit as st
import torch
import torch.nn.functional as F

from engine.data.corpus import UNK, VOCAB, CorpusError, decode, encode, unknown_chars
from engine.limits import BOUNDS
from engine.models import char_rnn
from engine.ops import lstm_units as lstm_probe
from engine.ops.lstm_units import Ablation, ProbeError, predict
from engine.ops.recurrent import hidden_grad_norms, lstm, lstm_step, seeded_uniform
from figures.common import bars
from figures.recurrent import char_labels, coloured_text, gate_figure, grad_norms_figure, step_lines
from widgets import blocks
from widgets.blocks import show_code, torch_check
from widgets.i18n import T
from widgets.latex import num, recurrent_sum

t = T("lstm")
V = len(VOCAB)
MAX_CHARS = BOUNDS["seq_len"].high  # one LSTM call; the engine refuses longer sequences
SEED_MAX = 9999
TERMS = 4  # of the 128 recurrent products, written out before \dots
KINDS = ("i", "f", "g", "o", "c", "h")
PASSAGE_CHARS = 2000  # held-out Shakespeare for the unit search
TOP_UNITS = 5
SAMPLE_RANGE = (20, 600, 200)
HALF_TICKS = 40  # character labels on a half-width heatmap


def checked(name: str, value: int) -> int:
    return blocks.checked(t, name, value)


# ----- weights and cached computations -------------------------------------------------------------


@st.cache_resource(show_spinner=False)
def trained() -> tuple[char_rnn.CharRNN, dict, dict, dict]:
    """The shipped model, its weights in float64 (LSTM in torch's layout, and the head), its meta."""
    model, meta = char_rnn.load_checkpoint()
    W = {k: v.double() for k, v in char_rnn.cell_weights(model).items()}
    head = {k: v.double() for k, v in char_rnn.head_weights(model).items()}
    return model, W, head, meta


@st.cache_data(show_spinner=False, max_entries=16)
def random_weights(H: int, seed: int) -> tuple[dict, dict]:
    """Weights as nn.LSTM and nn.Linear initialise them, U(−1/√H, 1/√H), seeded."""
    W = seeded_uniform({"weight_ih": (4 * H, V), "weight_hh": (4 * H, H), "bias_ih": (4 * H,),
                        "bias_hh": (4 * H,), "W_hy": (V, H), "b_y": (V,)}, H, seed)
    return ({k: W[k] for k in lstm_probe.WEIGHTS}, {"W_hy": W["W_hy"], "b_y": W["b_y"]})


def one_hot(ids: torch.Tensor) -> torch.Tensor:
    # ids (T,) → x (T, B=1, V)
    return F.one_hot(ids, V).to(torch.float64)[:, None, :]


@st.cache_data(show_spinner=False, max_entries=64)
def traced(text: str, source: str, seed: int, ablation: Ablation = lstm_probe.INTACT):
    """The LSTM trace on the text, and the predictions of the head on every h_t."""
    W, head = weights(source, seed)
    ids = encode(text)
    with torch.no_grad():
        trace = lstm_probe.run(one_hot(ids), W, ablation)
        pred = predict(trace.h[:, 0], head["W_hy"], head["b_y"], ids)
    return trace, pred


def weights(source: str, seed: int) -> tuple[dict, dict]:
    if source == "trained":
        _, W, head, _ = trained()
        return W, head
    return random_weights(trained()[1]["weight_hh"].shape[1], seed)


@st.cache_data(show_spinner=False, max_entries=32)
def search(source_text: str, source: str, seed: int, quantity: str):
    """Each unit's `quantity` (c or h) over a text, (T, H): long texts run in chunks."""
    W, _ = weights(source, seed)
    with torch.no_grad():
        trace = lstm_probe.run_long(one_hot(encode(source_text)), W)
    return getattr(trace, quantity)[:, 0]


@st.cache_data(show_spinner=False, max_entries=16)
def passage() -> str:
    return char_rnn.held_out_text(PASSAGE_CHARS)


@st.cache_data(show_spinner=False, max_entries=16)
def gradient_norms(text: str, seed: int) -> dict[str, torch.Tensor]:
    """‖∂h_T/∂h_t‖ for an RNN with torch's initial weights, the random and the trained LSTM, and the
    trained LSTM's path through the cell state, ‖∂h_T/∂c_t‖; same text, same H."""
    x = one_hot(encode(text))
    W = trained()[1]
    H = W["weight_hh"].shape[1]
    R = seeded_uniform({"weight_ih": (H, V), "weight_hh": (H, H), "bias_ih": (H,), "bias_hh": (H,)}, H, seed)
    W_rand, _ = random_weights(H, seed)
    return {"rnn": hidden_grad_norms("rnn", x, *R.values()),
            "lstm_random": hidden_grad_norms("lstm", x, *W_rand.values()),
            "lstm": hidden_grad_norms("lstm", x, *W.values()),
            "lstm_c": hidden_grad_norms("lstm", x, *W.values(), wrt="c")}


# ----- formulas with live numbers ------------------------------------------------------------------


def gate_equation(gate: str, act: str, W: dict, trace, k: int, step: int, j: int) -> str:
    """One gate of unit j at 0-based step `step` (input: one-hot id k), with its numbers."""
    H = W["weight_hh"].shape[1]
    b = lstm_probe.BLOCK[gate] * H
    w_x, b_i, b_h = (float(W["weight_ih"][b + j, k]), float(W["bias_ih"][b + j]), float(W["bias_hh"][b + j]))
    w_row = W["weight_hh"][b + j]
    h_prev = (trace.h0 if step == 0 else trace.h[step - 1])[0]
    s = float(w_row @ h_prev)
    pre, value = float(getattr(trace, f"pre_{gate}")[step, 0, j]), float(getattr(trace, gate)[step, 0, j])
    tt, fn = step + 1, {"sigmoid": r"\sigma", "tanh": r"\tanh"}[act]
    return (rf"\begin{{aligned}} {recurrent_sum('h' + gate, j, tt, w_row, h_prev, TERMS)} \\ "
            rf"{gate}_{{{tt}}}[{j}] &= {fn}\big(W_{{i{gate}}}[{j},{k}] + b_{{i{gate}}}[{j}] + "
            rf"\textstyle\sum_m W_{{h{gate}}}[{j},m]\,h_{{{tt - 1}}}[m] + b_{{h{gate}}}[{j}]\big) \\ "
            rf"&= {fn}\big({num(w_x)} + {num(b_i)} + {num(s)} + {num(b_h)}\big) "
            rf"= {fn}({pre:.4f}) = {value:.4f} \end{{aligned}}")


def state_equations(trace, step: int, j: int) -> str:
    """c_t[j] and h_t[j] with the numbers."""
    i, f, g, o, c, h = (float(getattr(trace, q)[step, 0, j]) for q in KINDS)
    c_prev = float((trace.c0 if step == 0 else trace.c[step - 1])[0, j])
    tt = step + 1
    return (rf"\begin{{aligned}} c_{{{tt}}}[{j}] &= f_{{{tt}}}[{j}]\,c_{{{tt - 1}}}[{j}] + i_{{{tt}}}[{j}]\,"
            rf"g_{{{tt}}}[{j}] = {f:.4f}\cdot{num(c_prev, 4)} + {i:.4f}\cdot{num(g, 4)} = {c:.4f} \\ "
            rf"h_{{{tt}}}[{j}] &= o_{{{tt}}}[{j}]\,\tanh(c_{{{tt}}}[{j}]) = {o:.4f}\cdot\tanh({num(c, 4)}) "
            rf"= {h:.4f} \end{{aligned}}")


def top5(probs: torch.Tensor) -> list[str]:
    """The five likeliest next characters of each row, as 'e 31.2 %  a 12.0 % …'."""
    p, k = probs.topk(5, dim=-1)
    return ["   ".join(f"{char_labels(VOCAB[i])[0]} {100 * q:.1f}%" for i, q in zip(ki.tolist(), pi.tolist()))
            for pi, ki in zip(p, k)]


def clamp(key: str, low: int, high: int, default: int) -> None:
    """Keep a slider's remembered value inside its (new) range before the slider is drawn."""
    st.session_state[key] = min(max(int(st.session_state.get(key, default)), low), high)


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
    st.error(t("err_controls", high=SEED_MAX))
    st.stop()
seed = int(seed)

text = raw or ""
if len(text) > MAX_CHARS:
    st.warning(t("too_long", n=len(text), max=MAX_CHARS))
    text = text[:MAX_CHARS]
if not text.strip():
    st.info(t("empty"))
    st.stop()
T_len = checked("seq_len", len(text))
unknown = unknown_chars(text)
if unknown:
    st.info(t("unknown", chars=" ".join(f"`{c}`" for c in unknown), unk=UNK, count=len(unknown)))

try:
    model, W_trained, _, meta = trained()
except CorpusError as e:
    st.error(t.error(e))
    st.stop()
H = W_trained["weight_hh"].shape[1]
W, head = weights(source, seed)
ids = encode(text)
seen = decode(ids)  # what the cell reads: folded quotes and dashes, ¿ for unknown characters
labels = char_labels(seen)
trace, pred = traced(text, source, seed)
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
tabs = st.tabs([t(f"tab_{q}") for q in KINDS])
for tab, kind in zip(tabs, KINDS):
    with tab:
        st.plotly_chart(gate_figure(getattr(trace, kind)[:, 0], seen, kind=kind, title=t(f"fig_{kind}"),
                                    pick=(step, j), height=520, unit_label=t("unit_axis")), key=f"lstm_fig_{kind}")

# ----- trained and random, side by side --------------------------------------------------------------
st.subheader(t("side_header"))
kind_names = {q: t(f"tab_{q}") for q in KINDS}
side_kind = st.selectbox(t("side_label"), KINDS, index=1, key="lstm_side_kind", format_func=kind_names.get)
if side_kind not in KINDS:
    st.error(t("err_controls", high=SEED_MAX))
    st.stop()
traces = {name: traced(text, name, seed)[0] for name in ("trained", "random")}
for col, name in zip(st.columns(2), ("trained", "random")):
    with col:
        st.plotly_chart(gate_figure(getattr(traces[name], side_kind)[:, 0], seen, kind=side_kind,
                                    title=t("side_title", weights=source_names[name], fig=t(f"fig_{side_kind}")),
                                    height=420, unit_label=t("unit_axis"), max_ticks=HALF_TICKS),
                        key=f"lstm_side_{name}")
values_side = {name: getattr(traces[name], side_kind) for name in traces}
if side_kind in ("i", "f", "o"):
    # share of gate values that are nearly shut (< 0.1) or nearly open (> 0.9)
    share = {name: 100 * float(((v < 0.1) | (v > 0.9)).double().mean()) for name, v in values_side.items()}
    st.caption(t("side_gates", trained=f"{share['trained']:.0f}", random=f"{share['random']:.0f}"))
else:
    size = {name: float(v.abs().mean()) for name, v in values_side.items()}
    st.caption(t("side_states", trained=f"{size['trained']:.3f}", random=f"{size['random']:.3f}"))

# ----- one unit, six equations ---------------------------------------------------------------------
st.subheader(t("unit_header", t=step + 1, j=j, ch=labels[step]))
k = int(ids[step])
st.markdown(t("one_hot_note", t=step + 1, ch=labels[step], k=k, j=j))
if step == 0:
    st.caption(t("h0_note"))
for gate, act in (("i", "sigmoid"), ("f", "sigmoid"), ("g", "tanh"), ("o", "sigmoid")):
    st.latex(gate_equation(gate, act, W, trace, k, step, j))
st.latex(state_equations(trace, step, j))
st.caption(t("sum_note", terms=TERMS, H=H))

# ----- units that track a property -----------------------------------------------------------------
st.header(t("search_header"))
st.markdown(t.section("search"))
c_prop, c_where, c_q = st.columns([2, 2, 1])
with c_prop:
    prop_names = {p: t(f"prop_{p}") for p in lstm_probe.PROPERTIES}
    prop = st.selectbox(t("prop_label"), lstm_probe.PROPERTIES, key="lstm_prop", format_func=prop_names.get,
                        index=lstm_probe.PROPERTIES.index("line_position"))
with c_where:
    where_names = {"passage": t("where_passage", n=f"{PASSAGE_CHARS:,}"), "yours": t("where_yours")}
    where = st.radio(t("where_label"), tuple(where_names), key="lstm_where", format_func=where_names.get)
with c_q:
    quantity = st.radio(t("quantity_label"), ("c", "h"), key="lstm_quantity",
                        format_func={"c": "$c_t$", "h": "$h_t$"}.get)
if prop not in lstm_probe.PROPERTIES or where not in ("passage", "yours") or quantity not in ("c", "h"):
    st.error(t("err_controls", high=SEED_MAX))
    st.stop()
search_text = text if where == "yours" else passage()
with st.spinner(t("searching")):
    values = search(search_text, source, seed, quantity)
try:
    r = lstm_probe.unit_correlations(values, lstm_probe.text_property(search_text, prop))
except ProbeError as e:
    st.info(t.error(e))
    r = None
if r is not None:
    best = lstm_probe.best_units(r, TOP_UNITS)
    st.dataframe(pd.DataFrame({t("col_rank"): range(1, len(best) + 1), t("col_unit"): best,
                               t("col_r"): [round(float(r[u]), 3) for u in best],
                               t("col_r2"): [round(float(r[u]) ** 2, 2) for u in best]}), hide_index=True)
    st.markdown(t("search_result", prop=t(f"prop_{prop}"), unit=best[0], r=f"{float(r[best[0]]):+.3f}",
                  q=quantity, n=f"{len(search_text):,}", share=f"{100 * float(r[best[0]]) ** 2:.0f}"))
    if source == "random":
        st.caption(t("search_random"))
    shown_unit = st.selectbox(t("colour_unit_label"), best + [u for u in range(H) if u not in best],
                              key=f"lstm_colour_unit_{prop}_{where}_{quantity}_{source}")
    shown = int(shown_unit) if shown_unit is not None else best[0]
    shown_text = search_text[:800]
    st.html(coloured_text(shown_text, values[: len(shown_text), shown],
                          tooltip=f"t={{t}}: {quantity}[{shown}] = {{v:+.3f}}"))
    st.caption(t("colour_help", q=quantity, unit=shown, n=len(shown_text), r=f"{float(r[shown]):+.3f}"))

# ----- next-character predictions ------------------------------------------------------------------
st.header(t("predict_header"))
st.latex(r"y_t = W_{hy}\,h_t + b_y, \qquad p_t = \mathrm{softmax}(y_t), \qquad "
         r"\ell_t = -\log p_t[\text{char}_{t+1}]")
m1, m2, m3 = st.columns(3)
m1.metric(t("metric_loss"), "—" if T_len < 2 else f"{pred.mean_loss:.3f}")
m2.metric(t("metric_bits"), "—" if T_len < 2 else f"{pred.mean_loss / math.log(2):.2f}")
m3.metric(t("metric_acc"), "—" if T_len < 2 else f"{100 * pred.accuracy(ids):.0f} %")
next_p = [float(pred.probs[s, ids[s + 1]]) for s in range(T_len - 1)]
st.dataframe(pd.DataFrame({
    t("col_t"): range(1, T_len + 1), t("col_char"): labels, t("col_next"): labels[1:] + ["—"],
    t("col_p_next"): [f"{100 * p:.1f}%" for p in next_p] + ["—"], t("col_top5"): top5(pred.probs),
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
p_tau = torch.softmax(pred.logits[-1] / tau, dim=-1)
top = p_tau.topk(10)
st.plotly_chart(bars(top.values.tolist(), [char_labels(VOCAB[i])[0] for i in top.indices.tolist()],
                     title=t("tau_bars", tau=f"{tau:.2f}", ch=labels[-1]), height=260), key="lstm_tau_bars")
st.caption(t("tau_entropy", H_=f"{float(-(p_tau * p_tau.clamp_min(1e-300).log()).sum()):.2f}",
             top=f"{100 * float(top.values[0]):.1f}"))
if st.button(t("sample_button"), key="lstm_sample_button", type="primary"):
    if source != "trained":
        st.info(t("sample_trained_only"))
    with st.spinner(t("sampling")):
        st.session_state["lstm_sample"] = (text, tau, int(n_chars), int(sample_seed),
                                           char_rnn.sample(model, text, int(n_chars), tau, int(sample_seed)))
if "lstm_sample" in st.session_state:
    prompt, s_tau, s_n, s_seed, sampled = st.session_state["lstm_sample"]
    st.caption(t("sample_caption", tau=f"{s_tau:.2f}", n=s_n, seed=s_seed, end=prompt[-30:].replace("\n", " ↵ ")))
    st.code(sampled, language=None, wrap_lines=True)

# ----- ablations -------------------------------------------------------------------------------------
st.header(t("ablate_header"))
st.markdown(t.section("ablations"))
c_b, c_f, c_o = st.columns([2, 2, 2])
with c_b:
    f_bias = st.slider(t("f_bias_label"), -6.0, 6.0, 0.0, 0.5, key="lstm_f_bias", help=t("f_bias_help"))
with c_f:
    force_names = {"none": t("force_none"), "1": "$f_t = 1$", "0": "$f_t = 0$"}
    force_f = st.radio(t("force_f_label"), tuple(force_names), key="lstm_force_f", horizontal=True,
                       format_func=force_names.get)
with c_o:
    no_o = st.checkbox(t("no_o_label"), key="lstm_no_o", help=t("no_o_help"))
if not -6.0 <= float(f_bias) <= 6.0 or force_f not in ("none", "1", "0"):
    st.error(t("err_controls", high=SEED_MAX))
    st.stop()
ablation = Ablation(f_bias=float(f_bias), force_f=None if force_f == "none" else float(force_f),
                    no_output_gate=bool(no_o))
if ablation == lstm_probe.INTACT:
    st.info(t("ablate_none"))
else:
    a_trace, a_pred = traced(text, source, seed, ablation)
    a1, a2, a3 = st.columns(3)
    if T_len > 1:
        a1.metric(t("metric_loss"), f"{a_pred.mean_loss:.3f}", f"{a_pred.mean_loss - pred.mean_loss:+.3f}",
                  delta_color="inverse")
        a2.metric(t("metric_acc"), f"{100 * a_pred.accuracy(ids):.0f} %",
                  t("points", v=f"{100 * (a_pred.accuracy(ids) - pred.accuracy(ids)):+.0f}"))
    changed = int((a_pred.probs.argmax(-1) != pred.probs.argmax(-1)).sum())
    a3.metric(t("metric_changed"), f"{changed} / {T_len}")
    c_l, c_r = st.columns(2)
    with c_l:
        st.plotly_chart(gate_figure(a_trace.c[:, 0], seen, kind="c", title=t("fig_c_ablated"), height=420,
                                    unit_label=t("unit_axis"), max_ticks=HALF_TICKS), key="lstm_fig_c_ablated")
    with c_r:
        st.plotly_chart(gate_figure(a_trace.h[:, 0], seen, kind="h", title=t("fig_h_ablated"), height=420,
                                    unit_label=t("unit_axis"), max_ticks=HALF_TICKS), key="lstm_fig_h_ablated")
    if T_len > 1:
        st.plotly_chart(step_lines({t("intact"): pred.loss, t("ablated"): a_pred.loss}, seen,
                                   title=t("fig_loss_steps"), y_title=t("loss_axis"), x_title=t("step_axis")),
                        key="lstm_fig_loss_steps")
    st.caption(t("ablate_delta", dh=f"{float((a_trace.h - trace.h).abs().max()):.3f}",
                 dc=f"{float((a_trace.c - trace.c).abs().max()):.3f}"))

# ----- gradient flow ----------------------------------------------------------------------------------
st.header(t("grad_header"))
st.markdown(t.section("gradients"))
if T_len < 2:
    st.info(t("grad_one_step"))
else:
    with st.spinner(t("grad_spinner")):
        norms = gradient_norms(text, seed)
    st.plotly_chart(grad_norms_figure({t(f"grad_{name}"): v for name, v in norms.items()},
                                      title=t("grad_title", T=T_len, H=H), x_title=t("step_axis"),
                                      y_title="‖∂h<sub>T</sub>/∂·<sub>t</sub>‖<sub>F</sub>", height=380),
                    key="lstm_grad")
    first = {name: float(v[0]) for name, v in norms.items()}
    st.markdown(t("grad_sentence", T=T_len, rnn=f"{first['rnn']:.1e}", lstm=f"{first['lstm']:.1e}",
                  lstm_c=f"{first['lstm_c']:.1e}", rand=f"{first['lstm_random']:.1e}"))

# ----- common mistakes --------------------------------------------------------------------------------
st.header(t("mistakes_header"))
st.markdown(t.section("mistakes"))
shared, shared_pred = traced(text, source, seed, Ablation(shared_wx=True))
no_cell, no_cell_pred = traced(text, source, seed, Ablation(force_f=0.0))
st.subheader(t("mistake_wx_header"))
st.latex(r"\text{" + t("wrong") + r"}:\; \text{gate}_t = \sigma(W_{h\cdot}\,h_{t-1} + W_x\,x_t + b_\cdot)"
         r"\qquad \text{" + t("right") + r"}:\; \text{gate}_t = \sigma(W_{i\cdot}\,x_t + b_{i\cdot} + "
         r"W_{h\cdot}\,h_{t-1} + b_{h\cdot})")
W_shared = lstm_probe.ablated_weights(W, Ablation(shared_wx=True))
rows = {gate: (float(W["weight_ih"][lstm_probe.BLOCK[gate] * H + j, k]),
               float(W_shared["weight_ih"][lstm_probe.BLOCK[gate] * H + j, k])) for gate in "ifgo"}
st.markdown(t("wx_sentence", ch=labels[step], k=k, j=j,
              right=", ".join(f"$W_{{i{g}}}[{j},{k}] = {v[0]:+.3f}$" for g, v in rows.items()),
              wrong=f"${rows['i'][1]:+.3f}$"))
pre_gap = float((shared.pre_i - shared.pre_f - (trace.pre_i - trace.pre_f)).abs().max())
st.caption(t("wx_gap", gap=f"{float((trace.i - trace.f).abs().max()):.3f}",
             gap_wrong=f"{float((shared.i - shared.f).abs().max()):.3f}", pre=f"{pre_gap:.3f}"))
st.subheader(t("mistake_c_header"))
st.latex(r"\text{" + t("wrong") + r"}:\; h_t = o_t \odot \tanh(i_t \odot g_t)"
         r"\qquad \text{" + t("right") + r"}:\; c_t = f_t \odot c_{t-1} + i_t \odot g_t,\;"
         r" h_t = o_t \odot \tanh(c_t)")
st.plotly_chart(step_lines({t("right_c", j=j): trace.c[:, 0, j], t("wrong_c", j=j): no_cell.c[:, 0, j]}, seen,
                           title=t("fig_c_unit", j=j), y_title=f"c_t[{j}]", x_title=t("step_axis")),
                key="lstm_fig_no_cell")
if T_len > 1:
    st.dataframe(pd.DataFrame({
        t("col_model"): [t("right"), t("mistake_wx_short"), t("mistake_c_short")],
        t("metric_loss"): [f"{p.mean_loss:.3f}" for p in (pred, shared_pred, no_cell_pred)],
        t("metric_acc"): [f"{100 * p.accuracy(ids):.0f} %" for p in (pred, shared_pred, no_cell_pred)],
    }), hide_index=True)
    st.caption(t("mistakes_note"))

# ----- show the code, check against torch -------------------------------------------------------------
show_code(lstm, lstm_step)
st.header(t("check_torch"))
st.caption(t("check_help", T=T_len, V=V, H=H))
ref = torch.nn.LSTM(V, H).double()
with torch.no_grad():
    for name in lstm_probe.WEIGHTS:
        getattr(ref, f"{name}_l0").copy_(W[name])
    out, _ = ref(one_hot(ids))
torch_check(float((trace.h - out).abs().max()), "nn.LSTM")

# ----- what next ---------------------------------------------------------------------------------------
st.header(t("what_next"))
st.markdown(t.section("next"))
st.page_link("views/gru.py", label=t("link_gru"), icon=":material/arrow_forward:")
st.page_link("views/rnn.py", label=t("link_rnn"), icon=":material/arrow_back:")
