"""The measurement run of the "Where the time goes" page: this machine's roof (the peak rate of a
float32 matrix multiply and the memory bandwidth of a long copy), SeedCNN's layers timed forward
and backward and placed under it, and training throughput (samples/s) against batch size, thread
count and memory layout — on the CPU and, when present, on a GPU.

`measure(report, **settings)` is a job target (engine/lab/jobs.Job): it runs in a child
process's main thread, so torch.set_num_threads is private to it; run in-process (run_inline) it
restores the thread count it found. It is bounded: items share a budget of `budget_s` seconds,
each gets warm-up calls before it is timed, and an item reached after the budget is spent is
skipped and named. It reports after every item, with the partial result, so a page can draw
while it runs. Timings are medians of repeats (the roof: the best of them, a peak).
"""

from __future__ import annotations

import copy
import math
import os
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import partial

import torch
import torch.nn as nn
import torch.nn.functional as F

from engine.device import accelerator, device_name, synchronize
from engine.limits import LimitError, check, check_float
from engine.models.cnn import SeedCNN, load_default, seeded
from engine.ops.cost import seed_cnn_costs

MIN_BLOCK_S = 2e-3  # a timed block runs a fast call several times, to be well above the timer's grain
CPU, GPU = "cpu", "gpu"


@dataclass(frozen=True)
class RateSample:
    """One roof measurement: a matmul of side n (FLOP/s) or a stream of `size` bytes (bytes/s)."""

    kind: str  # "matmul" or "copy"
    size: int  # matmul: n of n×n; copy: bytes moved per call (read + written)
    seconds: float  # the best time of one call
    rate: float  # FLOP/s or bytes/s


@dataclass(frozen=True)
class LayerTime:
    """One layer of SeedCNN, one pass, at batch N: its time and the rate it attained."""

    name: str
    direction: str  # "forward" or "backward"
    N: int
    seconds: float  # median time of one pass
    flops: int  # from engine.ops.cost (pooling: its comparisons)
    bytes: int
    intensity: float  # FLOP/byte

    @property
    def rate(self) -> float:
        """Attained FLOP/s = FLOPs / time."""
        # rate = FLOPs / t
        return self.flops / self.seconds

    @property
    def traffic_rate(self) -> float:
        """The bytes/s its minimal traffic implies: bytes / time."""
        # traffic rate = bytes / t
        return self.bytes / self.seconds


@dataclass(frozen=True)
class Throughput:
    """Training throughput: forward, cross-entropy, backward and one SGD step on a batch."""

    on: str  # "cpu" or "gpu"
    batch: int
    threads: int  # torch's intra-op threads (CPU)
    channels_last: bool
    step_s: float  # median time of one step

    @property
    def samples_per_s(self) -> float:
        # samples/s = B / t_step
        return self.batch / self.step_s


@dataclass(frozen=True)
class Measurement:
    """Everything one run measured; a partial one has fewer entries (the same type)."""

    cpu_name: str
    cores: int  # logical CPUs (os.cpu_count)
    threads: tuple[int, ...]  # the thread counts compared; the last one ran everything else
    layer_batch: int  # N of the timed layers
    layout_batch: int  # the batch of the thread and layout comparisons
    gpu_name: str | None  # None: no GPU present (or not asked for)
    roof: tuple[RateSample, ...] = ()
    layers: tuple[LayerTime, ...] = ()
    batch_sweep: tuple[Throughput, ...] = ()  # CPU, all threads, default layout
    thread_sweep: tuple[Throughput, ...] = ()
    layout: tuple[Throughput, ...] = ()  # default and channels_last
    gpu_roof: tuple[RateSample, ...] = ()
    gpu_sweep: tuple[Throughput, ...] = ()
    skipped: tuple[str, ...] = ()  # items the budget cut
    elapsed_s: float = 0.0

    @property
    def peak(self) -> float:
        """π: the best matmul rate (FLOP/s), nan before one is measured."""
        return max((s.rate for s in self.roof if s.kind == "matmul"), default=math.nan)

    @property
    def bandwidth(self) -> float:
        """β: the best streaming rate (bytes/s), nan before one is measured."""
        return max((s.rate for s in self.roof if s.kind == "copy"), default=math.nan)

    @property
    def gpu_peak(self) -> float:
        return max((s.rate for s in self.gpu_roof if s.kind == "matmul"), default=math.nan)

    @property
    def gpu_bandwidth(self) -> float:
        return max((s.rate for s in self.gpu_roof if s.kind == "copy"), default=math.nan)


