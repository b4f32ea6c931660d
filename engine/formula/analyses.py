"""The analyses of a formula: the pure work a worker of engine.formula.pool runs on a formula's text.

Each task gets the formula as text, builds it again (build.build re-reads it: nothing built in the
app process is trusted) and answers with plain JSON values:

- task_parse: the built expression as a tree (build.to_tree);
- task_analyse: LaTeX, ∂f/∂v for every variable, simplified forms within a time budget, and f,
  ∂f/∂(grid variable) sampled on a float64 grid for the plot;
- task_autograd: the symbolic derivative (lambdified) against torch.autograd at random points,
  overall and, on request, point by point;
- task_identity: is lhs = rhs? simplify(lhs − rhs) first, then both sides at random points.

Nothing here starts processes or talks to the app; pool.py does that."""

from __future__ import annotations

import contextlib
import itertools
import signal
import time

import numpy as np
import sympy as sp
import torch

from engine.formula.build import Parsed, build, to_tree, torch_value
from engine.formula.errors import FormulaError
from engine.formula.functions import NUMPY_FUNCTIONS, Dot, ReLU, Softmax, elementary

DEFAULT_VALUE = 0.5  # value of a variable that is not on the grid, unless given
KINK_TOL = 1e-8
MAX_LATEX = 20_000


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


def _torch_side(syntax, pts: dict[str, np.ndarray]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    tensors = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in pts.items()}
    n = len(next(iter(pts.values()))) if pts else 1
    f = torch.broadcast_to(torch_value(syntax, tensors), (n, 1))
    if f.requires_grad:
        f.sum().backward()
    grads = {k: (t.grad if t.grad is not None else torch.zeros_like(t)).numpy() for k, t in tensors.items()}
    return f.detach().numpy(), grads


def _point(pts, row) -> dict:
    return {k: (float(v[row, 0]) if v.shape[1] == 1 else v[row].tolist()) for k, v in pts.items()}


def task_autograd(text, n_points, seed, domain, vector_dim, points, tol, rows=False):
    """The check over every point at once and, with `rows`, at each point alone (a table row each)."""
    parsed = build(text)
    _refuse_display_only(parsed.expr)
    pts = _sample(parsed, n_points, seed, domain, vector_dim, points)
    n = len(next(iter(pts.values()))) if pts else 1
    symbols, names = _symbols(parsed), parsed.scalars + parsed.vectors
    args = [pts[k] for k in names]
    f_sym = _evaluate(symbols, parsed.expr, args, (n, 1))
    grad_sym = {k: _evaluate(symbols, sp.diff(parsed.expr, s), args, pts[k].shape) for k, s in zip(names, symbols)}
    f_torch, grad_torch = _torch_side(parsed.syntax, pts)
    kinks = _kinks(parsed, args, n)
    finite = np.isfinite(f_sym[:, 0]) & np.isfinite(f_torch[:, 0])
    for k in names:
        finite &= np.isfinite(grad_sym[k]).all(axis=1) & np.isfinite(grad_torch[k]).all(axis=1)
    valid = finite & ~kinks
    out = _compare(names, pts, f_sym, f_torch, grad_sym, grad_torch, valid, kinks, finite, tol)
    if rows:
        # the points themselves (scalars as lists, vectors as lists of lists), for a table
        out["points"] = {k: (v[:, 0] if k in parsed.scalars else v).tolist() for k, v in pts.items()}
        # every quantity is computed point by point, so a row is the check on that point alone
        out["rows"] = [_compare(names, *_row((pts, f_sym, f_torch, grad_sym, grad_torch, valid, kinks, finite), i),
                                tol) for i in range(n if pts else 0)]
    return out


def _row(arrays, i: int) -> list:
    """Row i (kept 2-D) of each array, or of each array in a dict."""
    return [{k: v[i:i + 1] for k, v in a.items()} if isinstance(a, dict) else a[i:i + 1] for a in arrays]


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
