"""TrainingPanel: what a training page builds at its top and calls top to bottom.

    panel = TrainingPanel("cnn", to_widgets)       before the page's widgets
    optim, seed = panel.optim_controls()           optimiser, learning rate, schedule, seed
    run = panel.run_config(seed, ...)
    tr = panel.show(config, optim, run, describe=..., live=...)    buttons and the live view
    panel.footer(describe, run)                    runs compared, CSV, checkpoints
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict

import streamlit as st

from engine.device import device_name, get_device
from engine.lab.loop import OPTIMIZERS, TrainConfig
from engine.lab.records import MetricsSnapshot
from engine.lab.tasks import MemoryEstimate, make_task
from engine.lab.trainer import DEFAULT_OPTIM, TERMINAL, RunConfig, Trainer
from engine.limits import MAX_TRAIN_BYTES
from widgets.training.common import BUDGET_S, LRS, POLL_S, SCHEDULES, SEED_MAX, message, mib, t
from widgets.training.files import files_section, runs_section
from widgets.training.live import curves_charts, progress
from widgets.training.slot import (
    Settings,
    fresh,
    on_pause,
    on_start,
    on_step,
    on_stop,
    session_slot,
    warmed,
)

Describe = Callable[[object, TrainConfig], str]
Live = Callable[[Trainer, MetricsSnapshot], None]


class TrainingPanel:
    """One training page's panel; its trainer lives in the session's slot for `kind`."""

    def __init__(self, kind: str, to_widgets: Callable[[dict], dict], task: str | None = None):
        self.kind = kind
        self.task = task or kind  # the engine task (make_task); `kind` names the session's slot
        warmed()
        self.slot = session_slot(kind)
        pending, self.slot.pending = self.slot.pending, None
        if pending is not None:
            # a restored checkpoint's settings go into the widgets before they are drawn
            st.session_state.update(to_widgets(pending["config"]))
            st.session_state.update(self._optim_widgets(pending["optim"], pending["seed"]))

    # ----- settings -------------------------------------------------------------------------

    @property
    def poll_every(self) -> float | None:
        """run_every for a page's own live fragment: POLL_S while a run is going."""
        tr = self.slot.trainer
        return POLL_S if tr is not None and tr.state == "running" else None

    @property
    def active(self) -> bool:
        """A run is going or paused: its settings are fixed until it ends."""
        tr = self.slot.trainer
        return tr is not None and tr.state in ("running", "paused")

    def _k(self, name: str) -> str:
        return f"{self.kind}_{name}"

    def _optim_widgets(self, optim: dict, seed: int) -> dict:
        return {self._k("optimizer"): optim["optimizer"], self._k("lr"): float(optim["lr"]),
                self._k("schedule"): optim["schedule"], self._k("seed"): int(seed)}

    def optim_controls(self) -> tuple[TrainConfig, int]:
        """Optimiser, learning rate, schedule and seed; checked on the server (TrainConfig)."""
        default = DEFAULT_OPTIM[self.kind]
        for name, value in self._optim_widgets(asdict(default), 0).items():
            st.session_state.setdefault(name, value)
        lrs = sorted({*LRS, float(st.session_state[self._k("lr")])})
        opt_labels = {o: t(f"opt_{o}") for o in OPTIMIZERS}
        sched_labels = {s: t(f"sched_{s}") for s in SCHEDULES}
        c1, c2, c3, c4 = st.columns([2, 3, 2, 1])
        with c1:
            optimizer = st.selectbox(t("optimizer_label"), OPTIMIZERS, format_func=opt_labels.get,
                                     key=self._k("optimizer"), disabled=self.active, help=t("optimizer_help"))
        with c2:
            lr = st.select_slider(t("lr_label"), lrs, format_func=lambda v: f"{v:g}", key=self._k("lr"),
                                  disabled=self.active, help=t("lr_help"))
        with c3:
            schedule = st.radio(t("schedule_label"), SCHEDULES, format_func=sched_labels.get, horizontal=True,
                                key=self._k("schedule"), disabled=self.active, help=t("schedule_help"))
        with c4:
            seed = st.number_input(t("seed_label"), 0, SEED_MAX, step=1, key=self._k("seed"),
                                   disabled=self.active, help=t("seed_help"))
        try:
            optim = TrainConfig(str(optimizer), float(lr), str(schedule), clip=default.clip)
            if not 0 <= int(seed) <= SEED_MAX:
                raise ValueError("seed")
        except Exception as exc:
            st.error(message(t, exc) if getattr(exc, "code", None) else t("err_seed", high=SEED_MAX))
            st.stop()
        return optim, int(seed)

    def run_config(self, seed: int, report_every: int, eval_every: int) -> RunConfig:
        return RunConfig(seed=seed, budget_s=BUDGET_S, report_every=report_every, eval_every=eval_every)

    def optim_text(self, optim: TrainConfig) -> str:
        return t("optim_text", opt=t(f"opt_{optim.optimizer}"), lr=f"{optim.lr:g}",
                 sched=t(f"sched_{optim.schedule}"))

    # ----- the panel itself ------------------------------------------------------------------

    def estimate_caption(self, est: MemoryEstimate) -> None:
        st.caption(t("estimate", mib=mib(est.bytes), limit=mib(MAX_TRAIN_BYTES), P=f"{est.P:,}",
                     A=f"{est.A:,}", B=est.B, data=mib(est.D)))

    def _trainer(self, s: Settings) -> Trainer | None:
        """The slot's trainer, a fresh one when the settings changed before it started; None
        (with the reason shown) when one cannot be built."""
        tr = self.slot.trainer
        if tr is None or (tr.state == "idle" and self.slot.key != s.key):
            try:
                with st.spinner(t("building")):
                    tr = fresh(self.slot, s)
            except Exception as exc:
                st.error(message(t, exc))
                return None
        return tr

    def _messages(self, tr: Trainer, s: Settings) -> None:
        slot = self.slot
        if tr.state in TERMINAL:
            slot.archive()
        if slot.message is not None:
            st.error(message(t, slot.message))
            slot.message = None
        if slot.notice is not None:
            st.success(t(slot.notice, step=tr.step))
            slot.notice = None
        if tr.state in TERMINAL and slot.key != s.key:
            st.info(t("next_run_note"))

    def show(self, config, optim: TrainConfig, run: RunConfig, *, describe: Describe,
             live: Live | None = None, curves: Sequence[tuple[str, str]] = (),
             charts: bool = True) -> Trainer | None:
        """The buttons and the live view (progress, curves, then `live(trainer, snapshot)` in
        the same fragment; charts=False leaves the curves to `live`). Returns the current
        trainer, or None when the configuration is refused (the reason is shown)."""
        s = Settings(self.kind, config, optim, run, None if self.task == self.kind else self.task)
        device = get_device()
        st.caption(t("device_note", name=device_name(device)) if device.type != "cpu" else t("cpu_note"))
        est = make_task(self.task, config).estimate()
        self.estimate_caption(est)
        if est.bytes > MAX_TRAIN_BYTES:
            st.error(t("refused", mib=mib(est.bytes), limit=mib(MAX_TRAIN_BYTES)))
            return None
        tr = self._trainer(s)
        if tr is None:
            return None
        self._messages(tr, s)
        self._buttons(tr, s)
        self._live(tr, live, curves, charts)
        return tr

    def footer(self, describe: Describe, run: RunConfig) -> None:
        """The runs kept for comparison, the CSV export and the checkpoints (below the page's
        own live figures)."""
        runs_section(self.slot, describe, self._k)
        if self.slot.trainer is not None:
            files_section(self.slot, self.slot.trainer, run, self._k)

    def _buttons(self, tr: Trainer, s: Settings) -> None:
        state = tr.state
        c = st.columns(4)
        c[0].button(t("resume") if state == "paused" else t("start"), type="primary", icon=":material/play_arrow:",
                    disabled=state == "running", on_click=on_start, args=(s,), key=self._k("btn_start"),
                    width="stretch")
        c[1].button(t("pause"), icon=":material/pause:", disabled=state != "running", on_click=on_pause,
                    args=(self.kind,), key=self._k("btn_pause"), width="stretch")
        c[2].button(t("one_step"), icon=":material/skip_next:", disabled=state == "running", on_click=on_step,
                    args=(s,), key=self._k("btn_step"), width="stretch", help=t("one_step_help"))
        c[3].button(t("stop"), icon=":material/stop:", disabled=state not in ("running", "paused"),
                    on_click=on_stop, args=(self.kind,), key=self._k("btn_stop"), width="stretch")

    def _live(self, tr: Trainer, live: Live | None, curves: Sequence[tuple[str, str]], charts: bool = True) -> None:
        slot, shown_state = self.slot, tr.state

        @st.fragment(run_every=POLL_S if shown_state == "running" else None)
        def live_view():
            cur = slot.trainer
            if cur is not tr or cur.state != shown_state:
                st.rerun(scope="app")  # the run ended or changed: redraw the buttons too
            snap = cur.metrics.snapshot()  # the one read of the metrics this tick
            progress(cur, snap, self._k("status"))
            if charts:
                compared = [r for r in slot.runs if st.session_state.get(self._k(f"cmp_{r.number}"))]
                curves_charts(snap, slot.number, compared, curves, f"{self.kind}_")
            if live is not None:
                live(cur, snap)

        live_view()
