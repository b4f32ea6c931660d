"""The regularisation section's parts: the switches (checked on the server), the runs overlaid
(every kept run's train and held-out curves over the current run's), the runs table, and the
formulas with their live numbers. Glue only: the engine trains (engine.lab) and computes
(engine.ops.regularise); figures.training draws."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd
import streamlit as st

from engine.lab.loop import TrainConfig
from engine.lab.records import MetricsSnapshot
from engine.lab.tasks import CnnConfig
from engine.ops.regularise import DropoutTrace, PenaltyTrace
from figures.training import PALETTE, Line, curves_figure, series
from widgets.i18n import T
from widgets.training.slot import RunRecord

t = T("knobs_reg")
TRAIN_SIZE, BATCH, EPOCHS, LR = 500, 50, 50, 1e-3  # 10 steps an epoch, 500 steps a run
LAMBDAS = (0.0, 1e-4, 1e-3, 1e-2, 0.1)  # 0.1: too strong, it underfits
DROPOUTS = (0.0, 0.25, 0.5)
DEFAULTS = {"reg_lambda": 0.0, "reg_p": 0.0, "reg_augment": False}


@dataclass(frozen=True)
class Switches:
    """What the switches ask for, checked by the engine's own configs."""

    config: CnnConfig
    optim: TrainConfig


def build(lam, p, augment) -> Switches:
    """The run's configs (CnnConfig and TrainConfig check every bound; a bad value raises)."""
    if not isinstance(augment, bool):
        raise ValueError(f"augment must be True or False, got {augment!r}")
    config = CnnConfig("mnist-5k", BATCH, EPOCHS, augment, train_size=TRAIN_SIZE, dropout=p)
    return Switches(config, TrainConfig("adam", LR, "constant", weight_decay=lam))


def read_switches() -> Switches:
    """The switches' values from the session, checked on the server; a value a widget could not
    have sent gets a translated message and the defaults (the section keeps working)."""
    for key, value in DEFAULTS.items():
        st.session_state.setdefault(key, value)
    lam, p, aug = (st.session_state[k] for k in DEFAULTS)
    try:
        return build(lam, p, aug)
    except Exception as exc:
        st.error(t.error(exc) if getattr(exc, "code", None) else t("err_switch", value=repr(exc)[:200]))
        st.session_state.update(DEFAULTS)
        return build(*DEFAULTS.values())


def options(values: Sequence[float], current: float) -> list[float]:
    """The widget's choices, plus a checked value that is not among them (so it can be shown)."""
    return sorted({*values, float(current)})


def describe(config: CnnConfig, optim: TrainConfig) -> str:
    """A run's switches in a few words: "λ = 0.001 · p = 0.5 · augmented", or "no regularisation"."""
    parts = []
    if optim.weight_decay:
        parts.append(f"λ = {optim.weight_decay:g}")
    if config.dropout:
        parts.append(f"p = {config.dropout:g}")
    if config.augment:
        parts.append(t("aug_short"))
    return " · ".join(parts) if parts else t("none_short")


@dataclass(frozen=True)
class Shown:
    """One run as the overlay draws it."""

    number: int
    label: str
    metrics: MetricsSnapshot
    current: bool


def shown_runs(runs: Sequence[RunRecord], number: int, snap: MetricsSnapshot, label: str) -> list[Shown]:
    """The kept runs (oldest first) and the current one last, numbered 1, 2, … as shown (the
    slot also counts the runs rebuilt while a switch moved before they took a step); a kept copy
    of the current run is skipped."""
    kept = [(describe(r.config, r.optim), r.metrics) for r in runs if r.number != number]
    out = [Shown(i, lab, m, False) for i, (lab, m) in enumerate(kept, start=1)]
    return out + [Shown(len(out) + 1, label, snap, True)]


