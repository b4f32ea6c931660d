"""One rank of the data-parallel run (engine/lab/ddp.py): the process a `spawn` starts.

Every step, on every rank:

    compute     L_r = mean loss on the rank's shard (n_r of the B digits); backward → ∇L_r
    wait        a barrier: the ranks meet (the faster one waits for the slower one here)
    all-reduce  ∇L = Σ_r (n_r/N) ∇L_r: scale by n_r/N, then all_reduce(SUM), tensor by tensor
    step        θ ← θ − η·∇L  (the same update on every rank: their weights stay identical)

then, outside the timed phases, the ranks all_gather their weights (equal bit for bit?) and rank 0
takes the same step with a single-process copy trained on the combined batch.
"""

from __future__ import annotations

import copy
import hashlib
import os
import time
from datetime import timedelta

import torch
import torch.distributed as dist
import torch.nn as nn
import torch.nn.functional as F

from engine.data.digits import embedded_mnist
from engine.lab.ddp_records import (
    BucketComm,
    DDPConfig,
    DDPResult,
    PhaseTimes,
    RankSummary,
    StepRow,
    TensorComm,
)
from engine.models.cnn import seeded
from engine.ops.data_parallel import shard_sizes

COMM_REPS = 10  # repetitions of the communication study after training


def all_reduce_mean(model: nn.Module, n_r: int, N: int, seconds: dict[str, float] | None = None) -> None:
    """Replace every rank's ∇L_r by ∇L = Σ_r (n_r/N) ∇L_r, one all_reduce(SUM) per tensor.

    With equal shards n_r/N = 1/world_size: the sum divided by the world size, as
    DistributedDataParallel does. `seconds` (optional) adds each tensor's time to its entry."""
    for name, p in model.named_parameters():
        t = time.perf_counter()
        # ∇L = Σ_r (n_r/N) ∇L_r
        p.grad.mul_(n_r / N)
        dist.all_reduce(p.grad, op=dist.ReduceOp.SUM)
        if seconds is not None:
            seconds[name] = seconds.get(name, 0.0) + time.perf_counter() - t


@torch.no_grad()
def sgd_step(model: nn.Module, lr: float) -> None:
    """Plain SGD, what torch.optim.SGD(lr=η) does without momentum or weight decay."""
    for p in model.parameters():
        # θ ← θ − η·∇L
        p.add_(p.grad, alpha=-lr)


