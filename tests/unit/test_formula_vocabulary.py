"""The playground's allowlist and the vocabulary of its own output agree: every function that the
derivative of an allowed function is written with can be typed back (tanh' is written 1/cosh²,
GELU' with erf, log(cos)' with tan). Output-only forms are named here on purpose: θ (the step,
ReLU's derivative) and sign (|z|'), whose own derivatives are distributions, and the case split
max and min are differentiated into (Piecewise), which is no function."""

import sympy as sp

from engine.formula import FUNCTIONS
from engine.formula.build import TREE_CLASSES, build

OUTPUT_ONLY = {"Heaviside", "sign", "Piecewise"}
# the class SymPy builds for each name a learner may type
TYPED = {type(build(f"{name}(x)" if spec.arity == 1 else f"{name}(x, y)").expr).__name__
         for name, spec in FUNCTIONS.items() if not spec.display_only}


def _functions(expr: sp.Expr) -> set[str]:
    return {type(f).__name__ for f in expr.atoms(sp.Function)}


def test_every_function_in_a_derivative_can_be_typed():
    seen = set()
    for name, spec in FUNCTIONS.items():
        if spec.display_only:
            continue
        parsed = build(f"{name}(2*x + 1)" if spec.arity == 1 else f"{name}(x, 2*x - 1)")
        x = parsed.symbols["x"]
        for form in (sp.diff(parsed.expr, x), sp.simplify(sp.diff(parsed.expr, x))):
            seen |= _functions(form)
    assert seen - OUTPUT_ONLY <= TYPED, sorted(seen - OUTPUT_ONLY - TYPED)
    assert {"cosh", "erf"} <= seen  # tanh' and GELU' really are written with them


def test_every_typed_function_can_be_sent_back_from_a_worker():
    assert TYPED <= set(TREE_CLASSES), sorted(TYPED - set(TREE_CLASSES))
