"""The playground's calls into engine.formula: cached on the formula's text (the Syntax the page
read once per rerun rides along unhashed, as `_syntax`), the worker pool warmed up in the
background, and a timeout remembered for the session instead of retried on every rerun."""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass

import numpy as np
import streamlit as st
import sympy as sp

import engine.formula as formula
from engine.formula import FormulaError, Syntax
from views.playground.examples import domain
from widgets.i18n import T

t = T("playground")
TIMEOUT = formula.DEFAULT_TIMEOUT  # seconds a worker may take before it is stopped
N_GRID = 201
VECTOR_DIM = formula.VECTOR_DIM
SIMPLIFY = {"quick": 0.2, "thorough": None, "off": 0.2}  # share of the timeout simplification may use
SLOW = {"timeout", "too_much_memory"}  # failures worth remembering: retrying costs the whole timeout
BOX_CHARS = 1000  # the box takes more than the engine's 200, so an over-long paste is explained, not cut


def _warm() -> None:
    with contextlib.suppress(FormulaError, OSError):
        formula.warm_up()


@st.cache_resource(show_spinner=False)
def warm_up_thread() -> threading.Thread:
    """formula.warm_up() in the background, once per server process: the first start of the
    workers (imports SymPy and torch) takes seconds; the page draws meanwhile."""
    thread = threading.Thread(target=_warm, daemon=True, name="nml-formula-warm-up")
    thread.start()
    return thread


def spinner():
    return st.spinner(t("spinner_start") if warm_up_thread().is_alive() else t("spinner"))


def read(text: str) -> Syntax | FormulaError:
    """The formula read once (cheap, in this process): its Syntax, or why it cannot be read."""
    try:
        return formula.read(text)
    except FormulaError as exc:
        return exc


@st.cache_data(show_spinner=False, max_entries=128)
def latex(text: str, _syntax: Syntax) -> str:
    """The formula built by SymPy in a worker (FormulaError for what cannot be built), as LaTeX."""
    return sp.latex(formula.parse(_syntax, timeout=TIMEOUT))


@st.cache_data(show_spinner=False, max_entries=128)
def analysed(text: str, variable: str | None, x_range: tuple[float, float], values: tuple, seed: int,
             mode: str, _syntax: Syntax) -> formula.Analysis:
    return formula.analyse(_syntax, variable=variable, x_range=x_range, n_grid=N_GRID, values=dict(values),
                           vector_dim=VECTOR_DIM, seed=seed, simplify=mode != "off",
                           simplify_budget=SIMPLIFY[mode], timeout=TIMEOUT)


@st.cache_data(show_spinner=False, max_entries=64)
def autograd_rows(text: str, n: int, seed: int, _syntax: Syntax) -> formula.AutogradCheck:
    """The check at n random points at once, and at each point alone (`rows`, for the table)."""
    return formula.autograd_check(_syntax, n_points=n, seed=seed, domain=domain(_syntax.names),
                                  vector_dim=VECTOR_DIM, rows=True, timeout=TIMEOUT)


@st.cache_data(show_spinner=False, max_entries=64)
def identity(lhs: str, rhs: str, _left: Syntax, _right: Syntax) -> formula.IdentityResult:
    return formula.check_identity(_left, _right, domain=domain(_left.scalars + _right.scalars), timeout=TIMEOUT)


@dataclass(frozen=True)
class Curve:
    x: np.ndarray
    y: np.ndarray


@st.cache_data(show_spinner=False, max_entries=64)
def side_curve(text: str, variable: str, x_range: tuple[float, float], _syntax: Syntax) -> Curve:
    """One side of an identity over `variable` (a constant line if the side does not use it)."""
    if variable in _syntax.scalars:
        a = formula.analyse(_syntax, variable=variable, x_range=x_range, n_grid=N_GRID, simplify=False,
                            timeout=TIMEOUT)
        return Curve(a.x, a.f)
    a = formula.analyse(_syntax, n_grid=2, simplify=False, timeout=TIMEOUT)
    return Curve(np.linspace(x_range[0], x_range[1], N_GRID), np.full(N_GRID, a.value))


def engine_call(key: tuple, fn, *args):
    """fn(*args), or the FormulaError it raised. A timeout is remembered for this session (the
    same request is not retried on every rerun) until the learner asks to try again."""
    failed = st.session_state.setdefault("pg_failed", {})
    if key in failed:
        return failed[key]
    try:
        with spinner():
            return fn(*args)
    except FormulaError as exc:
        if exc.code in SLOW:
            failed[key] = exc
        return exc


def retry_button(key: tuple, widget_key: str) -> None:
    if st.button(t("retry"), key=widget_key):
        st.session_state.get("pg_failed", {}).pop(key, None)
        st.rerun()
