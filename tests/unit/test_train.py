"""engine.lab.trainer: the live trainer's states and controls, seeded runs, the metric buffer and
its typed records (engine.lab.records), checkpoints (engine.lab.checkpoints: round trip and
refusal of bad files), memory limits and the run budget.

The control tests use a tiny fake task (a linear model whose step can be slowed down), so they
measure the trainer and not a network; the real tasks are trained in test_train_tasks.py and at
the end of this file with tiny configs.
"""

from __future__ import annotations

import io
import os
import pickle
import threading
import time
from dataclasses import dataclass
from itertools import count

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

import engine.lab.checkpoints as checkpoints_mod
from engine.lab.checkpoints import FORMAT, read_checkpoint
from engine.lab.loop import TrainConfig
from engine.lab.records import (
    EvalRecord,
    MetricBuffer,
    MetricsSnapshot,
    SampleRecord,
    TrainRecord,
    as_dict,
    from_dict,
)
from engine.lab.tasks import (
    CharConfig,
    CharTask,
    CnnConfig,
    CnnTask,
    MemoryEstimate,
    SeqConfig,
    SeqTask,
    StepOut,
    TrainError,
    generator,
    seeded,
)
from engine.lab.trainer import RunConfig, Trainer, restore
from engine.limits import MAX_TRAIN_BYTES, LimitError
from engine.models.cnn import CHECKPOINT
from engine.models.tiny_transformer import TinyTransformerConfig

CPU = torch.device("cpu")
TIMEOUT = 20.0


def wait_until(predicate, timeout: float = TIMEOUT) -> None:
    end = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > end:
            raise AssertionError("timed out waiting for the trainer")
        time.sleep(0.005)


@dataclass(frozen=True)
class FakeConfig:
    steps: int = 1000
    delay: float = 0.0  # seconds each step sleeps
    fail_at: int = -1  # the step (1-based) that raises


class FakeTask:
    """y = W x + b on random data; each step optionally sleeps or raises."""

    kind = "fake"

    def __init__(self, config: FakeConfig = FakeConfig()):
        self.config = config
        self.calls = 0

    total_steps = property(lambda self: self.config.steps)
    steps_per_epoch = property(lambda self: 10)
    batch_size = property(lambda self: 8)

    def estimate(self) -> MemoryEstimate:
        return MemoryEstimate(P=4 * 3 + 3, A=3, B=8, E=8, D=0)

    def prepare(self, device):
        self.device = device

    def make_model(self, seed, device=None):
        return seeded(seed, lambda: nn.Linear(4, 3))

    def batches(self, seed, start=0):
        for s in count(start):
            g = generator(seed, 3, s)
            yield torch.randn(8, 4, generator=g), torch.randint(0, 3, (8,), generator=g)

    def step(self, model, batch):
        self.calls += 1
        if self.calls == self.config.fail_at:
            raise RuntimeError("boom at this step")
        if self.config.delay:
            time.sleep(self.config.delay)
        x, y = batch
        z = model(x)
        loss = F.cross_entropy(z, y)
        return StepOut(loss, 8, {"correct": (z.argmax(1) == y).sum(), "total": 8})

    def evaluate(self, model):
        return {"held_out_loss": 1.0}

    def extras(self, model, step):
        return []

    def probe(self, model):
        return {"W": model.weight.detach().clone()}


FAST_REPORTS = RunConfig(report_every=1, eval_every=1000)


def fake_trainer(run: RunConfig = FAST_REPORTS, **config) -> Trainer:
    return Trainer(FakeTask(FakeConfig(**config)), TrainConfig("sgd", 0.1, "constant"), run, CPU)


def losses(trainer: Trainer) -> list[float]:
    return [r.loss for r in trainer.metrics.snapshot().train]


# ----- states and controls ------------------------------------------------------------------


def test_a_new_trainer_is_idle_and_has_taken_no_step():
    tr = fake_trainer()
    assert (tr.state, tr.step, tr.reason, tr.error) == ("idle", 0, None, None)
    assert len(tr.metrics) == 0


def test_stop_takes_effect_within_one_step():
    tr = fake_trainer(delay=0.02)
    tr.start()
    wait_until(lambda: tr.step >= 3)
    at_stop = tr.step
    tr.stop()
    assert tr.state == "stopped"
    assert tr.join(5)
    assert tr.step - at_stop <= 1  # only the step already under way finishes
    assert (tr.state, tr.reason) == ("stopped", "stopped")
    time.sleep(0.1)
    assert tr.step - at_stop <= 1


