"""The LSTM page's later sections, each drawn by one function in the order the page calls them:
units that track a property, ablations, gradient flow, and the two common mistakes."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import streamlit as st

from engine.ops import lstm_units
from engine.ops.lstm_units import Ablation, ProbeError, Traced
from figures.recurrent import coloured_text, gate_figure, grad_norms_figure, step_lines
from views.lstm.parts import PASSAGE_CHARS, gradient_norms, passage, search, traced, weights
from widgets.i18n import T

t = T("lstm")
TOP_UNITS = 5
HALF_TICKS = 40  # character labels on a half-width heatmap
SEED_MAX = 9999


@dataclass(frozen=True)
class Run:
    """What every section reads: the text as typed and as the cell reads it, the weights chosen,
    the intact run, and the picked (step, unit)."""

    text: str
    seen: str
    source: str
    seed: int
    H: int
    intact: Traced
    step: int
    j: int

    @property
    def T(self) -> int:
        return len(self.seen)


def bad_controls() -> None:
    st.error(t("err_controls", high=SEED_MAX))
    st.stop()


def unit_search(run: Run) -> None:
    st.header(t("search_header"))
    st.markdown(t.section("search"))
    c_prop, c_where, c_q = st.columns([2, 2, 1])
    with c_prop:
        prop_names = {p: t(f"prop_{p}") for p in lstm_units.PROPERTIES}
        prop = st.selectbox(t("prop_label"), lstm_units.PROPERTIES, key="lstm_prop", format_func=prop_names.get,
                            index=lstm_units.PROPERTIES.index("line_position"))
    with c_where:
        where_names = {"passage": t("where_passage", n=f"{PASSAGE_CHARS:,}"), "yours": t("where_yours")}
        where = st.radio(t("where_label"), tuple(where_names), key="lstm_where", format_func=where_names.get)
    with c_q:
        quantity = st.radio(t("quantity_label"), ("c", "h"), key="lstm_quantity",
                            format_func={"c": "$c_t$", "h": "$h_t$"}.get)
    if prop not in lstm_units.PROPERTIES or where not in ("passage", "yours") or quantity not in ("c", "h"):
        bad_controls()
    search_text = run.text if where == "yours" else passage()
    with st.spinner(t("searching")):
        values = search(search_text, run.source, run.seed, quantity)
    try:
        r = lstm_units.unit_correlations(values, lstm_units.text_property(search_text, prop))
    except ProbeError as e:
        st.info(t.error(e))
        return
    best = lstm_units.best_units(r, TOP_UNITS)
    st.dataframe(pd.DataFrame({t("col_rank"): range(1, len(best) + 1), t("col_unit"): best,
                               t("col_r"): [round(float(r[u]), 3) for u in best],
                               t("col_r2"): [round(float(r[u]) ** 2, 2) for u in best]}), hide_index=True)
    st.markdown(t("search_result", prop=t(f"prop_{prop}"), unit=best[0], r=f"{float(r[best[0]]):+.3f}",
                  q=quantity, n=f"{len(search_text):,}", share=f"{100 * float(r[best[0]]) ** 2:.0f}"))
    if run.source == "random":
        st.caption(t("search_random"))
    shown_unit = st.selectbox(t("colour_unit_label"), best + [u for u in range(run.H) if u not in best],
                              key=f"lstm_colour_unit_{prop}_{where}_{quantity}_{run.source}")
    shown = int(shown_unit) if shown_unit is not None else best[0]
    shown_text = search_text[:800]
    st.html(coloured_text(shown_text, values[: len(shown_text), shown],
                          tooltip=f"t={{t}}: {quantity}[{shown}] = {{v:+.3f}}"))
    st.caption(t("colour_help", q=quantity, unit=shown, n=len(shown_text), r=f"{float(r[shown]):+.3f}"))


def ablations(run: Run) -> None:
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
        bad_controls()
    ablation = Ablation(f_bias=float(f_bias), force_f=None if force_f == "none" else float(force_f),
                        no_output_gate=bool(no_o))
    if ablation == lstm_units.INTACT:
        st.info(t("ablate_none"))
        return
    pred, ids = run.intact.pred, run.intact.ids
    ablated = traced(run.text, run.source, run.seed, ablation)
    a_pred = ablated.pred
    a1, a2, a3 = st.columns(3)
    if run.T > 1:
        a1.metric(t("metric_loss"), f"{a_pred.mean_loss:.3f}", f"{a_pred.mean_loss - pred.mean_loss:+.3f}",
                  delta_color="inverse")
        a2.metric(t("metric_acc"), f"{100 * a_pred.accuracy(ids):.0f} %",
                  t("points", v=f"{100 * (a_pred.accuracy(ids) - pred.accuracy(ids)):+.0f}"))
    a3.metric(t("metric_changed"), f"{a_pred.changed(pred)} / {run.T}")
    for col, kind in zip(st.columns(2), ("c", "h")):
        with col:
            st.plotly_chart(gate_figure(getattr(ablated.trace, kind)[:, 0], run.seen, kind=kind,
                                        title=t(f"fig_{kind}_ablated"), height=420, unit_label=t("unit_axis"),
                                        max_ticks=HALF_TICKS), key=f"lstm_fig_{kind}_ablated")
    if run.T > 1:
        st.plotly_chart(step_lines({t("intact"): pred.loss, t("ablated"): a_pred.loss}, run.seen,
                                   title=t("fig_loss_steps"), y_title=t("loss_axis"), x_title=t("step_axis")),
                        key="lstm_fig_loss_steps")
    change = lstm_units.state_change(run.intact.trace, ablated.trace)
    st.caption(t("ablate_delta", dh=f"{change.dh:.3f}", dc=f"{change.dc:.3f}"))


def gradient_flow(run: Run) -> None:
    st.header(t("grad_header"))
    st.markdown(t.section("gradients"))
    if run.T < 2:
        st.info(t("grad_one_step"))
        return
    with st.spinner(t("grad_spinner")):
        norms = gradient_norms(run.text, run.seed)
    st.plotly_chart(grad_norms_figure({t(f"grad_{name}"): v for name, v in norms.items()},
                                      title=t("grad_title", T=run.T, H=run.H), x_title=t("step_axis"),
                                      y_title="‖∂h<sub>T</sub>/∂·<sub>t</sub>‖<sub>F</sub>", height=380),
                    key="lstm_grad")
    first = {name: float(v[0]) for name, v in norms.items()}
    st.markdown(t("grad_sentence", T=run.T, rnn=f"{first['rnn']:.1e}", lstm=f"{first['lstm']:.1e}",
                  lstm_c=f"{first['lstm_c']:.1e}", rand=f"{first['lstm_random']:.1e}"))


def mistakes(run: Run, labels: list[str]) -> None:
    st.header(t("mistakes_header"))
    st.markdown(t.section("mistakes"))
    shared = traced(run.text, run.source, run.seed, Ablation(shared_wx=True))
    no_cell = traced(run.text, run.source, run.seed, Ablation(force_f=0.0))
    intact, step, j = run.intact, run.step, run.j
    k = int(intact.ids[step])
    st.subheader(t("mistake_wx_header"))
    st.latex(r"\text{" + t("wrong") + r"}:\; \text{gate}_t = \sigma(W_{h\cdot}\,h_{t-1} + W_x\,x_t + b_\cdot)"
             r"\qquad \text{" + t("right") + r"}:\; \text{gate}_t = \sigma(W_{i\cdot}\,x_t + b_{i\cdot} + "
             r"W_{h\cdot}\,h_{t-1} + b_{h\cdot})")
    W = weights(run.source, run.seed).cell
    right = lstm_units.input_weights(W, j, k)
    wrong = lstm_units.input_weights(lstm_units.ablated_weights(W, Ablation(shared_wx=True)), j, k)
    st.markdown(t("wx_sentence", ch=labels[step], k=k, j=j,
                  right=", ".join(f"$W_{{i{g}}}[{j},{k}] = {v:+.3f}$" for g, v in right.items()),
                  wrong=f"${wrong['i']:+.3f}$"))
    gaps = lstm_units.shared_wx_gaps(intact.trace, shared.trace)
    st.caption(t("wx_gap", gap=f"{gaps.gap:.3f}", gap_wrong=f"{gaps.gap_wrong:.3f}", pre=f"{gaps.pre:.3f}"))
    st.subheader(t("mistake_c_header"))
    st.latex(r"\text{" + t("wrong") + r"}:\; h_t = o_t \odot \tanh(i_t \odot g_t)"
             r"\qquad \text{" + t("right") + r"}:\; c_t = f_t \odot c_{t-1} + i_t \odot g_t,\;"
             r" h_t = o_t \odot \tanh(c_t)")
    st.plotly_chart(step_lines({t("right_c", j=j): intact.trace.c[:, 0, j], t("wrong_c", j=j): no_cell.trace.c[:, 0, j]},
                               run.seen, title=t("fig_c_unit", j=j), y_title=f"c_t[{j}]", x_title=t("step_axis")),
                    key="lstm_fig_no_cell")
    if run.T > 1:
        preds = (intact.pred, shared.pred, no_cell.pred)
        st.dataframe(pd.DataFrame({
            t("col_model"): [t("right"), t("mistake_wx_short"), t("mistake_c_short")],
            t("metric_loss"): [f"{p.mean_loss:.3f}" for p in preds],
            t("metric_acc"): [f"{100 * p.accuracy(intact.ids):.0f} %" for p in preds],
        }), hide_index=True)
        st.caption(t("mistakes_note"))
