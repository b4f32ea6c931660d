"""Building a formula: a checked syntax tree (read.Syntax) → a SymPy expression, or → torch tensors.

SymPy evaluates as it builds (2^1000, sqrt(8) = 2√2, roots of numbers: SymPy's integer root
extraction can take minutes on a 200-character formula), so `build(text)` runs in an
engine.formula.pool worker, checking every limit as each part is built; the expression comes back
to the app as a JSON tree (`to_tree`) that `from_tree` rebuilds with evaluate=False, from an
allowlist of classes — no arithmetic in the app process. Number literals become exact Rationals
(`0.1` is 1/10), so identities are decided exactly.

`torch_value` walks the same checked tree with the torch table (for the autograd check),
independently of SymPy's rewriting."""

from __future__ import annotations

import ast
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction

import sympy as sp
import torch

from engine.formula.errors import FormulaError
from engine.formula.functions import (
    CONSTANTS,
    GELU,
    TORCH_CONSTANTS,
    Dot,
    FunctionSpec,
    ReLU,
    Sigmoid,
    Softmax,
    Softplus,
    VectorSymbol,
    torch_dot,
)
from engine.formula.read import Syntax, read
from engine.formula.rules import MAX_BITS, MAX_EXPONENT, MAX_NODES, MAX_ROOT_WORK, NAME
from engine.formula.walk import Walker, literal


def _bits(expr: sp.Expr) -> int:
    """The largest bit length of any integer numerator or denominator inside `expr`."""
    sizes = [max(abs(r.p).bit_length(), abs(r.q).bit_length()) for r in expr.atoms(sp.Rational)]
    return max(sizes, default=1)


class _SympyBackend:
    def __init__(self, source: str, symbols: dict[str, sp.Symbol]):
        self.source = source
        self.symbols = symbols

    def number(self, value, text: str, node, walker) -> sp.Expr:
        exact = literal(value, text, walker.col(node))
        return sp.Rational(exact.numerator, exact.denominator)

    def constant(self, name: str) -> sp.Expr:
        return CONSTANTS[name]

    def scalar(self, name: str) -> sp.Symbol:
        return self.symbols.setdefault(name, sp.Symbol(name, real=True))

    def dot(self, a: str, b: str) -> sp.Expr:
        vec = [self.symbols.setdefault(f"vec:{n}", VectorSymbol(n, real=True)) for n in (a, b)]
        return Dot(*vec)

    def neg(self, value, node, walker):
        return self.checked(-value, node, walker)

    def binary(self, op, left, right, node, walker):
        if op is ast.Div and _is_zero(right):
            col = walker.col(node.right)
            raise FormulaError("division_by_zero", f"Division by zero at column {col}: the divisor is 0 (or too "
                               "close to 0 to tell apart).", column=col)
        if op is ast.Pow:
            self.check_power(left, right, node, walker)
        result = {ast.Add: lambda: left + right, ast.Sub: lambda: left - right, ast.Mult: lambda: left * right,
                  ast.Div: lambda: left / right, ast.Pow: lambda: left**right}[op]()
        return self.checked(result, node, walker, walker.op_col(node))

    def check_power(self, base, exponent, node, walker):
        col = walker.col(node.right)
        if not exponent.is_number:
            return
        size = abs(exponent) if exponent.is_Rational else abs(float(sp.N(exponent, 20)))
        if size > MAX_EXPONENT:
            raise FormulaError("exponent_too_large", f"The exponent at column {col} is too large: at most "
                               f"{MAX_EXPONENT} in size.", column=col, limit=MAX_EXPONENT)
        if base.is_number and _bits(base) * size > MAX_BITS:
            raise FormulaError("power_too_large", f"The power at column {col} would have more than {MAX_BITS} "
                               "bits: use smaller numbers.", column=col, limit=MAX_BITS)
        # SymPy extracts roots of a number with b^(p mod q) arithmetic: keep b's bits × q bounded
        if base.is_number and exponent.is_Rational and _bits(base) * exponent.q > MAX_ROOT_WORK:
            raise FormulaError("power_too_large", f"The root at column {col} is too fine to work out exactly: "
                               "write the exponent with fewer decimals (like 0.5 or 1/3).", column=col,
                               limit=MAX_ROOT_WORK)
        if base.is_zero and exponent.is_negative:
            raise FormulaError("division_by_zero", f"Division by zero at column {col}: 0 to a negative power.",
                               column=col)

    def call(self, spec: FunctionSpec, args, node, walker):
        return self.checked(spec.sympy(*args), node, walker)

    def checked(self, expr: sp.Expr, node, walker, col: int | None = None) -> sp.Expr:
        """Refuse ∞, NaN, non-real numbers and numbers over MAX_BITS as soon as they appear."""
        col = col or walker.col(node)
        if expr.has(sp.zoo, sp.nan, sp.oo, -sp.oo):
            raise _not_finite(col)
        if expr.is_number and expr.is_extended_real is False:
            raise _not_real(col)
        if _bits(expr) > MAX_BITS:
            raise FormulaError("result_too_large", f"A number in the part at column {col} has more than "
                               f"{MAX_BITS} bits: use smaller numbers.", column=col, limit=MAX_BITS)
        if expr.is_number and not expr.is_Rational:
            _check_magnitude(expr, col)
        return expr


