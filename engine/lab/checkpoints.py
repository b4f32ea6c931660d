"""Training-lab checkpoints: the whole run (task, settings, weights, optimiser, schedule, step,
metrics) as bytes, read back safely.

Reading uses torch.load(weights_only=True) on at most engine.limits.MAX_CHECKPOINT_BYTES, checks
the outline, then stages the file on fresh CPU copies of the model, optimiser and schedule; only
a staged checkpoint is installed, so a bad, foreign or mismatched file changes nothing.
"""

from __future__ import annotations

import io
from dataclasses import MISSING, asdict, dataclass, fields

import torch
import torch.nn as nn

from engine.lab import records
from engine.lab.loop import TrainConfig, make_optimizer, make_schedule
from engine.lab.records import Record
from engine.lab.tasks import Task, TrainError, config_dict
from engine.limits import MAX_CHECKPOINT_BYTES

FORMAT = "neural-math-lab/training-checkpoint"
VERSION = 1
_REQUIRED = {"task": str, "config": dict, "optim": dict, "seed": int, "step": int, "model": dict,
             "optimizer": dict, "metrics": list}


def _plain(obj):
    """Tensors → contiguous CPU tensors, recursively (a checkpoint holds no device tensors)."""
    if torch.is_tensor(obj):
        return obj.detach().to("cpu").contiguous()
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return type(obj)(_plain(v) for v in obj)
    return obj


@dataclass(frozen=True)
class RunState:
    """What a checkpoint holds besides the task's kind: the settings and the live objects."""

    task: Task
    optim: TrainConfig
    seed: int
    step: int
    model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: object | None
    metrics: tuple[Record, ...]


def to_bytes(run: RunState) -> bytes:
    """torch.save of plain types only (tensors, str, int, float, dict, list)."""
    blob = {
        "format": FORMAT, "version": VERSION, "task": run.task.kind,
        "config": config_dict(run.task.config), "optim": asdict(run.optim),
        "seed": run.seed, "step": run.step,
        "model": {k: v.detach().to("cpu", torch.float32).contiguous() for k, v in run.model.state_dict().items()},
        "optimizer": _plain(run.optimizer.state_dict()),
        "scheduler": None if run.scheduler is None else _plain(run.scheduler.state_dict()),
        "metrics": [records.as_dict(r) for r in run.metrics],
    }
    buffer = io.BytesIO()
    torch.save(blob, buffer)
    return buffer.getvalue()


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
class Staged:
    """A checkpoint checked against a trainer, ready to install."""

    model_state: dict
    optimizer_state: dict
    scheduler_state: dict | None
    step: int
    metrics: tuple[Record, ...]


def _check_optimizer_state(optimizer: torch.optim.Optimizer) -> None:
    """Every per-parameter state tensor (momentum buffer, Adam's moments) has its parameter's shape."""
    for p, state in optimizer.state.items():
        for name, value in state.items():
            if torch.is_tensor(value) and name != "step" and value.shape != p.shape:
                raise TrainError("mismatch", "The checkpoint's optimiser state does not fit the model.",
                                 reason=f"optimizer.{name}")


def _with_defaults(saved: dict, config) -> dict:
    """A checkpoint saved before a setting existed (e.g. CnnConfig.dropout) has no value for it:
    it was trained with that setting's default."""
    defaults = {f.name: f.default for f in fields(config) if f.default is not MISSING}
    return {**defaults, **saved}


def _check_settings(blob: dict, task: Task, optim: TrainConfig) -> None:
    if blob["task"] != task.kind:
        raise TrainError("wrong_task", f"This checkpoint is for the {blob['task']!r} task, not "
                         f"{task.kind!r}.", expected=task.kind, got=str(blob["task"]))
    mine = {**config_dict(task.config), **{f"optim.{k}": v for k, v in asdict(optim).items()}}
    theirs = {**_with_defaults(blob["config"], task.config), **{f"optim.{k}": v for k, v in blob["optim"].items()}}
    differ = sorted(k for k in set(mine) | set(theirs) if mine.get(k, "∅") != theirs.get(k, "∅"))
    if differ:
        raise TrainError("mismatch", "The checkpoint was trained with other settings: "
                         + ", ".join(differ) + ".", fields=differ)
    if not 0 <= blob["step"] <= task.total_steps:
        raise TrainError("bad_checkpoint", f"The checkpoint's step {blob['step']} is outside "
                         f"0…{task.total_steps}.", reason="step")


def _metrics(blob: dict) -> tuple[Record, ...]:
    try:
        return tuple(records.from_dict(r) for r in blob["metrics"])
    except ValueError as exc:
        raise TrainError("bad_checkpoint", "The checkpoint's metrics are malformed.", reason="metrics") from exc


def stage(blob: dict, task: Task, optim: TrainConfig, seed: int) -> Staged:
    """Check a parsed checkpoint against a run of `task` with `optim` on fresh CPU copies;
    touches nothing of the live run."""
    _check_settings(blob, task, optim)
    model = task.make_model(seed)
    optimizer = make_optimizer(model.parameters(), optim)
    scheduler = make_schedule(optimizer, optim, task.total_steps)
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
    return Staged(model.state_dict(), optimizer.state_dict(),
                  None if scheduler is None else scheduler.state_dict(), blob["step"], _metrics(blob))
