"""Data-parallel training: why the mean of K shards' gradients is the whole batch's gradient
(the formula, then K simulated workers on the learner's batch), then a real run with
torch.distributed (2 gloo processes on this machine) whose ranks stay identical and equal one
process on the combined batch, with the time per step split into its phases.

Glue only: lesson text from lessons/, the simulation from engine.ops.data_parallel (cached in
parts.py), the real run from engine.lab.ddp through widgets.jobs (real_run.py), figures from
figures.data_parallel.
"""

from __future__ import annotations

import streamlit as st

from engine.lab import ddp, ddp_rank
from engine.models.cnn import checkpoint_mtime
from engine.ops import data_parallel as dp
from figures import data_parallel as fdp
from views.data_parallel import parts, real_run
from widgets.blocks import show_code, torch_check
from widgets.i18n import T

t = T("data_parallel")

# ----- title, intuition, formula ----------------------------------------------------------------

st.title(t("title"))
st.markdown(t.section("intuition"))

st.header(t("formula_header"))
st.latex(fdp.formula_latex())
st.markdown(t.section("formula"))

# ----- K simulated workers on the learner's batch -------------------------------------------------

st.header(t("sim_header"))
st.markdown(t.section("simulate"))
parts.guard("dp_B", 32, bound="dp_batch")
parts.guard("dp_K", 4, bound="dp_workers")
parts.guard("dp_split", "even", options=dp.SPLITS)
pick_B, pick_K, pick_split = st.columns([2, 2, 2], gap="medium", vertical_alignment="bottom")
with pick_B:
    B = st.slider(t("batch_label"), 1, 128, key="dp_B", help=t("batch_help"))
with pick_K:
    K = st.slider(t("workers_label"), 1, 16, key="dp_K", help=t("workers_help"))
with pick_split:
    split = st.radio(t("split_label"), dp.SPLITS, key="dp_split", horizontal=True,
                     format_func=lambda s: t(f"split_{s}"), help=t("split_help"))
if K > B:
    st.warning(t("err_workers_over_batch", K=K, N=B))
    K = B

tr = parts.simulated(checkpoint_mtime(), int(B), int(K), str(split))
st.markdown(t("shards_note", K=tr.K, N=tr.N, n=" + ".join(map(str, tr.n)),
              equal=t("shards_equal") if tr.equal_shards else t("shards_unequal")))

with st.container(border=True):
    e = dp.entry(tr, "fc2.bias")
    st.markdown(t("entry_note", name=e.name, j=e.index[0]))
    st.latex(fdp.entry_latex(e))

fig, table = st.columns([3, 2], gap="large")
with fig:
    st.plotly_chart(fdp.deltas_figure(tr, (t("legend_right"), t("legend_wrong")), t("deltas_title")),
                    key="dp_deltas")
with table:
    st.dataframe(parts.shard_frame(tr), hide_index=True, width="stretch")
a, b = st.columns(2)
a.metric(t("metric_right"), f"{tr.delta_weighted:.1e}", help=t("metric_right_help"))
b.metric(t("metric_wrong"), f"{tr.delta_plain:.1e}", help=t("metric_wrong_help"))
st.markdown(t.section("wrong_equal" if tr.equal_shards else "wrong_unequal"))

# ----- a real run: 2 processes, gloo --------------------------------------------------------------

st.header(t("real_header"))
st.markdown(t.section("real"))
real_run.section()

# ----- several machines -----------------------------------------------------------------------------

st.header(t("machines_header"))
st.markdown(t.section("machines"))

# ----- code and the check against torch ---------------------------------------------------------------

st.header(t("code_header"))
show_code(dp.shard_sizes, dp.shard_gradient, dp.weighted_mean, dp.simulate, ddp_rank.all_reduce_mean,
          ddp_rank.sgd_step, ddp_rank.rank_main, ddp.run_ddp)

st.header(t("check_header"))
st.markdown(t.section("check"))
torch_check(tr.delta_weighted, t("check_ref"))

# ----- what next -------------------------------------------------------------------------------------

st.header(t("next_header"))
st.markdown(t.section("next"))
st.page_link("views/roofline/page.py", label=t("next_roofline"), icon=":material/arrow_back:")
st.page_link("views/train_cnn.py", label=t("next_train"), icon=":material/arrow_forward:")
