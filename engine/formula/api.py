"""The formula calls the app makes. Each takes the formula as text or as the `Syntax` that read()
returned for it (a page reads a typed formula once per rerun and passes that on), checks its
arguments here, and sends the text to a worker of engine.formula.pool, which builds and analyses
it under time and memory limits and answers in JSON. The calls stay synchronous.

- parse(formula) → a SymPy expression (rebuilt from the worker's tree without evaluating);
- analyse(formula, …) → Analysis: LaTeX, derivatives, simplified forms, a grid for the plot;
- autograd_check(formula, …) → AutogradCheck: SymPy's derivative against torch.autograd;
- check_identity(lhs, rhs, …) → IdentityResult;
- warm_up(): start the workers now.

Every refusal is a FormulaError(code, message, **params)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import sympy as sp

from engine.formula import pool
from engine.formula.build import from_tree
from engine.formula.errors import FormulaError  # noqa: F401  (what every call here may raise)
from engine.formula.read import Syntax, read
from engine.formula.rules import DEFAULT_TIMEOUT, MAX_LITERAL, MAX_TIMEOUT, VECTOR_DIM
from engine.limits import check


def _syntax(formula: Syntax | str) -> Syntax:
    """The formula as read: a Syntax passes through (already read), text is read now."""
    return formula if isinstance(formula, Syntax) else read(formula)


def parse(formula: Syntax | str, *, timeout: float = DEFAULT_TIMEOUT) -> sp.Expr:
    """A learner's formula → a SymPy expression, or FormulaError(code, message, **params).

    The text is checked here (read); SymPy builds it in a worker process under the time and memory
    limits, and the result comes back as a tree that is rebuilt without evaluating anything."""
    syntax = _syntax(formula)
    return from_tree(pool.run("parse", {"text": syntax.text}, _check_timeout(timeout))["tree"])


@dataclass(frozen=True)
class Analysis:
    """A formula's LaTeX, its derivatives, and its values on a float64 grid (NaN where not finite).

    x, f, df: the grid of `grid_variable` and f, ∂f/∂(grid_variable) there; the other variables
    are held at `fixed` (vectors at `vector_values`), and `value` is f with every variable there.
    simplified_latex is None when simplification was off or did not finish in its time budget."""

    text: str
    latex: str
    simplified_latex: str | None
    simplify_ran_out: bool
    variables: tuple[str, ...]
    vectors: tuple[str, ...]
    derivatives: dict[str, str]
    grid_variable: str | None
    x: np.ndarray
    f: np.ndarray
    df: np.ndarray
    fixed: dict[str, float]
    vector_values: dict[str, tuple[float, ...]]
    value: float


@dataclass(frozen=True)
class AutogradCheck:
    """Symbolic derivative (SymPy, lambdified) against torch.autograd at random points.

    Points where either side is not finite, or that sit on a kink (relu/abs at 0, a tie in
    max/min), are not compared: n_compared = n_points − n_nonfinite − n_kinks. With rows=True,
    `rows` holds the same check at each point alone and `points` the points ({name: values})."""

    text: str
    passed: bool
    max_abs_diff: float
    max_rel_diff: float
    per_variable: dict[str, float]
    value_diff: float
    n_points: int
    n_compared: int
    n_kinks: int
    n_nonfinite: int
    worst: dict | None
    tol: float
    rows: tuple[AutogradCheck, ...] = ()
    points: dict[str, list] | None = None


@dataclass(frozen=True)
class IdentityResult:
    """status: "equal" (method "symbolic": simplify(lhs − rhs) = 0, or "numeric": equal at every
    random point where both sides are finite), "not_equal" (with a counterexample: point, lhs, rhs,
    confirmed with 30-digit arithmetic), or "undecided" (too few points where both are finite)."""

    lhs: str
    rhs: str
    status: str
    method: str | None
    lhs_latex: str
    rhs_latex: str
    counterexample: dict | None
    n_tested: int
    n_compared: int
    symbolic_ran_out: bool


def _check_timeout(timeout) -> float:
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 0.05 <= timeout <= MAX_TIMEOUT:
        raise ValueError(f"timeout must be a number of seconds between 0.05 and {MAX_TIMEOUT:g}, got {timeout!r}.")
    return float(timeout)


def _check_interval(pair, what: str) -> tuple[float, float]:
    try:
        low, high = (float(v) for v in pair)
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be a pair (low, high) of numbers, got {pair!r}.") from None
    if not (math.isfinite(low) and math.isfinite(high) and low < high and max(-low, high) <= MAX_LITERAL):
        raise ValueError(f"{what} must satisfy -{MAX_LITERAL} ≤ low < high ≤ {MAX_LITERAL}, got {pair!r}.")
    return low, high


def _check_domain(domain) -> dict | tuple[float, float]:
    if isinstance(domain, dict):
        return {str(k): _check_interval(v, f"domain[{k!r}]") for k, v in domain.items()}
    return _check_interval(domain, "domain")


def _check_values(values, parsed: Syntax) -> dict[str, float]:
    out = {}
    for name, value in (values or {}).items():
        if name not in parsed.scalars:
            continue  # values for names this formula does not use are ignored
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise ValueError(f"The value of {name} must be a finite number, got {value!r}.")
        out[name] = float(value)
    return out


def _fraction(share, what: str) -> float | None:
    if share is None:
        return None
    if isinstance(share, bool) or not isinstance(share, int | float) or not 0 < share < 1:
        raise ValueError(f"{what} must be a fraction of the timeout in (0, 1), or None, got {share!r}.")
    return float(share)


def analyse(formula: Syntax | str, *, variable: str | None = None, x_range=(-5.0, 5.0), n_grid: int = 201,
            values: dict[str, float] | None = None, vector_dim: int = VECTOR_DIM, seed: int = 0,
            simplify: bool = True, simplify_budget: float | None = 0.5,
            timeout: float = DEFAULT_TIMEOUT) -> Analysis:
    """Parse, then (in a worker) LaTeX, ∂f/∂v for every variable, simplified forms and a grid.

    variable: the grid's variable (default x, else the first name); other variables are held at
    `values` (default 0.5). simplify_budget: the share of `timeout` simplification may use before
    the raw forms are kept; None lets it use all of it (then a slow simplify is a "timeout")."""
    parsed = _syntax(formula)
    text = parsed.text
    if variable is not None and variable not in parsed.scalars:
        raise ValueError(f"variable must be one of the formula's numbers {parsed.scalars}, got {variable!r}.")
    timeout = _check_timeout(timeout)
    share = _fraction(simplify_budget, "simplify_budget")
    args = {"text": text, "variable": variable, "x_range": _check_interval(x_range, "x_range"),
            "n_grid": check("formula_grid", n_grid), "values": _check_values(values, parsed),
            "vector_dim": check("vector_dim", vector_dim), "seed": int(seed), "simplify": bool(simplify),
            "simplify_seconds": None if share is None else share * timeout}
    out = pool.run("analyse", args, timeout)
    arrays = {k: np.asarray(out[k], dtype=np.float64) for k in ("x", "f", "df")}
    return Analysis(text=text, latex=out["latex"], simplified_latex=out["simplified_latex"],
                    simplify_ran_out=out["simplify_ran_out"], variables=parsed.scalars, vectors=parsed.vectors,
                    derivatives=out["derivatives"], grid_variable=out["grid_variable"], fixed=out["fixed"],
                    vector_values={k: tuple(v) for k, v in out["vector_values"].items()},
                    value=float(out["value"]), **arrays)


def _check_points(points, parsed: Syntax, vector_dim: int) -> dict | None:
    if points is None:
        return None
    names = parsed.scalars + parsed.vectors
    if set(points) != set(names):
        raise ValueError(f"points must give every variable {names}, got {sorted(points)}.")
    arrays = {k: np.asarray(points[k], dtype=np.float64) for k in names}
    n = {len(a) for a in arrays.values()}
    if len(n) != 1 or not 1 <= n.pop() <= 1000 or not all(np.isfinite(a).all() for a in arrays.values()):
        raise ValueError("points must hold 1 to 1000 finite values per variable, the same number for each.")
    for k in parsed.vectors:
        if arrays[k].ndim != 2 or arrays[k].shape[1] != vector_dim:
            raise ValueError(f"points[{k!r}] must have shape (n, {vector_dim}) (a vector per point).")
    return {k: a.tolist() for k, a in arrays.items()}


def autograd_check(formula: Syntax | str, *, n_points: int = 64, seed: int = 0, domain=(-2.0, 2.0), points=None,
                   vector_dim: int = VECTOR_DIM, tol: float = 1e-9, rows: bool = False,
                   timeout: float = DEFAULT_TIMEOUT) -> AutogradCheck:
    """∂f/∂v from SymPy (lambdified, float64) against torch.autograd on the same formula built from
    the torch table, at `n_points` random points (uniform in `domain`, a pair or {name: pair}) or at
    given `points` ({name: values}). passed: max |Δ| / max(1, |torch|) ≤ tol over compared points."""
    parsed = _syntax(formula)
    if not (isinstance(tol, float | int) and 0 < tol < 1):
        raise ValueError(f"tol must be in (0, 1), got {tol!r}.")
    vector_dim = check("vector_dim", vector_dim)
    args = {"text": parsed.text, "n_points": check("formula_points", n_points), "seed": int(seed),
            "domain": _check_domain(domain), "vector_dim": vector_dim,
            "points": _check_points(points, parsed, vector_dim), "tol": float(tol), "rows": bool(rows)}
    out = pool.run("autograd", args, _check_timeout(timeout))
    found = tuple(AutogradCheck(text=parsed.text, **row) for row in out.pop("rows", ()))
    return AutogradCheck(text=parsed.text, **out, rows=found)


def check_identity(lhs: Syntax | str, rhs: Syntax | str, *, n_points: int = 100, seed: int = 0, domain=(-2.0, 2.0),
                   vector_dim: int = VECTOR_DIM, tol: float = 1e-9, symbolic_budget: float | None = 0.5,
                   timeout: float = DEFAULT_TIMEOUT) -> IdentityResult:
    """Is lhs = rhs? simplify(lhs − rhs) == 0 first (network functions rewritten as exp/log/erf/Max),
    within `symbolic_budget` × timeout; then both sides at `n_points` random points."""
    lhs, rhs = _syntax(lhs).text, _syntax(rhs).text
    timeout = _check_timeout(timeout)
    share = _fraction(symbolic_budget, "symbolic_budget")
    if not (isinstance(tol, float | int) and 0 < tol < 1):
        raise ValueError(f"tol must be in (0, 1), got {tol!r}.")
    args = {"lhs": lhs, "rhs": rhs, "n_points": check("formula_points", n_points), "seed": int(seed),
            "domain": _check_domain(domain), "vector_dim": check("vector_dim", vector_dim), "tol": float(tol),
            "symbolic_seconds": None if share is None else share * timeout}
    out = pool.run("identity", args, timeout)
    return IdentityResult(lhs=lhs, rhs=rhs, **out)


def warm_up() -> None:
    """Start the worker processes now (the first start imports SymPy and torch: seconds)."""
    pool.pool().warm_up()