def test_pause_holds_the_step_and_resume_continues():
    tr = fake_trainer(delay=0.01)
    tr.start()
    wait_until(lambda: tr.step >= 2)
    at_pause = tr.step
    tr.pause()
    assert tr.state == "paused"
    time.sleep(0.3)
    held = tr.step
    assert held <= at_pause + 1  # only the step under way finishes
    time.sleep(0.3)
    assert tr.step == held
    tr.resume()
    assert tr.state == "running"
    wait_until(lambda: tr.step >= held + 3)
    tr.stop()
    assert tr.join(5)


def test_single_steps_from_idle_and_from_paused():
    tr = fake_trainer(run=RunConfig(report_every=50, eval_every=1000))
    tr.step_once()
    wait_until(lambda: tr.step == 1)
    assert tr.state == "paused"
    tr.step_once()
    tr.step_once()
    wait_until(lambda: tr.step == 3)
    time.sleep(0.1)
    assert tr.step == 3 and tr.state == "paused"
    # each single step reports its own loss, although report_every is 50
    assert [r.step for r in tr.metrics.snapshot().train] == [1, 2, 3]
    tr.resume()
    wait_until(lambda: tr.step >= 10)
    tr.stop()
    tr.join(5)


@pytest.mark.parametrize("action,state_setup", [
    ("pause", "idle"), ("resume", "idle"), ("resume", "running"), ("start", "running"),
    ("step_once", "running"), ("start", "stopped"), ("step_once", "stopped"),
])
def test_actions_not_allowed_in_a_state_raise_a_state_error(action, state_setup):
    tr = fake_trainer(delay=0.01)
    if state_setup == "running":
        tr.start()
    elif state_setup == "stopped":
        tr.stop()
    with pytest.raises(TrainError) as e:
        getattr(tr, action)()
    assert e.value.code == "state"
    assert e.value.params["state"] == state_setup
    tr.stop()
    tr.join(5)


def test_stop_from_idle_and_twice_is_harmless():
    tr = fake_trainer()
    tr.stop()
    tr.stop()
    assert (tr.state, tr.step) == ("stopped", 0)
    assert tr.join(1)


def test_the_run_finishes_after_its_steps_with_reason_done():
    tr = fake_trainer(steps=25, run=RunConfig(report_every=10, eval_every=10))
    tr.start()
    assert tr.join(TIMEOUT)
    assert (tr.state, tr.reason, tr.step) == ("finished", "done", 25)
    assert [r.step for r in tr.metrics.snapshot().train] == [10, 20, 25]
    assert [r.step for r in tr.metrics.snapshot().evals] == [10, 20, 25]


def test_the_wall_clock_budget_finishes_the_run():
    tr = fake_trainer(delay=0.05, run=RunConfig(budget_s=1, report_every=5, eval_every=1000))
    start = time.monotonic()
    tr.start()
    assert tr.join(TIMEOUT)
    assert (tr.state, tr.reason) == ("finished", "budget")
    assert 1.0 <= tr.active_seconds < 3.0
    assert time.monotonic() - start < 5.0
    assert 5 <= tr.step < 60
    # the last step is reported and evaluated
    assert tr.metrics.snapshot().train[-1].step == tr.step
    assert tr.metrics.snapshot().evals[-1].step == tr.step


def test_paused_time_does_not_count_toward_the_budget():
    tr = fake_trainer(delay=0.02, run=RunConfig(budget_s=1, report_every=5, eval_every=1000))
    tr.step_once()
    wait_until(lambda: tr.step == 1)
    time.sleep(1.2)  # paused longer than the budget
    assert tr.state == "paused"
    tr.resume()
    wait_until(lambda: tr.step >= 3)
    assert tr.state == "running"
    tr.stop()
    tr.join(5)


def test_an_error_in_a_step_fails_the_run_and_keeps_the_message():
    tr = fake_trainer(fail_at=4)
    tr.start()
    assert tr.join(TIMEOUT)
    assert (tr.state, tr.reason, tr.step) == ("failed", "error", 3)
    assert "boom at this step" in tr.error and "RuntimeError" in tr.error


