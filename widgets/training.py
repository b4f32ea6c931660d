"""The training lab's shared panel: optimiser settings, Start / Pause / One step / Stop, the
progress with samples/s and ETA, live loss and accuracy curves, the runs kept for comparison,
the metrics as CSV, and checkpoints to download and upload.

The trainer (engine.lab.trainer.Trainer) runs in its own worker thread and makes no streamlit call.
It lives in a session-scoped st.cache_resource "slot", so closing the tab releases the slot,
which stops the worker and frees the model (DESIGN.md, "Live training"). A fragment with
run_every polls the trainer about once a second while it runs; buttons act through on_click
callbacks, so the buttons drawn next already match the new state.
"""

from __future__ import annotations

import io
import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import pandas as pd
import streamlit as st

from engine.device import device_name, get_device
from engine.lab.tasks import MemoryEstimate, TrainError, config_dict, make_task
from engine.lab.trainer import (
    DEFAULT_OPTIM,
    OPTIMIZERS,
    SCHEDULES,
    TERMINAL,
    OptimConfig,
    RunConfig,
    Trainer,
    read_checkpoint,
    restore,
    warm_up,
)
from engine.limits import MAX_TRAIN_BYTES
from figures.training import HELD_OUT_COLOR, PALETTE, TRAIN_COLOR, Line, curves_figure, series
from widgets.i18n import T

POLL_S = 1.0  # the live view's refresh while a run is going
MAX_RUNS = 8  # finished runs kept for comparison (metrics only; their models are freed)
STEP_WAIT_S = 10.0  # "One step" waits this long at most for the step to land
LRS = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3)
SEED_MAX = 9999
BUDGET_S = 600  # wall-clock budget of one run (seconds of running, pauses excluded)

t = T("training")  # lazy: each call reads the session's language


def mib(n: int) -> str:
    return f"{n / 2**20:,.1f}"


def message(t: T, exc: Exception) -> str:
    """A translated message for an engine error (code + params), else the exception's text."""
    return t.error(exc) if getattr(exc, "code", None) else f"{type(exc).__name__}: {exc}"


# ----- the session's slot -------------------------------------------------------------------


@dataclass
class RunRecord:
    """A run that ended (or was replaced): its settings and a copy of its metrics."""

    number: int
    config: object
    optim: OptimConfig
    metrics: list[dict]
    state: str
    reason: str | None
    step: int
    total: int
    seconds: float


class Slot:
    """One page's trainer in one session, the runs it kept, and messages for the next run."""

    def __init__(self, kind: str):
        self.kind = kind
        self.trainer: Trainer | None = None
        self.key: str | None = None
        self.number = 0  # the current run's number (1, 2, …)
        self.archived = False
        self.runs: list[RunRecord] = []
        self.pending: dict | None = None  # a restored checkpoint's settings, for the widgets
        self.message: Exception | None = None
        self.notice: str | None = None  # a translation key to show once (e.g. "restored")
        self.upload_seen: str | None = None
        self.upload_error: tuple[str, Exception] | None = None

    def archive(self) -> None:
        """Keep the current run's metrics (once), if it took a step."""
        tr = self.trainer
        if tr is None or self.archived or tr.step == 0:
            return
        self.archived = True
        self.runs.append(RunRecord(self.number, tr.task.config, tr.optim, tr.metrics.snapshot(),
                                   tr.state, tr.reason, tr.step, tr.total_steps, tr.active_seconds))
        del self.runs[:-MAX_RUNS]

    def install(self, trainer: Trainer, key: str) -> None:
        """Make `trainer` the current run; the previous one is stopped and kept as a record."""
        old = self.trainer
        if old is not None:
            old.stop()
            self.archive()
            old.join(timeout=10)
        self.trainer, self.key, self.archived = trainer, key, False
        self.number += 1

    def close(self) -> None:
        if self.trainer is not None:
            self.trainer.close()


def _release(slot: Slot) -> None:
    slot.close()


@st.cache_resource(scope="session", on_release=_release, show_spinner=False)
def session_slot(kind: str) -> Slot:
    return Slot(kind)


