"""The sandbox: a bounded pool of worker processes that run the analyses (analyses.TASKS) on formulas.

Why processes: SymPy's simplify can run for minutes on a short formula ((x + y)^1000), one
big-integer operation holds the GIL for every Streamlit session, and signal-based timeouts do not
work in Streamlit's script threads. So the app process only reads (cheap, size-limited); every
other step runs here, in a worker that

- gets the formula as *text* and re-runs the safe parser (no objects are unpickled from the app),
  and answers in JSON (no pickle on the way back either),
- has an address-space limit (RLIMIT_AS, a MemoryError comes back as "too_much_memory"), a CPU
  limit per request (RLIMIT_CPU) and no core dumps,
- is killed by the app after `timeout` seconds of wall clock ("timeout"); a replacement is started
  at once, so the next request works.

At most one worker per core (a pool guarded by a condition variable); requests beyond that wait
in line (up to `queue_timeout`). Workers come from multiprocessing's "forkserver" (fork from a
threaded server is unsafe; the fork server itself is single-threaded and preloads SymPy, NumPy and
torch, so a replacement starts in milliseconds), or "spawn" where there is no fork server.
"""

from __future__ import annotations

import contextlib
import json
import math
import multiprocessing as mp
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass, replace

import torch

from engine.formula.analyses import TASKS, task_analyse, task_autograd, task_identity
from engine.formula.errors import FormulaError
from engine.lab.jobs import without_main_import

# ----- the worker's loop ------------------------------------------------------------------------

# audit events a formula must never cause (recorded when the pool is configured with audit_log)
WATCHED_EVENTS = ("os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork", "os.forkpty", "os.kill",
                  "subprocess.Popen", "socket.connect", "socket.bind", "os.remove", "os.rename", "os.unlink",
                  "shutil.", "ctypes.dlopen", "urllib.Request", "webbrowser.open")


def _install_audit_log(path: str) -> None:
    log = open(path, "a", buffering=1, encoding="utf-8")  # opened before the hook: not recorded
    log.write(json.dumps({"pid": os.getpid(), "event": "nml.audit_started", "args": ""}) + "\n")

    def hook(event, args):
        write = event == "open" and (isinstance(args[1], str) and any(c in args[1] for c in "wax+")
                                     or isinstance(args[2], int) and args[2] & (os.O_WRONLY | os.O_RDWR | os.O_CREAT))
        if write or event.startswith(WATCHED_EVENTS):
            log.write(json.dumps({"pid": os.getpid(), "event": event, "args": repr(args)[:500]}) + "\n")

    sys.addaudithook(hook)


def _address_space() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")


def _init_worker(settings: dict) -> None:
    import resource

    torch.set_num_threads(1)
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    with contextlib.suppress(OSError, ValueError):
        limit = _address_space() + settings["memory_mb"] * 2**20
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    _warm()
    if settings.get("audit_log"):
        _install_audit_log(settings["audit_log"])


def _warm() -> None:
    """Run each task once on a tiny formula, so SymPy's lazy imports and caches are paid before the
    worker says it is ready (a request's timeout then measures only its own work)."""
    task_analyse("sigmoid(x)^2 + q.k", None, (-1.0, 1.0), 5, {}, 2, 0, True, None)
    task_autograd("relu(x)*tanh(x)", 4, 0, (-1.0, 1.0), 2, None, 1e-9)
    task_identity("softplus(x)", "log(1 + exp(x))", 4, 0, (-1.0, 1.0), 2, 1e-9, None)


def _limit_cpu(seconds: float) -> None:
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    soft = int(usage.ru_utime + usage.ru_stime + seconds) + 2
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    resource.setrlimit(resource.RLIMIT_CPU, (soft if hard == resource.RLIM_INFINITY else min(soft, hard), hard))