@dataclass(frozen=True)
class _Item:
    stage: str  # roof, layers, batch, threads, layout, gpu
    field: str  # the Measurement field it appends to
    threads: int
    run: Callable[[float], tuple]  # share of the budget (s) → the entries it adds
    label: str = field(default="")


# ----- timing ------------------------------------------------------------------------------------

def time_call(fn: Callable[[], object], device: torch.device, *, repeats: int, budget_s: float,
              best: bool = False, warmup: int = 2) -> float:
    """Seconds per call of fn: `warmup` untimed calls (first calls pay for lazy set-up), then
    timed blocks, each long enough for the clock, until `repeats` are done or `budget_s` is spent
    (at least one); the median, or the best when `best` (a peak)."""
    end = time.perf_counter() + budget_s
    last = 0.0
    for k in range(max(1, warmup)):
        if k > 0 and last > budget_s / 4:  # a slow call: one warm-up is all the budget allows
            break
        t0 = time.perf_counter()
        fn()
        synchronize(device)
        last = time.perf_counter() - t0
    inner = max(1, min(1000, math.ceil(MIN_BLOCK_S / max(last, 1e-9))))
    times: list[float] = []
    while len(times) < repeats and (not times or time.perf_counter() < end):
        t0 = time.perf_counter()
        for _ in range(inner):
            fn()
        synchronize(device)
        times.append((time.perf_counter() - t0) / inner)
    return min(times) if best else statistics.median(times)


def matmul_rate(n: int, device: torch.device, *, repeats: int, budget_s: float) -> RateSample:
    """The best rate of C = A·B for float32 n×n matrices: 2n³ FLOPs per call."""
    # the values do not change the speed (no zeros, no denormals): made on the device, no host copy
    A, B = torch.full((n, n), 0.5, device=device), torch.full((n, n), 0.25, device=device)
    C = torch.empty(n, n, device=device)
    seconds = time_call(lambda: torch.mm(A, B, out=C), device, repeats=repeats, budget_s=budget_s, best=True)
    # FLOPs = 2·n³
    return RateSample("matmul", n, seconds, 2 * n**3 / seconds)


