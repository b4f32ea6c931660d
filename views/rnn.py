"""The Elman RNN on text the learner types: the unrolled steps, the hidden state over time, one
h_t[j] written out with its numbers, an (untrained) readout, and vanishing/exploding gradients."""

from __future__ import annotations

import pandas as pd
import streamlit as st
import torch

from engine.data.corpus import UNK, VOCAB, encode, one_hot, unknown_chars
from engine.limits import BOUNDS
from engine.ops.recurrent import (
    WEIGHTS,
    hidden_grad_norms,
    rnn,
    rnn_step,
    scale_spectral_radius,
    torch_gap,
)
from engine.ops.recurrent_units import CharWeights, GateTerms, predict, random_char_model, unit_step
from figures.recurrent import grad_norm_figure, hidden_heatmap, token_label
from widgets import blocks
from widgets.blocks import show_code, torch_check
from widgets.i18n import T

t = T("rnn")
V = len(VOCAB)  # one-hot input size D = output size
MAX_SHOWN = 40  # characters drawn in the table and the heatmap
H_RANGE = (2, 16)
MAX_TERMS = 8  # terms of Σ_k W_hh[j,k] h_{t−1}[k] written out
TABLE_UNITS = 6  # h_t values shown per row of the unrolled table


def checked(name: str, value: int) -> int:
    return blocks.checked(t, name, value)


@st.cache_data(show_spinner=False, max_entries=64)
def seeded_weights(H: int, seed: int) -> CharWeights:
    """Random weights as torch initialises nn.RNN and nn.Linear: uniform(−1/√H, 1/√H), seeded."""
    return random_char_model("rnn", V, H, seed)


def num(v: float, digits: int = 3) -> str:
    """A number for a LaTeX sum: negatives in parentheses."""
    s = f"{v:.{digits}f}"
    return f"({s})" if v < 0 else s


def recurrent_terms(w_row: torch.Tensor, h_prev: torch.Tensor) -> str:
    """Σ_k W_hh[j,k] h_{t−1}[k] as LaTeX terms, three per line, at most MAX_TERMS then \\dots."""
    terms = [rf"{num(w)}\cdot{num(h)}" for w, h in zip(w_row.tolist(), h_prev.tolist(), strict=True)]
    shown = terms[:MAX_TERMS] + ([r"\dots"] if len(terms) > MAX_TERMS else [])
    lines = [" + ".join(shown[i:i + 3]) for i in range(0, len(shown), 3)]
    return r" \\ &\qquad + ".join(lines)


def unit_formula(step: int, j: int, c: int, g: GateTerms) -> str:
    """h_t[j] written out with the live numbers (x_t is one-hot at id c)."""
    s_hh, w_x, b_i, b_h, a, h = g.recurrent, g.w_x, g.b_i, g.b_h, g.pre, g.value
    tp = f"{step - 1}"
    return (
        r"\begin{aligned}"
        rf"h_{{{step}}}[{j}] &= \tanh\Big(\sum_k W_{{ih}}[{j},k]\,x_{{{step}}}[k] + "
        rf"\sum_k W_{{hh}}[{j},k]\,h_{{{tp}}}[k] + b_{{ih}}[{j}] + b_{{hh}}[{j}]\Big) \\"
        rf"\sum_k W_{{ih}}[{j},k]\,x_{{{step}}}[k] &= W_{{ih}}[{j},{c}] = {num(w_x, 4)} \\"
        rf"\sum_k W_{{hh}}[{j},k]\,h_{{{tp}}}[k] &= {recurrent_terms(g.w_h, g.h_prev)} \\"
        rf"&= {num(s_hh, 4)} \\"
        rf"h_{{{step}}}[{j}] &= \tanh\big({num(w_x, 4)} + {num(s_hh, 4)} + {num(b_i, 4)} + {num(b_h, 4)}\big) \\"
        rf"&= \tanh({a:.4f}) = {h:.4f}"
        r"\end{aligned}"
    )


def clamp_state(key: str, high: int, default: int) -> None:
    """Keep a slider's remembered value inside its (new) range before the slider is drawn."""
    st.session_state[key] = max(0, min(int(st.session_state.get(key, default)), high))


# ----- title, intuition, formula ----------------------------------------------------------
st.title(t("title"))
st.markdown(t.section("intuition"))
st.latex(r"h_t = \tanh\left(W_{xh}\,x_t + W_{hh}\,h_{t-1} + b_h\right), \qquad h_0 = 0")
st.markdown(t.section("torch_names"))
st.latex(r"h_t = \tanh\left(W_{ih}\,x_t + b_{ih} + W_{hh}\,h_{t-1} + b_{hh}\right)")

# ----- controls ---------------------------------------------------------------------------
st.header(t("controls_header"))
c_text, c_h, c_seed = st.columns([3, 2, 1], vertical_alignment="top")
with c_text:
    text = st.text_input(t("text_label"), "hello world", max_chars=BOUNDS["seq_len"].high,
                         key="rnn_text", help=t("text_help", n=MAX_SHOWN))
with c_h:
    H = checked("hidden_size", st.slider(t("hidden_label"), *H_RANGE, 8, key="rnn_hidden"))
with c_seed:
    seed = int(st.number_input(t("seed_label"), 0, 9999, 0, key="rnn_seed"))

if not text:
    st.info(t("empty_text"))
    st.stop()
checked("seq_len", len(text))
if len(text) > MAX_SHOWN:
    st.warning(t("truncated", n=len(text), shown=MAX_SHOWN))
    text = text[:MAX_SHOWN]

