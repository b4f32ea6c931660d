"""GRU: the reset and update gates computed live on text the learner types, every equation
written out with the numbers for one (t, unit), torch's reset placement against the textbook's,
parameter counts of RNN / GRU / LSTM, and a check against nn.GRU."""

from __future__ import annotations

import math

import pandas as pd
import streamlit as st
import torch

from engine.data.corpus import UNK, VOCAB, decode, encode, one_hot, unknown_chars
from engine.ops.recurrent import (
    GATES,
    gru,
    gru_step,
    gru_textbook_step,
    param_count,
    torch_gap,
    torch_param_count,
)
from engine.ops.recurrent_units import (
    OPEN_RESET,
    GRUVariants,
    UnitStep,
    gru_variants,
    random_char_model,
    unit_step,
)
from figures.recurrent import char_labels, gate_figure
from widgets import blocks
from widgets.blocks import hand_off, show_code, torch_check
from widgets.i18n import T
from widgets.latex import num, recurrent_sum

t = T("gru")
MAX_CHARS = 40  # the page's bound on the text (engine.limits allows longer sequences)
H_MIN, H_MAX, H_DEFAULT = 2, 16, 8
SEED_MAX = 9999
TERMS = 8  # recurrent sums: terms written out before \dots
KINDS = ("r", "z", "n", "h")


def checked(name: str, value: int) -> int:
    return blocks.checked(t, name, value)


@st.cache_data(show_spinner=False, max_entries=64)
def random_weights(D: int, H: int, seed: int) -> dict[str, torch.Tensor]:
    """Weights as nn.GRU initialises them: every entry ~ U(−1/√H, 1/√H), from a seeded generator.
    Layout as torch's: weight_ih (3H, D), weight_hh (3H, H), biases (3H,), gates stacked r, z, n."""
    return random_char_model("gru", D, H, seed).cell


@st.cache_data(show_spinner=False, max_entries=64)
def variants(text: str, D: int, H: int, seed: int) -> GRUVariants:
    """torch's GRU and the textbook's on the text, and where they agree."""
    return gru_variants(one_hot(encode(text), D), random_weights(D, H, seed))


@st.cache_data(show_spinner=False)
def torch_param_counts(D: int, H: int) -> dict[str, int]:
    """Parameters of nn.RNN, nn.GRU, nn.LSTM (one layer) for these sizes, counted by torch."""
    return {kind: torch_param_count(kind, D, H) for kind in ("rnn", "gru", "lstm")}


# ----- formulas with live numbers ----------------------------------------------------------


def unit_equations(unit: UnitStep, k: int, step: int, j: int) -> dict[str, str]:
    """The four GRU equations for unit j at 0-based step `step` (input one-hot at id k), with the live numbers."""
    v, tt = unit.values, step + 1
    out = {}
    for gate in ("r", "z"):
        g = unit.gates[gate]
        out[gate] = (
            rf"\begin{{aligned}} {recurrent_sum('h' + gate, j, tt, g.w_h, g.h_prev, TERMS)} \\ "
            rf"{gate}_{{{tt}}}[{j}] &= \sigma\big(W_{{i{gate}}}[{j},{k}] + b_{{i{gate}}}[{j}] + "
            rf"\textstyle\sum_m W_{{h{gate}}}[{j},m]\,h_{{{tt - 1}}}[m] + b_{{h{gate}}}[{j}]\big) \\ "
            rf"&= \sigma\big({num(g.w_x)} + {num(g.b_i)} + {num(g.recurrent)} + {num(g.b_h)}\big) \\ "
            rf"&= \sigma({g.pre:.4f}) = {g.value:.4f} \end{{aligned}}")
    g, r = unit.gates["n"], v["r"]
    out["n"] = (
        rf"\begin{{aligned}} {recurrent_sum('hn', j, tt, g.w_h, g.h_prev, TERMS)} \\ "
        rf"n_{{{tt}}}[{j}] &= \tanh\big(W_{{in}}[{j},{k}] + b_{{in}}[{j}] + r_{{{tt}}}[{j}]\,"
        rf"(\textstyle\sum_m W_{{hn}}[{j},m]\,h_{{{tt - 1}}}[m] + b_{{hn}}[{j}])\big) \\ "
        rf"&= \tanh\big({num(g.w_x)} + {num(g.b_i)} + {r:.3f}\cdot({g.recurrent:.3f} + "
        rf"{num(g.b_h)})\big) \\ "
        rf"&= \tanh({g.pre:.4f}) = {g.value:.4f} \end{{aligned}}")
    z, n, h, hp = v["z"], v["n"], v["h"], v["h_prev"]
    out["h"] = (
        rf"\begin{{aligned}} h_{{{tt}}}[{j}] &= (1 - z_{{{tt}}}[{j}])\,n_{{{tt}}}[{j}] + "
        rf"z_{{{tt}}}[{j}]\,h_{{{tt - 1}}}[{j}] \\ "
        rf"&= (1 - {z:.4f})\cdot{num(n, 4)} + {z:.4f}\cdot{num(hp, 4)} \\ "
        rf"&= {h:.4f} \end{{aligned}}")
    return out


