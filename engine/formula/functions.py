"""The functions a formula may call: the network functions as SymPy classes (they print as σ, ReLU, …
and know their derivatives), and the table FUNCTIONS that says, for each name, its arity and how
SymPy, NumPy and torch compute it.

- sigmoid, relu, softplus, gelu and softmax are SymPy Function classes; `elementary(expr)` rewrites
  them as exp/log/Max/erf for simplification. softmax is for display only: it acts on a whole
  vector, so analyses refuse it.
- `a.b` is `Dot(a, b)` of two VectorSymbols (Symbols printed bold): an unevaluated, symmetric SymPy
  function with ∂(a·b)/∂a = b.
- Names are real Symbols; `pi` is π and `e` is Euler's number (CONSTANTS)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import sympy as sp
import torch
import torch.nn.functional as F
from scipy import special

# ----- the network functions as SymPy classes ---------------------------------------------------


class VectorSymbol(sp.Symbol):
    """A vector-valued name (only inside `a.b`), printed bold."""

    def _latex(self, printer, exp=None):
        body = rf"\mathbf{{{printer._print(sp.Symbol(self.name))}}}"
        return body if exp is None else rf"{body}^{{{exp}}}"


def _fn_latex(name: str, fn: sp.Function, printer, exp) -> str:
    body = rf"{name}\left({printer._print(fn.args[0])}\right)"
    return body if exp is None else rf"{body}^{{{exp}}}"


class Sigmoid(sp.Function):
    """σ(z) = 1/(1 + e^(−z))."""

    nargs = 1

    @classmethod
    def eval(cls, z):
        if z.is_zero:
            return sp.S.Half

    def fdiff(self, argindex=1):
        # σ'(z) = σ(z)(1 − σ(z))
        return self * (1 - self)

    def _eval_is_extended_real(self):
        return self.args[0].is_extended_real

    def as_elementary(self):
        return 1 / (1 + sp.exp(-self.args[0]))

    def _eval_evalf(self, prec):
        return self.as_elementary()._eval_evalf(prec)

    def _latex(self, printer, exp=None):
        return _fn_latex(r"\sigma", self, printer, exp)


class ReLU(sp.Function):
    """ReLU(z) = max(0, z)."""

    nargs = 1

    @classmethod
    def eval(cls, z):
        if z.is_extended_nonnegative:
            return z
        if z.is_extended_negative:
            return sp.S.Zero

    def fdiff(self, argindex=1):
        # ReLU'(z) = θ(z), the step (undefined at the kink z = 0; SymPy's θ(0) = 1/2)
        return sp.Heaviside(self.args[0])

    def _eval_is_extended_real(self):
        return self.args[0].is_extended_real

    def as_elementary(self):
        return sp.Max(0, self.args[0])

    def _eval_evalf(self, prec):
        return self.as_elementary()._eval_evalf(prec)

    def _latex(self, printer, exp=None):
        return _fn_latex(r"\operatorname{ReLU}", self, printer, exp)


class Softplus(sp.Function):
    """softplus(z) = log(1 + e^z)."""

    nargs = 1

    @classmethod
    def eval(cls, z):
        if z.is_zero:
            return sp.log(2)

    def fdiff(self, argindex=1):
        # softplus'(z) = σ(z)
        return Sigmoid(self.args[0])

    def _eval_is_extended_real(self):
        return self.args[0].is_extended_real

    def as_elementary(self):
        return sp.log(1 + sp.exp(self.args[0]))

    def _eval_evalf(self, prec):
        return self.as_elementary()._eval_evalf(prec)

    def _latex(self, printer, exp=None):
        return _fn_latex(r"\operatorname{softplus}", self, printer, exp)


class GELU(sp.Function):
    """GELU(z) = z·Φ(z) = z/2 · (1 + erf(z/√2)), the exact (erf) form."""

    nargs = 1

    @classmethod
    def eval(cls, z):
        if z.is_zero:
            return sp.S.Zero

    def fdiff(self, argindex=1):
        z = self.args[0]
        # GELU'(z) = Φ(z) + z·φ(z) = (1 + erf(z/√2))/2 + z·e^(−z²/2)/√(2π)
        return (1 + sp.erf(z / sp.sqrt(2))) / 2 + z * sp.exp(-z**2 / 2) / sp.sqrt(2 * sp.pi)

    def _eval_is_extended_real(self):
        return self.args[0].is_extended_real

    def as_elementary(self):
        z = self.args[0]
        return z / 2 * (1 + sp.erf(z / sp.sqrt(2)))

    def _eval_evalf(self, prec):
        return self.as_elementary()._eval_evalf(prec)

    def _latex(self, printer, exp=None):
        return _fn_latex(r"\operatorname{GELU}", self, printer, exp)


class Softmax(sp.Function):
    """softmax(z)_i = e^(z_i) / Σ_j e^(z_j): shown, never computed here (it needs a whole vector)."""

    nargs = 1

    def _latex(self, printer, exp=None):
        return _fn_latex(r"\operatorname{softmax}", self, printer, exp)


class Dot(sp.Function):
    """a·b = Σ_i a_i b_i of two VectorSymbols; symmetric, so its arguments are kept sorted."""

    nargs = 2

    @classmethod
    def eval(cls, a, b):
        if sp.default_sort_key(b) < sp.default_sort_key(a):
            return cls(b, a)

    def fdiff(self, argindex=1):
        # ∂(a·b)/∂a = b and ∂(a·b)/∂b = a
        return self.args[2 - argindex]

    def _eval_is_extended_real(self):
        return True

    def _latex(self, printer, exp=None):
        a, b = (printer._print(arg) for arg in self.args)
        return rf"{a} \cdot {b}" if exp is None else rf"\left({a} \cdot {b}\right)^{{{exp}}}"


# ----- the function table -----------------------------------------------------------------------


def _np_sigmoid(z):
    return special.expit(z)


def _np_relu(z):
    return np.maximum(z, 0.0)


def _np_softplus(z):
    return np.logaddexp(0.0, z)


def _np_gelu(z):
    # GELU(z) = z/2 · (1 + erf(z/√2))
    return 0.5 * z * (1.0 + special.erf(z / math.sqrt(2.0)))


def _np_dot(a, b):
    # a·b = Σ_i a_i b_i over the last axis; keepdims so it broadcasts against scalars (N, 1)
    return np.sum(a * b, axis=-1, keepdims=True)


def torch_dot(a, b):
    return torch.sum(a * b, dim=-1, keepdim=True)


@dataclass(frozen=True)
class FunctionSpec:
    """One function a formula may call: how SymPy builds it, how torch computes it."""

    name: str
    arity: int
    sympy: Callable
    torch: Callable
    definition: str
    display_only: bool = False


FUNCTIONS: dict[str, FunctionSpec] = {spec.name: spec for spec in (
    FunctionSpec("sigmoid", 1, Sigmoid, torch.sigmoid, "σ(z) = 1/(1 + exp(−z))"),
    FunctionSpec("relu", 1, ReLU, torch.relu, "ReLU(z) = max(0, z)"),
    FunctionSpec("tanh", 1, sp.tanh, torch.tanh, "tanh(z) = (e^z − e^(−z))/(e^z + e^(−z))"),
    # threshold 50 instead of torch's 20: above it F.softplus returns z itself (σ(50) = 1 − 2e−22)
    FunctionSpec("softplus", 1, Softplus, lambda z: F.softplus(z, beta=1.0, threshold=50.0),
                 "softplus(z) = log(1 + exp(z))"),
    FunctionSpec("gelu", 1, GELU, lambda z: F.gelu(z, approximate="none"),
                 "GELU(z) = z/2 · (1 + erf(z/√2))"),
    FunctionSpec("exp", 1, sp.exp, torch.exp, "exp(z) = e^z"),
    FunctionSpec("log", 1, sp.log, torch.log, "natural logarithm, log(e) = 1"),
    FunctionSpec("sqrt", 1, sp.sqrt, torch.sqrt, "sqrt(z) = z^(1/2)"),
    FunctionSpec("sin", 1, sp.sin, torch.sin, "sine (radians)"),
    FunctionSpec("cos", 1, sp.cos, torch.cos, "cosine (radians)"),
    FunctionSpec("tan", 1, sp.tan, torch.tan, "tangent (radians)"),
    FunctionSpec("sinh", 1, sp.sinh, torch.sinh, "sinh(z) = (e^z − e^(−z))/2"),
    FunctionSpec("cosh", 1, sp.cosh, torch.cosh, "cosh(z) = (e^z + e^(−z))/2"),
    FunctionSpec("erf", 1, sp.erf, torch.erf, "erf(z) = 2/√π ∫₀^z e^(−t²) dt"),
    FunctionSpec("abs", 1, sp.Abs, torch.abs, "|z|"),
    FunctionSpec("max", 2, sp.Max, torch.maximum, "the larger of two values"),
    FunctionSpec("min", 2, sp.Min, torch.minimum, "the smaller of two values"),
    FunctionSpec("softmax", 1, Softmax, lambda z: torch.softmax(z, dim=-1),
                 "softmax(z)_i = exp(z_i) / Σ_j exp(z_j) (display only)", display_only=True),
)}
CONSTANTS: dict[str, sp.Expr] = {"pi": sp.pi, "e": sp.E}
TORCH_CONSTANTS: dict[str, float] = {"pi": math.pi, "e": math.e}
# words for values that are not numbers: refused with a clear message, never turned into symbols
NOT_FINITE_WORDS = frozenset({"nan", "inf", "infinity", "oo", "zoo", "infty"})
# numpy versions of the custom classes, for sympy.lambdify (the worker evaluates with these)
NUMPY_FUNCTIONS: dict[str, Callable] = {
    "Sigmoid": _np_sigmoid, "ReLU": _np_relu, "Softplus": _np_softplus, "GELU": _np_gelu,
    "Dot": _np_dot,
}


def elementary(expr: sp.Expr) -> sp.Expr:
    """The network functions rewritten with exp, log, Max and erf (for simplify and identities)."""
    return expr.replace(lambda e: isinstance(e, Sigmoid | ReLU | Softplus | GELU), lambda e: e.as_elementary())

