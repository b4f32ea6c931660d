"""What every training task shares: its error type, its seeds, its memory estimate, its interface.

A task knows its data, its model and its loss; engine.lab.trainer.Trainer drives the loop
(engine.lab.loop.run_steps), the optimiser, the thread and the checkpoints. Every task is seeded
the same way: the model's initial weights come from the run's seed, and batch s of the run from
sub_seed(seed, tag, s), so a run repeats bit for bit on the CPU and can resume at any step (a
checkpoint stores only the step).

Nothing is allocated when a task is constructed: its config is checked against engine.limits and
estimate() computes the memory from the config alone, so an oversized run is refused before any
tensor exists; prepare(device) then loads the data.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any, ClassVar, Protocol

import numpy as np
import torch
import torch.nn as nn

from engine.lab.loop import StepOut


class TrainError(Exception):
    """A problem with a training run or a checkpoint; `code` and `params` let a page translate it."""

    def __init__(self, code: str, message: str, **params):
        self.code = code
        self.params = params
        super().__init__(message)


# ----- seeds --------------------------------------------------------------------------------

# tags that keep the streams of random numbers apart
ORDER, AUGMENT, BATCH = 1, 2, 3
HELD_OUT_SEED = 20_240  # the toy tasks' held-out sequences are the same for every run


def sub_seed(seed: int, *keys: int) -> int:
    """A seed for one (seed, keys…), e.g. (run seed, BATCH, step); streams for different keys
    are independent (numpy's SeedSequence hashes them)."""
    state = np.random.SeedSequence([int(seed), *map(int, keys)]).generate_state(1, np.uint64)[0]
    return int(state >> np.uint64(1))  # 63 bits: torch.Generator.manual_seed takes an int64


def generator(seed: int, *keys: int) -> torch.Generator:
    """A CPU generator seeded with sub_seed(seed, *keys)."""
    return torch.Generator().manual_seed(sub_seed(seed, *keys))


def seeded(seed: int, build):
    """build() with torch's global RNG seeded by `seed`, restored afterwards (global state untouched)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        return build()


# ----- the interface ------------------------------------------------------------------------


@dataclass(frozen=True)
class MemoryEstimate:
    """What a run will hold in memory, from its config alone (float32 everywhere).

    16 bytes per parameter: the weight, its gradient and Adam's two moments (4 bytes each; SGD
    needs less, so this is an upper bound). A training example keeps A activations for the
    backward pass and gets a gradient of the same size: 8·A bytes per example, B examples a
    step. Evaluation runs E examples at a time forward only: 4·A bytes each. D is the data
    kept on the device.
    """

    P: int  # learnable parameters
    A: int  # activations one example keeps (floats)
    B: int  # training batch size
    E: int  # examples per evaluation chunk
    D: int  # bytes of data on the device

    @property
    def bytes(self) -> int:
        # M = 16·P + 4·A·max(2·B, E) + D
        return 16 * self.P + 4 * self.A * max(2 * self.B, self.E) + self.D

    def as_params(self) -> dict[str, int]:
        return {**asdict(self), "bytes": self.bytes}


class Task(Protocol):
    kind: ClassVar[str]
    config: Any

    @property
    def total_steps(self) -> int: ...
    @property
    def steps_per_epoch(self) -> int: ...
    @property
    def batch_size(self) -> int: ...
    def estimate(self) -> MemoryEstimate: ...
    def prepare(self, device: torch.device) -> None: ...
    def make_model(self, seed: int, device: torch.device | None = None) -> nn.Module: ...
    def batches(self, seed: int, start: int = 0) -> Iterator: ...
    def step(self, model: nn.Module, batch) -> StepOut: ...
    def evaluate(self, model: nn.Module) -> dict[str, float]: ...
    def extras(self, model: nn.Module, step: int) -> list: ...
    def probe(self, model: nn.Module) -> dict[str, torch.Tensor]: ...


# Per-step host → device copies use non_blocking=True: torch then does not wait for the device
# to finish its queued work (a blocking copy synchronises the stream every step). The source
# tensors are small and freshly made, and CUDA stages pageable memory before returning.


def device_of(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


class Prepared:
    """Shared by the tasks: the device the data went to, and a clear error before prepare()."""

    _device: torch.device | None = None

    def _need_data(self) -> None:
        if self._device is None:
            raise TrainError("not_prepared", "prepare(device) must run before the task is used.")


class StepsFromConfig:
    """For the tasks whose config names the batch size `B` and the run's `steps` (one epoch is
    the whole run: the batches are drawn, not iterated)."""

    config: object

    @property
    def batch_size(self) -> int:
        return self.config.B

    @property
    def steps_per_epoch(self) -> int:
        return self.config.steps

    @property
    def total_steps(self) -> int:
        return self.config.steps
