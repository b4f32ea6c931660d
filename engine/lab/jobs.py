"""Bounded jobs in a child process: a measurement or a short run a page starts, with progress,
a stop button and a wall-clock limit, never blocking the server's other sessions.

A job's target is a module-level function `target(report, **kwargs) -> result`. It runs in the
main thread of a fresh child process ("spawn": a forked copy of a threaded server is unsafe),
where `torch.set_num_threads` is private to it. The child leads its own process group, so
stopping a job also ends every process it started (the data-parallel ranks). A reader thread
in the server drains the child's messages, so a job whose page was closed still ends on its
limit and frees its place. At most MAX_RUNNING jobs run at once per server.

    job = Job(measure, {"batch_sizes": (1, 32)}, timeout_s=60)
    job.start()
    job.poll()  # JobStatus(state="running", done=3, total=10, stage="matmul", partial=…)
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from importlib.machinery import ModuleSpec
from typing import Any

from engine.limits import CodedError

MAX_RUNNING = 2  # jobs at once per server: each may use every core for a while
FINISHED = ("done", "failed", "stopped", "timed_out")
_POLL_S = 0.1  # how often the reader thread looks at the pipe and the clock

_slots_lock = threading.Lock()
_running: set[Job] = set()
_main_lock = threading.Lock()


class JobError(CodedError):
    """A job that could not start (busy server, no process); translated by code."""


@dataclass(frozen=True)
class JobStatus:
    """A job's state as the page reads it: progress while running, the result when done."""

    state: str = "idle"  # idle · running · done · failed · stopped · timed_out
    done: int = 0
    total: int = 0
    stage: str = ""
    partial: Any = None  # the latest partial result the target reported
    result: Any = None
    error_code: str | None = None
    error_params: dict = field(default_factory=dict)
    error_message: str | None = None
    elapsed_s: float = 0.0

    @property
    def finished(self) -> bool:
        return self.state in FINISHED

    @property
    def fraction(self) -> float:
        return min(1.0, self.done / self.total) if self.total > 0 else 0.0

    def error(self) -> CodedError | None:
        """The failure as a coded error a page can translate (None unless failed or timed out)."""
        if self.error_code is None:
            return None
        return CodedError(self.error_code, self.error_message or self.error_code, **self.error_params)


def run_inline(target: Callable, **kwargs):
    """Run a job's target in this process with a report that does nothing (for tests)."""
    return target(lambda *args, **kw: None, **kwargs)


@contextlib.contextmanager
def without_main_import():
    """Start children without re-running the parent's __main__ script.

    multiprocessing makes each spawned or fork-server child import the parent's __main__ by path
    when it has no __spec__; under Streamlit, __main__ is a stand-in module whose __file__ is the
    app script, so every child would run the app. A __main__ whose __spec__ is named "__main__"
    is left alone (multiprocessing.spawn._fixup_main_from_name), so that is what the children see
    while one starts. Targets are imported by their module names."""
    main = sys.modules.get("__main__")
    if main is None or getattr(main, "__spec__", None) is not None:
        yield
        return
    with _main_lock:
        main.__spec__ = ModuleSpec("__main__", None)
        try:
            yield
        finally:
            main.__spec__ = None


def _child(conn, target: Callable, kwargs: dict, threads: int | None) -> None:
    """The child's main thread: its own process group, its thread count, the target, one answer."""
    with contextlib.suppress(OSError):
        os.setsid()
    if threads:
        import torch

        torch.set_num_threads(threads)

    def report(done: int, total: int, stage: str = "", partial=None) -> None:
        conn.send(("progress", int(done), int(total), str(stage), partial))

    try:
        conn.send(("done", target(report, **kwargs)))
    except Exception as exc:  # every failure reaches the page as a coded message
        code = getattr(exc, "code", None)
        params = dict(getattr(exc, "params", {}) or {}) if code else {"error": f"{type(exc).__name__}: {exc}"}
        conn.send(("failed", code or "job_failed", params, "".join(traceback.format_exception(exc))[-4000:]))
    finally:
        conn.close()


