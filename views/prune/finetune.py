"""The pruning page's fine-tune: the pruned shipped CNN trains a few hundred steps on the
4,000 training digits through the training lab's Trainer (widgets.training's panel, in its own
session slot "prune"), the masks held fixed (engine.models.cnn_prune.MaskedCNN). Every finished
run adds its method, sparsity and held-out accuracy to the curves. Glue only."""

from __future__ import annotations

from collections.abc import Sequence

import streamlit as st

from engine.lab.loop import TrainConfig
from engine.lab.records import MetricsSnapshot
from engine.lab.tasks import CnnConfig
from engine.lab.trainer import RunConfig, Trainer
from engine.models.cnn_prune import MaskedCNN
from figures.prune import Point
from views.prune.parts import Choice, method_names
from widgets.i18n import T
from widgets.training import TrainingPanel
from widgets.training.slot import RunRecord

t = T("prune")
KIND = "prune"  # the session slot: apart from the training pages' runs
BATCH, EPOCHS, LR = 64, 3, 1e-3  # 63 steps an epoch on 4,000 digits: 189 steps
STEPS_PER_EPOCH = -(-4000 // BATCH)
RUN = RunConfig(seed=0, budget_s=300, report_every=7, eval_every=STEPS_PER_EPOCH)
OPTIM = TrainConfig("adam", LR, "constant")


def to_widgets(config: dict) -> dict:
    """A restored run's settings → the page's controls."""
    return {"prune_method": config["prune"], "prune_s": float(config["sparsity"])}


def run_config(choice: Choice) -> CnnConfig:
    return CnnConfig("mnist-5k", BATCH, EPOCHS, False, start="shipped", prune=choice.method, sparsity=choice.s)


def describe(config: CnnConfig, optim: TrainConfig) -> str:
    return f"{method_names().get(config.prune, config.prune)} · {100 * config.sparsity:g} %"


def _tuned(config: CnnConfig, snap: MetricsSnapshot, reason: str | None) -> Point | None:
    last = snap.last_eval
    if reason != "done" or last is None or config.prune == "none" or config.start != "shipped":
        return None
    return Point(config.prune, config.sparsity, float(last.held_out_accuracy))


def tuned_points(panel: TrainingPanel) -> list[Point]:
    """Every finished fine-tune of this session (the latest run of each method and sparsity)."""
    runs: Sequence[RunRecord] = panel.slot.runs
    found = [_tuned(r.config, r.metrics, r.reason if r.state == "finished" else None) for r in runs]
    tr = panel.slot.trainer
    if tr is not None and tr.state == "finished":
        found.append(_tuned(tr.task.config, tr.metrics.snapshot(), tr.reason))
    latest = {(p.method, p.s): p for p in found if p is not None}
    return list(latest.values())


def finetune_section(panel: TrainingPanel, choice: Choice, before: float) -> None:
    """The run's plan, the panel (buttons, progress, loss and accuracy curves) and before/after."""
    st.header(t("ft_header"))
    st.markdown(t.section("finetune"))
    st.caption(t("ft_plan", B=BATCH, E=EPOCHS, steps=EPOCHS * STEPS_PER_EPOCH, lr=f"{LR:g}",
                 every=STEPS_PER_EPOCH))

    def after(tr: Trainer, snap: MetricsSnapshot) -> None:
        c = tr.task.config
        last = snap.last_eval
        st.markdown(f"**{t('ft_run')}:** {describe(c, tr.optim)}")  # a metric cut the description off
        cols = st.columns(2)
        cols[0].metric(t("ft_before"), f"{before:.1%}" if (c.prune, c.sparsity) == (choice.method, choice.s)
                       else "—")
        cols[1].metric(t("ft_after"), f"{last.held_out_accuracy:.1%}" if last is not None else "—",
                       delta=f"{100 * (last.held_out_accuracy - before):+.1f} pp"
                       if last is not None and (c.prune, c.sparsity) == (choice.method, choice.s) else None)
        if tr.state == "finished":
            zero, pruned = tr.with_model(MaskedCNN.pruned_zero)
            st.caption(t("ft_zeros", zero=f"{zero:,}", pruned=f"{pruned:,}"))

    tr = panel.show(run_config(choice), OPTIM, RUN, describe=describe, live=after)
    if tr is not None:
        st.session_state["prune_run"] = {"prune": tr.task.config.prune, "sparsity": tr.task.config.sparsity,
                                         "start": tr.task.config.start}

