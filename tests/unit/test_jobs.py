"""engine.lab.jobs: a target in a child process, its progress, result, coded failures, stop,
time limit, a killed process, the server-wide limit on running jobs, and the process group."""

import os
import time

import job_targets as targets
import pytest

from engine.lab import jobs
from engine.lab.jobs import Job, JobError, run_inline

WAIT_S = 60  # generous: a spawned child imports torch on a busy machine


def _wait(job: Job, until=lambda s: s.finished):
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        status = job.poll()
        if until(status) and (not status.finished or job not in jobs._running):  # its place is free too
            return status
        time.sleep(0.05)
    job.stop()
    raise AssertionError(f"job did not reach the state in {WAIT_S} s: {job.poll()}")


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    with open(f"/proc/{pid}/stat") as f:  # a zombie waiting for its parent is gone too
        return f.read().split(")")[-1].split()[0] == "Z"


def test_run_inline_runs_the_target_here():
    assert run_inline(targets.count_to, n=4) == {"sum": 10, "pid": os.getpid()}


def test_a_job_reports_progress_and_answers_in_its_own_process():
    job = Job(targets.count_to, {"n": 5}, timeout_s=WAIT_S)
    assert job.poll().state == "idle"
    job.start()
    status = _wait(job)
    assert status.state == "done" and status.result["sum"] == 15
    assert status.result["pid"] != os.getpid()
    assert status.done == status.total == 5 and status.partial == 5 and status.fraction == 1.0
    assert status.error() is None


def test_a_coded_error_reaches_the_page_with_its_code_and_params():
    job = Job(targets.refuse, {"value": 7}, timeout_s=WAIT_S)
    job.start()
    status = _wait(job)
    assert status.state == "failed" and status.error_code == "too_big" and status.error_params == {"value": 7}
    assert status.error().code == "too_big"


def test_an_exception_and_a_dead_process_are_failures_not_hangs():
    crashed, died = Job(targets.crash, timeout_s=WAIT_S), Job(targets.die, timeout_s=WAIT_S)
    crashed.start()
    died.start()
    a, b = _wait(crashed), _wait(died)
    assert a.state == "failed" and a.error_code == "job_failed" and "boom" in a.error_params["error"]
    assert b.state == "failed" and b.error_code == "job_died" and b.error_params["exitcode"] == 3


def test_stop_ends_the_job_and_every_process_it_started():
    job = Job(targets.sleep_forever, {"child": True}, timeout_s=WAIT_S)
    job.start()
    grandchild = _wait(job, lambda s: s.partial is not None).partial
    job.stop()
    assert job.poll().state == "stopped"
    deadline = time.monotonic() + 10
    while not (_gone(grandchild) and jobs.running_jobs() == 0) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _gone(grandchild) and jobs.running_jobs() == 0


def test_a_job_past_its_limit_is_ended_with_a_coded_message():
    job = Job(targets.sleep_forever, timeout_s=0.5)
    job.start()
    status = _wait(job)
    assert status.state == "timed_out" and status.error_code == "job_timeout"
    assert status.error_params == {"seconds": round(0.5)}


def test_the_server_runs_at_most_max_running_jobs(monkeypatch):
    monkeypatch.setattr(jobs, "MAX_RUNNING", 1)
    first = Job(targets.sleep_forever, timeout_s=WAIT_S)
    first.start()
    try:
        with pytest.raises(JobError) as refused:
            Job(targets.count_to, {"n": 1}, timeout_s=WAIT_S).start()
        assert refused.value.code == "job_busy" and refused.value.params == {"limit": 1}
    finally:
        first.stop()
    deadline = time.monotonic() + 10
    while jobs.running_jobs() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert jobs.running_jobs() == 0


def test_the_thread_count_is_set_in_the_child():
    job = Job(targets.threads, timeout_s=WAIT_S, threads=1)
    job.start()
    assert _wait(job).result == 1


def test_a_job_starts_once():
    job = Job(targets.count_to, {"n": 1}, timeout_s=WAIT_S)
    job.start()
    _wait(job)
    with pytest.raises(JobError):
        job.start()