@st.cache_resource(show_spinner=False)
def warmed() -> bool:
    """torch.optim's first use imports torch._dynamo (1–2 s): pay it once per server."""
    warm_up()
    return True


def settings_key(config, optim: OptimConfig, seed: int) -> str:
    return json.dumps([config_dict(config), asdict(optim), int(seed)], sort_keys=True, default=str)


@dataclass(frozen=True)
class Settings:
    """What a fresh run is built from (bound into the buttons' callbacks)."""

    kind: str
    config: object
    optim: OptimConfig
    run: RunConfig

    @property
    def key(self) -> str:
        return settings_key(self.config, self.optim, self.run.seed)

    def build(self) -> Trainer:
        return Trainer(make_task(self.kind, self.config), self.optim, self.run)


# ----- button callbacks (they run before the next script run) ------------------------------


def _fresh(slot: Slot, s: Settings) -> Trainer:
    slot.install(s.build(), s.key)
    return slot.trainer


def _current(slot: Slot, s: Settings, *, new_if: tuple[str, ...]) -> Trainer:
    tr = slot.trainer
    if tr is None or tr.state in new_if or (tr.state == "idle" and slot.key != s.key):
        tr = _fresh(slot, s)
    return tr


def _on_start(s: Settings) -> None:
    slot = session_slot(s.kind)
    try:
        tr = _current(slot, s, new_if=TERMINAL)
        if tr.state == "paused":
            tr.resume()
        else:
            tr.start()
    except Exception as exc:  # shown (translated) by the next run
        slot.message = exc


def _on_pause(kind: str) -> None:
    slot = session_slot(kind)
    try:
        slot.trainer.pause()
    except Exception as exc:
        slot.message = exc


def _on_step(s: Settings) -> None:
    slot = session_slot(s.kind)
    try:
        tr = _current(slot, s, new_if=TERMINAL)
        before = tr.step
        tr.step_once()
        # wait for the step to land, so the page drawn next shows its point
        deadline = time.monotonic() + STEP_WAIT_S
        while tr.step == before and tr.state == "paused" and time.monotonic() < deadline:
            time.sleep(0.02)
    except Exception as exc:
        slot.message = exc


def _on_stop(kind: str) -> None:
    slot = session_slot(kind)
    if slot.trainer is not None:
        slot.trainer.stop()
        slot.trainer.join(timeout=10)
        slot.archive()


# ----- checkpoints in ----------------------------------------------------------------------


def restore_for(kind: str, data: bytes, run: RunConfig) -> Trainer:
    """A new idle trainer from checkpoint bytes, refused (TrainError) unless it is this page's task."""
    blob = read_checkpoint(data)
    if blob["task"] != kind:
        raise TrainError("wrong_task", f"This checkpoint is for the {blob['task']!r} task.",
                         expected=kind, got=str(blob["task"]))
    try:
        own = RunConfig(seed=blob["seed"], budget_s=run.budget_s, report_every=run.report_every,
                        eval_every=run.eval_every)
    except ValueError as exc:
        raise TrainError("bad_checkpoint", f"The checkpoint's seed is invalid: {exc}",
                         reason="seed") from exc
    return restore(data, run=own)


# ----- the panel ----------------------------------------------------------------------------


