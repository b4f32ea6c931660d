"""Live training: a worker thread trains one task (engine.lab.tasks) while a page watches it.

The page never waits for training. The worker runs the usual loop

    loss = task.step(model, batch).loss;  ∇ ← backward(loss);  θ ← optimiser(θ, ∇);  lr ← schedule

and every `report_every` steps appends a TrainRecord (mean loss, accuracy, learning rate, speed) to a
MetricBuffer that the page polls. Control goes the other way through threading.Event objects:
start, pause, a single step, resume and stop, each taking effect before the next step. The
worker makes no streamlit call. The loop itself is engine.lab.loop.run_steps; the metric
records are engine.lab.records; checkpoints are engine.lab.checkpoints.

States: idle → running ⇄ paused → stopped | finished | failed. "finished" carries a reason: "done"
(every step taken) or "budget" (the run's wall-clock budget, counted while it runs, is spent).
"failed" keeps the error message.

Speed: per-step values (loss, correct predictions) are summed on the device and read once per
report, so a step never waits for the device; the CNN runs channels_last.

Safety: the memory a configuration needs is estimated before anything is allocated and a run
above engine.limits.MAX_TRAIN_BYTES is refused; checkpoints are read with
torch.load(weights_only=True), checked completely on a staging copy, and only then installed,
so a bad file changes nothing in the trainer.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from engine.device import get_device
from engine.lab import checkpoints
from engine.lab.loop import TrainConfig, make_optimizer, make_schedule, run_steps
from engine.lab.records import EvalRecord, MetricBuffer, TrainRecord
from engine.lab.tasks import TASKS, Task, TrainError, config_from_dict, make_task
from engine.limits import MAX_TRAIN_BYTES, check

STATES = ("idle", "running", "paused", "stopped", "finished", "failed")
TERMINAL = ("stopped", "finished", "failed")


# ----- settings -----------------------------------------------------------------------------


@dataclass(frozen=True)
class RunConfig:
    """The seed, the wall-clock budget (seconds of running, pauses excluded), and how often the
    worker reports training metrics and evaluates on held-out data (in steps)."""

    seed: int = 0
    budget_s: int = 300
    report_every: int = 10
    eval_every: int = 200

    def __post_init__(self):
        check("seed", self.seed)
        check("budget_s", self.budget_s)
        check("report_every", self.report_every)
        check("eval_every", self.eval_every)


# Settings that train each task well in a short run (a page's defaults).
DEFAULT_OPTIM = {
    "cnn": TrainConfig("adam", 3e-3, "one_cycle"),
    "char": TrainConfig("adam", 4e-3, "one_cycle", clip=1.0),
    "seq": TrainConfig("adam", 3e-3, "one_cycle"),
}


# ----- the trainer --------------------------------------------------------------------------


class Trainer:
    """Trains `task` in a worker thread; the page calls start, pause, step_once, resume, stop,
    reads `metrics`, `state`, `reason`, `error`, and inspects the model with probe(), classify(),
    sample() or with_model(fn) between two steps."""

    def __init__(self, task: Task, optim: TrainConfig | None = None, run: RunConfig | None = None,
                 device: torch.device | None = None):
        self.task = task
        self.optim = optim if optim is not None else DEFAULT_OPTIM.get(task.kind, TrainConfig())
        self.run = run if run is not None else RunConfig()
        # refuse before anything is allocated: the estimate needs the config only
        self.estimate = task.estimate()
        if self.estimate.bytes > MAX_TRAIN_BYTES:
            raise TrainError("memory", f"This configuration needs about {self.estimate.bytes / 2**30:.2f} GiB; "
                             f"the limit is {MAX_TRAIN_BYTES / 2**30:.0f} GiB.",
                             **self.estimate.as_params(), limit=MAX_TRAIN_BYTES)
        self.device = device if device is not None else get_device()
        task.prepare(self.device)
        self.model = task.make_model(self.run.seed, self.device)
        self.model.train()
        self.optimizer = make_optimizer(self.model.parameters(), self.optim)
        self.scheduler = make_schedule(self.optimizer, self.optim, task.total_steps)
        self.metrics = MetricBuffer()
        self._step = self._public_step = 0
        self._steps = self._loop(start=0)
        self._active_s = 0.0  # seconds spent running steps and evaluations
        self._samples = 0
        self._reset_interval()
        # control (the page's thread) → worker
        self._ctl = threading.Lock()
        self._state, self._reason, self._error = "idle", None, None
        self._stop = threading.Event()
        self._go = threading.Event()  # set: run freely; clear: paused
        self._wake = threading.Event()  # a command arrived
        self._pending = 0  # single steps asked for while paused
        self._thread: threading.Thread | None = None
        # the model between two steps (probe, classify, checkpoints)
        self._model_lock = threading.Lock()
        self._ui_lock = threading.Lock()
        self._model_wanted = threading.Event()
        self._model_free = threading.Event()
        self._model_free.set()

    # ----- what the page reads -------------------------------------------------------------

    @property
    def state(self) -> str:
        return self._state

    @property
    def reason(self) -> str | None:
        """Why the run ended: "done", "budget", "stopped" or "error"; None while it has not."""
        return self._reason

    @property
    def error(self) -> str | None:
        return self._error

    @property
    def step(self) -> int:
        """Steps taken; a step counts once its records are in `metrics`."""
        return self._public_step

    @property
    def total_steps(self) -> int:
        return self.task.total_steps

    @property
    def active_seconds(self) -> float:
        return self._active_s

    @property
    def samples_seen(self) -> int:
        return self._samples

    def lr(self) -> float:
        return float(self.optimizer.param_groups[0]["lr"])

    # ----- control -------------------------------------------------------------------------

    def _refuse(self, action: str):
        return TrainError("state", f"Cannot {action} while the trainer is {self._state}.",
                          action=action, state=self._state)

    def _launch(self) -> None:
        self._thread = threading.Thread(target=self._worker, name=f"trainer-{self.task.kind}", daemon=True)
        self._thread.start()

    def start(self) -> None:
        """idle → running."""
        with self._ctl:
            if self._state != "idle":
                raise self._refuse("start")
            self._go.set()
            self._state = "running"
            self._launch()

    def pause(self) -> None:
        """running → paused; the step under way finishes first."""
        with self._ctl:
            if self._state != "running":
                raise self._refuse("pause")
            self._go.clear()
            self._state = "paused"

    def resume(self) -> None:
        """paused → running."""
        with self._ctl:
            if self._state != "paused":
                raise self._refuse("resume")
            self._state = "running"
            self._go.set()
            self._wake.set()

    def step_once(self) -> None:
        """One training step, then paused (from idle or paused); it always reports its loss."""
        with self._ctl:
            if self._state == "idle":
                self._pending, self._state = 1, "paused"
                self._launch()
            elif self._state == "paused":
                self._pending += 1
                self._wake.set()
            else:
                raise self._refuse("step")

    def stop(self) -> None:
        """Any state → stopped (terminal states stay as they are); no further step starts."""
        with self._ctl:
            if self._state in TERMINAL:
                return
            self._stop.set()
            self._wake.set()
            self._state, self._reason = "stopped", "stopped"

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the worker to end; True if it has (or never started)."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
            return not thread.is_alive()
        return True

    def close(self) -> None:
        """Stop and wait briefly (st.cache_resource's on_release)."""
        self.stop()
        self.join(timeout=10)

    # ----- the worker ----------------------------------------------------------------------

    def _end(self, state: str, reason: str, error: str | None = None) -> None:
        with self._ctl:
            if self._state in TERMINAL:
                return
            self._state, self._reason, self._error = state, reason, error

    def _permit(self) -> bool | None:
        """Block until the next step may run: True for a free step, False for a single step,
        None when stopped."""
        while True:
            self._wake.clear()
            if self._stop.is_set():
                return None
            if self._go.is_set():
                return True
            with self._ctl:
                if self._pending > 0:
                    self._pending -= 1
                    return False
            self._wake.wait(0.5)

    def _over(self) -> str | None:
        if self._step >= self.task.total_steps:
            return "done"
        if self._active_s >= self.run.budget_s:
            return "budget"
        return None

    def _worker(self) -> None:
        try:
            while True:
                reason = self._over()
                if reason is not None:
                    self._end("finished", reason)
                    return
                free = self._permit()
                if free is None:
                    return
                with self._model_lock:
                    self._train_step(report=not free)
                    if self._over() == "budget":  # the run ends here: report and evaluate its last step
                        if self._acc_steps:
                            self._report(time.perf_counter())
                        if self._step % self.run.eval_every:
                            self._evaluate()
                if self._model_wanted.is_set():
                    # let a page's probe in between two steps (a lock alone is not fair)
                    self._model_free.wait(5.0)
        except Exception as exc:  # the page shows the message; the thread must not die silently
            self._end("failed", "error", f"{type(exc).__name__}: {exc}")

    def _reset_interval(self) -> None:
        self._acc_loss = None
        self._acc_sums: dict[str, Any] = {}
        self._acc_steps = 0
        self._acc_samples = 0
        self._acc_s = 0.0

    def _loop(self, start: int):
        """The one training loop (engine.lab.loop.run_steps) over the task's batches from `start`."""
        return run_steps(self.model, self.optimizer, self.task.batches(self.run.seed, start=start),
                         self.task.step, self.optim.clip, self.scheduler)

    def _train_step(self, report: bool) -> None:
        start = time.perf_counter()
        out = next(self._steps)
        self._step += 1
        # accumulate on the device; nothing here waits for it
        loss = out.loss.detach()
        self._acc_loss = loss if self._acc_loss is None else self._acc_loss + loss
        for name, value in out.sums.items():
            self._acc_sums[name] = self._acc_sums.get(name, 0) + value
        self._acc_steps += 1
        self._acc_samples += out.samples
        self._samples += out.samples
        done = self._step >= self.task.total_steps
        if report or done or self._step % self.run.report_every == 0:
            self._report(start)
        else:
            self._tick(start)
        if done or self._step % self.run.eval_every == 0:
            self._evaluate()
        self._public_step = self._step

    def _tick(self, start: float) -> None:
        """Count the time since `start` as training time (the interval's and the run's)."""
        elapsed = time.perf_counter() - start
        self._acc_s += elapsed
        self._active_s += elapsed

    def _report(self, start: float) -> None:
        """Append one TrainRecord: the interval's mean loss and accuracy (one host sync)."""
        names = sorted(self._acc_sums)
        values = [self._acc_loss] + [torch.as_tensor(self._acc_sums[k]) for k in names]
        read = torch.stack([v.to(self._acc_loss.device, torch.float32) for v in values]).tolist()
        self._tick(start)  # after the sync: the device has finished the interval's work
        sums = dict(zip(names, read[1:], strict=True))
        n = self._acc_steps
        record = TrainRecord(
            step=self._step, epoch=self._step / self.task.steps_per_epoch,
            # mean loss over the interval: (1/n) Σ_s L_s
            loss=read[0] / n, lr=self.lr(), seconds=self._active_s,
            samples_per_s=self._acc_samples / self._acc_s if self._acc_s > 0 else math.nan,
            accuracy=sums["correct"] / sums["total"] if sums.get("total") else None)
        self.metrics.append(record)
        self._reset_interval()

    def _evaluate(self) -> None:
        """Append an EvalRecord (and the task's extras, e.g. a text sample); the time counts
        toward the budget but not toward samples/s."""
        start = time.perf_counter()
        metrics = self.task.evaluate(self.model)
        extras = self.task.extras(self.model, self._step)
        self._active_s += time.perf_counter() - start
        self.metrics.append(EvalRecord(step=self._step, epoch=self._step / self.task.steps_per_epoch,
                                       seconds=self._active_s, **metrics))
        for record in extras:
            self.metrics.append(record)

    # ----- the model between steps ---------------------------------------------------------

    def with_model(self, fn: Callable, *args, **kwargs):
        """fn(model, *args, **kwargs) between two training steps (waits at most one step)."""
        with self._ui_lock:
            self._model_free.clear()
            self._model_wanted.set()
            try:
                with self._model_lock:
                    return fn(self.model, *args, **kwargs)
            finally:
                self._model_wanted.clear()
                self._model_free.set()

    def probe(self, **kwargs) -> dict[str, torch.Tensor]:
        """The task's probe on the current weights (tensors on the CPU, for a page to draw)."""
        return self.with_model(self.task.probe, **kwargs)

    def evaluate(self) -> dict[str, float]:
        return self.with_model(self.task.evaluate)

    def _task_method(self, name: str):
        method = getattr(self.task, name, None)
        if method is None:
            raise TrainError("unsupported", f"The {self.task.kind} task has no {name}().",
                             task=self.task.kind, action=name)
        return method

    def classify(self, image) -> torch.Tensor:
        """CNN task: P(class | image) (10,) for a prepared 28×28 digit, with the model being trained."""
        return self.with_model(self._task_method("classify"), image)

    def sample(self, temperature: float = 1.0, n: int = 200, prompt: str = "", seed: int = 0) -> str:
        """Char task: n characters sampled from the model being trained."""
        return self.with_model(self._task_method("sample"), temperature, n, prompt, seed)

    # ----- checkpoints ---------------------------------------------------------------------

    def _run_state(self, model: nn.Module) -> checkpoints.RunState:
        return checkpoints.RunState(self.task, self.optim, self.run.seed, self._step, model, self.optimizer,
                                    self.scheduler, tuple(self.metrics.snapshot().records()))

    def to_bytes(self) -> bytes:
        """The whole run (weights, optimiser, schedule, step, metrics) as bytes to download."""
        return checkpoints.to_bytes(self.with_model(self._run_state))

    def save(self, path: str | Path) -> None:
        Path(path).write_bytes(self.to_bytes())

    def from_bytes(self, data: bytes) -> None:
        """Load a checkpoint of this same configuration into the trainer (any state; between two
        steps when running). A bad, foreign or mismatched file raises TrainError and changes
        nothing."""
        staged = checkpoints.stage(checkpoints.read_checkpoint(data), self.task, self.optim, self.run.seed)
        self.with_model(lambda _model: self._install(staged))

    def load(self, path: str | Path) -> None:
        path = Path(path)
        if not path.is_file():
            raise TrainError("no_checkpoint", f"No checkpoint at {path}.", file=str(path))
        self.from_bytes(path.read_bytes())

    def _install(self, staged: checkpoints.Staged) -> None:
        """Copy a staged checkpoint in (caller holds the model lock); cannot fail after checkpoints.stage."""
        self.model.load_state_dict(staged.model_state)
        self.optimizer.load_state_dict(staged.optimizer_state)
        if self.scheduler is not None:
            self.scheduler.load_state_dict(staged.scheduler_state)
        self._step = self._public_step = staged.step
        self._steps = self._loop(start=staged.step)
        self._reset_interval()
        self.metrics.replace(list(staged.metrics))


def restore(data: bytes, run: RunConfig | None = None, device: torch.device | None = None) -> Trainer:
    """A new idle Trainer rebuilt from checkpoint bytes alone (task, settings, weights, step)."""
    blob = checkpoints.read_checkpoint(data)
    if blob["task"] not in TASKS:
        raise TrainError("wrong_task", f"Unknown task {blob['task']!r}.", got=str(blob["task"]),
                         expected=sorted(TASKS))
    try:
        config = config_from_dict(blob["task"], blob["config"])
        optim = TrainConfig(**blob["optim"])
        run = run if run is not None else RunConfig(seed=blob["seed"])
    except TrainError:
        raise
    except Exception as exc:  # unknown fields, values out of bounds
        raise TrainError("bad_checkpoint", f"The checkpoint's settings are invalid: {exc}",
                         reason=type(exc).__name__) from exc
    trainer = Trainer(make_task(blob["task"], config), optim, run, device)
    trainer._install(checkpoints.stage(blob, trainer.task, optim, trainer.run.seed))
    return trainer
