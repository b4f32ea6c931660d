"""GRU: the reset and update gates computed live on text the learner types, every equation
written out with the numbers for one (t, unit), torch's reset placement against the textbook's,
parameter counts of RNN / GRU / LSTM, and a check against nn.GRU."""

from __future__ import annotations

import math

import pandas as pd
import streamlit as st
import torch
from torch import nn

from engine.data.corpus import UNK, VOCAB, decode, encode, unknown_chars
from engine.ops.recurrent import (
    GATES,
    gru,
    gru_step,
    gru_textbook,
    gru_textbook_step,
    param_count,
    seeded_uniform,
)
from figures.recurrent import char_labels, gate_figure
from widgets import blocks
from widgets.blocks import show_code, torch_check
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
    shapes = {"weight_ih": (3 * H, D), "weight_hh": (3 * H, H), "bias_ih": (3 * H,), "bias_hh": (3 * H,)}
    return seeded_uniform(shapes, H, seed)


def one_hot(text: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Text → (ids (T,), x (T, 1, D)): one one-hot row per character, batch of one."""
    ids = encode(text)
    # (T,) → (T, D) one-hot → (T, 1, D): torch's (time, batch, feature)
    x = torch.nn.functional.one_hot(ids, len(VOCAB)).to(torch.float64)[:, None, :]
    return ids, x


@st.cache_data(show_spinner=False)
def torch_param_counts(D: int, H: int) -> dict[str, int]:
    """Parameters of nn.RNN, nn.GRU, nn.LSTM (one layer) for these sizes, counted by torch."""
    modules = {"rnn": nn.RNN(D, H), "gru": nn.GRU(D, H), "lstm": nn.LSTM(D, H)}
    return {kind: sum(p.numel() for p in m.parameters()) for kind, m in modules.items()}


def torch_gru_output(x: torch.Tensor, W: dict[str, torch.Tensor]) -> torch.Tensor:
    """nn.GRU in float64 with our weights copied in; its output (T, 1, H)."""
    D, H = x.shape[-1], W["weight_hh"].shape[1]
    ref = nn.GRU(D, H).double()
    with torch.no_grad():
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(ref, f"{name}_l0").copy_(W[name])
        out, _ = ref(x)
    return out


OPEN_RESET = 20.0  # b_ir = b_hr = 20 with W_ir = W_hr = 0: r_t = σ(40) ≈ 1 − 4·10⁻¹⁸


def variant_gaps(x: torch.Tensor, W: dict[str, torch.Tensor]) -> dict[str, tuple[float, float]]:
    """max |h_torch − h_textbook| (at t = 1, over all steps) for the learner's weights and two
    edited copies: b_hn = 0, and the reset gate forced open (r_t ≈ 1)."""
    H = W["weight_hh"].shape[1]
    no_bhn = {**W, "bias_hh": W["bias_hh"].clone()}
    no_bhn["bias_hh"][2 * H:] = 0
    open_r = {name: w.clone() for name, w in W.items()}
    # rows [0, H) of every block are the reset gate's (torch stacks r, z, n)
    open_r["weight_ih"][:H] = 0
    open_r["weight_hh"][:H] = 0
    open_r["bias_ih"][:H] = OPEN_RESET
    open_r["bias_hh"][:H] = OPEN_RESET
    out = {}
    for name, weights in (("yours", W), ("no_bhn", no_bhn), ("open_r", open_r)):
        args = (x, weights["weight_ih"], weights["weight_hh"], weights["bias_ih"], weights["bias_hh"])
        gap = (gru(*args).h - gru_textbook(*args).h).abs()
        out[name] = (float(gap[0].max()), float(gap.max()))
    return out


# ----- formulas with live numbers ----------------------------------------------------------


def unit_equations(W: dict, trace, ids: torch.Tensor, step: int, j: int) -> dict[str, str]:
    """The four GRU equations for unit j at 0-based step `step`, with the live numbers."""
    k = int(ids[step])
    h_prev = (trace.h0 if step == 0 else trace.h[step - 1])[0]
    W_ir, W_iz, W_in = W["weight_ih"].chunk(3)
    W_hr, W_hz, W_hn = W["weight_hh"].chunk(3)
    b_ir, b_iz, b_in = W["bias_ih"].chunk(3)
    b_hr, b_hz, b_hn = W["bias_hh"].chunk(3)
    r, z, n, h = (float(getattr(trace, q)[step, 0, j]) for q in KINDS)
    tt = step + 1
    out = {}
    for gate, W_i, b_i, W_h, b_h, value in (("r", W_ir, b_ir, W_hr, b_hr, r), ("z", W_iz, b_iz, W_hz, b_hz, z)):
        s = float(W_h[j] @ h_prev)
        # pre = W_i[j, k] + b_i[j] + Σ_m W_h[j, m] h_{t−1}[m] + b_h[j]
        pre = float(W_i[j, k]) + float(b_i[j]) + s + float(b_h[j])
        out[gate] = (
            rf"\begin{{aligned}} {recurrent_sum('h' + gate, j, tt, W_h[j], h_prev, TERMS)} \\ "
            rf"{gate}_{{{tt}}}[{j}] &= \sigma\big(W_{{i{gate}}}[{j},{k}] + b_{{i{gate}}}[{j}] + "
            rf"\textstyle\sum_m W_{{h{gate}}}[{j},m]\,h_{{{tt - 1}}}[m] + b_{{h{gate}}}[{j}]\big) \\ "
            rf"&= \sigma\big({num(float(W_i[j, k]))} + {num(float(b_i[j]))} + {num(s)} + {num(float(b_h[j]))}\big) \\ "
            rf"&= \sigma({pre:.4f}) = {value:.4f} \end{{aligned}}")
    s = float(W_hn[j] @ h_prev)
    pre_n = float(W_in[j, k]) + float(b_in[j]) + r * (s + float(b_hn[j]))
    out["n"] = (
        rf"\begin{{aligned}} {recurrent_sum('hn', j, tt, W_hn[j], h_prev, TERMS)} \\ "
        rf"n_{{{tt}}}[{j}] &= \tanh\big(W_{{in}}[{j},{k}] + b_{{in}}[{j}] + r_{{{tt}}}[{j}]\,"
        rf"(\textstyle\sum_m W_{{hn}}[{j},m]\,h_{{{tt - 1}}}[m] + b_{{hn}}[{j}])\big) \\ "
        rf"&= \tanh\big({num(float(W_in[j, k]))} + {num(float(b_in[j]))} + {r:.3f}\cdot({s:.3f} + "
        rf"{num(float(b_hn[j]))})\big) \\ "
        rf"&= \tanh({pre_n:.4f}) = {n:.4f} \end{{aligned}}")
    hp = float(h_prev[j])
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
ids, x = one_hot(text)
seen = decode(ids)  # what the cell reads: folded quotes and dashes, ¿ for unknown characters
D = len(VOCAB)
st.caption(t("encoding", T=T_len, D=D, H=H, seed=seed, k=f"{1 / math.sqrt(H):.3f}"))

W = random_weights(D, H, seed)
with torch.no_grad():
    trace = gru(x, W["weight_ih"], W["weight_hh"], W["bias_ih"], W["bias_hh"])
    trace_book = gru_textbook(x, W["weight_ih"], W["weight_hh"], W["bias_ih"], W["bias_hh"])

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
eqs = unit_equations(W, trace, ids, step, j)
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
gap = (trace.h - trace_book.h).abs()
# max over units of |h_torch − h_textbook| at each step
per_step = gap[:, 0].amax(dim=1)
st.metric(t("variants_metric"), f"{float(gap.max()):.2e}")
st.caption(t("variants_first", d1=f"{float(per_step[0]):.2e}",
             bhn=f"{float(W['bias_hh'].chunk(3)[2].abs().max()):.3f}"))
st.markdown(t("variants_same"))
with torch.no_grad():
    gaps = variant_gaps(x, W)
st.dataframe(pd.DataFrame({
    t("col_weights"): [t(f"weights_{name}", b=f"{OPEN_RESET:g}") for name in gaps],
    t("col_gap_t1"): [f"{g[0]:.2e}" for g in gaps.values()],
    t("col_gap_all"): [f"{g[1]:.2e}" for g in gaps.values()],
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
delta = float((trace.h - torch_gru_output(x, W)).abs().max())
torch_check(delta, "nn.GRU")

# ----- what next --------------------------------------------------------------------------
st.header(t("what_next"))
st.markdown(t.section("next"))
