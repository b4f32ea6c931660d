"""A real data-parallel run: torch.distributed, the gloo backend, 2 processes on this machine.

Each rank builds the same seeded SeedCNN, takes its shard of every batch (rank r: n_r of the B
digits), runs forward and backward on it, and then does by hand what DistributedDataParallel does
inside: every gradient tensor is scaled by n_r/N and summed over the ranks with all_reduce(SUM),
so every rank holds ∇L = Σ_r (n_r/N) ∇L_r (equal halves: the sum divided by the world size).
Then each takes the same SGD step. After every step the ranks all_gather a flat copy of their
weights (they must be equal bit for bit), and rank 0 also trains a single-process copy on the
combined batch and measures the gap.

Rendezvous: tcp://127.0.0.1:<free port> by default, the same line that scales out to several
machines (tcp://<host of rank 0>:<port>, with world_size and each machine's rank); the port is
asked of the OS just before (a small race with another program is possible, and is reported as a
failed start). "file" uses file://<temp dir>/rendezvous instead: no port at all, but several
machines would need a shared file system. Loopback only: the rendezvous address is 127.0.0.1
and gloo's own connections are pinned to the loopback interface (GLOO_SOCKET_IFNAME).

`run_ddp` is a job target (engine.lab.jobs.Job): it runs in a job's child process, starts the
ranks with multiprocessing "spawn" and ends them on every path (done, error, time limit). Its
failures carry the jobs' own codes (job_timeout, job_failed, job_died), which every page
translates. It
imports no torch itself (the job needs no thread count: `Job(run_ddp, ..., threads=None)`).
"""

from __future__ import annotations

import multiprocessing as mp
import os
import queue as queue_mod
import socket
import tempfile
import time
from contextlib import nullcontext
from dataclasses import replace

from engine.lab.ddp_records import DDPConfig, DDPResult, RankSummary, StepRow
from engine.lab.jobs import without_main_import
from engine.limits import CodedError, check, check_float

DTYPES = ("float32", "float64")
_GRACE_S = 5.0  # a finished rank's time to exit before it is terminated


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def loopback_interface() -> str:
    """The loopback interface's name ("lo" on Linux, "lo0" on macOS), for GLOO_SOCKET_IFNAME."""
    names = [name for _, name in socket.if_nameindex()]
    return next((n for n in ("lo", "lo0") if n in names), next((n for n in names if n.startswith("lo")), "lo"))


def init_method(rendezvous: str, folder: str) -> str:
    if rendezvous == "tcp":
        return f"tcp://127.0.0.1:{free_port()}"
    if rendezvous == "file":
        return "file://" + os.path.join(folder, "rendezvous")
    raise CodedError("ddp_rendezvous", f"rendezvous must be tcp or file, got {rendezvous!r}", rendezvous=rendezvous)


def checked_config(steps: int, batch: int, dtype: str, **rest) -> DDPConfig:
    """The run's settings, bounded on the server (engine.limits)."""
    if dtype not in DTYPES:
        raise CodedError("ddp_dtype", f"dtype must be one of {DTYPES}, got {dtype!r}", dtype=dtype)
    cfg = DDPConfig(steps=check("ddp_steps", steps), batch=check("ddp_batch", batch), dtype=dtype, **rest)
    check_float("lr", cfg.lr)
    return cfg


def run_ddp(report, *, steps: int = 20, batch: int = 64, dtype: str = "float64", lr: float = 0.05,
            seed: int = 0, timeout_s: float = 60.0, rendezvous: str = "tcp", compare_ddp: bool = False) -> DDPResult:
    """Start 2 ranks, train S steps, gather what they measured; every rank is ended before return."""
    cfg = checked_config(steps, batch, dtype, lr=lr, seed=seed, timeout_s=float(timeout_s), rendezvous=rendezvous,
                         compare_ddp=bool(compare_ddp))
    ctx = mp.get_context("spawn")
    messages = ctx.Queue()
    interface = loopback_interface()
    t0 = time.perf_counter()
    # a folder only for the file rendezvous (a job that is killed leaves nothing behind otherwise)
    folder = tempfile.TemporaryDirectory(prefix="nml-ddp-") if cfg.rendezvous == "file" else nullcontext("")
    with folder as path:
        init = init_method(cfg.rendezvous, path)
        ranks = [ctx.Process(target=_rank_entry, name=f"nml-ddp-rank{r}", daemon=True,
                             args=(r, cfg, init, interface, messages, os.getpid()))
                 for r in range(cfg.world_size)]
        try:
            report(0, cfg.steps, "starting")
            with without_main_import():
                for p in ranks:
                    p.start()
            out = _collect(report, cfg, messages, ranks, t0)
            _end(ranks, _GRACE_S)
        finally:
            _end(ranks, 0.0)
            messages.cancel_join_thread()
            messages.close()
    return replace(out, init_method=init, interface=interface, total_s=time.perf_counter() - t0)


def _collect(report, cfg: DDPConfig, messages, ranks, t0: float) -> DDPResult:
    """Read the ranks' messages until every rank has finished; errors and the clock end it."""
    rows: list[StepRow] = []
    start_s = float("nan")
    summaries: dict[int, RankSummary] = {}
    run, ready = None, set()
    while len(summaries) < cfg.world_size:
        if time.perf_counter() > t0 + cfg.timeout_s:
            raise CodedError("job_timeout", f"the run did not finish in {cfg.timeout_s:.0f} s",
                             seconds=round(cfg.timeout_s))
        try:
            kind, *body = messages.get(timeout=0.2)
        except queue_mod.Empty:
            _check_alive(ranks, summaries)
            continue
        if kind == "ready":
            ready.add(body[0])
            if len(ready) == cfg.world_size:
                start_s = time.perf_counter() - t0
        elif kind == "step":
            rows.append(body[0])
            report(len(rows), cfg.steps, "training", partial=tuple(rows))
        elif kind == "run":
            run = body[0]
        elif kind == "done":
            summaries[body[0].rank] = body[0]
        else:  # "error"
            rank, message = body
            raise CodedError("job_failed", f"rank {rank} failed: {message}", error=f"rank {rank}: {message}")
    return replace(run, rows=tuple(rows), ranks=tuple(summaries[r] for r in sorted(summaries)), start_s=start_s)


def _check_alive(ranks, summaries) -> None:
    for r, p in enumerate(ranks):
        if r not in summaries and p.exitcode is not None:
            raise CodedError("job_died", f"rank {r} ended (exit code {p.exitcode}) before finishing",
                             exitcode=p.exitcode)


def _end(ranks, grace_s: float) -> None:
    """Every rank ends here: a finished one exits by itself within `grace_s`; the others are
    terminated, then killed."""
    deadline = time.monotonic() + grace_s
    for p in ranks:
        if p.pid is not None:
            p.join(timeout=max(0.0, deadline - time.monotonic()))
    for p in ranks:
        if p.pid is not None and p.is_alive():
            p.terminate()
            p.join(timeout=2)
        if p.pid is not None and p.is_alive():
            p.kill()
            p.join(timeout=2)


def shards(cfg: DDPConfig) -> tuple[int, ...]:
    """n_r for every rank: the combined batch split as evenly as it goes."""
    from engine.ops.data_parallel import shard_sizes

    return shard_sizes(cfg.batch, cfg.world_size, "even")


def _rank_entry(*args) -> None:
    """A rank process's first call. torch is imported here, in the rank, not in the job's process:
    that one only starts and watches the ranks, and starts sooner without it."""
    from engine.lab.ddp_rank import rank_main

    rank_main(*args)
