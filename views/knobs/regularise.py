"""The training knobs page, section 5: regularisation. The article's CNN overfits 500 training
digits live (engine.lab.trainer through widgets.training's panel, in its own session slot
"reg"); weight decay, dropout and augmentation are switches, and every run's train and held-out
curves stay drawn under the next run's. views/knobs/page.py calls regularisation_section().

Glue only: engine.lab trains, engine.ops.regularise writes dropout and the L2 penalty out,
figures.training draws.
"""

from __future__ import annotations

from dataclasses import asdict

import streamlit as st

from engine.lab.loop import make_optimizer
from engine.lab.records import MetricsSnapshot
from engine.lab.tasks.cnn import stratified_subset
from engine.lab.trainer import RunConfig, Trainer
from engine.models.cnn import SeedCNN, seeded
from engine.ops.regularise import (
    adam_l2_gap,
    dropout_example,
    inverted_dropout,
    l2_penalty,
    model_penalty,
    torch_dropout_gap,
)
from views.knobs import regularise_parts as parts
from views.knobs.regularise_parts import BATCH, DROPOUTS, EPOCHS, LAMBDAS, LR, TRAIN_SIZE, describe
from widgets.blocks import show_code, torch_check
from widgets.i18n import T
from widgets.training import TrainingPanel
from widgets.training.slot import session_slot

t = T("knobs_reg")
KIND = "reg"  # the session slot: apart from the CNN training page's run ("cnn")
EVAL_EVERY = 25  # held-out loss and accuracy on the 1,000 held-out digits every 25 steps
RUN = RunConfig(seed=0, budget_s=180, report_every=10, eval_every=EVAL_EVERY)
EXAMPLE_P = 0.5  # the worked example's p while the dropout switch is off


def to_widgets(config: dict) -> dict:
    """A CnnConfig (as a dict) → the switches (the panel restores settings through this)."""
    return {"reg_p": float(config["dropout"]), "reg_augment": bool(config["augment"])}


@st.cache_data(show_spinner=False)
def _example(p: float, seed: int):
    return dropout_example(p, seed)


@st.cache_data(show_spinner=False)
def _torch_gap(lam: float, p: float) -> float:
    """max |Δ| of the two checks: Adam(weight_decay=λ) against Adam on L + (λ/2)‖θ‖², and our
    inverted dropout against F.dropout with the same mask (float64)."""
    return max(adam_l2_gap(lam), torch_dropout_gap(p))


@st.cache_resource(show_spinner=False)
def _start_penalty() -> float:
    """‖θ₀‖² of the run's initial weights (seed 0), the same for every run."""
    return model_penalty(seeded(RUN.seed), 1.0).sq_norm


def _clear(kind: str) -> None:
    slot = session_slot(kind)
    slot.runs[:] = [r for r in slot.runs if r.number == slot.number]


def _intro() -> None:
    st.header(t("header"))
    st.markdown(t.section("intuition"))
    st.latex(r"\begin{aligned}"
             r" L_{\text{total}}(\theta) &= L(\theta) + \tfrac{\lambda}{2}\lVert\theta\rVert^2"
             r" \;\Rightarrow\; g = \nabla_\theta L + \lambda\,\theta \\"
             r" m_i &\sim \operatorname{Bernoulli}(1-p),\quad y_i = \frac{m_i\,x_i}{1-p},"
             r"\quad \mathbb{E}[y_i] = x_i \\"
             rf" y &= x \quad \text{{({t('latex_eval')})}}"
             r"\end{aligned}")
    st.markdown(t.section("symbols"))