# ----- title, intuition, formulas ---------------------------------------------------------
st.title(t("title"))
st.markdown(t.section("intuition"))
st.latex(r"\begin{aligned}"
         r" r_t &= \sigma(W_{ir}\,x_t + b_{ir} + W_{hr}\,h_{t-1} + b_{hr}) \\"
         r" z_t &= \sigma(W_{iz}\,x_t + b_{iz} + W_{hz}\,h_{t-1} + b_{hz}) \\"
         r" n_t &= \tanh\big(W_{in}\,x_t + b_{in} + r_t \odot (W_{hn}\,h_{t-1} + b_{hn})\big) \\"
         r" h_t &= (1 - z_t) \odot n_t + z_t \odot h_{t-1}"
         r"\end{aligned}")
st.markdown(t.section("symbols"))

# ----- controls ---------------------------------------------------------------------------
st.header(t("controls_header"))
c_text, c_H, c_seed = st.columns([3, 1, 1])
with c_text:
    raw = st.text_input(t("text_label"), value=t("text_default"), key="gru_text", help=t("text_help"))
with c_H:
    H = checked("hidden_size", st.slider(t("H_label"), H_MIN, H_MAX, H_DEFAULT, key="gru_H"))
with c_seed:
    seed = st.number_input(t("seed_label"), 0, SEED_MAX, 0, step=1, key="gru_seed", help=t("seed_help"))
if not 0 <= int(seed) <= SEED_MAX:
    st.error(t("err_seed", high=SEED_MAX))
    st.stop()
seed = int(seed)

text = raw
if len(text) > MAX_CHARS:
    st.warning(t("too_long", n=len(raw), max=MAX_CHARS, kept=text[:MAX_CHARS]))
    text = text[:MAX_CHARS]
if not text:
    st.info(t("empty"))
    st.stop()
T_len = checked("seq_len", len(text))
checked("input_size", len(VOCAB))

unknown = unknown_chars(text)
if unknown:
    st.info(t("unknown", chars=" ".join(f"`{c}`" for c in unknown), unk=UNK, count=len(unknown)))
ids = encode(text)
seen = decode(ids)  # what the cell reads: folded quotes and dashes, ¿ for unknown characters
D = len(VOCAB)
st.caption(t("encoding", T=T_len, D=D, H=H, seed=seed, k=f"{1 / math.sqrt(H):.3f}"))

W = random_weights(D, H, seed)
both = variants(text, D, H, seed)
trace, trace_book = both.torch_trace, both.textbook

# ----- heatmaps and one unit written out ---------------------------------------------------
st.header(t("heatmaps_header"))
st.caption(t("heatmaps_help"))
# default step: the fifth, where h_{t−1} ≠ 0 and the recurrent sums are real
st.session_state["gru_t"] = min(max(int(st.session_state.get("gru_t", 5)), 1), T_len)
st.session_state["gru_j"] = min(int(st.session_state.get("gru_j", 0)), H - 1)
c_t, c_j = st.columns(2)
with c_t:
    tt = st.slider(t("t_label"), 1, max(T_len, 2), key="gru_t", disabled=T_len == 1)
with c_j:
    j = st.slider(t("j_label"), 0, H - 1, key="gru_j")
step, j = min(int(tt), T_len) - 1, int(j)
labels = char_labels(seen)

height = 150 + 18 * H
for row in (("r", "z"), ("n", "h")):
    cols = st.columns(2)
    for col, kind in zip(cols, row):
        with col:
            st.plotly_chart(gate_figure(getattr(trace, kind)[:, 0], seen, kind=kind, title=t(f"fig_{kind}"),
                                        pick=(step, j), height=height, unit_label=t("unit_axis")),
                            key=f"gru_fig_{kind}")