def _not_finite(col: int) -> FormulaError:
    return FormulaError("not_finite", f"The part at column {col} is infinite or undefined (like 1/0 or "
                        "log(0)): change it so its value is a finite number.", column=col)


def _not_real(col: int) -> FormulaError:
    return FormulaError("not_real", f"The part at column {col} is not a real number (like sqrt(-1) or "
                        "log(-1)): formulas here use real numbers.", column=col)


def _check_magnitude(number: sp.Expr, col: int) -> None:
    """A constant such as exp(exp(100)) must lie within 2^±MAX_BITS in size (or be 0).

    Bottom-up, every constant is checked as soon as it is built, so each one is made of parts of
    bounded size; that keeps this evalf, and the ones SymPy's assumptions run (is_zero, is_positive
    inside sin, abs, max, relu), cheap: sin(exp(exp(100))) would need ~10^43 bits of precision."""
    try:
        value = number.evalf(20)
    except (ArithmeticError, ValueError):  # mpmath gave up (e.g. a divisor that underflows to 0)
        raise _not_finite(col) from None
    if value.has(sp.I):
        raise _not_real(col)
    if not isinstance(value, sp.Float):
        return  # nothing numeric to bound (softmax of a constant is shown, never computed)
    if not value.is_finite:
        raise _not_finite(col)
    sign, mantissa, exponent, bitcount = value._mpf_
    if mantissa and not -MAX_BITS <= exponent + bitcount <= MAX_BITS:
        side = "large" if exponent + bitcount > 0 else "close to 0"
        raise FormulaError("result_too_large", f"The number at column {col} is too {side}: sizes between "
                           f"2^-{MAX_BITS} and 2^{MAX_BITS} are allowed.", column=col, limit=MAX_BITS)


def _is_zero(number: sp.Expr) -> bool:
    """Exactly 0, or a constant whose 30-digit value has no significant digit (sin(1)^2 + cos(1)^2 − 1)."""
    if number.is_zero:
        return True
    if not number.is_number or number.is_Rational:
        return False
    try:
        value = number.evalf(30)
    except (ArithmeticError, ValueError):
        return True
    return isinstance(value, sp.Float) and (value == 0 or value._prec < 10)


@dataclass(frozen=True)
class Parsed:
    """A built formula: the expression and the names as written (scalars, then vectors)."""

    text: str
    expr: sp.Expr
    scalars: tuple[str, ...]
    vectors: tuple[str, ...]
    symbols: dict[str, sp.Symbol] = field(repr=False)
    syntax: Syntax | None = field(default=None, repr=False, compare=False)


def build(text: str) -> Parsed:
    """The SymPy expression of a formula, with every size limit checked as it is built.

    SymPy evaluates as it builds (2^1000, sqrt(8) = 2√2, roots of numbers), so this runs in a
    worker process (parse() sends it there); the limits keep it quick for any text they accept."""
    syntax = read(text)
    symbols: dict[str, sp.Symbol] = {}
    expr = Walker(_SympyBackend(syntax.source, symbols), syntax.origin).walk(syntax.root)
    symbols = {("vec:" + n): symbols.get("vec:" + n, VectorSymbol(n, real=True)) for n in syntax.vectors} | {
        n: symbols.get(n, sp.Symbol(n, real=True)) for n in syntax.scalars}
    return Parsed(text, expr, syntax.scalars, syntax.vectors, symbols, syntax)


