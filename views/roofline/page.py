"""Where the time goes: SeedCNN's layers counted (parameters, multiply-adds, bytes, arithmetic
intensity) at the learner's batch size, then measured on this machine by a bounded job: the
roofline with the measured matmul peak and memory bandwidth, each layer's forward and backward
pass under it, and training samples/s against batch size, threads and memory layout (and a GPU
row when there is one).

Glue only: lesson text from lessons/, counts from engine.ops.cost (cached in parts.py), the
measurement from engine.lab.measure through widgets.jobs, figures.roofline to draw.
"""

from __future__ import annotations

import streamlit as st

from engine.lab.measure import Measurement, layer_times, measure, train_step_time
from engine.ops.cost import attainable, conv_cost, seed_cnn_costs, torch_flops
from figures import roofline as fr
from views.roofline import parts, results
from widgets.blocks import show_code, torch_check
from widgets.i18n import T
from widgets.jobs import job_panel

t = T("roofline")

# ----- title, intuition, formulas ---------------------------------------------------------------

st.title(t("title"))
st.markdown(t.section("intuition"))

st.header(t("formula_header"))
st.latex(fr.INTENSITY_LATEX)
st.latex(fr.ROOFLINE_LATEX)
st.markdown(t.section("formula"))

# ----- the counts at the learner's batch size ----------------------------------------------------

st.header(t("table_header"))
st.markdown(t.section("table"))
parts.guard("roof_N", 128, bound="roof_batch")
parts.guard("roof_layer", "conv2", options=parts.layer_names())
pick_N, pick_layer = st.columns(2, gap="large")
with pick_N:
    N = st.number_input(t("N_label"), 1, 1024, key="roof_N", step=1, help=t("N_help"))
with pick_layer:
    name = st.selectbox(t("layer_label"), parts.layer_names(), key="roof_layer", help=t("layer_help"))

table = parts.costs(int(N))
st.dataframe(parts.cost_frame(int(N), t.lang), hide_index=True, width="stretch")
row = table.layer(name)
# the written-out intensity takes the whole width: beside the totals it ran past its column at N = 128
st.latex(fr.layer_latex(row, int(N)))
st.markdown(t("totals", N=int(N), fwd=f"{table.forward.flops / 1e6:,.1f}", bwd=f"{table.backward.flops / 1e6:,.1f}",
              per=f"{(table.forward.flops + table.backward.flops) / int(N) / 1e6:.2f}"))
st.markdown(t.section("table_reading"))

# ----- the check against torch's own count --------------------------------------------------------

st.header(t("check_header"))
st.markdown(t.section("check"))
torch_check(float(parts.gap(int(N))), t("check_ref"), dtype=t("check_exact"))

# ----- measure this machine ------------------------------------------------------------------------

st.header(t("measure_header"))
st.markdown(t.section("measure"))
parts.guard("roof_threads", parts.cores(), bound="roof_threads", high=parts.cores())
threads = st.number_input(t("threads_label", cores=parts.cores()), 1, parts.cores(), key="roof_threads", step=1,
                          help=t("threads_help"))
status = job_panel(parts.JOB_KEY, t("measure_start"), lambda: parts.make_job(int(N), int(threads)),
                   stage_text=lambda s: t(f"stage_{s}"), live=results.live)
if status is not None and status.state == "done" and isinstance(status.result, Measurement):
    st.session_state[parts.RESULT_KEY] = status.result
m = st.session_state.get(parts.RESULT_KEY)

if isinstance(m, Measurement):
    results.badges(m)
    results.roof_numbers(m)
    results.summary(m)
    st.header(t("roofline_header"))
    results.layer_section(m, name)
    st.header(t("throughput_header"))
    results.throughput_section(m)
else:
    st.info(t("not_measured"))

# ----- the code -------------------------------------------------------------------------------------

st.header(t("code_header"))
show_code(seed_cnn_costs, conv_cost, attainable, torch_flops, measure, layer_times, train_step_time)

# ----- what next ------------------------------------------------------------------------------------

st.header(t("next_header"))
st.markdown(t.section("next"))
st.page_link("views/prune/page.py", label=t("next_prune"), icon=":material/arrow_back:")
st.page_link("views/data_parallel/page.py", label=t("next_ddp"), icon=":material/arrow_forward:")