st.subheader(t("unit_header", t=step + 1, j=j, ch=labels[step]))
st.markdown(t("one_hot_note", t=step + 1, ch=labels[step], k=int(ids[step]), j=j))
if step == 0:
    st.caption(t("h0_note"))
eqs = unit_equations(unit_step("gru", W, trace, int(ids[step]), step, j), int(ids[step]), step, j)
# full width: a written-out recurrent sum is too wide for half a page
for name in KINDS:
    st.latex(eqs[name])
st.caption(t("sum_note", terms=TERMS))

# ----- torch's reset placement vs the textbook's ------------------------------------------
st.header(t("variants_header"))
st.markdown(t.section("variants"))
st.latex(r"\begin{aligned}"
         r"\text{torch:}\quad n_t &= \tanh\big(W_{in}\,x_t + b_{in} + r_t \odot (W_{hn}\,h_{t-1} + b_{hn})\big) \\"
         r"\text{Cho et al.:}\quad n_t &= \tanh\big(W_{in}\,x_t + b_{in} + W_{hn}\,(r_t \odot h_{t-1}) + b_{hn}\big)"
         r"\end{aligned}")
c_a, c_b = st.columns(2)
with c_a:
    st.plotly_chart(gate_figure(trace.h[:, 0], seen, kind="h", title=t("fig_h_torch"), height=height,
                                unit_label=t("unit_axis")), key="gru_fig_h_torch")
with c_b:
    st.plotly_chart(gate_figure(trace_book.h[:, 0], seen, kind="h", title=t("fig_h_textbook"), height=height,
                                unit_label=t("unit_axis")), key="gru_fig_h_textbook")
gaps = both.gaps
st.metric(t("variants_metric"), f"{gaps['yours'].overall:.2e}")
st.caption(t("variants_first", d1=f"{gaps['yours'].first:.2e}", bhn=f"{both.b_hn_max:.3f}"))
st.markdown(t("variants_same"))
st.dataframe(pd.DataFrame({
    t("col_weights"): [t(f"weights_{name}", b=f"{OPEN_RESET:g}") for name in gaps],
    t("col_gap_t1"): [f"{g.first:.2e}" for g in gaps.values()],
    t("col_gap_all"): [f"{g.overall:.2e}" for g in gaps.values()],
}), hide_index=True)
st.caption(t("variants_table_help"))

# ----- parameter counts -------------------------------------------------------------------
st.header(t("params_header"))
st.markdown(t("params_intro", D=D, H=H))
counts = {kind: param_count(kind, D, H) for kind in ("rnn", "gru", "lstm")}
torch_counts = torch_param_counts(D, H)
names = {"rnn": "RNN", "gru": "GRU", "lstm": "LSTM"}
lines = []
for kind in ("rnn", "gru", "lstm"):
    G = GATES[kind]
    # params = G·(H·D + H·H + 2H)
    block = H * D + H * H + 2 * H
    lines.append(rf"\text{{{names[kind]}}} &= {G}\cdot({H}\cdot{D} + {H}\cdot{H} + 2\cdot{H}) "
                 rf"= {G}\cdot{block} = {counts[kind]:,}".replace(",", "{,}"))
st.latex(r"\begin{aligned} \text{params} &= G\cdot(H\cdot D + H\cdot H + 2H) \\ "
         + r" \\ ".join(lines) + r" \end{aligned}")
table = pd.DataFrame({
    t("col_cell"): [names[k] for k in counts],
    "G": [GATES[k] for k in counts],
    t("col_formula"): [counts[k] for k in counts],
    t("col_torch"): [torch_counts[k] for k in counts],
    t("col_equal"): ["✓" if counts[k] == torch_counts[k] else "✗" for k in counts],
})
st.dataframe(table, hide_index=True)
st.caption(t("params_note", ratio=f"{counts['lstm'] / counts['gru']:.2f}"))

# ----- show the code, check against torch -------------------------------------------------
show_code(gru, gru_step, gru_textbook_step)

st.header(t("check_torch"))
st.caption(t("check_help", T=T_len, D=D, H=H))
torch_check(torch_gap("gru", W, one_hot(ids, D), trace.h), "nn.GRU")

# ----- what next --------------------------------------------------------------------------
st.header(t("what_next"))
st.markdown(t.section("next"))
hand_off(("views/lstm/page.py", "nav_lstm", "back"), ("views/attention/page.py", "nav_attention", "next"), ("views/train_lstm.py", "nav_train_lstm", "see"))
