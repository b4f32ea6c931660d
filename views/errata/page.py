"""Formula errata: every wrong form of the errata table (docs/ARCHITECTURE.md) beside the correct one,
typeset, with a counterexample computed live by the engine on seeded random inputs (attention both
ways, PE's sin = cos, a convolution and a max pooling without their window, 32 kernels summed into
one map, an LSTM without its cell state, the FFN with an outer activation, the encoder's "one
vector", the attention chart's missing ÷√d_k and its V drawn before the dot product), a one-line why, a link to the
lesson, and the right forms checked against PyTorch (engine.ops.errata_cases)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from engine.data.tokens import TokenError, tokenize
from engine.ops.attention_setup import wrong_identity
from engine.ops.errata import (
    attention_unscaled,
    conv_without_window,
    kernels_summed,
    pool_without_window,
)
from engine.ops.errata_cases import torch_checks
from engine.ops.ffn import ffn_outer_activation
from engine.ops.lstm_units import ablated_weights
from views.errata.forms import errata, glance_table
from views.errata.parts import all_cases, frame, link
from widgets import blocks
from widgets.blocks import show_code, torch_check
from widgets.i18n import T

t = T("errata")
SEED_MAX = 9999

# ----- title and the seed ------------------------------------------------------------------------
st.title(t("title"))
st.markdown(t.section("intro"))

c_seed, c_note = st.columns([1, 3])
with c_seed:
    seed = st.number_input(t("seed_label"), 0, SEED_MAX, 0, step=1, key="er_seed", help=t("seed_help"))
if not 0 <= int(seed) <= SEED_MAX:
    st.error(t("err_seed", high=SEED_MAX))
    st.stop()
seed = blocks.checked(t, "seed", int(seed))
with c_note:
    st.caption(t("seed_note"))

sentences = (t("sentence_long"), t("sentence_short"))
try:
    for s in sentences:
        blocks.checked(t, "tokens", len(tokenize(s)))
except TokenError as exc:
    st.error(t.error(exc))
    st.stop()

with st.spinner(t("spinner")):
    cases = all_cases(seed, sentences)

# ----- at a glance, then the errata in the table's order -----------------------------------------
st.header(t("glance_header"))
glance_table(cases)

st.header(t("errata_header"))
for n, erratum in enumerate(errata(cases), start=1):
    frame(n, erratum)

# ----- show the code, check against torch, what next --------------------------------------------
st.header(t("code_header"))
show_code(conv_without_window, kernels_summed, pool_without_window, attention_unscaled, wrong_identity,
          ffn_outer_activation, ablated_weights)

st.header(t("check_torch"))
st.caption(t("check_help"))
checks = torch_checks(cases.att, cases.conv, cases.kern, cases.lstm, cases.ffn, cases.enc[0])
st.dataframe(pd.DataFrame({
    t("col_right_form"): [t(c.key + "_title") for c in checks],
    t("col_reference"): [c.reference for c in checks],
    "max |Δ|": [f"{c.gap:.1e}" for c in checks],
}), hide_index=True, key="er_checks")
torch_check(max(c.gap for c in checks), "PyTorch")

st.header(t("what_next"))
st.markdown(t.section("next"))
link("views/playground/page.py", t("link_playground"))
