"""The live view of a run, drawn from one metrics snapshot per tick: the status line and
progress bar, the latest metrics, and the loss and accuracy curves (with the runs compared)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import streamlit as st

from engine.lab.records import MetricsSnapshot
from engine.lab.trainer import Trainer
from figures.training import HELD_OUT_COLOR, PALETTE, TRAIN_COLOR, Line, curves_figure, series
from widgets.training.common import t
from widgets.training.slot import RunRecord


def _eta(tr: Trainer) -> str:
    step, total = tr.step, tr.total_steps
    if step > 0 and tr.state in ("running", "paused", "idle"):
        per_step = tr.active_seconds / step
        left = min((total - step) * per_step, max(0.0, tr.run.budget_s - tr.active_seconds))
        return f"{left:,.0f} s"
    return "—"


def progress(tr: Trainer, snap: MetricsSnapshot, status_key: str) -> None:
    """Status, progress bar (samples/s, ETA, time) and the four latest metrics."""
    step, total = tr.step, tr.total_steps
    last, last_eval = snap.last_train, snap.last_eval
    sps = last.samples_per_s if last is not None else math.nan
    speed = f"{sps:,.0f}" if math.isfinite(sps) else "—"
    state = t(f"state_{tr.state}")
    if tr.state == "finished" and tr.reason:
        state = t(f"reason_{tr.reason}")
    st.markdown(t("status", state=state, step=f"{step:,}", total=f"{total:,}"))
    st.progress(min(1.0, step / total), text=t("progress", sps=speed, eta=_eta(tr),
                                               seconds=f"{tr.active_seconds:,.1f}"))
    if tr.state == "failed":
        st.error(t("failed", error=tr.error or ""))
    # for tests and for the page: what the trainer itself says
    st.session_state[status_key] = {"state": tr.state, "step": step, "total": total,
                                    "train_points": len(snap.train), "eval_points": len(snap.evals)}
    cols = st.columns(4)
    cols[0].metric(t("m_loss"), f"{last.loss:.4f}" if last is not None else "—")
    cols[1].metric(t("m_held_out_loss"), f"{last_eval.held_out_loss:.4f}" if last_eval is not None else "—")
    exact = last_eval is not None and last_eval.exact_match is not None
    acc = last_eval.score if last_eval is not None else None
    cols[2].metric(t("m_exact") if exact else t("m_held_out_acc"), f"{acc:.1%}" if acc is not None else "—")
    cols[3].metric(t("m_lr"), f"{tr.lr():.2e}")


def _loss_lines(snap: MetricsSnapshot, number: int, compared: Sequence[RunRecord]) -> list[Line]:
    lines = [Line(t("line_train", n=number), *series(snap.train, "loss"), color=TRAIN_COLOR),
             Line(t("line_held_out", n=number), *series(snap.evals, "held_out_loss"), color=HELD_OUT_COLOR,
                  markers=True)]
    for i, rec in enumerate(compared):
        color = PALETTE[(i + 2) % len(PALETTE)]
        lines.append(Line(t("line_train", n=rec.number), *series(rec.metrics.train, "loss"), color=color,
                          dash="dot", width=1.5))
        lines.append(Line(t("line_held_out", n=rec.number), *series(rec.metrics.evals, "held_out_loss"),
                          color=color, dash="dash", width=1.5))
    return lines


def _accuracy_lines(snap: MetricsSnapshot, curves: Sequence[tuple[str, str]]) -> list[Line]:
    specs = [("accuracy", t("acc_train"), snap.train, TRAIN_COLOR, False),
             ("held_out_accuracy", t("acc_held_out"), snap.evals, HELD_OUT_COLOR, True)]
    specs += [(key, label, snap.evals, PALETTE[(3 + i) % len(PALETTE)], True) for i, (key, label) in enumerate(curves)]
    return [Line(label, *series(rs, key), color=color, markers=m) for key, label, rs, color, m in specs]


def curves_charts(snap: MetricsSnapshot, number: int, compared: Sequence[RunRecord],
                  curves: Sequence[tuple[str, str]], key_prefix: str) -> None:
    """Loss (this run and the compared ones) and accuracy (plus the page's extra eval curves)."""
    c1, c2 = st.columns(2)
    with c1:
        st.plotly_chart(curves_figure(_loss_lines(snap, number, compared), title=t("fig_loss"),
                                      x_title=t("axis_step"), y_title=t("axis_loss")),
                        key=f"{key_prefix}fig_loss")
    with c2:
        st.plotly_chart(curves_figure(_accuracy_lines(snap, curves), title=t("fig_accuracy"),
                                      x_title=t("axis_step"), y_title=t("axis_accuracy"), y_range=(0, 1.02)),
                        key=f"{key_prefix}fig_accuracy")