# what a built expression may contain, by class name: the app process rebuilds only these
TREE_CLASSES: dict[str, Callable] = {
    "Add": sp.Add, "Mul": sp.Mul, "Pow": sp.Pow, "exp": sp.exp, "log": sp.log, "sin": sp.sin, "cos": sp.cos,
    "tanh": sp.tanh, "tan": sp.tan, "sinh": sp.sinh, "cosh": sp.cosh, "erf": sp.erf, "Abs": sp.Abs, "Max": sp.Max, "Min": sp.Min, "Sigmoid": Sigmoid, "ReLU": ReLU,
    "Softplus": Softplus, "GELU": GELU, "Softmax": Softmax, "Dot": Dot,
}


def to_tree(expr: sp.Expr) -> list:
    """A built expression as nested JSON lists: ["Add", …], ["S", name], ["Q", p, q], ["pi"]."""
    if isinstance(expr, VectorSymbol):
        return ["V", expr.name]
    if isinstance(expr, sp.Symbol):
        return ["S", expr.name]
    if expr.is_Rational:
        return ["Q", str(expr.p), str(expr.q)]
    if expr in (sp.pi, sp.E):
        return ["pi" if expr is sp.pi else "E"]
    name = type(expr).__name__
    if TREE_CLASSES.get(name) is not type(expr):
        raise FormulaError("unsupported", f"SymPy turned the formula into {name}(…), which this app does not "
                           "handle: rewrite it.", what=name)
    return [name, *(to_tree(arg) for arg in expr.args)]


def from_tree(tree, depth: int = 0) -> sp.Expr:
    """Rebuild to_tree's output structurally (evaluate=False: no arithmetic happens here), from an
    allowlist of classes; names and numbers are checked again."""
    if depth > 4 * MAX_NODES or not isinstance(tree, list) or not tree or not isinstance(tree[0], str):
        raise FormulaError("bad_tree", "The formula worker sent an unreadable result.")
    kind, args = tree[0], tree[1:]
    if kind in ("S", "V") and len(args) == 1 and isinstance(args[0], str) and NAME.fullmatch(args[0]):
        return (VectorSymbol if kind == "V" else sp.Symbol)(args[0], real=True)
    if kind == "Q" and len(args) == 2 and all(isinstance(a, str) and len(a) <= 1300 for a in args):
        return sp.Rational(int(args[0]), int(args[1]))
    if kind in ("pi", "E") and not args:
        return sp.pi if kind == "pi" else sp.E
    if kind in TREE_CLASSES and args:
        return TREE_CLASSES[kind](*(from_tree(a, depth + 1) for a in args), evaluate=False)
    raise FormulaError("bad_tree", "The formula worker sent an unreadable result.")


# ----- the same formula in torch (for the autograd check) ---------------------------------------


class _TorchBackend:
    """Builds the formula from the torch table on float64 tensors (scalars (N, 1), vectors (N, n))."""

    def __init__(self, source: str, values: dict[str, torch.Tensor]):
        self.source = source
        self.values = values

    def number(self, value, literal: str, node, walker) -> torch.Tensor:
        exact = Fraction(literal) if isinstance(value, float) else Fraction(value)
        return torch.tensor(float(exact), dtype=torch.float64)

    def constant(self, name: str) -> torch.Tensor:
        return torch.tensor(TORCH_CONSTANTS[name], dtype=torch.float64)

    def scalar(self, name: str) -> torch.Tensor:
        return self.values[name]

    def dot(self, a: str, b: str) -> torch.Tensor:
        return torch_dot(self.values[a], self.values[b])

    def neg(self, value, node, walker):
        return -value

    def binary(self, op, left, right, node, walker):
        if op is ast.Pow:
            return torch.pow(left, right)
        return {ast.Add: torch.add, ast.Sub: torch.sub, ast.Mult: torch.mul, ast.Div: torch.div}[op](left, right)

    def call(self, spec: FunctionSpec, args, node, walker):
        if spec.display_only:
            raise FormulaError("display_only", f"{spec.name}(…) is shown, not computed.", function=spec.name)
        return spec.torch(*args)


def torch_value(formula: Syntax | str, values: dict[str, torch.Tensor]) -> torch.Tensor:
    """The formula computed with torch functions (FUNCTIONS[...].torch) on the given tensors.
    Walks the same checked syntax tree as parse(), independently of SymPy's rewriting."""
    syntax = formula if isinstance(formula, Syntax) else read(formula)
    return Walker(_TorchBackend(syntax.source, values), syntax.origin).walk(syntax.root)

