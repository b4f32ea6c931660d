"""User-typed formulas, read safely and analysed in guarded worker processes.

Data walks one way: read (text → checked syntax tree, no SymPy) → build (tree → SymPy, or torch)
→ analyses (derivatives, sampled values, autograd and identity checks: the work a worker does)
→ pool (the sandboxed worker processes) → api (the calls the app makes). errors, rules and
functions sit underneath: FormulaError with its codes, the limits, the function table.

A page reads a formula once (`read`) and passes the Syntax to every call; every refusal is a
FormulaError whose `code` and `params` the page translates (params `hint` and `what` are codes too)."""

from engine.formula.api import (
    Analysis,
    AutogradCheck,
    IdentityResult,
    analyse,
    autograd_check,
    check_identity,
    parse,
    warm_up,
)
from engine.formula.errors import HINTS, WHATS, FormulaError
from engine.formula.functions import FUNCTIONS, FunctionSpec
from engine.formula.read import Syntax, read
from engine.formula.rules import DEFAULT_TIMEOUT, MAX_CHARS, VECTOR_DIM

__all__ = [
    "DEFAULT_TIMEOUT", "FUNCTIONS", "HINTS", "MAX_CHARS", "VECTOR_DIM", "WHATS", "Analysis", "AutogradCheck",
    "FormulaError", "FunctionSpec", "IdentityResult", "Syntax", "analyse", "autograd_check", "check_identity",
    "parse", "read", "warm_up",
]