def _lines(runs: Sequence[Shown], train_key: str, eval_key: str) -> list[Line]:
    lines = []
    for r in runs:
        color, width = PALETTE[(r.number - 1) % len(PALETTE)], 2.5 if r.current else 1.5
        lines.append(Line(t("line_train", n=r.number, label=r.label), *series(r.metrics.train, train_key),
                          color=color, dash="dot", width=width))
        lines.append(Line(t("line_held_out", n=r.number, label=r.label), *series(r.metrics.evals, eval_key),
                          color=color, width=width, markers=r.current))
    return lines


def overlay_charts(runs: Sequence[Shown]) -> None:
    """Loss (log scale) and accuracy of every shown run: dotted = training batches, solid = held-out."""
    c1, c2 = st.columns(2)
    with c1:
        st.plotly_chart(curves_figure(_lines(runs, "loss", "held_out_loss"), title=t("fig_loss"),
                                      x_title=t("axis_step"), y_title=t("axis_loss"), log_y=True, height=380),
                        key="reg_fig_loss")
    with c2:
        st.plotly_chart(curves_figure(_lines(runs, "accuracy", "held_out_accuracy"), title=t("fig_accuracy"),
                                      x_title=t("axis_step"), y_title=t("axis_accuracy"), y_range=(0, 1.02),
                                      height=380),
                        key="reg_fig_accuracy")


def _pct(v: float | None) -> str:
    return "—" if v is None else f"{100 * v:.1f} %"


def _row(r: Shown) -> dict:
    train, evals = r.metrics.last_train, r.metrics.evals
    best = min(evals, key=lambda e: e.held_out_loss) if evals else None
    last = evals[-1] if evals else None
    acc = train.accuracy if train is not None else None
    held = last.held_out_accuracy if last is not None else None
    return {t("col_run"): r.number, t("col_switches"): r.label,
            t("col_steps"): r.metrics.last_train.step if train is not None else 0,
            t("col_train_acc"): _pct(acc), t("col_held_acc"): _pct(held),
            t("col_gap"): _pct(acc - held) if acc is not None and held is not None else "—",
            t("col_best_loss"): f"{best.held_out_loss:.3f} @ {best.step}" if best else "—",
            t("col_last_loss"): f"{last.held_out_loss:.3f}" if last is not None else "—"}


def runs_table(runs: Sequence[Shown]) -> None:
    st.dataframe(pd.DataFrame([_row(r) for r in reversed(runs)]), hide_index=True)


# ----- the formulas with their live numbers ---------------------------------------------------


def _vec(v) -> str:
    return r"\begin{pmatrix}" + " & ".join(f"{float(a):.2f}" for a in v) + r"\end{pmatrix}"


def dropout_latex(ex: DropoutTrace) -> str:
    """x, the mask m, y = x·m/(1 − p) and the mean over many masks, with the numbers."""
    m = r"\begin{pmatrix}" + " & ".join(str(int(k)) for k in ex.m) + r"\end{pmatrix}"
    return (r"\begin{aligned}"
            rf" x &= {_vec(ex.x)} \\ m &= {m} \\"
            rf" y = \frac{{x \odot m}}{{1 - {ex.p:g}}} &= {_vec(ex.y)} \\"
            rf" \bar y_{{({ex.draws:,}\ \text{{masks}})}} &= {_vec(ex.mean_y)}"
            r"\end{aligned}").replace(",", r"{,}")


def penalty_latex(L: float | None, pen: PenaltyTrace) -> str:
    """L_total = L + (λ/2)‖θ‖² with the current run's numbers."""
    loss = f"{L:.4f}" if L is not None else r"L"
    total = f" = {L + pen.penalty:.4f}" if L is not None else ""
    return (rf"L_{{\text{{total}}}} = L + \tfrac{{\lambda}}{{2}}\lVert\theta\rVert^2 = {loss}"
            rf" + \tfrac{{{pen.lam:g}}}{{2}} \cdot {pen.sq_norm:.1f}{total}")