def test_the_model_can_be_probed_while_training_runs():
    tr = fake_trainer()  # steps as fast as they come: a lock alone could starve the reader
    tr.start()
    wait_until(lambda: tr.step >= 5)
    for _ in range(20):
        start = time.monotonic()
        W = tr.probe()["W"]
        assert time.monotonic() - start < 2.0
        assert W.shape == (3, 4)
    assert tr.state == "running"
    tr.stop()
    tr.join(5)


# ----- reproducibility ----------------------------------------------------------------------


def test_same_seed_same_curve_bit_for_bit_and_another_seed_differs():
    def curve(seed):
        tr = fake_trainer(steps=30, run=RunConfig(seed=seed, report_every=1, eval_every=1000))
        tr.start()
        tr.join(TIMEOUT)
        return losses(tr)

    a, b, c = curve(1), curve(1), curve(2)
    assert len(a) == 30 and a == b
    assert a != c


def test_pausing_and_single_steps_do_not_change_the_curve():
    def run(interrupt: bool):
        tr = fake_trainer(steps=12, run=RunConfig(report_every=1, eval_every=1000))
        if interrupt:
            for k in range(1, 4):
                tr.step_once()
                wait_until(lambda k=k: tr.step == k)
            tr.resume()
        else:
            tr.start()
        tr.join(TIMEOUT)
        return losses(tr)

    assert run(False) == run(True)


def test_cnn_runs_repeat_bit_for_bit_on_the_cpu():
    def curve():
        task = CnnTask(CnnConfig(batch_size=16, epochs=1, augment=True))
        tr = Trainer(task, TrainConfig("momentum", 0.02, "one_cycle"),
                     RunConfig(seed=3, report_every=1, eval_every=10_000), CPU)
        for k in range(1, 7):
            tr.step_once()
            wait_until(lambda k=k: tr.step == k)
        tr.stop()
        tr.join(5)
        return losses(tr), tr.model.conv1.weight.detach().clone()

    (a, Wa), (b, Wb) = curve(), curve()
    assert len(a) == 6 and a == b
    assert torch.equal(Wa, Wb)


# ----- the metric buffer --------------------------------------------------------------------


def _train(step: int, loss: float = 1.0) -> TrainRecord:
    return TrainRecord(step=step, epoch=step / 10, loss=loss, lr=0.1, seconds=0.0)


def test_metric_buffer_snapshots_are_typed_and_frozen():
    buf = MetricBuffer()
    buf.append(_train(1))
    buf.append(EvalRecord(step=1, epoch=0.1, seconds=0.0, held_out_loss=2.0, held_out_accuracy=0.5))
    buf.append(SampleRecord(step=1, temperature=0.8, text="abc"))
    snap = buf.snapshot()
    assert isinstance(snap, MetricsSnapshot) and snap.total == 3
    assert [r.kind for r in snap.records()] == ["train", "eval", "sample"]
    assert snap.last_train.loss == 1.0 and snap.last_eval.score == 0.5 and snap.samples[0].text == "abc"
    with pytest.raises(AttributeError):
        snap.train[0].loss = 99.0  # frozen: a reader cannot change what the worker wrote
    buf.append(_train(2, loss=2.0))
    assert len(snap.train) == 1  # an earlier snapshot does not grow
    assert buf.snapshot().train[-1].loss == 2.0
    with pytest.raises(TypeError):
        buf.append({"kind": "train", "loss": 1.0})  # no untyped records


def test_records_round_trip_through_plain_dicts():
    records = [_train(3), EvalRecord(step=3, epoch=0.3, seconds=1.0, held_out_loss=0.5, exact_match=0.25),
               SampleRecord(step=3, temperature=1.0, text="to be")]
    for r in records:
        d = as_dict(r)
        assert d["kind"] == r.kind and all(isinstance(v, (int, float, str, type(None))) for v in d.values())
        assert from_dict(d) == r
    assert records[1].score == 0.25


def test_metric_buffer_keeps_the_newest_and_counts_all():
    buf = MetricBuffer(maxlen=5)
    for i in range(12):
        buf.append(_train(i))
    assert [r.step for r in buf.snapshot().train] == [7, 8, 9, 10, 11]
    assert buf.total == 12 and len(buf) == 5


