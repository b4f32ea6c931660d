"""Optimisers on loss surfaces: SGD, momentum, Nesterov, RMSProp, Adam and AdamW raced from the
learner's start on an ill-conditioned quadratic, Rosenbrock, a saddle, Himmelblau or the shipped
CNN's own loss plane; each optimiser's update for the step under the cursor written out with its
numbers; a learning rate that crawls and one that diverges; the schedules; the check against
torch.optim."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from engine.lab.schedule import CURVES, curves
from engine.ops import landscape as ls
from engine.ops.optim import OPTIMIZERS, adam_update, rmsprop_update, run, sgd_update, trajectory
from figures import optim as fo
from views.optimisers.parts import (
    SWEEP,
    check_gap,
    cnn_plane,
    contour_grid,
    controls,
    names,
    plane_key,
    plane_seconds,
    race,
    schedules,
    sweep,
    t,
    the_surface,
    why,
)
from widgets.blocks import show_code, torch_check

# ----- title, intuition, formula ----------------------------------------------------------------
st.title(t("title"))
st.markdown(t.section("intuition"))
st.header(t("formula_header"))
st.latex(fo.rules_latex(names()))
st.markdown(t.section("formula"))

# ----- controls ------------------------------------------------------------------------------------
st.header(t("controls_header"))
s = controls()
surf = the_surface(s.surface, s.kappa)
st.caption(t("hp_caption"))
if s.surface == "cnn":
    land = cnn_plane()
    st.info(t("plane_what", n=len(land.a), digits=land.digits, span=f"{float(land.a[-1]):g}",
              seconds=f"{plane_seconds() or 0:.1f}"))
    if not land.trained:
        st.warning(t("plane_untrained"))
    st.markdown(t.section("cnn_plane"))
else:
    st.markdown(t.section(f"surface_{s.surface}"))
if not s.which:
    st.info(t("pick_one"))
    st.stop()

# ----- the race --------------------------------------------------------------------------------------
st.header(t("race_header"))
traces = race(s)
done = max(tr.steps_done for tr in traces)
# the slider's range follows the longest walk; a walk that stopped at once leaves only step 1
cursor = st.slider(t("cursor"), 0, done - 1, 0, key="opt_cursor", help=t("cursor_help")) if done > 1 else 0
cursor = min(cursor, max(done - 1, 0))
label = names()
fig_left, fig_right = st.columns([3, 2], gap="medium")
with fig_left:
    contours = contour_grid(s.surface, s.kappa, plane_key(s))
    st.plotly_chart(fo.race_figure(contours, traces, cursor, log=surf.log_contours, minima=surf.minima, names=label,
                                   title=t("race_title"), z_title=t("z_log") if surf.log_contours else "f"),
                    key="opt_race")
with fig_right:
    st.plotly_chart(fo.loss_figure(traces, cursor, names=label, title=t("loss_title"), x_title=t("axis_step")),
                    key="opt_loss")

for tr in traces:
    if tr.diverged is not None:
        st.warning(t("diverged", name=label[tr.optimizer], step=tr.diverged.step, why=why(s, tr)))
table = pd.DataFrame({
    t("col_optimiser"): [label[tr.optimizer] for tr in traces],
    t("col_steps"): [tr.steps_done for tr in traces],
    t("col_end"): [f"({float(tr.points[-1, 0]):.4g}, {float(tr.points[-1, 1]):.4g})" for tr in traces],
    t("col_loss"): [f"{float(tr.losses[-1]):.4g}" for tr in traces],
    t("col_moved"): [f"{tr.moved:.3g}" for tr in traces],
    t("col_status"): [t("status_diverged", step=tr.diverged.step) if tr.diverged else t("status_ran")
                      for tr in traces],
})
st.dataframe(table, hide_index=True, width="stretch")
st.markdown(t.section("race"))

# ----- the step under the cursor ----------------------------------------------------------------------
st.header(t("step_header", t=cursor, s=cursor + 1))
st.markdown(t.section("step"))
# one tab per optimiser, each the page's full width (the written-out vectors need it)
for tab, tr in zip(st.tabs([label[tr.optimizer] for tr in traces]) if traces else [], traces, strict=True):
    with tab:
        if cursor < tr.steps_done:
            st.latex(fo.update_latex(tr, cursor))
        else:
            st.caption(t("no_step", step=cursor + 1, done=tr.steps_done))

# ----- too small, too large ---------------------------------------------------------------------------
st.header(t("sweep_header"))
st.markdown(t.section("sweep"))
who = st.selectbox(t("sweep_which"), OPTIMIZERS, format_func=label.get, key="opt_sweep_which")
runs = sweep(s, who if who in OPTIMIZERS else "sgd")
lr_names = [f"η = {s.lr * k:g}" for k in SWEEP]
st.plotly_chart(fo.loss_figure(runs, None, names=lr_names, title=t("sweep_title", name=label[runs[0].optimizer]),
                               x_title=t("axis_step")), key="opt_sweep")
for lr_name, tr in zip(lr_names, runs, strict=True):
    if tr.diverged is not None:
        st.warning(t("sweep_diverged", lr=lr_name, step=tr.diverged.step, why=why(s, tr)))
    else:
        st.markdown(t("sweep_ran", lr=lr_name, steps=tr.steps_done, loss=f"{float(tr.losses[-1]):.4g}",
                      moved=f"{tr.moved:.3g}"))

# ----- schedules ----------------------------------------------------------------------------------------
st.header(t("schedules_header"))
st.markdown(t.section("schedules"))
lr_curves, schedule_gap = schedules(s.lr, s.steps)
st.plotly_chart(fo.schedule_figure(lr_curves, [t(f"sched_{c}") for c in CURVES], title=t("schedules_title"),
                                   x_title=t("axis_step")), key="opt_schedules")

# ----- code and the checks against torch -------------------------------------------------------------------
st.header(t("code_header"))
shown = [trajectory, run, sgd_update, rmsprop_update, adam_update, curves]
show_code(*(shown + [ls.filter_normalised, ls.plane_loss, ls.interpolant] if s.surface == "cnn" else shown))

st.header(t("check_header"))
st.markdown(t.section("check"))
torch_check(check_gap(s), t("check_ref"))
torch_check(schedule_gap, t("check_sched_ref"))

# ----- what next -----------------------------------------------------------------------------------------
st.header(t("next_header"))
st.markdown(t.section("next"))
st.page_link("views/backprop/page.py", label=t("next_backprop"), icon=":material/arrow_back:")
st.page_link("views/knobs/page.py", label=t("next_knobs"), icon=":material/arrow_forward:")