class TrainingPanel:
    """panel = TrainingPanel("cnn", to_widgets) at the top of a page (before its widgets), then
    panel.optim_controls(), the page's own settings, and panel.show(config, optim, run, ...)."""

    def __init__(self, kind: str, to_widgets: Callable[[dict], dict]):
        self.kind = kind
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

    def optim_controls(self) -> tuple[OptimConfig, int]:
        """Optimiser, learning rate, schedule and seed; checked on the server (OptimConfig)."""
        d = DEFAULT_OPTIM[self.kind]
        for name, value in self._optim_widgets(asdict(d), 0).items():
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
            optim = OptimConfig(str(optimizer), float(lr), str(schedule),
                                clip=DEFAULT_OPTIM[self.kind].clip)
            if not 0 <= int(seed) <= SEED_MAX:
                raise ValueError("seed")
        except Exception as exc:
            st.error(message(t, exc) if getattr(exc, "code", None) else t("err_seed", high=SEED_MAX))
            st.stop()
        return optim, int(seed)

    def run_config(self, seed: int, report_every: int, eval_every: int) -> RunConfig:
        return RunConfig(seed=seed, budget_s=BUDGET_S, report_every=report_every, eval_every=eval_every)

    def optim_text(self, optim: OptimConfig) -> str:
        return t("optim_text", opt=t(f"opt_{optim.optimizer}"), lr=f"{optim.lr:g}",
                 sched=t(f"sched_{optim.schedule}"))

    # ----- the panel itself ------------------------------------------------------------------

    def estimate_caption(self, est: MemoryEstimate) -> None:
        st.caption(t("estimate", mib=mib(est.bytes), limit=mib(MAX_TRAIN_BYTES), P=f"{est.P:,}",
                     A=f"{est.A:,}", B=est.B, data=mib(est.D)))

    def show(self, config, optim: OptimConfig, run: RunConfig, *,
             describe: Callable[[object, OptimConfig], str],
             live: Callable[[Trainer], None] | None = None,
             curves: Sequence[tuple[str, str]] = ()) -> Trainer | None:
        """The buttons and the live view (progress, curves, then `live(trainer)` in the same
        fragment). Returns the current trainer, or None when the configuration is refused (the
        reason is shown)."""
        slot = self.slot
        s = Settings(self.kind, config, optim, run)
        device = get_device()
        st.caption(t("device_note", name=device_name(device)) if device.type != "cpu" else t("cpu_note"))
        est = make_task(self.kind, config).estimate()
        self.estimate_caption(est)
        if est.bytes > MAX_TRAIN_BYTES:
            st.error(t("refused", mib=mib(est.bytes), limit=mib(MAX_TRAIN_BYTES)))
            return None
        tr = slot.trainer
        if tr is None or (tr.state == "idle" and slot.key != s.key):
            try:
                with st.spinner(t("building")):
                    tr = _fresh(slot, s)
            except Exception as exc:
                st.error(message(t, exc))
                return None
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
        self._buttons(tr, s)
        self._live(tr, live, curves)
        return tr

    def footer(self, describe: Callable[[object, OptimConfig], str], run: RunConfig) -> None:
        """The runs kept for comparison, the CSV export and the checkpoints (below the page's
        own live figures)."""
        self.runs_section(describe)
        if self.slot.trainer is not None:
            self._files(self.slot.trainer, run)

    def _buttons(self, tr: Trainer, s: Settings) -> None:
        state = tr.state
        c = st.columns(4)
        c[0].button(t("resume") if state == "paused" else t("start"), type="primary", icon=":material/play_arrow:",
                    disabled=state == "running", on_click=_on_start, args=(s,), key=self._k("btn_start"),
                    width="stretch")
        c[1].button(t("pause"), icon=":material/pause:", disabled=state != "running", on_click=_on_pause,
                    args=(self.kind,), key=self._k("btn_pause"), width="stretch")
        c[2].button(t("one_step"), icon=":material/skip_next:", disabled=state == "running", on_click=_on_step,
                    args=(s,), key=self._k("btn_step"), width="stretch", help=t("one_step_help"))
        c[3].button(t("stop"), icon=":material/stop:", disabled=state not in ("running", "paused"),
                    on_click=_on_stop, args=(self.kind,), key=self._k("btn_stop"), width="stretch")

    def _live(self, tr: Trainer, live, curves) -> None:
        slot, shown_state = self.slot, tr.state

        @st.fragment(run_every=POLL_S if shown_state == "running" else None)
        def live_view():
            cur = slot.trainer
            if cur is not tr or cur.state != shown_state:
                st.rerun(scope="app")  # the run ended or changed: redraw the buttons too
            self._progress(cur)
            self._curves(cur, curves)
            if live is not None:
                live(cur)

        live_view()

    def _progress(self, tr: Trainer) -> None:
        train = tr.metrics.snapshot("train")
        evals = tr.metrics.snapshot("eval")
        step, total = tr.step, tr.total_steps
        sps = train[-1].get("samples_per_s") if train else None
        eta = "—"
        if step > 0 and tr.state in ("running", "paused", "idle"):
            per_step = tr.active_seconds / step
            left = min((total - step) * per_step, max(0.0, tr.run.budget_s - tr.active_seconds))
            eta = f"{left:,.0f} s"
        speed = f"{sps:,.0f}" if isinstance(sps, float) and math.isfinite(sps) else "—"
        state = t(f"state_{tr.state}")
        if tr.state == "finished" and tr.reason:
            state = t(f"reason_{tr.reason}")
        st.markdown(t("status", state=state, step=f"{step:,}", total=f"{total:,}"))
        st.progress(min(1.0, step / total), text=t("progress", sps=speed, eta=eta,
                                                   seconds=f"{tr.active_seconds:,.1f}"))
        if tr.state == "failed":
            st.error(t("failed", error=tr.error or ""))
        # for tests and for the page: what the trainer itself says
        st.session_state[self._k("status")] = {"state": tr.state, "step": step, "total": total,
                                               "train_points": len(train), "eval_points": len(evals)}
        cols = st.columns(4)
        last = train[-1] if train else {}
        last_eval = evals[-1] if evals else {}
        cols[0].metric(t("m_loss"), f"{last['loss']:.4f}" if "loss" in last else "—")
        cols[1].metric(t("m_held_out_loss"), f"{last_eval['held_out_loss']:.4f}" if "held_out_loss" in last_eval else "—")
        acc = last_eval.get("exact_match", last_eval.get("held_out_accuracy"))
        cols[2].metric(t("m_exact") if "exact_match" in last_eval else t("m_held_out_acc"),
                       f"{acc:.1%}" if acc is not None else "—")
        cols[3].metric(t("m_lr"), f"{tr.lr():.2e}")

    def _compared(self) -> list[RunRecord]:
        return [r for r in self.slot.runs if st.session_state.get(self._k(f"cmp_{r.number}"))]

    def _curves(self, tr: Trainer, curves: Sequence[tuple[str, str]]) -> None:
        records = tr.metrics.snapshot()
        train = [r for r in records if r.get("kind") == "train"]
        evals = [r for r in records if r.get("kind") == "eval"]
        now = self.slot.number
        loss = [Line(t("line_train", n=now), *series(train, "loss"), color=TRAIN_COLOR),
                Line(t("line_held_out", n=now), *series(evals, "held_out_loss"), color=HELD_OUT_COLOR,
                     markers=True)]
        for i, rec in enumerate(self._compared()):
            color = PALETTE[(i + 2) % len(PALETTE)]
            r_train = [r for r in rec.metrics if r.get("kind") == "train"]
            r_eval = [r for r in rec.metrics if r.get("kind") == "eval"]
            loss.append(Line(t("line_train", n=rec.number), *series(r_train, "loss"), color=color,
                             dash="dot", width=1.5))
            loss.append(Line(t("line_held_out", n=rec.number), *series(r_eval, "held_out_loss"), color=color,
                             dash="dash", width=1.5))
        acc_specs = [("accuracy", t("acc_train"), train, TRAIN_COLOR, False),
                     ("held_out_accuracy", t("acc_held_out"), evals, HELD_OUT_COLOR, True)]
        acc_specs += [(key, label, evals, PALETTE[(3 + i) % len(PALETTE)], True) for i, (key, label) in enumerate(curves)]
        acc = [Line(label, *series(rs, key), color=color, markers=m) for key, label, rs, color, m in acc_specs]
        c1, c2 = st.columns(2)
        with c1:
            st.plotly_chart(curves_figure(loss, title=t("fig_loss"), x_title=t("axis_step"),
                                          y_title=t("axis_loss")), key=self._k("fig_loss"))
        with c2:
            st.plotly_chart(curves_figure(acc, title=t("fig_accuracy"), x_title=t("axis_step"),
                                          y_title=t("axis_accuracy"), y_range=(0, 1.02)),
                            key=self._k("fig_accuracy"))

    # ----- runs, export, checkpoints ----------------------------------------------------------

    def runs_section(self, describe: Callable[[object, OptimConfig], str]) -> None:
        runs = self.slot.runs
        st.subheader(t("runs_header"))
        if not runs:
            st.caption(t("runs_empty"))
            return
        st.caption(t("runs_help", n=MAX_RUNS))
        rows = []
        for rec in reversed(runs):
            evals = [r for r in rec.metrics if r.get("kind") == "eval"]
            trains = [r for r in rec.metrics if r.get("kind") == "train"]
            last = evals[-1] if evals else {}
            end = t(f"reason_{rec.reason}") if rec.reason else t(f"state_{rec.state}")
            st.checkbox(t("run_label", n=rec.number, settings=describe(rec.config, rec.optim), end=end,
                          step=f"{rec.step:,}", total=f"{rec.total:,}"), key=self._k(f"cmp_{rec.number}"))
            acc = last.get("exact_match", last.get("held_out_accuracy"))
            rows.append({t("col_run"): rec.number, t("col_settings"): describe(rec.config, rec.optim),
                         t("col_end"): end, t("col_steps"): rec.step, t("col_seconds"): round(rec.seconds, 1),
                         t("col_loss"): round(trains[-1]["loss"], 4) if trains else None,
                         t("col_held_out_loss"): round(last["held_out_loss"], 4) if "held_out_loss" in last else None,
                         t("col_acc"): round(acc, 4) if acc is not None else None})
        st.dataframe(pd.DataFrame(rows), hide_index=True)

    def _files(self, tr: Trainer, run: RunConfig) -> None:
        slot = self.slot
        st.subheader(t("files_header"))
        c1, c2, c3 = st.columns(3)
        records = tr.metrics.snapshot()
        with c1:
            st.download_button(t("csv_button"), data=metrics_csv(records), file_name=f"{self.kind}-run{slot.number}-metrics.csv",
                               mime="text/csv", disabled=not records, on_click="ignore", icon=":material/table:",
                               key=self._k("csv"))
            st.caption(t("csv_help"))
        with c2:
            if tr.state == "running":
                st.button(t("ckpt_button"), disabled=True, icon=":material/download:", key=self._k("ckpt_off"))
                st.caption(t("ckpt_pause"))
            else:
                st.download_button(t("ckpt_button"), data=tr.to_bytes(),
                                   file_name=f"{self.kind}-run{slot.number}-step{tr.step}.pt",
                                   mime="application/octet-stream", on_click="ignore", icon=":material/download:",
                                   key=self._k("ckpt"))
                st.caption(t("ckpt_help"))
        with c3:
            file = st.file_uploader(t("upload_label"), type=["pt"], key=self._k("upload"),
                                    disabled=tr.state == "running", help=t("upload_help"))
        if file is not None and file.file_id != slot.upload_seen:
            slot.upload_seen = file.file_id
            try:
                new = restore_for(self.kind, file.getvalue(), run)
            except Exception as exc:
                slot.upload_error = (file.file_id, exc)
            else:
                slot.upload_error = None
                slot.install(new, settings_key(new.task.config, new.optim, new.run.seed))
                slot.pending = {"config": config_dict(new.task.config), "optim": asdict(new.optim),
                                "seed": new.run.seed}
                slot.notice = "restored"
                st.rerun()
        if file is not None and slot.upload_error is not None and slot.upload_error[0] == file.file_id:
            st.error(message(t, slot.upload_error[1]))
            st.info(t("upload_kept"))


def metrics_csv(records: list[dict]) -> bytes:
    """Every record as one CSV row (kind, step, …); columns are the union of the records' keys."""
    if not records:
        return b""
    frame = pd.DataFrame(records)
    first = [c for c in ("kind", "step", "epoch", "seconds") if c in frame.columns]
    frame = frame[first + [c for c in frame.columns if c not in first]]
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False)
    return buffer.getvalue().encode("utf-8")
