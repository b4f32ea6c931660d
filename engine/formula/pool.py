"""The guarded side of engine.formula.core: a bounded pool of worker processes that analyse formulas.

Why processes: SymPy's simplify can run for minutes on a short formula ((x + y)^1000), one
big-integer operation holds the GIL for every Streamlit session, and signal-based timeouts do not
work in Streamlit's script threads. So the app process only parses (cheap, size-limited); every
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
import itertools
import json
import math
import multiprocessing as mp
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass, replace
from importlib.machinery import ModuleSpec

import numpy as np
import sympy as sp
import torch

from engine.formula.core import (
    NUMPY_FUNCTIONS,
    Dot,
    FormulaError,
    Parsed,
    ReLU,
    Softmax,
    build,
    elementary,
    to_tree,
    torch_value,
)

DEFAULT_VALUE = 0.5  # value of a variable that is not on the grid, unless given
KINK_TOL = 1e-8
MAX_LATEX = 20_000


# ===== in the worker process ===================================================================


class _OutOfBudget(BaseException):
    """A soft deadline inside the worker ran out (BaseException: SymPy's `except Exception` won't eat it)."""


def _alarm(signum, frame):
    raise _OutOfBudget


@contextlib.contextmanager
def _soft_deadline(seconds: float):
    """Interrupt Python-level work after `seconds` (the worker's main thread may use SIGALRM)."""
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, max(seconds, 1e-3))
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


class _Budget:
    """Time left for optional symbolic work (simplify) before falling back to the raw forms."""

    def __init__(self, seconds: float | None):
        self.deadline = None if seconds is None else time.monotonic() + seconds
        self.ran_out = False

    def simplify(self, expr: sp.Expr) -> sp.Expr | None:
        if self.deadline is None:
            return sp.simplify(expr)
        left = self.deadline - time.monotonic()
        if left <= 0:
            self.ran_out = True
            return None
        try:
            with _soft_deadline(left):
                return sp.simplify(expr)
        except _OutOfBudget:
            self.ran_out = True
            return None


def _refuse_display_only(expr: sp.Expr) -> None:
    if expr.has(Softmax):
        raise FormulaError("display_only", "softmax(…) is shown but not computed here: it acts on a whole "
                           "vector of scores. For one component write exp(z1)/(exp(z1) + exp(z2)).",
                           function="softmax")


def _symbols(parsed: Parsed) -> list[sp.Symbol]:
    """Scalars (sorted) then vectors (sorted): the argument order of every lambdified function."""
    return [parsed.symbols[n] for n in parsed.scalars] + [parsed.symbols["vec:" + n] for n in parsed.vectors]


def _floatify(expr: sp.Expr) -> sp.Expr:
    # integers past 2^53 would overflow NumPy's conversion: make them floats (inf if past 1e308)
    big = {r: sp.Float(r, 17) for r in expr.atoms(sp.Rational)
           if max(abs(r.p).bit_length(), abs(r.q).bit_length()) > 53}
    return expr.xreplace(big) if big else expr


def _lambdify(symbols: list[sp.Symbol], expr: sp.Expr):
    # dummify: the learner's names never appear in the generated code
    return sp.lambdify(symbols, _floatify(expr), modules=[NUMPY_FUNCTIONS, "scipy", "numpy"], dummify=True)


def _clean(value, shape: tuple[int, ...]) -> np.ndarray:
    """float64 array of `shape`; non-finite and non-real values become NaN."""
    arr = np.asarray(value)
    if np.iscomplexobj(arr):
        arr = np.where(np.abs(arr.imag) <= 1e-12 * np.maximum(1.0, np.abs(arr.real)), arr.real, np.nan)
    arr = np.array(np.broadcast_to(arr.astype(np.float64), shape))
    arr[~np.isfinite(arr)] = np.nan
    return arr


def _evaluate(symbols, expr, args, shape) -> np.ndarray:
    with np.errstate(all="ignore"):
        try:
            return _clean(_lambdify(symbols, expr)(*args), shape)
        except (ArithmeticError, TypeError, ValueError) as exc:
            raise FormulaError("cannot_evaluate", f"The formula could not be computed with numbers "
                               f"({type(exc).__name__}).", reason=type(exc).__name__) from None


def _latex(expr: sp.Expr) -> str:
    text = sp.latex(expr)
    if len(text) > MAX_LATEX:
        raise FormulaError("result_too_large", f"The result is too long to show ({len(text)} characters of "
                           "LaTeX): use a shorter formula or smaller powers.", length=len(text))
    return text