def test_metric_buffer_is_thread_safe():
    buf = MetricBuffer(maxlen=100_000)
    writers, per_writer = 4, 2000
    seen_lengths = []
    done = threading.Event()

    def write(w):
        for i in range(per_writer):
            buf.append(SampleRecord(step=i, temperature=1.0, text=str(w)))

    def read():
        while not done.is_set():
            snap = buf.snapshot().samples
            seen_lengths.append(len(snap))
            # every record is whole and each writer's records are in order
            for w in range(writers):
                mine = [r.step for r in snap if r.text == str(w)]
                assert mine == list(range(len(mine)))

    reader = threading.Thread(target=read)
    reader.start()
    threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    done.set()
    reader.join()
    assert buf.total == len(buf) == writers * per_writer
    assert seen_lengths == sorted(seen_lengths)  # a reader never sees the buffer shrink


# ----- settings and limits ------------------------------------------------------------------


@pytest.mark.parametrize("kwargs,error", [
    ({"optimizer": "rmsprop"}, ValueError), ({"schedule": "cosine"}, ValueError),
    ({"lr": 0.0}, LimitError), ({"lr": 2.0}, LimitError), ({"lr": float("nan")}, LimitError),
    ({"momentum": 1.0}, LimitError), ({"clip": -1.0}, LimitError), ({"lr": "0.1"}, LimitError),
])
def test_bad_optimiser_settings_are_refused(kwargs, error):
    with pytest.raises(error):
        TrainConfig(**kwargs)


@pytest.mark.parametrize("kwargs", [{"seed": -1}, {"budget_s": 0}, {"budget_s": 7200},
                                    {"report_every": 0}, {"eval_every": 0}, {"seed": 1.5}])
def test_bad_run_settings_are_refused(kwargs):
    with pytest.raises(LimitError):
        RunConfig(**kwargs)


@pytest.mark.parametrize("name,cls", [("sgd", torch.optim.SGD), ("momentum", torch.optim.SGD),
                                      ("adam", torch.optim.Adam)])
def test_the_chosen_optimiser_and_schedule_are_built(name, cls):
    tr = Trainer(FakeTask(FakeConfig(steps=20)), TrainConfig(name, 0.05, "one_cycle", momentum=0.8),
                 RunConfig(report_every=1), CPU)
    assert type(tr.optimizer) is cls
    for k in range(1, 4):
        tr.step_once()
        wait_until(lambda k=k: tr.step == k)
    group = tr.optimizer.param_groups[0]
    if name == "sgd":
        assert group["momentum"] == 0  # the one-cycle schedule must not add momentum to plain SGD
    elif name == "momentum":
        assert 0.85 <= group["momentum"] <= 0.95  # cycled by one-cycle
    lrs = [r.lr for r in tr.metrics.snapshot().train]
    assert lrs[0] < lrs[1] < lrs[2] <= 0.05  # warming up toward the peak
    tr.stop()
    tr.join(5)


def test_a_constant_schedule_keeps_the_rate():
    tr = fake_trainer(steps=5)
    tr.start()
    tr.join(TIMEOUT)
    assert {r.lr for r in tr.metrics.snapshot().train} == {0.1}


@pytest.mark.parametrize("task", [
    CnnTask(CnnConfig(batch_size=4096)),
    CharTask(CharConfig(H=256, B=4096, T=200)),
    SeqTask(SeqConfig(task="add", length=32, B=4096, model=TinyTransformerConfig(256, 16, 6, 1024))),
], ids=["cnn", "char", "seq"])
def test_an_oversized_run_is_refused_before_anything_is_allocated(task, monkeypatch):
    touched = []

    def forbidden(name):
        def fn(*args, **kwargs):
            touched.append(name)
            raise AssertionError(f"{name} called before the memory check")
        return fn

    monkeypatch.setattr(type(task), "prepare", forbidden("prepare"))
    monkeypatch.setattr(type(task), "make_model", forbidden("make_model"))
    monkeypatch.setattr(type(task), "batches", forbidden("batches"))
    monkeypatch.setattr(torch.optim, "Adam", forbidden("Adam"))
    monkeypatch.setattr(torch.optim, "SGD", forbidden("SGD"))
    with pytest.raises(TrainError) as e:
        Trainer(task, device=CPU)
    err = e.value
    assert err.code == "memory" and touched == []
    assert err.params["bytes"] == task.estimate().bytes > MAX_TRAIN_BYTES
    assert err.params["limit"] == MAX_TRAIN_BYTES
    assert {"P", "A", "B", "E", "D"} <= set(err.params)


