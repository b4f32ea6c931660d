"""Live training: a worker thread trains one task (engine.lab.tasks) while a page watches it.

The page never waits for training. The worker runs the usual loop

    loss = task.step(model, batch).loss;  ∇ ← backward(loss);  θ ← optimiser(θ, ∇);  lr ← schedule

and every `report_every` steps appends a record (mean loss, accuracy, learning rate, speed) to a
MetricBuffer that the page polls. Control goes the other way through threading.Event objects:
start, pause, a single step, resume and stop, each taking effect before the next step. The
worker makes no streamlit call (DESIGN.md, "Live training").

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

import io
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from engine.device import get_device
from engine.lab.loop import one_cycle
from engine.lab.tasks import (
    TASKS,
    Task,
    TrainError,
    config_dict,
    config_from_dict,
    make_task,
)
from engine.limits import MAX_CHECKPOINT_BYTES, MAX_TRAIN_BYTES, check, check_float

STATES = ("idle", "running", "paused", "stopped", "finished", "failed")
TERMINAL = ("stopped", "finished", "failed")
OPTIMIZERS = ("sgd", "momentum", "adam")
SCHEDULES = ("constant", "one_cycle")
FORMAT = "neural-math-lab/training-checkpoint"
VERSION = 1


# ----- settings -----------------------------------------------------------------------------


@dataclass(frozen=True)
class OptimConfig:
    """SGD, SGD with momentum, or Adam; a constant or one-cycle learning rate (peak `lr`)."""

    optimizer: str = "adam"
    lr: float = 3e-3
    schedule: str = "one_cycle"
    momentum: float = 0.9  # used by "momentum" only
    weight_decay: float = 0.0
    clip: float = 0.0  # clip the gradient's norm to this; 0 = no clipping

    def __post_init__(self):
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {SCHEDULES}, got {self.schedule!r}")
        for name in ("lr", "momentum", "weight_decay", "clip"):
            check_float(name, getattr(self, name))


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
    "cnn": OptimConfig("adam", 3e-3, "one_cycle"),
    "char": OptimConfig("adam", 4e-3, "one_cycle", clip=1.0),
    "seq": OptimConfig("adam", 3e-3, "one_cycle"),
}


def make_optimizer(params, cfg: OptimConfig) -> torch.optim.Optimizer:
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    momentum = cfg.momentum if cfg.optimizer == "momentum" else 0.0
    return torch.optim.SGD(params, lr=cfg.lr, momentum=momentum, weight_decay=cfg.weight_decay)


def make_schedule(optimizer: torch.optim.Optimizer, cfg: OptimConfig, total_steps: int):
    """None for a constant rate; else one-cycle over the run (momentum cycled except for plain SGD)."""
    if cfg.schedule == "constant":
        return None
    return one_cycle(optimizer, cfg.lr, epochs=1, steps_per_epoch=total_steps,
                     cycle_momentum=cfg.optimizer != "sgd")


def warm_up() -> None:
    """Build one optimiser: the first torch.optim construction imports torch._dynamo (1–2 s)."""
    torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=0.1)


# ----- metrics ------------------------------------------------------------------------------


class MetricBuffer:
    """Records (plain dicts) appended by the worker and read by the page, behind one lock.

    snapshot() returns copies, so a reader never sees a record change or the list grow under
    it. Only the newest `maxlen` records are kept; `total` counts every record ever appended.
    """

    def __init__(self, maxlen: int = 20_000):
        self._lock = threading.Lock()
        self._records: deque[dict] = deque(maxlen=maxlen)
        self._total = 0

    def append(self, record: Mapping[str, Any]) -> None:
        record = dict(record)
        with self._lock:
            self._records.append(record)
            self._total += 1

    def snapshot(self, kind: str | None = None) -> list[dict]:
        with self._lock:
            records = list(self._records)
        return [dict(r) for r in records if kind is None or r.get("kind") == kind]

    def replace(self, records: list[Mapping[str, Any]]) -> None:
        with self._lock:
            self._records.clear()
            self._records.extend(dict(r) for r in records)
            self._total = len(self._records)

    @property
    def total(self) -> int:
        with self._lock:
            return self._total

    def __len__(self) -> int:
        with self._lock:
            return len(self._records)


# ----- checkpoints --------------------------------------------------------------------------


def _plain(obj):
    """Tensors → contiguous CPU tensors, recursively (a checkpoint holds no device tensors)."""
    if torch.is_tensor(obj):
        return obj.detach().to("cpu").contiguous()
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return type(obj)(_plain(v) for v in obj)
    return obj


_REQUIRED = {"task": str, "config": dict, "optim": dict, "seed": int, "step": int, "model": dict,
             "optimizer": dict, "metrics": list}


def read_checkpoint(data: bytes) -> dict:
    """Parse checkpoint bytes with torch.load(weights_only=True) and check their outline.

    Raises TrainError: empty_checkpoint, checkpoint_too_big, bad_checkpoint (not a PyTorch file,
    damaged, or a pickle that wants to run code), foreign_checkpoint (a PyTorch file that is not
    a training-lab checkpoint, e.g. assets/seed_cnn.pt)."""
    if not data:
        raise TrainError("empty_checkpoint", "The checkpoint file is empty.")
    if len(data) > MAX_CHECKPOINT_BYTES:
        raise TrainError("checkpoint_too_big", "The checkpoint file is too large.",
                         size=len(data), limit=MAX_CHECKPOINT_BYTES)
    try:
        blob = torch.load(io.BytesIO(bytes(data)), map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for damaged or unsafe files
        raise TrainError("bad_checkpoint", f"The file is not a readable checkpoint ({type(exc).__name__}).",
                         reason=type(exc).__name__) from exc
    if not isinstance(blob, dict) or blob.get("format") != FORMAT:
        raise TrainError("foreign_checkpoint", "This file is not a training-lab checkpoint.")
    if blob.get("version") != VERSION:
        raise TrainError("bad_checkpoint", f"Unsupported checkpoint version {blob.get('version')!r}.",
                         reason="version")
    for key, kind in _REQUIRED.items():
        if not isinstance(blob.get(key), kind) or isinstance(blob.get(key), bool):
            raise TrainError("bad_checkpoint", f"The checkpoint's {key!r} is missing or malformed.", reason=key)
    if not all(isinstance(r, dict) for r in blob["metrics"]):
        raise TrainError("bad_checkpoint", "The checkpoint's metrics are malformed.", reason="metrics")
    return blob


@dataclass(frozen=True)
class _Staged:
    """A checkpoint checked against a trainer, ready to install."""

    model_state: dict
    optimizer_state: dict
    scheduler_state: dict | None
    step: int
    metrics: list


def _check_optimizer_state(optimizer: torch.optim.Optimizer) -> None:
    """Every per-parameter state tensor (momentum buffer, Adam's moments) has its parameter's shape."""
    for p, state in optimizer.state.items():
        for name, value in state.items():
            if torch.is_tensor(value) and name != "step" and value.shape != p.shape:
                raise TrainError("mismatch", "The checkpoint's optimiser state does not fit the model.",
                                 reason=f"optimizer.{name}")


# ----- the trainer --------------------------------------------------------------------------


class Trainer:
    """Trains `task` in a worker thread; the page calls start, pause, step_once, resume, stop,
    reads `metrics`, `state`, `reason`, `error`, and inspects the model with probe(), classify(),
    sample() or with_model(fn) between two steps."""

    def __init__(self, task: Task, optim: OptimConfig | None = None, run: RunConfig | None = None,
                 device: torch.device | None = None):
        self.task = task
        self.optim = optim if optim is not None else DEFAULT_OPTIM.get(task.kind, OptimConfig())
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
        self._batches = task.batches(self.run.seed, start=0)
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

    def _train_step(self, report: bool) -> None:
        start = time.perf_counter()
        out = self.task.step(self.model, next(self._batches))
        self.optimizer.zero_grad(set_to_none=True)
        out.loss.backward()
        if self.optim.clip > 0:
            nn.utils.clip_grad_norm_(self.model.parameters(), self.optim.clip)
        self.optimizer.step()
        if self.scheduler is not None:
            self.scheduler.step()
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
        """Append one "train" record: the interval's mean loss and accuracy (one host sync)."""
        names = sorted(self._acc_sums)
        values = [self._acc_loss] + [torch.as_tensor(self._acc_sums[k]) for k in names]
        read = torch.stack([v.to(self._acc_loss.device, torch.float32) for v in values]).tolist()
        self._tick(start)  # after the sync: the device has finished the interval's work
        sums = dict(zip(names, read[1:]))
        n = self._acc_steps
        record = {"kind": "train", "step": self._step, "epoch": self._step / self.task.steps_per_epoch,
                  # mean loss over the interval: (1/n) Σ_s L_s
                  "loss": read[0] / n, "lr": self.lr(), "seconds": self._active_s,
                  "samples_per_s": self._acc_samples / self._acc_s if self._acc_s > 0 else math.nan}
        if sums.get("total"):
            record["accuracy"] = sums["correct"] / sums["total"]
        self.metrics.append(record)
        self._reset_interval()

    def _evaluate(self) -> None:
        """Append an "eval" record (and the task's extras, e.g. a text sample); the time counts
        toward the budget but not toward samples/s."""
        start = time.perf_counter()
        metrics = self.task.evaluate(self.model)
        extras = self.task.extras(self.model, self._step)
        self._active_s += time.perf_counter() - start
        self.metrics.append({"kind": "eval", "step": self._step,
                             "epoch": self._step / self.task.steps_per_epoch,
                             "seconds": self._active_s, **metrics})
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

    def _checkpoint(self, model: nn.Module) -> dict:
        return {
            "format": FORMAT, "version": VERSION, "task": self.task.kind,
            "config": config_dict(self.task.config), "optim": asdict(self.optim),
            "seed": self.run.seed, "step": self._step,
            "model": {k: v.detach().to("cpu", torch.float32).contiguous() for k, v in model.state_dict().items()},
            "optimizer": _plain(self.optimizer.state_dict()),
            "scheduler": None if self.scheduler is None else _plain(self.scheduler.state_dict()),
            "metrics": self.metrics.snapshot(),
        }

    def to_bytes(self) -> bytes:
        """The whole run (weights, optimiser, schedule, step, metrics) as bytes to download."""
        blob = self.with_model(self._checkpoint)
        buffer = io.BytesIO()
        torch.save(blob, buffer)
        return buffer.getvalue()

    def save(self, path: str | Path) -> None:
        Path(path).write_bytes(self.to_bytes())

    def from_bytes(self, data: bytes) -> None:
        """Load a checkpoint of this same configuration into the trainer (any state; between two
        steps when running). A bad, foreign or mismatched file raises TrainError and changes
        nothing."""
        staged = self._stage(read_checkpoint(data))
        self.with_model(lambda _model: self._install(staged))

    def load(self, path: str | Path) -> None:
        path = Path(path)
        if not path.is_file():
            raise TrainError("no_checkpoint", f"No checkpoint at {path}.", file=str(path))
        self.from_bytes(path.read_bytes())

    def _stage(self, blob: dict) -> _Staged:
        """Check a parsed checkpoint against this trainer on fresh CPU copies; touches nothing."""
        if blob["task"] != self.task.kind:
            raise TrainError("wrong_task", f"This checkpoint is for the {blob['task']!r} task, not "
                             f"{self.task.kind!r}.", expected=self.task.kind, got=str(blob["task"]))
        mine = {**config_dict(self.task.config), **{f"optim.{k}": v for k, v in asdict(self.optim).items()}}
        theirs = {**blob["config"], **{f"optim.{k}": v for k, v in blob["optim"].items()}}
        differ = sorted(k for k in set(mine) | set(theirs) if mine.get(k, "∅") != theirs.get(k, "∅"))
        if differ:
            raise TrainError("mismatch", "The checkpoint was trained with other settings: "
                             + ", ".join(differ) + ".", fields=differ)
        step = blob["step"]
        if not 0 <= step <= self.task.total_steps:
            raise TrainError("bad_checkpoint", f"The checkpoint's step {step} is outside 0…{self.task.total_steps}.",
                             reason="step")
        model = self.task.make_model(self.run.seed)
        optimizer = make_optimizer(model.parameters(), self.optim)
        scheduler = make_schedule(optimizer, self.optim, self.task.total_steps)
        try:
            model.load_state_dict(blob["model"], strict=True)
        except Exception as exc:
            raise TrainError("mismatch", "The checkpoint's weights do not fit the model.",
                             reason=type(exc).__name__) from exc
        try:
            optimizer.load_state_dict(blob["optimizer"])
            if scheduler is not None:
                scheduler.load_state_dict(blob["scheduler"])
        except Exception as exc:
            raise TrainError("bad_checkpoint", "The checkpoint's optimiser or schedule state is damaged.",
                             reason=type(exc).__name__) from exc
        _check_optimizer_state(optimizer)
        return _Staged(model.state_dict(), optimizer.state_dict(),
                       None if scheduler is None else scheduler.state_dict(), step, list(blob["metrics"]))

    def _install(self, staged: _Staged) -> None:
        """Copy a staged checkpoint in (caller holds the model lock); cannot fail after _stage."""
        self.model.load_state_dict(staged.model_state)
        self.optimizer.load_state_dict(staged.optimizer_state)
        if self.scheduler is not None:
            self.scheduler.load_state_dict(staged.scheduler_state)
        self._step = self._public_step = staged.step
        self._batches = self.task.batches(self.run.seed, start=staged.step)
        self._reset_interval()
        self.metrics.replace(staged.metrics)


def restore(data: bytes, run: RunConfig | None = None, device: torch.device | None = None) -> Trainer:
    """A new idle Trainer rebuilt from checkpoint bytes alone (task, settings, weights, step)."""
    blob = read_checkpoint(data)
    if blob["task"] not in TASKS:
        raise TrainError("wrong_task", f"Unknown task {blob['task']!r}.", got=str(blob["task"]),
                         expected=sorted(TASKS))
    try:
        config = config_from_dict(blob["task"], blob["config"])
        optim = OptimConfig(**blob["optim"])
        run = run if run is not None else RunConfig(seed=blob["seed"])
    except TrainError:
        raise
    except Exception as exc:  # unknown fields, values out of bounds
        raise TrainError("bad_checkpoint", f"The checkpoint's settings are invalid: {exc}",
                         reason=type(exc).__name__) from exc
    trainer = Trainer(make_task(blob["task"], config), optim, run, device)
    trainer._install(trainer._stage(blob))
    return trainer