def _handle(request: dict) -> dict:
    try:
        _limit_cpu(request["timeout"])
        return {"ok": True, "result": TASKS[request["task"]](**request["args"])}
    except FormulaError as exc:
        return {"ok": False, "code": exc.code, "message": str(exc), "params": exc.params}
    except MemoryError:
        return {"ok": False, "code": "too_much_memory", "recycle": True, "params": {},
                "message": "The computation needed more memory than allowed: use a shorter formula or smaller powers."}
    except RecursionError:
        return {"ok": False, "code": "too_complex", "recycle": True, "params": {},
                "message": "The formula is too deeply nested to analyse: simplify it."}
    except Exception as exc:  # SymPy raises many kinds; the learner gets a message, the worker is replaced
        return {"ok": False, "code": "internal", "recycle": True, "params": {"reason": type(exc).__name__},
                "message": f"SymPy could not analyse this formula ({type(exc).__name__}: {str(exc)[:200]})."}


def serve(conn, settings: dict) -> None:
    """The worker's main function: answer JSON requests until the app closes the pipe."""
    _init_worker(settings)
    conn.send_bytes(b"ready")
    while True:
        try:
            request = json.loads(conn.recv_bytes())
        except (EOFError, OSError):
            return
        reply = _handle(request)
        conn.send_bytes(json.dumps(reply).encode())
        if reply.get("recycle"):
            return


# ===== in the app process ======================================================================


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


@dataclass(frozen=True)
class PoolSettings:
    """workers: at most one per core; memory_mb: address space a worker may add after start-up;
    queue_timeout: how long a request waits for a free worker; audit_log: file that records the
    workers' risky audit events (tests)."""

    workers: int = _cores()
    memory_mb: int = 1024
    queue_timeout: float = 60.0
    start_timeout: float = 120.0
    audit_log: str | None = None


def _context():
    if "forkserver" in mp.get_all_start_methods():
        ctx = mp.get_context("forkserver")
        ctx.set_forkserver_preload(["engine.formula.pool"])
        return ctx
    return mp.get_context("spawn")