def _controls(panel: TrainingPanel) -> parts.Switches:
    sw = parts.read_switches()
    st.subheader(t("controls_header"))
    c1, c2, c3 = st.columns([3, 3, 2])
    off = t("off")
    with c1:
        st.select_slider(t("lambda_label"), parts.options(LAMBDAS, sw.optim.weight_decay), key="reg_lambda",
                         format_func=lambda v: off if v == 0 else f"{v:g}", disabled=panel.active,
                         help=t("lambda_help"))
    with c2:
        st.select_slider(t("p_label"), parts.options(DROPOUTS, sw.config.dropout), key="reg_p",
                         format_func=lambda v: off if v == 0 else f"{v:g}", disabled=panel.active,
                         help=t("p_help"))
    with c3:
        st.toggle(t("augment_label"), key="reg_augment", disabled=panel.active, help=t("augment_help"))
    return parts.read_switches()


def _dropout_example(p: float) -> None:
    st.subheader(t("dropout_header"))
    shown_p = p if p > 0 else EXAMPLE_P
    left, right = st.columns([1, 3])
    with left:
        seed = st.number_input(t("mask_seed_label"), 0, 999, 0, step=1, key="reg_mask_seed",
                               help=t("mask_seed_help"))
    if p == 0:
        right.caption(t("example_p_note", p=EXAMPLE_P))
    ex = _example(float(shown_p), int(seed))
    st.latex(parts.dropout_latex(ex))
    st.caption(t("dropout_numbers", kept=int(ex.m.sum()), n=len(ex.m), p=f"{ex.p:g}", scale=f"{ex.scale:g}",
                 mx=f"{float(ex.x.mean()):.3f}", my=f"{float(ex.y.mean()):.3f}", K=f"{ex.draws:,}"))


def _penalty_now(tr: Trainer, snap: MetricsSnapshot, lam: float) -> None:
    pen = tr.with_model(model_penalty, lam)
    last = snap.last_train
    st.latex(parts.penalty_latex(last.loss if last is not None else None, pen))
    st.caption(t("penalty_numbers", P=f"{pen.count:,}", sq0=f"{_start_penalty():.1f}", sq=f"{pen.sq_norm:.1f}",
                 step=f"{tr.step:,}"))


def regularisation_section() -> None:
    """The whole section: header, intuition, formulas, switches, the live run with the earlier
    runs overlaid, the runs table, the dropout example, the code and the check against torch."""
    panel = TrainingPanel(KIND, to_widgets, task="cnn")
    _intro()
    sw = _controls(panel)
    S = -(-TRAIN_SIZE // BATCH)
    st.caption(t("plan", n=TRAIN_SIZE, B=BATCH, S=S, E=EPOCHS, total=S * EPOCHS, every=EVAL_EVERY,
                 lr=f"{LR:g}"))
    _dropout_example(sw.config.dropout)

    st.subheader(t("train_header"))
    st.caption(t("train_help"))
    with st.expander(t("measured_header")):
        st.markdown(t.section("measured"))

    def overlay(tr: Trainer, snap: MetricsSnapshot) -> None:
        shown = parts.shown_runs(panel.slot.runs, panel.slot.number, snap, describe(tr.task.config, tr.optim))
        parts.overlay_charts(shown)
        st.caption(t("overlay_help"))
        parts.runs_table(shown)
        _penalty_now(tr, snap, tr.optim.weight_decay)

    tr = panel.show(sw.config, sw.optim, RUN, describe=describe, live=overlay, charts=False)
    if tr is None:
        return
    # for tests and the browser: the run the switches built
    st.session_state["reg_run"] = {"config": asdict(tr.task.config), "optim": asdict(tr.optim),
                                   "run": asdict(tr.run)}
    st.button(t("clear"), icon=":material/delete_sweep:", on_click=_clear, args=(KIND,), key="reg_clear",
              disabled=not [r for r in panel.slot.runs if r.number != panel.slot.number], help=t("clear_help"))

    show_code(inverted_dropout, SeedCNN._drop, l2_penalty, make_optimizer, stratified_subset)
    lam = sw.optim.weight_decay or LAMBDAS[-1]
    p = sw.config.dropout or EXAMPLE_P
    torch_check(_torch_gap(float(lam), float(p)), t("torch_ref", lam=f"{lam:g}", p=f"{p:g}"))
    st.caption(t("check_help", lam=f"{lam:g}", p=f"{p:g}"))