def copy_rate(nbytes: int, device: torch.device, *, repeats: int, budget_s: float) -> RateSample:
    """The best rate of dst ← src for two float32 arrays of nbytes each: 2·nbytes moved per call."""
    src = torch.ones(nbytes // 4, device=device)
    dst = torch.empty_like(src)
    seconds = time_call(lambda: dst.copy_(src), device, repeats=repeats, budget_s=budget_s, best=True)
    # bytes moved = read src + write dst
    moved = 2 * src.numel() * 4
    return RateSample("copy", moved, seconds, moved / seconds)


# ----- SeedCNN's layers, one at a time ------------------------------------------------------------

def _layer_fn(model: SeedCNN, name: str) -> Callable[[torch.Tensor], torch.Tensor]:
    """The layer as the forward pass runs it, ReLU folded in where the model has one."""
    if name.startswith("pool"):
        return partial(F.max_pool2d, kernel_size=2)
    module = getattr(model, name)
    return module if name == "fc2" else (lambda x: F.relu(module(x)))


def layer_times(model: SeedCNN, name: str, N: int, *, repeats: int, budget_s: float) -> tuple[LayerTime, LayerTime]:
    """Forward and backward time of one layer on N inputs of its shape (CPU, float32)."""
    row = seed_cnn_costs(model, N).layer(name)
    g = torch.Generator().manual_seed(N)
    x = torch.rand(N, *row.x_shape, generator=g).requires_grad_(name != "conv1")
    fn = _layer_fn(model, name)
    cpu = torch.device(CPU)
    t_fwd = time_call(lambda: fn(x), cpu, repeats=repeats, budget_s=budget_s / 2)
    y = fn(x)
    dy = torch.randn(y.shape, generator=g)
    wrt = [t for t in (x, *getattr(model, name, nn.Identity()).parameters()) if t.requires_grad]
    # backward alone: the graph of one forward pass, kept, differentiated again and again
    t_bwd = time_call(lambda: torch.autograd.grad(y, wrt, dy, retain_graph=True), cpu,
                      repeats=repeats, budget_s=budget_s / 2)
    return (LayerTime(name, "forward", N, t_fwd, row.forward.flops, row.forward.bytes, row.forward.intensity),
            LayerTime(name, "backward", N, t_bwd, row.backward.flops, row.backward.bytes, row.backward.intensity))


# ----- training throughput ------------------------------------------------------------------------

def train_step_time(model: SeedCNN, B: int, device: torch.device, *, channels_last: bool = False,
                    repeats: int, budget_s: float, lr: float = 0.01, warmup: int = 2) -> float:
    """Median seconds of one training step on B random images: forward, mean cross-entropy,
    backward, and the SGD step θ ← θ − η·g (written out: torch.optim's first use is slow)."""
    model = copy.deepcopy(model).to(device).train()
    g = torch.Generator().manual_seed(B)
    x = torch.rand(B, 1, 28, 28, generator=g).to(device)
    y = torch.randint(0, 10, (B,), generator=g).to(device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    params = list(model.parameters())

    def step() -> None:
        loss = F.cross_entropy(model(x), y)
        grads = torch.autograd.grad(loss, params)
        with torch.no_grad():
            for p, dp in zip(params, grads):
                # θ ← θ − η·g
                p.sub_(lr * dp)

    return time_call(step, device, repeats=repeats, budget_s=budget_s, warmup=warmup)


def _throughput(model, on: str, device, B: int, threads: int, channels_last: bool, repeats: int):
    return lambda share: (Throughput(on, B, threads, channels_last,
                                     train_step_time(model, B, device, channels_last=channels_last,
                                                     repeats=repeats, budget_s=share)),)


# ----- the run -------------------------------------------------------------------------------------

def cpu_name() -> str:
    """The processor's model name (Linux's /proc/cpuinfo), else what platform knows."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "CPU"


def _thread_counts(threads, cores: int) -> tuple[int, ...]:
    """The thread counts to compare, checked: each in roof_threads and at most the cores."""
    wanted = (1, cores) if threads is None else tuple(threads)
    if not wanted:
        raise LimitError(name="roof_threads", value=0, low=1, high=cores)
    for n in wanted:
        check("roof_threads", n)
        if n > cores:
            raise LimitError(name="roof_threads", value=n, low=1, high=cores)
    return tuple(sorted(set(wanted)))


@dataclass(frozen=True)
class _Settings:
    batch_sizes: tuple[int, ...]
    layer_batch: int
    layout_batch: int
    threads: tuple[int, ...]
    matmul_sizes: tuple[int, ...]
    stream_bytes: int
    gpu: torch.device | None
    gpu_matmul_sizes: tuple[int, ...]
    gpu_stream_bytes: int
    repeats: int


def _plan(model, s: _Settings) -> list[_Item]:
    cpu, top, r = torch.device(CPU), s.threads[-1], s.repeats
    items = [_Item("roof", "roof", top, partial(lambda n, share: (matmul_rate(n, cpu, repeats=r, budget_s=share),), n),
                   f"matmul {n}") for n in s.matmul_sizes]
    items.append(_Item("roof", "roof", top, lambda share: (copy_rate(s.stream_bytes, cpu, repeats=r, budget_s=share),),
                       "copy"))
    items += [_Item("layers", "layers", top, partial(lambda name, share: layer_times(
        model, name, s.layer_batch, repeats=r, budget_s=share), name), name)
        for name in ("conv1", "pool1", "conv2", "pool2", "conv3", "fc1", "fc2")]
    items += [_Item("threads", "thread_sweep", n, _throughput(model, CPU, cpu, s.layout_batch, n, False, r),
                    f"threads={n}") for n in s.threads]
    items += [_Item("layout", "layout", top, _throughput(model, CPU, cpu, s.layout_batch, top, cl, r),
                    "channels_last" if cl else "NCHW") for cl in (False, True)]
    # the batch sweep last, smallest first: if the budget runs out, it cuts the largest batches
    items += [_Item("batch", "batch_sweep", top, _throughput(model, CPU, cpu, B, top, False, r), f"B={B}")
              for B in sorted(s.batch_sizes)]
    if s.gpu is not None:
        items += _gpu_plan(model, s)
    return items


def _gpu_plan(model, s: _Settings) -> list[_Item]:
    gpu, top, r = s.gpu, s.threads[-1], s.repeats
    items = [_Item("gpu", "gpu_roof", top, partial(lambda n, share: (matmul_rate(n, gpu, repeats=r, budget_s=share),), n),
                   f"gpu matmul {n}") for n in s.gpu_matmul_sizes]
    items.append(_Item("gpu", "gpu_roof", top,
                       lambda share: (copy_rate(s.gpu_stream_bytes, gpu, repeats=r, budget_s=share),), "gpu copy"))
    items += [_Item("gpu", "gpu_sweep", top, _throughput(model, GPU, gpu, B, top, False, r), f"gpu B={B}")
              for B in s.batch_sizes]
    return items


def measure(report, *, batch_sizes=(1, 8, 32, 128, 512), layer_batch: int = 128, layout_batch: int = 128,
            threads=None, include_cuda: bool = True, budget_s: float = 25.0, matmul_sizes=(256, 512, 1024),
            stream_mib: float = 128, gpu_matmul_sizes=(2048, 4096, 8192), gpu_stream_mib: float = 512,
            repeats: int = 5) -> Measurement:
    """The whole measurement (the job's target); report(done, total, stage, partial) after every item.

    threads: the torch thread counts compared (default 1 and every logical core); the roof, the
    layers, the batch sweep and the layouts run with the largest. Sizes a learner sets are bounded
    (roof_batch, roof_threads, roof_budget_s) and refused with a LimitError."""
    started = time.perf_counter()
    cores = os.cpu_count() or 1
    gpu = accelerator() if include_cuda else None
    s = _Settings(tuple(check("roof_batch", B) for B in batch_sizes), check("roof_batch", layer_batch),
                  check("roof_batch", layout_batch), _thread_counts(threads, cores),
                  tuple(matmul_sizes), int(stream_mib * 2**20), gpu, tuple(gpu_matmul_sizes),
                  int(gpu_stream_mib * 2**20), max(1, int(repeats)))
    deadline = started + check_float("roof_budget_s", budget_s)
    model = load_default() or seeded(0)
    # the process's first backward pass starts autograd's machinery (a second or more): not a layer's cost
    train_step_time(model, 2, torch.device(CPU), repeats=1, budget_s=0.0, warmup=1)
    result = Measurement(cpu_name(), cores, s.threads, s.layer_batch, s.layout_batch,
                         device_name(gpu) if gpu is not None else None)
    plan = _plan(model, s)
    threads_before = torch.get_num_threads()
    try:
        for i, item in enumerate(plan):
            left = deadline - time.perf_counter()
            if left <= 0:
                result = replace(result, skipped=result.skipped + (item.label,))
            else:
                torch.set_num_threads(item.threads)
                entries = item.run(left / (len(plan) - i))
                result = replace(result, **{item.field: getattr(result, item.field) + tuple(entries)})
            result = replace(result, elapsed_s=time.perf_counter() - started)
            report(i + 1, len(plan), item.stage, result)
    finally:
        torch.set_num_threads(threads_before)
    return result
