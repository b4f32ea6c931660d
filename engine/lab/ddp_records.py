"""What a real data-parallel run (engine/lab/ddp.py) reports: frozen records of plain numbers,
picklable, so they cross from the rank processes to the job's process and on to the page."""

from __future__ import annotations

import statistics
from dataclasses import dataclass

PHASES = ("compute", "wait", "all_reduce", "step")


@dataclass(frozen=True)
class DDPConfig:
    """One run: S steps of SGD on a combined batch of B digits split over the ranks."""

    steps: int = 20  # S
    batch: int = 64  # B, the combined batch (rank r gets n_r of them)
    dtype: str = "float64"  # "float32" or "float64"
    lr: float = 0.05  # η
    seed: int = 0  # the model's initialisation and the order of the digits
    world_size: int = 2
    timeout_s: float = 60.0  # the whole run, and every collective's own limit
    rendezvous: str = "tcp"  # "tcp": tcp://127.0.0.1:<free port>; "file": file://<temp dir>/rendezvous
    compare_ddp: bool = False  # also one backward through DistributedDataParallel (its import costs seconds)


@dataclass(frozen=True)
class PhaseTimes:
    """Seconds one rank spent in each phase of one step."""

    compute: float  # forward + backward on its shard
    wait: float  # a barrier: waiting for the slowest rank to finish its backward
    all_reduce: float  # scale by n_r/N, then all_reduce(SUM) of every gradient tensor
    step: float  # θ ← θ − η·ḡ

    @property
    def total(self) -> float:
        return self.compute + self.wait + self.all_reduce + self.step


@dataclass(frozen=True)
class StepRow:
    """One step as rank 0 saw it, with every rank's times."""

    step: int  # 1 … S
    loss: float  # the combined batch's mean loss, Σ_r (n_r/N) L_r, before the step
    rank_gap: float  # max over ranks and weights of |θ_r − θ_0| after the step: 0 means identical
    single_gap: float  # max |θ_0 − θ_single| against one process training on the combined batch
    single_ulps: float  # the same gap in units in the last place of the largest weight, ulp(max |θ|)
    times: tuple[PhaseTimes, ...]  # one per rank

    @property
    def identical(self) -> bool:
        return self.rank_gap == 0.0


@dataclass(frozen=True)
class TensorComm:
    """One gradient tensor's all-reduce: its size and its mean time per step (rank 0)."""

    name: str
    numel: int
    bytes: int
    seconds: float


@dataclass(frozen=True)
class BucketComm:
    """The same gradients reduced tensor by tensor, then as one flat bucket (DDP's bucketing)."""

    reps: int
    per_tensor_s: float  # mean time of the 10 all_reduce calls together
    one_bucket_s: float  # mean time of one all_reduce of all P values


@dataclass(frozen=True)
class RankSummary:
    """What a rank sends when it has finished."""

    rank: int
    n: int  # its shard's size n_r
    weights_sha256: str  # of its final weights' bytes
    ddp_grad_gap: float | None  # max |our all-reduced gradient − DistributedDataParallel's| on the
    # same weights and shard (None: not compared)


@dataclass(frozen=True)
class DDPResult:
    """A whole run: the configuration, every step, the communication study and each rank's summary."""

    config: DDPConfig
    init_method: str  # with the temp dir or port it used
    backend: str
    interface: str  # the network interface gloo used ("lo": loopback)
    n: tuple[int, ...]  # shard sizes n_r, Σ = B
    params: int  # P, values in one gradient
    rows: tuple[StepRow, ...]
    tensors: tuple[TensorComm, ...]
    bucket: BucketComm
    ranks: tuple[RankSummary, ...]
    start_s: float  # starting the rank processes and the rendezvous, before step 1
    total_s: float

    @property
    def identical(self) -> bool:
        """Were the ranks' weights equal bit for bit after every step?"""
        return all(r.identical for r in self.rows) and len({r.weights_sha256 for r in self.ranks}) == 1

    @property
    def single_gap(self) -> float:
        """max |θ_ddp − θ_single| after the last step."""
        return self.rows[-1].single_gap

    def median_times(self, rank: int | None = None) -> PhaseTimes:
        """The median of each phase over the steps after the first (which includes warm-up);
        `rank` None: the mean of the ranks."""
        rows = self.rows[1:] or self.rows
        ranks = range(len(rows[0].times)) if rank is None else (rank,)
        return PhaseTimes(*(statistics.median(
            statistics.fmean(getattr(r.times[k], phase) for k in ranks) for r in rows) for phase in PHASES))
