"""engine/lab/measure.py: the measurement run's structure, bounds and progress, through
jobs.run_inline with tiny settings (never asserting wall-clock values), and once through a real
Job in a child process."""

from __future__ import annotations

import time

import pytest
import torch

import engine.lab.measure as measure_module
from engine.lab.jobs import Job, run_inline
from engine.lab.measure import Measurement, copy_rate, matmul_rate, measure, time_call
from engine.limits import LimitError
from engine.ops.cost import LAYER_NAMES

TINY = dict(batch_sizes=(1, 3), layer_batch=2, layout_batch=2, threads=(1,), budget_s=60.0,
            matmul_sizes=(32,), stream_mib=0.25, repeats=1)
CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def tiny() -> Measurement:
    return run_inline(measure, include_cuda=False, **TINY)


def test_every_item_is_measured_and_positive(tiny):
    assert tiny.skipped == ()
    assert [(r.kind, r.size) for r in tiny.roof] == [("matmul", 32), ("copy", 2 * 2**18)]
    assert tiny.peak > 0 and tiny.bandwidth > 0
    # every layer, forward then backward, at the requested N
    assert [(l.name, l.direction) for l in tiny.layers] == [(n, d) for n in LAYER_NAMES for d in ("forward", "backward")]
    for l in tiny.layers:
        assert l.N == 2 and l.seconds > 0 and l.bytes > 0 and l.traffic_rate > 0
        assert l.rate == l.flops / l.seconds
        assert (l.flops == 0) == (l.name.startswith("pool") and l.direction == "backward")
    assert [t.batch for t in tiny.batch_sweep] == [1, 3]
    assert [t.threads for t in tiny.thread_sweep] == [1]
    assert [t.channels_last for t in tiny.layout] == [False, True]
    for t in tiny.batch_sweep + tiny.thread_sweep + tiny.layout:
        assert t.on == "cpu" and t.step_s > 0
        assert t.samples_per_s == pytest.approx(t.batch / t.step_s)
    assert tiny.gpu_name is None and tiny.gpu_roof == () and tiny.gpu_sweep == ()
    assert tiny.cores >= 1 and tiny.cpu_name


def test_progress_after_every_item_with_a_growing_partial_result():
    calls = []
    result = measure(lambda *a: calls.append(a), include_cuda=False, **TINY)
    total = calls[0][1]
    assert [c[0] for c in calls] == list(range(1, total + 1))
    assert all(c[1] == total for c in calls)
    assert {c[2] for c in calls} == {"roof", "layers", "batch", "threads", "layout"}
    sizes = [len(c[3].roof) + len(c[3].layers) + len(c[3].batch_sweep) for c in calls]
    assert sizes == sorted(sizes) and sizes[0] == 1
    assert calls[-1][3].layers == result.layers


class _SlowClock:
    """A clock that moves 10 ms at every reading: the budget runs out part-way, the same way on every machine."""

    def __init__(self):
        self.now = 0.0

    def perf_counter(self) -> float:
        self.now += 0.01
        return self.now


def test_a_spent_budget_skips_the_remaining_items_and_names_them(monkeypatch):
    monkeypatch.setattr(measure_module, "time", _SlowClock())
    calls = []
    before = torch.get_num_threads()
    threads = (1, min(2, measure_module.os.cpu_count() or 1))
    result = measure(lambda *a: calls.append(a), include_cuda=False, **{**TINY, "budget_s": 0.5, "threads": threads})
    assert torch.get_num_threads() == before  # the thread count it found is restored
    total = calls[-1][1]
    assert len(calls) == total  # every item reported, run or skipped
    measured = (len(result.roof) + len(result.layers) // 2 + len(result.batch_sweep) + len(result.thread_sweep)
                + len(result.layout))
    assert measured > 0 and result.skipped
    assert measured + len(result.skipped) == total
    # once the budget is spent, everything after is skipped: the last items are named
    assert result.skipped[-1] == "B=3"  # the batch sweep runs last, largest batch last


def test_the_gpu_rows_follow_the_same_code(monkeypatch):
    # no GPU here: stand the CPU in for one, so the GPU branch runs
    monkeypatch.setattr(measure_module, "accelerator", lambda: CPU)
    result = run_inline(measure, include_cuda=True, gpu_matmul_sizes=(16,), gpu_stream_mib=0.25, **TINY)
    assert result.gpu_name == "CPU"
    assert [r.kind for r in result.gpu_roof] == ["matmul", "copy"] and result.gpu_peak > 0
    assert [(t.on, t.batch) for t in result.gpu_sweep] == [("gpu", 1), ("gpu", 3)]
    assert run_inline(measure, include_cuda=False, **TINY).gpu_name is None


@pytest.mark.parametrize("change,name", [
    ({"batch_sizes": (1, 0)}, "roof_batch"), ({"layer_batch": 2000}, "roof_batch"),
    ({"layout_batch": -1}, "roof_batch"), ({"threads": (0,)}, "roof_threads"), ({"threads": ()}, "roof_threads"),
    ({"budget_s": 0.0}, "roof_budget_s"), ({"budget_s": float("nan")}, "roof_budget_s"),
])
def test_settings_outside_their_ranges_are_refused(change, name):
    with pytest.raises(LimitError) as e:
        run_inline(measure, include_cuda=False, **{**TINY, **change})
    assert e.value.params["name"] == name


def test_more_threads_than_cores_are_refused_with_the_cores_as_limit():
    cores = measure_module.os.cpu_count() or 1
    with pytest.raises(LimitError) as e:
        run_inline(measure, include_cuda=False, **{**TINY, "threads": (1, cores + 1)})
    assert e.value.params == {"name": "roof_threads", "value": cores + 1, "low": 1, "high": cores}


def test_roof_rates_are_work_over_time():
    m = matmul_rate(16, CPU, repeats=2, budget_s=0.1)
    assert m.rate == pytest.approx(2 * 16**3 / m.seconds)
    c = copy_rate(4096, CPU, repeats=2, budget_s=0.1)
    assert c.size == 8192 and c.rate == pytest.approx(8192 / c.seconds)


def test_time_call_warms_up_and_counts_calls():
    calls = []
    seconds = time_call(lambda: calls.append(1), CPU, repeats=3, budget_s=10.0, warmup=2)
    assert seconds > 0
    # two warm-up calls, then three blocks of equal size (fast calls are repeated within a block)
    assert (len(calls) - 2) % 3 == 0 and len(calls) > 5


def test_one_run_through_a_real_job():
    job = Job(measure, {**TINY, "include_cuda": False}, timeout_s=120)
    job.start()
    deadline = time.monotonic() + 120
    while not job.poll().finished and time.monotonic() < deadline:
        time.sleep(0.1)  # polling a condition, as the page's fragment does
    status = job.poll()
    assert status.state == "done", (status.state, status.error_message)
    assert isinstance(status.result, Measurement) and status.result.skipped == ()
    assert status.done == status.total > 0 and len(status.result.layers) == 14