def _tidy(expr: sp.Expr, budget: _Budget | None) -> tuple[sp.Expr, bool]:
    """(simplified form if it is found in time and not longer, else `expr`; whether it was simplified)."""
    simple = budget.simplify(expr) if budget else None
    if simple is None or sp.count_ops(simple) > sp.count_ops(expr):
        return expr, simple is not None
    return simple, True


def task_analyse(text, variable, x_range, n_grid, values, vector_dim, seed, simplify, simplify_seconds):
    parsed = build(text)
    expr = parsed.expr
    _refuse_display_only(expr)
    budget = _Budget(simplify_seconds) if simplify else None
    shown, done = _tidy(expr, budget)
    derivatives = {}
    for name, sym in zip(parsed.scalars + parsed.vectors, _symbols(parsed)):
        derivative, _ = _tidy(sp.diff(expr, sym), budget)
        derivatives[name] = _latex(derivative)
    grid = _grid(parsed, variable, x_range, n_grid, values, vector_dim, seed)
    return {"latex": _latex(expr), "simplified_latex": _latex(shown) if simplify and done else None,
            "simplify_ran_out": bool(budget and budget.ran_out), "derivatives": derivatives} | grid


def _vector_values(parsed: Parsed, vector_dim: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {n: np.round(rng.uniform(-1.0, 1.0, vector_dim), 3) for n in parsed.vectors}


def _grid(parsed, variable, x_range, n_grid, values, vector_dim, seed) -> dict:
    scalars = parsed.scalars
    g = variable or ("x" if "x" in scalars else (scalars[0] if scalars else None))
    fixed = {n: float(values.get(n, DEFAULT_VALUE)) for n in scalars}
    vectors = _vector_values(parsed, vector_dim, seed)
    x = np.linspace(x_range[0], x_range[1], n_grid) if g else np.zeros(0)
    symbols = _symbols(parsed)
    point = [np.full((1, 1), fixed[n]) for n in scalars] + [vectors[n][None, :] for n in parsed.vectors]
    value = _evaluate(symbols, parsed.expr, point, (1, 1))[0, 0]
    f = df = np.zeros(0)
    if g:
        args = [x[:, None] if n == g else np.full((1, 1), fixed[n]) for n in scalars] + point[len(scalars):]
        f = _evaluate(symbols, parsed.expr, args, (n_grid, 1)).ravel()
        df = _evaluate(symbols, sp.diff(parsed.expr, parsed.symbols[g]), args, (n_grid, 1)).ravel()
        df[np.isnan(f)] = np.nan  # no slope where the function itself has no value (log(x) at x < 0)
    return {"grid_variable": g, "x": x.tolist(), "f": f.tolist(), "df": df.tolist(), "value": float(value),
            "fixed": {n: v for n, v in fixed.items() if n != g},
            "vector_values": {n: v.tolist() for n, v in vectors.items()}}


# ----- autograd check ---------------------------------------------------------------------------


def _domain(domain, name: str) -> tuple[float, float]:
    if isinstance(domain, dict):
        return tuple(domain.get(name, domain.get("*", (-2.0, 2.0))))
    return tuple(domain)


def _sample(parsed: Parsed, n_points, seed, domain, vector_dim, points) -> dict[str, np.ndarray]:
    """Scalars as (N, 1), vectors as (N, vector_dim), drawn uniformly from the domain (or given)."""
    if points:
        n = len(next(iter(points.values())))
        return {k: np.asarray(points[k], dtype=np.float64).reshape(n, -1) for k in parsed.scalars + parsed.vectors}
    rng = np.random.default_rng(seed)
    out = {n: rng.uniform(*_domain(domain, n), size=(n_points, 1)) for n in parsed.scalars}
    return out | {n: rng.uniform(*_domain(domain, n), size=(n_points, vector_dim)) for n in parsed.vectors}


def _kink_args(expr: sp.Expr) -> list[sp.Expr]:
    """Where the formula has a kink: the argument of ReLU/abs/step/sign, or a tie inside max/min."""
    found = []
    for node in sp.preorder_traversal(expr):
        if isinstance(node, (sp.Abs, sp.Heaviside, sp.sign, ReLU)):
            found.append(node.args[0])
        elif isinstance(node, (sp.Max, sp.Min)):
            found.extend(a - b for a, b in itertools.combinations(node.args, 2))
    return found


def _kinks(parsed: Parsed, args, n: int) -> np.ndarray:
    mask = np.zeros(n, dtype=bool)
    for arg in _kink_args(parsed.expr):
        value = _evaluate(_symbols(parsed), arg, args, (n, 1))[:, 0]
        mask |= np.abs(value) <= KINK_TOL * np.maximum(1.0, np.abs(value))
    return mask


def _torch_side(text: str, pts: dict[str, np.ndarray]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    tensors = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in pts.items()}
    n = len(next(iter(pts.values()))) if pts else 1
    f = torch.broadcast_to(torch_value(text, tensors), (n, 1))
    if f.requires_grad:
        f.sum().backward()
    grads = {k: (t.grad if t.grad is not None else torch.zeros_like(t)).numpy() for k, t in tensors.items()}
    return f.detach().numpy(), grads


def _point(pts, row) -> dict:
    return {k: (float(v[row, 0]) if v.shape[1] == 1 else v[row].tolist()) for k, v in pts.items()}


def task_autograd(text, n_points, seed, domain, vector_dim, points, tol):
    parsed = build(text)
    _refuse_display_only(parsed.expr)
    pts = _sample(parsed, n_points, seed, domain, vector_dim, points)
    n = len(next(iter(pts.values()))) if pts else 1
    symbols, names = _symbols(parsed), parsed.scalars + parsed.vectors
    args = [pts[k] for k in names]
    f_sym = _evaluate(symbols, parsed.expr, args, (n, 1))
    grad_sym = {k: _evaluate(symbols, sp.diff(parsed.expr, s), args, pts[k].shape) for k, s in zip(names, symbols)}
    f_torch, grad_torch = _torch_side(text, pts)
    kinks = _kinks(parsed, args, n)
    finite = np.isfinite(f_sym[:, 0]) & np.isfinite(f_torch[:, 0])
    for k in names:
        finite &= np.isfinite(grad_sym[k]).all(axis=1) & np.isfinite(grad_torch[k]).all(axis=1)
    valid = finite & ~kinks
    return _compare(names, pts, f_sym, f_torch, grad_sym, grad_torch, valid, kinks, finite, tol)


def _compare(names, pts, f_sym, f_torch, grad_sym, grad_torch, valid, kinks, finite, tol) -> dict:
    per_variable, worst = {}, None
    max_rel = 0.0
    for k in names:
        delta = np.abs(grad_sym[k] - grad_torch[k])[valid]
        rel = delta / np.maximum(1.0, np.abs(grad_torch[k][valid]))
        per_variable[k] = float(delta.max()) if delta.size else 0.0
        if delta.size and (worst is None or delta.max() > worst["abs_diff"]):
            row = np.flatnonzero(valid)[int(np.argmax(delta.max(axis=1)))]
            worst = {"variable": k, "point": _point(pts, row), "abs_diff": float(delta.max()),
                     "symbolic": grad_sym[k][row].tolist(), "torch": grad_torch[k][row].tolist()}
        max_rel = max(max_rel, float(rel.max()) if rel.size else 0.0)
    value_diff = np.abs(f_sym - f_torch)[valid]
    n_compared = int(valid.sum())
    return {"n_points": int(valid.size), "n_compared": n_compared, "n_kinks": int((kinks & finite).sum()),
            "n_nonfinite": int((~finite).sum()), "max_abs_diff": max(per_variable.values(), default=0.0),
            "max_rel_diff": max_rel, "per_variable": per_variable, "worst": worst,
            "value_diff": float(value_diff.max()) if value_diff.size else 0.0,
            "passed": bool(n_compared > 0 and max_rel <= tol), "tol": tol}


# ----- identities -------------------------------------------------------------------------------


def _exact_value(expr: sp.Expr, parsed_symbols: dict[str, sp.Symbol], point: dict) -> sp.Expr:
    """`expr` at `point` with 30 significant digits (dot products written out as sums)."""
    def dot(a, b):
        return sum(sp.Float(u, 30) * sp.Float(v, 30) for u, v in zip(point[a.name], point[b.name]))

    scalars = {s: sp.Float(point[n], 30) for n, s in parsed_symbols.items() if not n.startswith("vec:")}
    return sp.N(elementary(expr).replace(Dot, dot).xreplace(scalars), 30)


def task_identity(lhs, rhs, n_points, seed, domain, vector_dim, tol, symbolic_seconds):
    left, right = build(lhs), build(rhs)
    for side in (left, right):
        _refuse_display_only(side.expr)
    shown = {"lhs_latex": _latex(left.expr), "rhs_latex": _latex(right.expr)}
    difference = elementary(left.expr) - elementary(right.expr)
    budget = _Budget(symbolic_seconds)
    simple = difference if difference.is_number else budget.simplify(difference)
    if simple is not None and simple != 0 and not simple.is_number and difference.has(sp.tanh, sp.sin, sp.cos):
        # tanh vs σ and the like: simplify again with every function written with exp
        again = budget.simplify(difference.rewrite(sp.exp))
        simple = simple if again is None else again
    if simple == 0:
        return shown | {"status": "equal", "method": "symbolic", "counterexample": None,
                        "n_tested": 0, "n_compared": 0, "symbolic_ran_out": False}
    numeric = _numeric_identity(left, right, n_points, seed, domain, vector_dim, tol)
    if simple is not None and simple.is_number and numeric["status"] != "not_equal":
        # lhs − rhs simplifies to a constant c ≠ 0: unequal everywhere, however small c is
        numeric = _constant_gap(left, right, n_points, seed, domain, vector_dim) | {"n_tested": n_points}
    return shown | numeric | {"symbolic_ran_out": budget.ran_out}


def _constant_gap(left, right, n_points, seed, domain, vector_dim) -> dict:
    both = _joint(left, right)
    pts = _sample(both, n_points, seed, domain, vector_dim, None)
    point = _point(pts, 0) if pts else {}
    lv, rv = (float(_exact_value(side.expr, both.symbols, point)) for side in (left, right))
    return {"status": "not_equal", "method": "symbolic", "n_compared": 1,
            "counterexample": {"point": point, "lhs": lv, "rhs": rv}}


def _joint(left: Parsed, right: Parsed) -> Parsed:
    symbols = left.symbols | right.symbols
    scalars = tuple(sorted(set(left.scalars) | set(right.scalars)))
    vectors = tuple(sorted(set(left.vectors) | set(right.vectors)))
    clash = set(scalars) & set(vectors)
    if clash:
        name = sorted(clash)[0]
        raise FormulaError("vector_as_number", f"{name!r} is a vector on one side and a number on the other.",
                           name=name)
    return Parsed(f"{left.text} = {right.text}", left.expr - right.expr, scalars, vectors, symbols)


def _numeric_identity(left, right, n_points, seed, domain, vector_dim, tol) -> dict:
    both = _joint(left, right)
    pts = _sample(both, n_points, seed, domain, vector_dim, None)
    args = [pts[k] for k in both.scalars + both.vectors]
    symbols = _symbols(both)
    lv, rv = (_evaluate(symbols, side.expr, args, (n_points, 1))[:, 0] for side in (left, right))
    finite = np.isfinite(lv) & np.isfinite(rv)
    scale = np.maximum(1.0, np.maximum(np.abs(lv), np.abs(rv)))
    for row in np.flatnonzero(finite & (np.abs(lv - rv) > tol * scale)):
        point = _point(pts, row)
        exact = [_exact_value(side.expr, both.symbols, point) for side in (left, right)]
        if exact[0].is_number and exact[1].is_number and abs(exact[0] - exact[1]) > tol * float(scale[row]):
            return {"status": "not_equal", "method": "numeric", "n_tested": n_points, "n_compared": int(finite.sum()),
                    "counterexample": {"point": point, "lhs": float(lv[row]), "rhs": float(rv[row])}}
    status = "equal" if finite.sum() >= max(3, n_points // 10) else "undecided"
    return {"status": status, "method": "numeric" if status == "equal" else None, "counterexample": None,
            "n_tested": n_points, "n_compared": int(finite.sum())}


def task_parse(text):
    return {"tree": to_tree(build(text).expr)}


TASKS = {"parse": task_parse, "analyse": task_analyse, "autograd": task_autograd, "identity": task_identity}


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


_MAIN_LOCK = threading.Lock()


@contextlib.contextmanager
def _without_main_import():
    """Start children without re-running the parent's __main__ script.

    multiprocessing makes each spawned or fork-server child import the parent's __main__ by path
    when it has no __spec__; under Streamlit, __main__ is a stand-in module whose __file__ is the
    app script, so every worker would run the app. A __main__ whose __spec__ is named "__main__"
    is left alone (multiprocessing.spawn._fixup_main_from_name), so that is what the children see
    while a worker starts. Our target, serve(), is imported by its module name."""
    main = sys.modules.get("__main__")
    if main is None or getattr(main, "__spec__", None) is not None:
        yield
        return
    with _MAIN_LOCK:
        main.__spec__ = ModuleSpec("__main__", None)
        try:
            yield
        finally:
            main.__spec__ = None


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
        with _without_main_import():
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