ids = encode(text)
T_len = len(ids)
chars = [VOCAB[i] for i in ids.tolist()]
unknown = unknown_chars(text)
if unknown:
    st.warning(t("unknown_chars", chars=" ".join(f"「{ch}」" for ch in unknown), unk=UNK, id=V - 1))
st.caption(t("encoding_note", V=V, T=T_len))

weights = seeded_weights(H, seed)
W = weights.cell
# ids (T,) → one-hot x (T, B=1, D=V)
x = one_hot(ids, V)
trace = rnn(x, *(W[name] for name in WEIGHTS))
# (T, 1, H) → (T, H)
h = trace.h[:, 0]

# ----- the unrolled steps -----------------------------------------------------------------
st.header(t("unrolled_header"))
st.caption(t("unrolled_help", shown=min(H, TABLE_UNITS), H=H))
table = {t("col_t"): list(range(1, T_len + 1)), t("col_char"): [token_label(ch) for ch in chars],
         t("col_id"): ids.tolist()}
for k in range(min(H, TABLE_UNITS)):
    table[f"h_t[{k}]"] = [f"{v:+.3f}" for v in h[:, k].tolist()]
st.dataframe(pd.DataFrame(table), hide_index=True, width="stretch", height=min(400, 38 + 35 * T_len))

st.subheader(t("heatmap_header"))
st.plotly_chart(hidden_heatmap(h, chars, title=t("heatmap_title", T=T_len, H=H), unit_label=t("unit"),
                               step_label=t("step")), key="rnn_heatmap")
st.caption(t("heatmap_help"))

# ----- one unit at one step, written out --------------------------------------------------
st.header(t("cell_header"))
clamp_state("rnn_t", T_len, T_len)
clamp_state("rnn_j", H - 1, 0)
st.session_state["rnn_t"] = max(1, st.session_state["rnn_t"])
c_t, c_j = st.columns(2)
with c_t:
    step = st.slider(t("step_label"), 1, T_len, key="rnn_t") if T_len > 1 else 1
with c_j:
    j = st.slider(t("unit_label"), 0, H - 1, key="rnn_j")
step, j = min(int(step), T_len), min(int(j), H - 1)
c = int(ids[step - 1])
st.markdown(t("cell_sentence", step=step, ch=token_label(chars[step - 1]), c=c, j=j, H=H,
              prev=step - 1))
st.latex(unit_formula(step, j, c, unit_step("rnn", W, trace, c, step - 1, j).gates["h"]))
if H > MAX_TERMS:
    st.caption(t("terms_cut", shown=MAX_TERMS, H=H))

# ----- the output at each step ------------------------------------------------------------
st.header(t("output_header"))
st.latex(r"y_t = W_{hy}\,h_t + b_y, \qquad p_t = \mathrm{softmax}(y_t)")
st.warning(t("untrained"))
top = predict(h, weights.head["W_hy"], weights.head["b_y"], ids).top(3)
st.dataframe(pd.DataFrame({
    t("col_t"): list(range(1, T_len + 1)),
    t("col_char"): [token_label(ch) for ch in chars],
    t("col_next"): [token_label(ch) for ch in chars[1:]] + ["—"],
    **{t("col_top", k=r + 1): [f"{token_label(VOCAB[row[r][0]])}  {100 * row[r][1]:.1f} %" for row in top]
       for r in range(3)},
}), hide_index=True, width="stretch", height=min(400, 38 + 35 * T_len))
st.caption(t("output_help", V=V, uniform=f"{100 / V:.1f}"))

# ----- vanishing and exploding gradients --------------------------------------------------
st.header(t("grad_header"))
st.markdown(t.section("gradients"))
st.latex(r"\frac{\partial h_T}{\partial h_t} = \prod_{s=t+1}^{T} \frac{\partial h_s}{\partial h_{s-1}}"
         r" = \prod_{s=t+1}^{T} \operatorname{diag}\!\left(1 - h_s^2\right) W_{hh}")
rho = st.slider(t("rho_label"), 0.3, 2.0, 0.9, 0.05, key="rnn_rho", help=t("rho_help"))
rho = min(max(float(rho), 0.3), 2.0)
W_hh_rho = scale_spectral_radius(W["weight_hh"], rho)
norms = hidden_grad_norms("rnn", x, W["weight_ih"], W_hh_rho, W["bias_ih"], W["bias_hh"])
st.plotly_chart(grad_norm_figure(norms, title=t("grad_title", rho=f"{rho:.2f}", T=T_len),
                                 x_title=t("step"), y_title="‖∂h_T/∂h_t‖_F"), key="rnn_grad")
if T_len > 1:
    ratio = float(norms[0]) / float(norms[-1])
    st.markdown(t("grad_sentence", T=T_len, first=f"{float(norms[0]):.3e}", last=f"{float(norms[-1]):.3f}",
                  ratio=f"{ratio:.2e}", rho=f"{rho:.2f}"))
else:
    st.info(t("grad_one_step"))

# ----- show the code, check against torch -------------------------------------------------
show_code(rnn, rnn_step)

st.header(t("check_torch"))
st.caption(t("check_help", T=T_len, H=H, V=V))
torch_check(torch_gap("rnn", W, x, trace.h), "nn.RNN")

# ----- what next --------------------------------------------------------------------------
st.header(t("what_next"))
st.markdown(t.section("next"))
st.page_link("views/conv.py", label=t("link_conv"), icon=":material/arrow_back:")
st.page_link("views/lstm/page.py", label=T("common")("nav_lstm"), icon=":material/arrow_forward:")