def test_the_memory_limit_is_two_gib():
    assert MAX_TRAIN_BYTES == 2 * 1024**3


# ----- checkpoints --------------------------------------------------------------------------


def seq_config(**kw) -> SeqConfig:
    return SeqConfig(**{"task": "reverse", "length": 4, "B": 16, "steps": 20, "held_out": 32,
                        "model": TinyTransformerConfig(16, 2, 1, 32), **kw})


def seq_trainer(**kw) -> Trainer:
    return Trainer(SeqTask(seq_config(**kw)), TrainConfig("adam", 1e-2, "one_cycle"),
                   RunConfig(report_every=1, eval_every=1000), CPU)


def single_steps(tr: Trainer, n: int) -> None:
    for _ in range(n):
        target = tr.step + 1
        tr.step_once()
        wait_until(lambda target=target: tr.step == target)


def test_checkpoint_round_trip_resumes_the_same_curve():
    whole = seq_trainer()
    whole.start()
    whole.join(TIMEOUT)
    reference = losses(whole)

    first = seq_trainer()
    single_steps(first, 8)
    data = first.to_bytes()

    second = seq_trainer()  # a fresh trainer of the same settings
    second.from_bytes(data)
    assert second.step == 8 and losses(second) == reference[:8]
    second.start()
    second.join(TIMEOUT)
    assert losses(second) == reference
    for a, b in zip(second.model.state_dict().values(), whole.model.state_dict().values()):
        assert torch.equal(a, b)

    rebuilt = restore(data, run=RunConfig(report_every=1, eval_every=1000), device=CPU)
    assert (rebuilt.task.config, rebuilt.optim, rebuilt.step, rebuilt.state) == (
        first.task.config, first.optim, 8, "idle")
    rebuilt.start()
    rebuilt.join(TIMEOUT)
    assert losses(rebuilt) == reference
    first.stop()


def test_save_and_load_a_file(tmp_path):
    tr = seq_trainer()
    single_steps(tr, 3)
    path = tmp_path / "run.pt"
    tr.save(path)
    other = seq_trainer()
    other.load(path)
    assert other.step == 3
    assert torch.equal(other.model.head.weight, tr.model.head.weight)
    with pytest.raises(TrainError) as e:
        other.load(tmp_path / "missing.pt")
    assert e.value.code == "no_checkpoint"
    tr.stop()


def test_checkpoints_load_with_weights_only():
    tr = seq_trainer()
    single_steps(tr, 2)
    blob = torch.load(io.BytesIO(tr.to_bytes()), weights_only=True)
    assert blob["format"] == FORMAT and blob["task"] == "seq" and blob["step"] == 2
    assert all(t.device.type == "cpu" for t in blob["model"].values())
    tr.stop()


