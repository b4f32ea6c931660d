"""The real data-parallel run (engine/lab/ddp.py): 2 gloo processes on the loopback interface.

One run through a real Job: the ranks' weights are identical after every step, and equal to one
process training on the combined batch (float64, unequal halves), while DistributedDataParallel's
plain mean is not; bad settings are refused
before any process starts; a run past its time limit ends its ranks."""

from __future__ import annotations

import multiprocessing as mp
import socket
import time

import pytest

from engine.lab import ddp
from engine.lab.jobs import Job, run_inline
from engine.limits import CodedError, LimitError


@pytest.mark.parametrize("kw,error,code", [
    ({"steps": 0}, LimitError, "limit"), ({"steps": 51}, LimitError, "limit"),
    ({"batch": 1}, LimitError, "limit"), ({"batch": 257}, LimitError, "limit"),
    ({"dtype": "float16"}, CodedError, "ddp_dtype"), ({"rendezvous": "udp"}, CodedError, "ddp_rendezvous"),
    ({"lr": 5.0}, LimitError, "limit"),
])
def test_bad_settings_are_refused_before_any_process_starts(kw, error, code):
    before = len(mp.active_children())
    with pytest.raises(error) as e:
        run_inline(ddp.run_ddp, **{"steps": 2, "batch": 4, **kw})
    assert e.value.code == code
    assert len(mp.active_children()) == before


def test_rendezvous_and_interface_are_local():
    assert ddp.loopback_interface() in {name for _, name in socket.if_nameindex()} | {"lo"}
    assert ddp.init_method("tcp", "/tmp/x").startswith("tcp://127.0.0.1:")
    assert ddp.init_method("file", "/tmp/x") == "file:///tmp/x/rendezvous"
    assert ddp.shards(ddp.checked_config(2, 7, "float64")) == (4, 3)


def _wait(job: Job, limit_s: float):
    seen = []
    deadline = time.monotonic() + limit_s
    while not (status := job.poll()).finished and time.monotonic() < deadline:
        seen.append(status.done)
        time.sleep(0.05)  # polling for a condition, bounded by the deadline
    return status, seen


def test_two_ranks_stay_identical_and_equal_single_process_training():
    """float64, B = 7 split 4 + 3: the weighted all-reduce Σ_r (n_r/N) ∇L_r keeps both ranks equal
    bit for bit and equal to one process on the combined batch to 1e-12; DDP's mean does not."""
    job = Job(ddp.run_ddp, {"steps": 3, "batch": 7, "dtype": "float64", "timeout_s": 100, "compare_ddp": True}, timeout_s=110)
    try:
        job.start()
    except CodedError as e:  # only where this machine cannot start processes at all
        pytest.skip(f"cannot start processes here: {e}")
    status, seen = _wait(job, 120)
    job.stop()
    if status.error_code == "job_start":
        pytest.skip(f"cannot start processes here: {status.error_message}")
    assert status.state == "done", (status.error_code, status.error_params, status.error_message)
    r = status.result
    assert r.n == (4, 3) and r.backend == "gloo" and r.init_method.startswith("tcp://127.0.0.1:")
    assert [row.step for row in r.rows] == [1, 2, 3]
    assert all(row.rank_gap == 0.0 for row in r.rows) and r.identical
    assert len({s.weights_sha256 for s in r.ranks}) == 1
    assert all(row.single_gap <= 1e-12 for row in r.rows)
    assert all(len(row.times) == 2 and row.times[0].total > 0 for row in r.rows)
    assert r.params == 93_322 and sum(t.numel for t in r.tensors) == 93_322
    assert r.bucket.per_tensor_s > 0 and r.bucket.one_bucket_s > 0
    # DistributedDataParallel divides the sum by the world size: the plain mean, off for 4 + 3
    assert all(s.ddp_grad_gap > 1e-9 for s in r.ranks)
    assert max(seen, default=0) <= 3


def test_a_run_past_its_time_limit_ends_its_ranks():
    with pytest.raises(CodedError) as e:
        run_inline(ddp.run_ddp, steps=50, batch=256, timeout_s=0.5)
    assert e.value.code == "job_timeout" and e.value.params == {"seconds": 0}
    assert not [p for p in mp.active_children() if p.name.startswith("nml-ddp-rank")]