class Job:
    """One target run in a child process, at most `timeout_s` seconds, stoppable at any time."""

    def __init__(self, target: Callable, kwargs: dict | None = None, *, timeout_s: float,
                 threads: int | None = None):
        self.target, self.kwargs = target, dict(kwargs or {})
        self.timeout_s, self.threads = float(timeout_s), threads
        self._status = JobStatus()
        self._lock = threading.Lock()
        self._process = None
        self._conn = None
        self._started = 0.0

    def start(self) -> None:
        if self._process is not None:
            raise JobError("job_started", "This job has already been started.")
        with _slots_lock:
            if len(_running) >= MAX_RUNNING:
                raise JobError("job_busy", "The server is running as many jobs as it allows.", limit=MAX_RUNNING)
            _running.add(self)
        try:
            self._spawn()
        except Exception as exc:
            self._release()
            raise JobError("job_start", f"The job's process did not start: {exc}") from exc
        threading.Thread(target=self._read, name="nml-job-reader", daemon=True).start()

    def _spawn(self) -> None:
        ctx = mp.get_context("spawn")
        self._conn, child = ctx.Pipe(duplex=False)
        self._process = ctx.Process(target=_child, args=(child, self.target, self.kwargs, self.threads),
                                    name="nml-job")
        self._started = time.monotonic()
        self._status = JobStatus("running")
        with without_main_import():
            self._process.start()
        child.close()

    def poll(self) -> JobStatus:
        with self._lock:
            return replace(self._status, elapsed_s=self._elapsed())

    def stop(self) -> None:
        self._end("stopped")

    def _elapsed(self) -> float:
        return time.monotonic() - self._started if self._started else 0.0

    def _read(self) -> None:
        """The reader thread: drain messages, watch the clock and the process, until the job ends."""
        while not self._status.finished:
            try:
                if self._conn.poll(_POLL_S):
                    self._handle(self._conn.recv())
                    continue
            except (EOFError, OSError):
                self._died()
            if self._status.finished:
                break
            if self._elapsed() > self.timeout_s:
                self._end("timed_out", error_code="job_timeout", error_params={"seconds": round(self.timeout_s)})
            elif not self._process.is_alive() and not self._conn.poll():
                self._died()
        self._release()

    def _handle(self, message: tuple) -> None:
        kind = message[0]
        if kind == "progress":
            _, done, total, stage, partial = message
            with self._lock:
                if not self._status.finished:
                    self._status = replace(self._status, done=done, total=total, stage=stage,
                                           partial=partial if partial is not None else self._status.partial)
        elif kind == "done":
            self._end("done", result=message[1], done=max(self._status.done, self._status.total))
        else:
            _, code, params, text = message
            self._end("failed", error_code=code, error_params=params, error_message=text)

    def _died(self) -> None:
        if self._process is not None:
            self._process.join(timeout=2)  # the pipe closes before the child is reaped: wait for its exit code
        code = self._process.exitcode if self._process is not None else None
        self._end("failed", error_code="job_died", error_params={"exitcode": code})

    def _end(self, state: str, **changes) -> None:
        """Finish once: record the state, then end the child's whole process group."""
        with self._lock:
            if self._status.finished or self._process is None:
                return
            self._status = replace(self._status, state=state, elapsed_s=self._elapsed(), **changes)
        _kill_group(self._process)
        self._release()

    def _release(self) -> None:
        with _slots_lock:
            _running.discard(self)

    def __del__(self):  # a job nobody holds any more ends with its process
        with contextlib.suppress(Exception):
            if self._process is not None and self._process.is_alive():
                _kill_group(self._process)


def _kill_group(process) -> None:
    """End a child and every process it started (it leads its own group), then reap it."""
    if process.pid is None:
        return
    if process.is_alive():
        process.join(timeout=0.2)  # a target that just answered is exiting on its own
    # the group outlives its leader while a process the job started still runs
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        process.kill()
    process.join(timeout=5)


def running_jobs() -> int:
    """How many jobs hold a place now (for messages and tests)."""
    with _slots_lock:
        return len(_running)