def backward(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Forward and backward of the mean cross-entropy on (x, y); the loss."""
    for p in model.parameters():
        p.grad = None
    L = F.cross_entropy(model(x), y)
    L.backward()
    return float(L.detach())


def flat(model: nn.Module) -> torch.Tensor:
    """All the weights as one vector θ (P,)."""
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()])


def batches(cfg: DDPConfig):
    """The combined batch of every step: B training digits, in a seeded order, wrapping around."""
    split = embedded_mnist()
    dtype = getattr(torch, cfg.dtype)
    x_all = torch.as_tensor(split.x_train, dtype=dtype)[:, None]  # (4000, 1, 28, 28)
    y_all = torch.as_tensor(split.y_train)
    N_all = x_all.shape[0]
    perm = torch.randperm(N_all, generator=torch.Generator().manual_seed(cfg.seed))
    for s in range(cfg.steps):
        idx = perm[(s * cfg.batch + torch.arange(cfg.batch)) % N_all]
        yield x_all[idx], y_all[idx]


def rank_main(rank: int, cfg: DDPConfig, init_method: str, interface: str, messages, parent_pid: int) -> None:
    """A rank's whole life: join the group, train, report, leave the group (on every path)."""
    os.environ["GLOO_SOCKET_IFNAME"] = interface  # gloo's connections on the loopback interface only
    torch.set_num_threads(1)  # two ranks share the machine's cores
    try:
        dist.init_process_group("gloo", init_method=init_method, rank=rank, world_size=cfg.world_size,
                                timeout=timedelta(seconds=cfg.timeout_s))
        messages.put(("ready", rank))
        _train(rank, cfg, messages, parent_pid)
    except BaseException as exc:  # noqa: BLE001 — every failure goes to the parent, then the rank ends
        messages.put(("error", rank, f"{type(exc).__name__}: {exc}"[:500]))
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


def _train(rank: int, cfg: DDPConfig, messages, parent_pid: int) -> None:
    W, N = cfg.world_size, cfg.batch
    n = shard_sizes(N, W, "even")
    lo = sum(n[:rank])
    model = seeded(cfg.seed).to(getattr(torch, cfg.dtype)).train()
    single = copy.deepcopy(model) if rank == 0 else None
    seconds: dict[str, float] = {}
    for s, (x, y) in enumerate(batches(cfg), start=1):
        if os.getppid() != parent_pid:
            raise RuntimeError("the job's process is gone")
        x_r, y_r = x[lo:lo + n[rank]], y[lo:lo + n[rank]]
        t = [time.perf_counter()]
        L_r = backward(model, x_r, y_r)
        t.append(time.perf_counter())
        dist.barrier()
        t.append(time.perf_counter())
        all_reduce_mean(model, n[rank], N, seconds)
        t.append(time.perf_counter())
        sgd_step(model, cfg.lr)
        t.append(time.perf_counter())
        row = _check_step(rank, s, model, single, x, y, cfg, n, L_r, t)
        if row is not None:
            messages.put(("step", row))
        dist.barrier()  # rank 1 waits here, untimed, while rank 0 trains the single-process copy
    if rank == 0:
        messages.put(("run", _run_record(cfg, n, model, seconds)))
    else:
        _comm_study(model)
    gap = _ddp_gap(model, x_r, y_r, n[rank], N) if cfg.compare_ddp else None
    messages.put(("done", RankSummary(rank, n[rank], _sha256(model), gap)))


def _check_step(rank, s, model, single, x, y, cfg, n, L_r, t) -> StepRow | None:
    """After step s: all_gather the ranks' weights and times; rank 0 compares and builds the row."""
    W, N = cfg.world_size, cfg.batch
    theta = flat(model)
    thetas = [torch.empty_like(theta) for _ in range(W)]
    dist.all_gather(thetas, theta)
    # [L_r·n_r/N, compute, wait, all-reduce, step] of this rank
    mine = torch.tensor([L_r * n[rank] / N, t[1] - t[0], t[2] - t[1], t[3] - t[2], t[4] - t[3]], dtype=torch.float64)
    stats = [torch.empty_like(mine) for _ in range(W)]
    dist.all_gather(stats, mine)
    if rank != 0:
        return None
    backward(single, x, y)
    sgd_step(single, cfg.lr)
    rank_gap = max(float((th - thetas[0]).abs().max()) for th in thetas)
    theta_single = flat(single)
    single_gap = float((theta - theta_single).abs().max())
    # ulp = nextafter(max|θ|, ∞) − max|θ|: the spacing of the dtype's numbers at the largest weight
    top = theta_single.abs().max()
    ulp = float(torch.nextafter(top, torch.tensor(float("inf"), dtype=top.dtype)) - top)
    # L = Σ_r (n_r/N) L_r
    loss = float(sum(st[0] for st in stats))
    times = tuple(PhaseTimes(*(float(v) for v in st[1:])) for st in stats)
    return StepRow(s, loss, rank_gap, single_gap, single_gap / ulp, times)


def _comm_study(model: nn.Module) -> BucketComm:
    """The same gradients' all-reduce, tensor by tensor and then as one flat bucket (COMM_REPS times)."""
    grads = [torch.zeros_like(p) for p in model.parameters()]
    bucket = torch.zeros(sum(g.numel() for g in grads), dtype=grads[0].dtype)
    per_tensor = one = 0.0
    for _ in range(COMM_REPS):
        dist.barrier()
        t = time.perf_counter()
        for g in grads:
            dist.all_reduce(g)
        per_tensor += time.perf_counter() - t
        dist.barrier()
        t = time.perf_counter()
        dist.all_reduce(bucket)
        one += time.perf_counter() - t
    return BucketComm(COMM_REPS, per_tensor / COMM_REPS, one / COMM_REPS)


def _run_record(cfg: DDPConfig, n, model: nn.Module, seconds: dict[str, float]) -> DDPResult:
    bucket = _comm_study(model)
    size = torch.finfo(getattr(torch, cfg.dtype)).bits // 8
    tensors = tuple(TensorComm(name, p.numel(), p.numel() * size, seconds[name] / cfg.steps)
                    for name, p in model.named_parameters())
    P = sum(p.numel() for p in model.parameters())
    return DDPResult(cfg, "", dist.get_backend(), "", tuple(n), P, (), tensors, bucket, (), 0.0, 0.0)


def _ddp_gap(model: nn.Module, x_r, y_r, n_r: int, N: int) -> float:
    """Our written-out all-reduce against DistributedDataParallel's, on the same weights and shard.

    DDP divides the summed gradients by the world size: equal to ours when the shards are equal.
    (Its constructor imports torch._dynamo: seconds, so the comparison is optional.)"""
    from torch.nn.parallel import DistributedDataParallel

    ours, theirs = copy.deepcopy(model), DistributedDataParallel(copy.deepcopy(model))
    backward(ours, x_r, y_r)
    all_reduce_mean(ours, n_r, N)
    backward(theirs, x_r, y_r)
    return max(float((a.grad - b.grad).abs().max())
               for a, b in zip(ours.parameters(), theirs.module.parameters(), strict=True))


def _sha256(model: nn.Module) -> str:
    return hashlib.sha256(flat(model).numpy().tobytes()).hexdigest()
