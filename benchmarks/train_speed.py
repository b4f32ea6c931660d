"""Training speed: the training lab's Trainer (engine.lab.trainer) on the article's CNN, measured
against references in the same run.

(a) samples/s of the Trainer against a bare PyTorch loop (written out below) on the
    same model, data, batch size, optimiser and schedule; goal: ratio ≥ 0.95. Neither side
    evaluates (the Trainer's task here skips its held-out pass). The bare loop runs twice: in
    the main thread, and in a worker thread as the Trainer does (and as Streamlit runs every
    page script); the second isolates the Trainer's own cost from the cost of computing in
    another thread (OpenMP's thread teams). Runs are interleaved, the order rotating each round.
    Reported: the ratio of the best runs (other processes only ever slow a run down, so each
    side's fastest run is its least disturbed), the median of the per-round ratios, and the
    same per CPU-second of the process. On the CPU it is repeated with one intra-op thread (a1),
    where CPU time measures the Trainer's own per-step cost without OpenMP or other processes
    in the way.
(b) held-out accuracy the Trainer reaches on the embedded digits (engine.data.digits.embedded_mnist)
    within a 10 s training budget, with random-affine augmentation and a one-cycle rate; goal
    ≥ 0.985. The epochs are sized from a one-epoch calibration run just before, so the cycle
    fits the budget; the held-out set is evaluated once, at the end.
(c) samples/s against the article's own Keras code, only when TensorFlow is importable (never
    installed by this script); otherwise a line says it was skipped.

    .venv/bin/python benchmarks/train_speed.py                 # make bench-train
    .venv/bin/python benchmarks/train_speed.py --repeats 7 --epochs 2 --budget 10 --json out.json

A benchmark, not a test: it prints tables and exits 0. The figures depend on what else the
machine is doing; the "cpu ref" (a fixed forward/backward job) is timed before and after.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import platform
import statistics
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from engine.data.augment import AugmentConfig, random_affine  # noqa: E402
from engine.data.digits import embedded_mnist  # noqa: E402
from engine.device import configure_threads, device_name, get_device  # noqa: E402
from engine.lab.loop import TrainConfig, warm_up  # noqa: E402
from engine.lab.schedule import one_cycle  # noqa: E402
from engine.lab.tasks import CnnConfig, CnnTask  # noqa: E402
from engine.lab.tasks.cnn import as_batch, new_model  # noqa: E402
from engine.lab.trainer import RunConfig, Trainer  # noqa: E402

GOAL_RATIO = 0.95
GOAL_ACCURACY = 0.985
LR = 3e-3


def sync(device: torch.device) -> None:
    if device.type != "cpu":
        torch.accelerator.synchronize()


def cpu_reference(device: torch.device, repeats: int = 5) -> float:
    """Seconds for a fixed job (the CNN's forward + backward on 64 images, 5 times): the
    machine's speed at this moment."""
    model = new_model(0).to(device, memory_format=torch.channels_last)
    x = torch.rand(64, 1, 28, 28, generator=torch.Generator().manual_seed(0)).to(device)
    x = x.contiguous(memory_format=torch.channels_last)
    y = torch.arange(64).remainder(10).to(device)
    sync(device)
    start = time.perf_counter()
    for _ in range(repeats):
        F.cross_entropy(model(x), y).backward()
    sync(device)
    return time.perf_counter() - start


class _Clock:
    """Wall-clock and process CPU seconds between start() and stop()."""

    def __init__(self, device: torch.device):
        self.device = device

    def start(self) -> _Clock:
        sync(self.device)
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def stop(self) -> tuple[float, float]:
        sync(self.device)
        return time.perf_counter() - self.wall, time.process_time() - self.cpu


@dataclass(frozen=True)
class Timed:
    """One timed run: wall-clock and process CPU seconds, and the samples it trained on."""

    wall: float
    cpu: float
    samples: int


def bare_epoch(model, opt, sched, x: torch.Tensor, y: torch.Tensor, batch_size: int,
               augment: AugmentConfig | None, generator: torch.Generator) -> None:
    """One epoch of plain PyTorch, the reference: seeded order, augmentation, channels_last,
    cross-entropy, Adam, the schedule — no records, no thread, no control."""
    model.train()
    order = torch.randperm(x.shape[0], generator=generator)
    for start in range(0, x.shape[0], batch_size):
        idx = order[start: start + batch_size]
        xb, yb = x[idx], y[idx]
        if augment is not None:
            xb = random_affine(xb, augment, generator)
        xb = xb.contiguous(memory_format=torch.channels_last)
        loss = F.cross_entropy(model(xb), yb)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if sched is not None:
            sched.step()


def bare_loop(cfg: CnnConfig, optim: TrainConfig, seed: int, device: torch.device) -> Timed:
    """Plain PyTorch over the same data: bare_epoch, Adam, one-cycle."""
    split = embedded_mnist()
    x = as_batch(split.x_train).to(device).contiguous(memory_format=torch.channels_last)
    y = torch.as_tensor(split.y_train).to(device)
    model = new_model(seed).to(device, memory_format=torch.channels_last)
    opt = torch.optim.Adam(model.parameters(), lr=optim.lr)
    steps = math.ceil(len(y) / cfg.batch_size)
    sched = one_cycle(opt, optim.lr, cfg.epochs * steps) if optim.schedule == "one_cycle" else None
    augment = AugmentConfig() if cfg.augment else None
    generator = torch.Generator().manual_seed(seed)
    clock = _Clock(device).start()
    for _ in range(cfg.epochs):
        bare_epoch(model, opt, sched, x, y, cfg.batch_size, augment, generator)
    wall, cpu = clock.stop()
    return Timed(wall, cpu, cfg.epochs * len(y))


class _TrainOnly(CnnTask):
    """The CNN task without its held-out pass, so the Trainer does the bare loop's work."""

    def evaluate(self, model) -> dict[str, float]:
        return {"held_out_loss": math.nan}


@dataclass(frozen=True)
class TrainerRun:
    """The Trainer from start() to join(): its timing and the finished trainer."""

    wall: float
    cpu: float
    trainer: Trainer


def trainer_run(cfg: CnnConfig, optim: TrainConfig, seed: int, device: torch.device, budget_s: int = 3600,
                eval_every: int = 100_000, evaluate: bool = True) -> TrainerRun:
    task = CnnTask(cfg) if evaluate else _TrainOnly(cfg)
    trainer = Trainer(task, optim, RunConfig(seed=seed, budget_s=budget_s, report_every=10,
                                             eval_every=eval_every), device)
    clock = _Clock(device).start()
    trainer.start()
    trainer.join()
    wall, cpu = clock.stop()
    return TrainerRun(wall, cpu, trainer)


SIDES = ("bare", "bare_thread", "trainer")
LABELS = {"bare": "bare loop, main thread", "bare_thread": "bare loop, worker thread", "trainer": "Trainer"}


def _in_thread(fn):
    """fn() run in a new thread (as the Trainer's worker is), its result returned."""
    out = []
    thread = threading.Thread(target=lambda: out.append(fn()))
    thread.start()
    thread.join()
    return out[0]


def speed(args, device: torch.device, augment: bool) -> dict:
    """(a): interleaved runs of the same work, the order rotating each round."""
    cfg = CnnConfig(batch_size=args.batch, epochs=args.epochs, augment=augment)
    optim = TrainConfig("adam", LR, "one_cycle")
    rate = {side: [] for side in SIDES}
    cpu_rate = {side: [] for side in SIDES}
    for r in range(args.repeats):
        for side in SIDES[r % 3:] + SIDES[: r % 3]:
            if side == "trainer":
                run = trainer_run(cfg, optim, r, device, evaluate=False)
                wall, cpu, samples = run.wall, run.cpu, run.trainer.samples_seen
            else:
                timed = (_in_thread(lambda r=r: bare_loop(cfg, optim, r, device)) if side == "bare_thread"
                         else bare_loop(cfg, optim, r, device))
                wall, cpu, samples = timed.wall, timed.cpu, timed.samples
            rate[side].append(samples / wall)
            cpu_rate[side].append(samples / cpu)
        print(f"  {'augmented' if augment else 'plain':9s} round {r + 1}: "
              + "  ".join(f"{side} {rate[side][-1]:5.0f}/s" for side in SIDES), flush=True)
    row = {"augment": augment, "rate": rate, "cpu_rate": cpu_rate}
    for ref in ("bare", "bare_thread"):
        pairs = [t / b for t, b in zip(rate["trainer"], rate[ref])]
        cpu_pairs = [t / b for t, b in zip(cpu_rate["trainer"], cpu_rate[ref])]
        row[ref] = {"best_ratio": max(rate["trainer"]) / max(rate[ref]),
                    "median_ratio": statistics.median(pairs), "cpu_ratio": statistics.median(cpu_pairs)}
    return row


def report_speed(rows: list[dict]) -> None:
    print("\nsamples/s, best and median of the rounds:\n")
    print("| data | " + " | ".join(LABELS[side] for side in SIDES) + " |")
    print("|---|" + "---:|" * len(SIDES))
    for row in rows:
        cells = [f"{max(row['rate'][side]):.0f}, {statistics.median(row['rate'][side]):.0f}" for side in SIDES]
        print(f"| {'augmented' if row['augment'] else 'plain'} | " + " | ".join(cells) + " |")
    print(f"\nTrainer ÷ bare loop (goal ≥ {GOAL_RATIO}):\n")
    print("| data | reference | ratio of best runs | median pair ratio | median per CPU-second |")
    print("|---|---|---:|---:|---:|")
    for row in rows:
        for ref in ("bare", "bare_thread"):
            q = row[ref]
            print(f"| {'augmented' if row['augment'] else 'plain'} | {LABELS[ref]} | {q['best_ratio']:.3f} | "
                  f"{q['median_ratio']:.3f} | {q['cpu_ratio']:.3f} |")


def accuracy_in_budget(args, device: torch.device) -> dict:
    """(b): the Trainer with a budget of args.budget seconds; epochs sized to fit it from a
    one-epoch calibration run just before (the machine's speed drifts from minute to minute)."""
    n_train = CnnTask().n_train
    calibration = CnnConfig(batch_size=args.batch, epochs=1, augment=True)
    calibrated = trainer_run(calibration, TrainConfig("adam", LR, "one_cycle"), 1, device, evaluate=False)
    samples_per_s = calibrated.trainer.samples_seen / calibrated.wall
    # 85 % of the budget at the measured speed: the one-cycle schedule should end before the budget
    epochs = args.epochs_b or max(1, min(100, int(0.85 * args.budget * samples_per_s / n_train)))
    cfg = CnnConfig(batch_size=args.batch, epochs=epochs, augment=True)
    run = trainer_run(cfg, TrainConfig("adam", LR, "one_cycle"), 0, device, budget_s=args.budget,
                      eval_every=100_000)
    seconds, tr = run.wall, run.trainer
    last_eval = tr.metrics.snapshot().last_eval
    return {"calibration_samples_per_s": samples_per_s, "epochs": epochs, "steps": tr.step, "total_steps": tr.total_steps, "reason": tr.reason,
            "seconds": seconds, "samples_per_s": tr.samples_seen / seconds,
            "accuracy": last_eval.held_out_accuracy}


def keras(args, device: torch.device) -> dict | None:
    """(c): the article's Keras model and compile() on the same 4,000 images, model.fit's default
    batch of 32, against the Trainer with the same settings (Adam 1e-3, constant, no augmentation)."""
    if importlib.util.find_spec("tensorflow") is None:
        return None
    import numpy as np
    import tensorflow as tf
    from tensorflow.keras import layers

    split = embedded_mnist()
    x = split.x_train.reshape(-1, 28, 28, 1).astype("float32")
    y = split.y_train
    model = tf.keras.Sequential([
        layers.Conv2D(32, (3, 3), activation="relu", input_shape=(28, 28, 1)),
        layers.MaxPooling2D((2, 2)),
        layers.Conv2D(64, (3, 3), activation="relu"),
        layers.MaxPooling2D((2, 2)),
        layers.Conv2D(64, (3, 3), activation="relu"),
        layers.Flatten(),
        layers.Dense(64, activation="relu"),
        layers.Dense(10, activation="softmax"),
    ])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x[:640], y[:640], epochs=1, batch_size=32, verbose=0)  # warm-up (graph tracing)
    cfg = CnnConfig(batch_size=32, epochs=1, augment=False)
    optim = TrainConfig("adam", 1e-3, "constant")
    k_rates, t_rates = [], []
    for r in range(args.repeats):
        start = time.perf_counter()
        model.fit(x, y, epochs=1, batch_size=32, verbose=0)
        k_rates.append(len(y) / (time.perf_counter() - start))
        run = trainer_run(cfg, optim, r, device, evaluate=False)
        t_rates.append(run.trainer.samples_seen / run.wall)
    ratios = [t / k for t, k in zip(t_rates, k_rates)]
    return {"tensorflow": tf.__version__, "keras": k_rates, "trainer": t_rates,
            "ratio": float(np.median(ratios))}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="interleaved runs per comparison")
    parser.add_argument("--epochs", type=int, default=1, help="epochs of 4,000 images per run in (a)")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--budget", type=int, default=10, help="training budget in seconds for (b)")
    parser.add_argument("--epochs-b", type=int, default=0, help="epochs for (b); 0 = sized from a calibration epoch")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)

    configure_threads()
    warm_up()
    device = get_device()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {device_name(device)}, "
          f"{platform.machine()}, {os.cpu_count()} CPUs")
    ref_before = cpu_reference(device)
    print(f"cpu ref before: {ref_before * 1000:.0f} ms")
    bare_loop(CnnConfig(batch_size=args.batch, epochs=1, augment=True),
              TrainConfig("adam", LR, "one_cycle"), 99, device)  # warm-up: allocator, kernels

    threads = torch.get_num_threads()
    print(f"\n(a) samples/s, Trainer vs bare PyTorch loop: the article's CNN, batch {args.batch}, "
          f"Adam + one-cycle, {args.epochs} epoch(s) of 4,000 images per run, {threads} intra-op threads")
    results = {"a": [speed(args, device, augment) for augment in (False, True)]}
    report_speed(results["a"])
    if device.type == "cpu" and threads > 1:
        torch.set_num_threads(1)
        print("\n(a1) the same with one intra-op thread: no OpenMP team to synchronise, so the "
              "per-CPU-second ratio is the Trainer's own cost, whatever else the machine runs")
        results["a1"] = [speed(args, device, augment) for augment in (False, True)]
        report_speed(results["a1"])
        torch.set_num_threads(threads)

    b = accuracy_in_budget(args, device)
    results["b"] = b
    print(f"\n(b) held-out accuracy within a {args.budget} s budget (augmentation, one-cycle, Adam {LR}, "
          f"batch {args.batch}): {b['epochs']} epochs planned from a calibration epoch at "
          f"{b['calibration_samples_per_s']:.0f} samples/s, {b['steps']}/{b['total_steps']} steps, "
          f"ended by '{b['reason']}' after {b['seconds']:.1f} s ({b['samples_per_s']:.0f} samples/s)")
    ok = "met" if b["accuracy"] >= GOAL_ACCURACY else "missed"
    print(f"    accuracy {b['accuracy']:.4f} (goal ≥ {GOAL_ACCURACY}: {ok})")

    c = keras(args, device)
    results["c"] = c
    if c is None:
        print("\n(c) Keras: skipped — TensorFlow is not installed (this benchmark never installs it).")
    else:
        print(f"\n(c) samples/s vs the article's Keras code (TensorFlow {c['tensorflow']}, batch 32, Adam 1e-3):")
        print(f"    Keras {statistics.median(c['keras']):.0f}/s, Trainer {statistics.median(c['trainer']):.0f}/s, "
              f"ratio {c['ratio']:.3f}")

    ref_after = cpu_reference(device)
    results["cpu_ref_s"] = [ref_before, ref_after]
    print(f"\ncpu ref after: {ref_after * 1000:.0f} ms (before: {ref_before * 1000:.0f} ms). A shared, busy "
          f"machine inflates every figure; ratios are measured in the same run and interleaved.")
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