class _Worker:
    def __init__(self, settings: PoolSettings):
        ctx = _context()
        self.conn, child = ctx.Pipe()
        config = {"memory_mb": settings.memory_mb, "audit_log": settings.audit_log}
        self.process = ctx.Process(target=serve, args=(child, config), daemon=True, name="nml-formula")
        with without_main_import():
            self.process.start()
        child.close()
        if not self.conn.poll(settings.start_timeout) or self._recv() != b"ready":
            self.kill()
            raise FormulaError("no_worker", "The formula worker did not start.")

    def _recv(self) -> bytes | None:
        try:
            return self.conn.recv_bytes()
        except (EOFError, OSError):
            return None

    def call(self, request: dict, timeout: float) -> dict:
        """The worker's reply, or {"died": exit code} / {"timed_out": True} (the worker is then dead)."""
        try:
            self.conn.send_bytes(json.dumps(request).encode())
        except OSError:
            return {"died": self.process.exitcode}
        if not self.conn.poll(timeout):
            self.kill()
            return {"timed_out": True}
        data = self._recv()
        if data is None:
            self.process.join(1.0)
            return {"died": self.process.exitcode}
        return json.loads(data)

    def kill(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join(2.0)
        self.conn.close()


class _Pool:
    """At most `settings.workers` workers; a request takes an idle one or starts one, else waits."""

    def __init__(self, settings: PoolSettings):
        self.settings = settings
        self.cond = threading.Condition()
        self.idle: list[_Worker] = []
        self.alive = 0
        self.closed = False

    def take(self) -> _Worker:
        deadline = time.monotonic() + self.settings.queue_timeout
        with self.cond:
            while not self.idle and self.alive >= self.settings.workers:
                if not self.cond.wait(deadline - time.monotonic()) and time.monotonic() >= deadline:
                    raise FormulaError("busy", "Too many formulas are being analysed right now: try again "
                                       "in a moment.", wait=self.settings.queue_timeout)
            if self.idle:
                return self.idle.pop()
            self.alive += 1
        return self._start()

    def _start(self) -> _Worker:
        try:
            return _Worker(self.settings)
        except BaseException:
            with self.cond:
                self.alive -= 1
                self.cond.notify()
            raise

    def give_back(self, worker: _Worker) -> None:
        with self.cond:
            if not self.closed:
                self.idle.append(worker)
                self.cond.notify()
                return
        self.retire(worker, replace_it=False)

    def retire(self, worker: _Worker, replace_it: bool = True) -> None:
        """A dead or recycled worker: count it out and start its replacement in the background."""
        worker.kill()
        with self.cond:
            self.alive -= 1
            self.cond.notify()
            if not replace_it or self.closed:
                return
            self.alive += 1
        threading.Thread(target=self._replace, daemon=True, name="nml-formula-start").start()

    def _replace(self) -> None:
        with contextlib.suppress(FormulaError, OSError):
            self.give_back(self._start())

    def warm_up(self) -> None:
        workers = [self.take() for _ in range(self.settings.workers)]
        for worker in workers:
            self.give_back(worker)

    def close(self) -> None:
        with self.cond:
            self.closed = True
            idle, self.idle = self.idle, []
        for worker in idle:
            worker.kill()

    def run(self, task: str, args: dict, timeout: float) -> dict:
        worker = self.take()
        try:
            reply = worker.call({"task": task, "args": args, "timeout": timeout}, timeout)
        except BaseException:
            self.retire(worker)
            raise
        if "timed_out" in reply or "died" in reply or reply.get("recycle"):
            self.retire(worker)
        else:
            self.give_back(worker)
        return _result(reply, timeout)


def _result(reply: dict, timeout: float) -> dict:
    if reply.get("ok"):
        return reply["result"]
    if "timed_out" in reply or reply.get("died") == -signal.SIGXCPU:
        raise FormulaError("timeout", f"The analysis took longer than {timeout:g} s and was stopped: try a "
                           "shorter formula, smaller powers, or switch simplification off.", timeout=timeout)
    if "died" in reply:
        raise FormulaError("too_much_memory", "The analysis ran out of memory (its worker stopped): try a "
                           "shorter formula or smaller powers.", exitcode=reply["died"])
    raise FormulaError(reply["code"], reply["message"], **reply.get("params", {}))


_POOL: _Pool | None = None
_SETTINGS = PoolSettings()
_POOL_LOCK = threading.Lock()


def pool() -> _Pool:
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = _Pool(_SETTINGS)
        return _POOL


def configure(**changes) -> PoolSettings:
    """Change PoolSettings (workers ≤ cores); the current workers are stopped, new ones start on demand."""
    global _POOL, _SETTINGS
    settings = replace(_SETTINGS, **changes)
    if not 1 <= settings.workers <= _cores():
        raise ValueError(f"workers must be between 1 and {_cores()} (one per core), got {settings.workers}.")
    if not 64 <= settings.memory_mb <= 1 << 20:
        raise ValueError(f"memory_mb must be between 64 and {1 << 20}, got {settings.memory_mb}.")
    with _POOL_LOCK:
        old, _POOL, _SETTINGS = _POOL, None, settings
    if old is not None:
        old.close()
    return settings


def shutdown() -> None:
    """Stop every idle worker (busy ones stop when their request ends)."""
    global _POOL
    with _POOL_LOCK:
        old, _POOL = _POOL, None
    if old is not None:
        old.close()


def run(task: str, args: dict, timeout: float) -> dict:
    """One request to a worker: its JSON result, or FormulaError (including "timeout")."""
    if not (isinstance(timeout, int | float) and 0.05 <= timeout <= 60.0 and math.isfinite(timeout)):
        raise ValueError(f"timeout must be between 0.05 and 60 seconds, got {timeout!r}.")
    return pool().run(task, args, float(timeout))


__all__ = ["PoolSettings", "configure", "pool", "run", "serve", "shutdown"]
