"""The one training loop: every model in the project is trained by run_steps.

    for each batch:   out = step_fn(model, batch)            the task's forward pass and loss
                      ∇ ← backward(out.loss)
                      ∇ ← ∇ · min(1, clip / ‖∇‖)             when clip > 0
                      θ ← optimiser(θ, ∇);  lr ← schedule

run_steps is a generator that takes one step per next(): engine.lab.trainer.Trainer pulls a step
whenever its controls allow one (from its worker thread), and the recipes that produce the shipped
checkpoints (engine.lab.tasks.cnn.train_seed_cnn, engine.lab.tasks.charlm.train_char_lm, run by
scripts/) simply exhaust it. TrainConfig is the optimiser and schedule of every run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn as nn

from engine.lab.schedule import SCHEDULES, geometric, one_cycle
from engine.limits import check_float

OPTIMIZERS = ("sgd", "momentum", "adam")


@dataclass(frozen=True)
class TrainConfig:
    """SGD, SGD with momentum, or Adam; a constant, one-cycle (peak `lr`) or geometric
    (`lr` → `lr_final`) learning rate; optional clipping of the gradient's norm."""

    optimizer: str = "adam"
    lr: float = 3e-3
    schedule: str = "one_cycle"
    momentum: float = 0.9  # used by "momentum" only
    weight_decay: float = 0.0
    clip: float = 0.0  # clip the gradient's norm to this; 0 = no clipping
    lr_final: float = 0.0  # used by "geometric" only

    def __post_init__(self):
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {SCHEDULES}, got {self.schedule!r}")
        for name in ("lr", "momentum", "weight_decay", "clip"):
            check_float(name, getattr(self, name))
        if self.schedule == "geometric":
            check_float("lr", self.lr_final)  # the final rate has the bounds of any rate
        elif self.lr_final != 0.0:
            raise ValueError("lr_final is used by the geometric schedule only; leave it 0")


@dataclass(frozen=True)
class StepOut:
    """One training step's result: the mean loss of the batch (differentiable), the number of
    examples in the batch, and sums to add up over a report interval on the device (correct
    predictions and how many were scored)."""

    loss: torch.Tensor
    samples: int
    sums: dict[str, Any] = field(default_factory=dict)


def make_optimizer(params, cfg: TrainConfig) -> torch.optim.Optimizer:
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    momentum = cfg.momentum if cfg.optimizer == "momentum" else 0.0
    return torch.optim.SGD(params, lr=cfg.lr, momentum=momentum, weight_decay=cfg.weight_decay)


def make_schedule(optimizer: torch.optim.Optimizer, cfg: TrainConfig, total_steps: int):
    """None for a constant rate; else the schedule over `total_steps` (one-cycle cycles the
    momentum except for plain SGD)."""
    if cfg.schedule == "constant":
        return None
    if cfg.schedule == "geometric":
        return geometric(optimizer, cfg.lr, cfg.lr_final, total_steps)
    return one_cycle(optimizer, cfg.lr, total_steps, cycle_momentum=cfg.optimizer != "sgd")


def optimizer_step(model: nn.Module, optimizer: torch.optim.Optimizer, loss: torch.Tensor,
                   clip: float = 0.0, scheduler=None) -> None:
    """One update of the weights from `loss`: backward, optional clipping, step, schedule."""
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if clip > 0:
        nn.utils.clip_grad_norm_(model.parameters(), clip)
    optimizer.step()
    if scheduler is not None:
        scheduler.step()


def run_steps(model: nn.Module, optimizer: torch.optim.Optimizer, batches: Iterable,
              step_fn: Callable[[nn.Module, Any], StepOut], clip: float = 0.0,
              scheduler=None) -> Iterator[StepOut]:
    """The training loop, one step per next(): yields each step's StepOut after the update."""
    for batch in batches:
        out = step_fn(model, batch)
        optimizer_step(model, optimizer, out.loss, clip, scheduler)
        yield out


def warm_up() -> None:
    """Build one optimiser: the first torch.optim construction imports torch._dynamo (1–2 s)."""
    torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=0.1)
