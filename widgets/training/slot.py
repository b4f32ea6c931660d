"""One page's trainer in one session (a Slot in a session-scoped st.cache_resource), the runs it
kept for comparison, and the buttons' callbacks, which run before the next script run."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass

import streamlit as st

from engine.lab.checkpoints import read_checkpoint
from engine.lab.loop import TrainConfig, warm_up
from engine.lab.records import MetricsSnapshot
from engine.lab.tasks import TrainError, config_dict, make_task
from engine.lab.trainer import TERMINAL, RunConfig, Trainer, restore
from widgets.training.common import MAX_RUNS, STEP_WAIT_S


@dataclass
class RunRecord:
    """A run that ended (or was replaced): its settings and its metrics at that moment."""

    number: int
    config: object
    optim: TrainConfig
    metrics: MetricsSnapshot
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


def settings_key(config, optim: TrainConfig, seed: int) -> str:
    return json.dumps([config_dict(config), asdict(optim), int(seed)], sort_keys=True, default=str)


@dataclass(frozen=True)
class Settings:
    """What a fresh run is built from (bound into the buttons' callbacks). `kind` names the slot;
    `task` the engine task when it differs (a page section training the CNN task in its own slot)."""

    kind: str
    config: object
    optim: TrainConfig
    run: RunConfig
    task: str | None = None

    @property
    def key(self) -> str:
        return settings_key(self.config, self.optim, self.run.seed)

    def build(self) -> Trainer:
        return Trainer(make_task(self.task or self.kind, self.config), self.optim, self.run)


# ----- button callbacks (they run before the next script run) ------------------------------


def fresh(slot: Slot, s: Settings) -> Trainer:
    slot.install(s.build(), s.key)
    return slot.trainer


def _current(slot: Slot, s: Settings, *, new_if: tuple[str, ...]) -> Trainer:
    tr = slot.trainer
    if tr is None or tr.state in new_if or (tr.state == "idle" and slot.key != s.key):
        tr = fresh(slot, s)
    return tr


def on_start(s: Settings) -> None:
    slot = session_slot(s.kind)
    try:
        tr = _current(slot, s, new_if=TERMINAL)
        if tr.state == "paused":
            tr.resume()
        else:
            tr.start()
    except Exception as exc:  # shown (translated) by the next run
        slot.message = exc


def on_pause(kind: str) -> None:
    slot = session_slot(kind)
    try:
        slot.trainer.pause()
    except Exception as exc:
        slot.message = exc


def on_step(s: Settings) -> None:
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


def on_stop(kind: str) -> None:
    slot = session_slot(kind)
    if slot.trainer is not None:
        slot.trainer.stop()
        slot.trainer.join(timeout=10)
        slot.archive()


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
