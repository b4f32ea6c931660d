"""The training service's metric records: what the worker appends and the page reads.

    TrainRecord   every `report_every` steps: the interval's mean loss (and accuracy), the
                  learning rate, the running time and the speed
    EvalRecord    every `eval_every` steps: held-out loss and accuracy (exact match for the toy
                  sequence tasks)
    SampleRecord  the char task's text sample taken at each evaluation

MetricBuffer keeps them behind one lock; snapshot() returns a MetricsSnapshot (immutable
tuples of frozen records), which a page reads once per tick. A checkpoint stores the records as
plain dicts with a "kind" key (as_dict / from_dict), so torch.load(weights_only=True) reads them.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from dataclasses import asdict, dataclass, fields
from typing import ClassVar


@dataclass(frozen=True)
class TrainRecord:
    kind: ClassVar[str] = "train"
    step: int
    epoch: float
    loss: float  # mean over the interval: (1/n) Σ_s L_s
    lr: float
    seconds: float  # running time so far (pauses excluded)
    samples_per_s: float = math.nan
    accuracy: float | None = None  # None when the task scores no predictions


@dataclass(frozen=True)
class EvalRecord:
    kind: ClassVar[str] = "eval"
    step: int
    epoch: float
    seconds: float
    held_out_loss: float
    held_out_accuracy: float | None = None
    exact_match: float | None = None  # the sequence tasks: every scored position right

    @property
    def score(self) -> float | None:
        """The headline accuracy: exact match where there is one, else held-out accuracy."""
        return self.exact_match if self.exact_match is not None else self.held_out_accuracy


@dataclass(frozen=True)
class SampleRecord:
    kind: ClassVar[str] = "sample"
    step: int
    temperature: float
    text: str


Record = TrainRecord | EvalRecord | SampleRecord
KINDS: dict[str, type] = {cls.kind: cls for cls in (TrainRecord, EvalRecord, SampleRecord)}


def as_dict(record: Record) -> dict:
    """Plain types with the kind, for a checkpoint or a table."""
    return {"kind": record.kind, **asdict(record)}


def from_dict(values: dict) -> Record:
    """The inverse of as_dict; unknown keys are ignored, a missing field or kind raises ValueError."""
    cls = KINDS.get(values.get("kind"))
    if cls is None:
        raise ValueError(f"unknown record kind {values.get('kind')!r}")
    names = {f.name for f in fields(cls)}
    try:
        return cls(**{k: v for k, v in values.items() if k in names})
    except TypeError as exc:
        raise ValueError(str(exc)) from exc


@dataclass(frozen=True)
class MetricsSnapshot:
    """Every kept record at one moment, split by kind, oldest first."""

    train: tuple[TrainRecord, ...] = ()
    evals: tuple[EvalRecord, ...] = ()
    samples: tuple[SampleRecord, ...] = ()
    total: int = 0  # records ever appended (older ones may have been dropped)

    @property
    def last_train(self) -> TrainRecord | None:
        return self.train[-1] if self.train else None

    @property
    def last_eval(self) -> EvalRecord | None:
        return self.evals[-1] if self.evals else None

    def records(self) -> list[Record]:
        """All records in step order (train before eval before sample at one step)."""
        order = {"train": 0, "eval": 1, "sample": 2}
        return sorted((*self.train, *self.evals, *self.samples), key=lambda r: (r.step, order[r.kind]))


class MetricBuffer:
    """Records appended by the worker and read by the page, behind one lock.

    The records are frozen, so snapshot() shares them without copying. Only the newest
    `maxlen` records are kept; `total` counts every record ever appended.
    """

    def __init__(self, maxlen: int = 20_000):
        self._lock = threading.Lock()
        self._records: deque[Record] = deque(maxlen=maxlen)
        self._total = 0

    def append(self, record: Record) -> None:
        if not isinstance(record, TrainRecord | EvalRecord | SampleRecord):
            raise TypeError(f"not a metric record: {type(record).__name__}")
        with self._lock:
            self._records.append(record)
            self._total += 1

    def snapshot(self) -> MetricsSnapshot:
        with self._lock:
            records, total = tuple(self._records), self._total
        return MetricsSnapshot(
            train=tuple(r for r in records if isinstance(r, TrainRecord)),
            evals=tuple(r for r in records if isinstance(r, EvalRecord)),
            samples=tuple(r for r in records if isinstance(r, SampleRecord)),
            total=total,
        )

    def replace(self, records: list[Record]) -> None:
        with self._lock:
            self._records.clear()
            self._records.extend(records)
            self._total = len(self._records)

    @property
    def total(self) -> int:
        with self._lock:
            return self._total

    def __len__(self) -> int:
        with self._lock:
            return len(self._records)