class Evil:
    """Unpickling this would create a folder: proof that code ran."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (os.mkdir, (self.path,))


def _tampered(data: bytes, edit) -> bytes:
    blob = torch.load(io.BytesIO(data), weights_only=True)
    edit(blob)
    buffer = io.BytesIO()
    torch.save(blob, buffer)
    return buffer.getvalue()


def _fingerprint(tr: Trainer):
    return (tr.state, tr.step, [t.clone() for t in tr.model.state_dict().values()],
            tr.metrics.snapshot(), repr(tr.optimizer.state_dict()["state"]))


def _same(a, b) -> bool:
    return (a[0], a[1], a[3], a[4]) == (b[0], b[1], b[3], b[4]) and all(
        torch.equal(x, y) for x, y in zip(a[2], b[2]))


@pytest.fixture(scope="module")
def good_checkpoint() -> bytes:
    tr = seq_trainer()
    single_steps(tr, 2)
    tr.stop()
    return tr.to_bytes()


def bad_files(good: bytes, tmp_path) -> dict[str, tuple[bytes, str]]:
    evil_dir = str(tmp_path / "pwned")
    zipped = io.BytesIO()
    torch.save({"format": FORMAT, "payload": Evil(evil_dir)}, zipped)
    other_task = Trainer(CharTask(CharConfig(H=8, B=2, T=8, steps=3, text="to be or not to be " * 12)),
                         device=CPU).to_bytes()

    def wrong_shape(blob):
        blob["model"]["head.weight"] = torch.zeros(3, 3)

    def wrong_moment(blob):
        state = blob["optimizer"]["state"]
        first = next(iter(state))
        state[first]["exp_avg"] = torch.zeros(7)

    files = {
        "empty": (b"", "empty_checkpoint"),
        "random bytes": (os.urandom(4096), "bad_checkpoint"),
        "truncated": (good[: len(good) // 2], "bad_checkpoint"),
        "pickle with code": (pickle.dumps(Evil(evil_dir)), "bad_checkpoint"),
        "torch file with code": (zipped.getvalue(), "bad_checkpoint"),
        "other task": (other_task, "wrong_task"),
        "other settings": (_tampered(good, lambda b: b["config"].update(length=5)), "mismatch"),
        "other optimiser": (_tampered(good, lambda b: b["optim"].update(optimizer="sgd")), "mismatch"),
        "wrong weight shape": (_tampered(good, wrong_shape), "mismatch"),
        "wrong optimiser state": (_tampered(good, wrong_moment), "mismatch"),
        "step out of range": (_tampered(good, lambda b: b.update(step=10_000)), "bad_checkpoint"),
        "no metrics": (_tampered(good, lambda b: b.pop("metrics")), "bad_checkpoint"),
        "future version": (_tampered(good, lambda b: b.update(version=99)), "bad_checkpoint"),
    }
    if CHECKPOINT.exists():
        files["the shipped CNN weights"] = (CHECKPOINT.read_bytes(), "foreign_checkpoint")
    return files


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_bad_checkpoints_are_refused_and_change_nothing(good_checkpoint, tmp_path):
    tr = seq_trainer()
    single_steps(tr, 3)
    before = _fingerprint(tr)
    for name, (data, code) in bad_files(good_checkpoint, tmp_path).items():
        with pytest.raises(TrainError) as e:
            tr.from_bytes(data)
        assert e.value.code == code, name
        assert _same(before, _fingerprint(tr)), name
    assert not (tmp_path / "pwned").exists()  # no pickled code ran
    # the trainer still works and still accepts a good checkpoint
    single_steps(tr, 1)
    tr.from_bytes(good_checkpoint)
    assert tr.step == 2
    tr.stop()


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_restore_refuses_bad_files_too(good_checkpoint, tmp_path):
    for name, (data, code) in bad_files(good_checkpoint, tmp_path).items():
        if code in {"mismatch", "wrong_task"}:
            continue  # restore builds the trainer from the file's own settings
        with pytest.raises(TrainError) as e:
            restore(data, device=CPU)
        assert e.value.code == code, name
    assert not (tmp_path / "pwned").exists()


def test_restore_refuses_settings_out_of_bounds(good_checkpoint):
    data = _tampered(good_checkpoint, lambda b: b["config"].update(B=0))
    with pytest.raises(TrainError) as e:
        restore(data, device=CPU)
    assert e.value.code == "bad_checkpoint"


def test_a_bad_file_does_not_disturb_a_running_trainer(good_checkpoint):
    tr = fake_trainer(delay=0.005)
    tr.start()
    wait_until(lambda: tr.step >= 3)
    for data in (b"", os.urandom(100), good_checkpoint):  # the good one is for another task
        with pytest.raises(TrainError):
            tr.from_bytes(data)
    assert tr.state == "running"
    at = tr.step
    wait_until(lambda: tr.step >= at + 3)
    tr.stop()
    tr.join(5)


def test_oversized_files_are_refused_before_reading(monkeypatch, good_checkpoint):
    monkeypatch.setattr(checkpoints_mod, "MAX_CHECKPOINT_BYTES", 1000)
    monkeypatch.setattr(torch, "load", lambda *a, **k: pytest.fail("torch.load was called"))
    with pytest.raises(TrainError) as e:
        read_checkpoint(good_checkpoint)
    assert e.value.code == "checkpoint_too_big" and e.value.params["limit"] == 1000


def test_the_shipped_cnn_checkpoint_is_foreign():
    if not CHECKPOINT.exists():
        pytest.skip("assets/seed_cnn.pt is not built")
    with pytest.raises(TrainError) as e:
        read_checkpoint(CHECKPOINT.read_bytes())
    assert e.value.code == "foreign_checkpoint"


def test_unsupported_task_methods_say_so():
    tr = seq_trainer()
    with pytest.raises(TrainError) as e:
        tr.classify([[0.0] * 28] * 28)
    assert e.value.code == "unsupported"
    with pytest.raises(TrainError):
        tr.sample()
