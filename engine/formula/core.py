"""User-typed formulas: one safe parser, and analyses that run in a guarded worker process.

`parse(text)` turns a learner's text such as `sigmoid(w*x + b)` into a SymPy expression without
`eval`, `exec` or `sympify`: Python's `ast` reads the text (mode "eval") and a walker accepts only
an allowlist — numbers, names, + − × ÷, powers (`**` or `^`), unary ±, calls to the fixed table
FUNCTIONS, and `a.b` (dot product of two vectors) — building each SymPy object itself. Every
refusal is a FormulaError with a `code`, `params` and a message that says where (column) and what
to write instead.

Where it runs: `read(text)` does every check that needs no SymPy (characters, length, syntax,
depth, size, names, literals) in the app process. SymPy evaluates while it builds (2^1000,
sqrt(8) = 2√2, roots of numbers: sympy's integer root extraction can take minutes on a 200-character
formula), so `build(text)` runs in an engine.formula.pool process, checking every limit as each
part is built, and the expression comes back as a JSON tree that is rebuilt with evaluate=False —
no arithmetic in the app process.

Conventions (what the parser chooses):
- `^` is power, with the precedence of `**`: `x^2 + 1` is x² + 1 and `-x^2` is −(x²). Python's own
  `^` (xor) binds more loosely than `+`, so `^` is swapped for `**` before `ast.parse`; the text
  holds no strings or comments at that point (quotes and `#` are refused), so every `^` is an
  operator, and a column map keeps error columns pointing into the learner's text.
- Names are real SymPy Symbols; `pi` is π and `e` is Euler's number.
- Number literals become exact Rationals (`0.1` is 1/10), so identities are decided exactly.
- `a.b` is `Dot(a, b)`: `a` and `b` become VectorSymbols (Symbols printed bold), and Dot is an
  unevaluated, symmetric SymPy function with ∂(a·b)/∂a = b, so the gradient of `q.k / sqrt(d)`
  with respect to q is k/√d. A name used as a vector may not also be used as a number.
  Numerically, vectors are float64 arrays of length `vector_dim` (default 3).
- sigmoid, relu, softplus, gelu and softmax are SymPy Function classes that print as the network
  functions (σ, ReLU, …) and know their derivatives (σ' = σ(1 − σ), softplus' = σ, …);
  `elementary(expr)` rewrites them as exp/log/Max/erf for simplification. softmax is for display
  only: it acts on a whole vector, so analyses refuse it.

Everything after reading (building, LaTeX, derivatives, simplification, lambdify, evaluation,
autograd checks) runs in engine.formula.pool: a bounded pool of worker processes with CPU-time
and memory limits and a wall-clock kill. The public calls here stay synchronous.
"""

from __future__ import annotations

import ast
import difflib
import math
import re
import string
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np
import sympy as sp
import torch
import torch.nn.functional as F
from scipy import special

from engine.limits import check

MAX_CHARS = 200
MAX_DEPTH = 30
MAX_NODES = 150
MAX_LITERAL = 10**6
MAX_EXPONENT = 1000
MAX_BITS = 4096
MAX_NAME = 16
MAX_ROOT_WORK = 2**20  # bits of the base × denominator of a number's fractional exponent
VECTOR_DIM = 3
DEFAULT_TIMEOUT = 5.0
MAX_TIMEOUT = 60.0
NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,15}")
# what a formula may contain, character by character (checked before anything else)
ALLOWED_CHARS = frozenset(string.ascii_letters + string.digits + " +-*/^().,_")


class FormulaError(ValueError):
    """A formula that cannot be read or computed; `code` and `params` let a page translate it."""

    def __init__(self, code: str, message: str, **params):
        self.code = code
        self.params = params
        super().__init__(message)


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


def _torch_dot(a, b):
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


# ----- characters -------------------------------------------------------------------------------

# look-alikes a learner may paste from a document or a slide
LOOK_ALIKES = {
    "×": "*", "·": "*", "⋅": "*", "∙": "*", "÷": "/", "−": "-", "–": "-", "—": "-", "²": "^2",
    "³": "^3", "√": "sqrt(...)", "π": "pi", "σ": "sigmoid(...)", "α": "alpha", "β": "beta",
    "γ": "gamma", "λ": "lam", "θ": "theta", "μ": "mu", "η": "eta", "ε": "eps", "∑": "a sum of terms",
    "а": "a", "е": "e", "о": "o", "р": "p", "с": "c", "х": "x", "у": "y", "к": "k", "в": "B",
    "А": "A", "В": "B", "Е": "E", "К": "K", "М": "M", "Н": "H", "О": "O", "Р": "P", "С": "C",
    "Т": "T", "Х": "X", "ο": "o", "ν": "v", "Α": "A", "Β": "B", "Ε": "E", "Ο": "O", "Ρ": "P",
    "‘": "nothing (quotes are not allowed)", "’": "nothing (quotes are not allowed)",
}
ASCII_HINTS = {
    "!": "factorials are not supported",
    "=": "write one expression without '=' (to compare two sides, use the identity check)",
    "<": "comparisons are not supported", ">": "comparisons are not supported",
    "'": "a formula holds no text: remove the quotes", '"': "a formula holds no text: remove the quotes",
    "[": "use ( ) for grouping", "]": "use ( ) for grouping",
    "{": "use ( ) for grouping", "}": "use ( ) for grouping",
    "%": "the remainder % is not supported", "@": "write a.b for the dot product of two vectors",
    "&": "logical operators are not supported", "|": "write abs(x) for |x|",
    "~": "logical operators are not supported", ":": "write one expression, no ':'",
    ";": "write one expression, no ';'", "#": "comments are not allowed", "\\": "write plain text, not LaTeX",
    "\t": "use spaces, not tabs", "\n": "write the formula on one line", "\r": "write the formula on one line",
}


def _char_error(ch: str, index: int) -> FormulaError:
    col = index + 1
    code = f"U+{ord(ch):04X}"
    name = unicodedata.name(ch, "control character" if ord(ch) < 32 or ord(ch) == 127 else code)
    if ch in ASCII_HINTS or (ord(ch) < 128 and ch not in ALLOWED_CHARS):
        hint = ASCII_HINTS.get(ch, "only letters, digits, spaces and + - * / ^ ( ) . , _ are allowed")
        return FormulaError("bad_character", f"The character {ch!r} at column {col} is not allowed: {hint}.",
                            char=ch, codepoint=code, column=col, hint=hint)
    if unicodedata.category(ch) in ("Cf", "Cc", "Zl", "Zp") or ch in "\u00a0\u2028\u2029":
        hint = "it is invisible (a zero-width, direction or control mark): delete it and retype the text around it"
    elif ch in LOOK_ALIKES:
        hint = f"it looks like plain text but is not ASCII; write {LOOK_ALIKES[ch]} instead"
    else:
        folded = unicodedata.normalize("NFKC", ch)
        plain = folded if folded.isascii() and folded.isprintable() else None
        hint = (f"it looks like {plain!r} but is not ASCII; type {plain!r} instead" if plain
                else "only plain ASCII letters, digits and + - * / ^ ( ) . , are allowed")
    return FormulaError("bad_character", f"The character {ch!r} ({code} {name}) at column {col} "
                        f"is not allowed: {hint}.", char=ch, codepoint=code, name=name, column=col, hint=hint)


def _check_text(text) -> str:
    if not isinstance(text, str):
        raise FormulaError("not_text", "A formula must be text.", type=type(text).__name__)
    if len(text) > MAX_CHARS:
        raise FormulaError("too_long", f"The formula has {len(text)} characters; at most {MAX_CHARS} "
                           "are allowed. Shorten it, or name a part of it.", length=len(text), limit=MAX_CHARS)
    for index, ch in enumerate(text):
        if ch not in ALLOWED_CHARS:
            raise _char_error(ch, index)
    if not text.strip():
        raise FormulaError("empty", "Type a formula, for example sigmoid(w*x + b).")
    return text


def _check_parentheses(text: str) -> None:
    opened: list[int] = []
    for index, ch in enumerate(text):
        if ch == "(":
            opened.append(index)
        elif ch == ")" and not opened:
            raise FormulaError("syntax", f"The ')' at column {index + 1} has no matching '('.",
                               column=index + 1)
        elif ch == ")":
            opened.pop()
        if len(opened) > MAX_DEPTH:
            raise FormulaError("too_deep", f"Parentheses are nested more than {MAX_DEPTH} levels deep "
                               f"(column {index + 1}). Remove extra parentheses or split the formula.",
                               column=index + 1, limit=MAX_DEPTH)
    if opened:
        col = opened[-1] + 1
        raise FormulaError("syntax", f"The '(' at column {col} is not closed: add ')'"
                           f"{'' if len(opened) == 1 else f' ({len(opened)} are open)'}.", column=col, open=len(opened))


def _python_text(text: str) -> tuple[str, list[int]]:
    """'x^2' → 'x**2' and, for each character of the result, its index in the original text."""
    # only operators can be '^' here: quotes and '#' were refused, so no strings or comments remain
    out, origin = [], []
    for index, ch in enumerate(text):
        out.append("**" if ch == "^" else ch)
        origin.extend([index, index] if ch == "^" else [index])
    return "".join(out), origin


# ----- syntax -----------------------------------------------------------------------------------


SYNTAX_HINTS = (
    (re.compile(r"[-+*/^,.(]\s*$"), "the formula ends with an operator or '(': add what comes after it"),
    (re.compile(r"(?:^|[^\w.])\d+(?:\.\d*)?\s*([A-Za-z(])"),
     "write * between a number and what it multiplies: 2*x, not 2x"),
    (re.compile(r"(?:[\w)]\s+([\w(]))|(?:\)\s*([\w(]))"),
     "an operator is missing: write * for a product, e.g. x*y or x*(y + 1)"),
    (re.compile(r"\(\s*(\))"), "empty parentheses: put an expression inside them"),
    (re.compile(r"(?:\*\*|[-+*/^.,])\s*([*/^.,)])"), "two operators in a row: remove one or add a value between them"),
)


def _syntax_hint(text: str, col: int) -> tuple[int, str]:
    """A likely cause of a syntax error, and the column it points at (else Python's column)."""
    for pattern, hint in SYNTAX_HINTS:
        match = pattern.search(text)
        if match:
            group = next((g for g in range(1, (pattern.groups or 0) + 1) if match.group(g) is not None), 0)
            return (match.start(group) + 1 if group else len(text.rstrip())), hint
    return col, "check for a missing or doubled operator or a misplaced comma or dot"


def _parse_ast(text: str) -> tuple[ast.expr, list[int]]:
    source, origin = _python_text(text)
    try:
        tree = ast.parse(source, mode="eval")
    except SyntaxError as exc:
        offset = max(1, min(exc.offset or 1, len(source)))
        col, hint = _syntax_hint(text, origin[offset - 1] + 1)
        raise FormulaError("syntax", f"The formula cannot be read near column {col}: {hint}.",
                           column=col, hint=hint) from None
    except (ValueError, RecursionError, MemoryError):
        raise FormulaError("syntax", "The formula cannot be read.") from None
    return tree.body, origin


def _column(node: ast.AST, origin: list[int]) -> int:
    offset = getattr(node, "col_offset", 0)
    return origin[min(offset, len(origin) - 1)] + 1


def _check_size(root: ast.expr, origin: list[int]) -> None:
    nodes = [n for n in ast.walk(root) if isinstance(n, ast.expr)]
    if len(nodes) > MAX_NODES:
        raise FormulaError("too_many_nodes", f"The formula has {len(nodes)} parts; at most {MAX_NODES} "
                           "are allowed. Shorten it.", nodes=len(nodes), limit=MAX_NODES)
    stack = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            col = _column(node, origin)
            raise FormulaError("too_deep", f"The formula is nested more than {MAX_DEPTH} levels deep "
                               f"(at column {col}). Simplify or split it.", column=col, limit=MAX_DEPTH)
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node) if isinstance(child, ast.expr))


# ----- names ------------------------------------------------------------------------------------


def _check_name(name: str, col: int, *, as_function: bool = False) -> None:
    if name.startswith("_") or "__" in name:
        raise FormulaError("bad_name", f"The name {name!r} at column {col} is not allowed: names start "
                           "with a letter and contain no '__'. Use a name like x, w1 or d_k.",
                           name=name, column=col)
    if not NAME.fullmatch(name):
        raise FormulaError("bad_name", f"The name {name[:20]!r} at column {col} is too long: names have at "
                           f"most {MAX_NAME} characters.", name=name[:20], column=col, limit=MAX_NAME)
    if name.lower() in NOT_FINITE_WORDS:
        raise FormulaError("not_finite", f"{name!r} at column {col} is not a number: formulas use finite "
                           "numbers only (write a large number such as 1000 instead).", name=name, column=col)
    if not as_function and name in FUNCTIONS:
        raise FormulaError("reserved_name", f"{name!r} at column {col} is a function: write it with its "
                           f"argument, e.g. {name}(x), or choose another variable name.", name=name, column=col)


def _names(root: ast.expr, origin: list[int]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(scalar names, vector names) as written; a name may not be both."""
    vectors, scalars = {}, {}
    calls = {id(n.func) for n in ast.walk(root) if isinstance(n, ast.Call)}
    in_dot = {id(n.value) for n in ast.walk(root) if isinstance(n, ast.Attribute)}
    for node in ast.walk(root):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            vectors.setdefault(node.value.id, _column(node, origin))
            vectors.setdefault(node.attr, _column(node, origin))
        elif isinstance(node, ast.Name) and id(node) not in calls | in_dot and node.id not in CONSTANTS:
            scalars.setdefault(node.id, _column(node, origin))
    for name, col in scalars.items():
        if name in vectors:
            raise FormulaError("vector_as_number", f"{name!r} is a vector in a dot product ({name}.…) and "
                               f"a number at column {col}: use another name for one of them.",
                               name=name, column=col)
    return tuple(sorted(scalars)), tuple(sorted(vectors))


# ----- the walker -------------------------------------------------------------------------------

GENERAL_HINT = "use numbers, names, + - * / ^, functions like sigmoid(x), and a.b"
# syntax a formula may not use: what it is, and what to write instead
REFUSED_NODES = {
    ast.Compare: ("a comparison (<, ==, in, is)", "write one expression"),
    ast.BoolOp: ("'and' / 'or'", GENERAL_HINT), ast.IfExp: ("'if … else'", "write max(a, b) or min(a, b)"),
    ast.Lambda: ("a lambda", GENERAL_HINT),
    ast.Tuple: ("a tuple", "commas only separate a function's arguments, as in max(x, y)"),
    ast.GeneratorExp: ("a generator", GENERAL_HINT), ast.ListComp: ("a comprehension", GENERAL_HINT),
    ast.SetComp: ("a comprehension", GENERAL_HINT), ast.DictComp: ("a comprehension", GENERAL_HINT),
    ast.Subscript: ("indexing with [ ]", "write x_1 for a component"),
    ast.JoinedStr: ("text (f-string)", GENERAL_HINT), ast.Starred: ("a starred argument", "write the arguments"),
    ast.NamedExpr: ("an assignment (:=)", "write one expression"), ast.List: ("a list", GENERAL_HINT),
    ast.Set: ("a set", GENERAL_HINT), ast.Dict: ("a dictionary", GENERAL_HINT),
    ast.Await: ("'await'", GENERAL_HINT), ast.Yield: ("'yield'", GENERAL_HINT), ast.Slice: ("a slice", GENERAL_HINT),
}
REFUSED_OPS = {
    ast.FloorDiv: ("integer division '//'", "write /"), ast.Mod: ("the remainder %", GENERAL_HINT),
    ast.MatMult: ("'@'", "write a.b for a dot product"), ast.LShift: ("'<<'", GENERAL_HINT),
    ast.RShift: ("'>>'", GENERAL_HINT), ast.BitOr: ("'|'", "write abs(x) for |x|"),
    ast.BitAnd: ("'&'", GENERAL_HINT), ast.BitXor: ("xor", "write ^ or ** for a power"),
    ast.Not: ("'not'", GENERAL_HINT), ast.Invert: ("'~'", GENERAL_HINT),
}


class _Walker:
    """Walks an allowlisted AST; `backend` does the arithmetic (SymPy with limits, or torch)."""

    def __init__(self, backend, origin: list[int]):
        self.backend = backend
        self.origin = origin

    def col(self, node: ast.AST) -> int:
        return _column(node, self.origin)

    def op_col(self, node: ast.BinOp) -> int:
        """Column of a binary operator: the first symbol between its two operands."""
        gap = self.backend.source[node.left.end_col_offset:node.right.col_offset]
        skip = len(gap) - len(gap.lstrip(" ()"))
        return _column(node.left, self.origin) + (node.left.end_col_offset - node.left.col_offset) + skip

    def refuse(self, node: ast.AST, what: str, instead: str = GENERAL_HINT, col: int | None = None):
        col = col or self.col(node)
        raise FormulaError("not_allowed", f"Column {col}: {what} is not allowed in a formula; {instead}.",
                           what=what, column=col, hint=instead)

    def walk(self, node: ast.AST):
        method = getattr(self, f"walk_{type(node).__name__}", None)
        if method is None:
            self.refuse(node, *REFUSED_NODES.get(type(node), (f"'{type(node).__name__}'", GENERAL_HINT)))
        return method(node)

    def walk_Constant(self, node: ast.Constant):
        value = node.value
        if isinstance(value, bool) or not isinstance(value, int | float):
            what = "an imaginary number" if isinstance(value, complex) else f"{str(value)!r} (not a number)"
            self.refuse(node, what)
        return self.backend.number(value, self.literal_text(node), node, self)

    def literal_text(self, node: ast.Constant) -> str:
        segment = self.backend.source[node.col_offset:node.end_col_offset]
        return segment.replace("_", "")

    def walk_Name(self, node: ast.Name):
        _check_name(node.id, self.col(node))
        if node.id in CONSTANTS:
            return self.backend.constant(node.id)
        return self.backend.scalar(node.id)

    def walk_Attribute(self, node: ast.Attribute):
        if not isinstance(node.value, ast.Name):
            self.refuse(node, "a dot after something other than a name", "write a.b for the dot product of two vectors")
        col = self.col(node)
        for name in (node.value.id, node.attr):
            _check_name(name, col)
            if name in CONSTANTS:
                raise FormulaError("dot_product", f"{name!r} in the dot product at column {col} is a number: "
                                   "a.b takes two vector names.", name=name, column=col)
        return self.backend.dot(node.value.id, node.attr)

    def walk_UnaryOp(self, node: ast.UnaryOp):
        if not isinstance(node.op, ast.UAdd | ast.USub):
            self.refuse(node, *REFUSED_OPS[type(node.op)])
        value = self.walk(node.operand)
        return value if isinstance(node.op, ast.UAdd) else self.backend.neg(value, node, self)

    def walk_BinOp(self, node: ast.BinOp):
        op = type(node.op)
        if op not in (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Pow):
            self.refuse(node, *REFUSED_OPS.get(op, (f"'{op.__name__}'", GENERAL_HINT)), col=self.op_col(node))
        left, right = self.walk(node.left), self.walk(node.right)
        return self.backend.binary(op, left, right, node, self)

    def walk_Call(self, node: ast.Call):
        col = self.col(node)
        if node.keywords:
            self.refuse(node, "a named (keyword) argument", "pass values by position, e.g. max(x, 0)")
        if any(isinstance(arg, ast.Starred) for arg in node.args):
            self.refuse(node, "a starred argument", "write the arguments one by one")
        spec = self.function(node.func, col)
        if len(node.args) != spec.arity:
            s = "" if spec.arity == 1 else "s"
            raise FormulaError("arity", f"{spec.name} at column {col} takes {spec.arity} argument{s}, "
                               f"not {len(node.args)}.", function=spec.name, arity=spec.arity,
                               given=len(node.args), column=col)
        args = [self.walk(arg) for arg in node.args]
        return self.backend.call(spec, args, node, self)

    def function(self, func: ast.expr, col: int) -> FunctionSpec:
        if not isinstance(func, ast.Name):
            self.refuse(func, "calling something that is not a function name", "write * for a product")
        name = func.id
        _check_name(name, col, as_function=True)
        if name in FUNCTIONS:
            return FUNCTIONS[name]
        if name in CONSTANTS:
            raise FormulaError("not_a_function", f"{name!r} at column {col} is a number, not a function: "
                               f"write {name}*(…) for a product.", name=name, column=col)
        close = difflib.get_close_matches(name.lower(), FUNCTIONS, n=1)
        hint = f"did you mean {close[0]}?" if close else f"to multiply, write {name}*(…)"
        raise FormulaError("unknown_function", f"Unknown function {name!r} at column {col}: {hint} "
                           f"Available: {', '.join(FUNCTIONS)}.", name=name, column=col,
                           suggestion=close[0] if close else None)


# ----- the SymPy backend, with the size limits --------------------------------------------------


def _literal(value, literal: str, col: int) -> Fraction:
    """A number as written, exactly (0.1 is 1/10); refused if infinite or too large."""
    if isinstance(value, float) and not math.isfinite(value):
        raise FormulaError("not_finite", f"The number {literal[:30]} at column {col} is too large (it is "
                           "infinite as a float).", literal=literal[:30], column=col)
    exact = Fraction(literal) if isinstance(value, float) else Fraction(value)
    if abs(exact) > MAX_LITERAL or max(exact.numerator.bit_length(), exact.denominator.bit_length()) > MAX_BITS:
        raise FormulaError("number_too_large", f"The number {literal[:30]} at column {col} is too large or "
                           f"too long: numbers up to {MAX_LITERAL} are allowed (write 10^7 for bigger ones).",
                           literal=literal[:30], column=col, limit=MAX_LITERAL)
    return exact


class _CheckBackend:
    """Checks literals only: the syntax walk without building anything (cheap, no SymPy)."""

    def __init__(self, source: str):
        self.source = source

    def number(self, value, literal: str, node, walker):
        _literal(value, literal, walker.col(node))

    def constant(self, name):
        return None

    def scalar(self, name):
        return None

    def dot(self, a, b):
        return None

    def neg(self, value, node, walker):
        return None

    def binary(self, op, left, right, node, walker):
        return None

    def call(self, spec, args, node, walker):
        return None


def _bits(expr: sp.Expr) -> int:
    """The largest bit length of any integer numerator or denominator inside `expr`."""
    sizes = [max(abs(r.p).bit_length(), abs(r.q).bit_length()) for r in expr.atoms(sp.Rational)]
    return max(sizes, default=1)


class _SympyBackend:
    def __init__(self, source: str, symbols: dict[str, sp.Symbol]):
        self.source = source
        self.symbols = symbols

    def number(self, value, literal: str, node, walker) -> sp.Expr:
        exact = _literal(value, literal, walker.col(node))
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


# ----- parse ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Syntax:
    """A formula's text, checked without SymPy: the allowlisted syntax tree and its names."""

    text: str
    source: str
    root: ast.expr = field(repr=False)
    origin: list[int] = field(repr=False)
    scalars: tuple[str, ...]
    vectors: tuple[str, ...]


def read(text: str) -> Syntax:
    """Every check that needs no SymPy: characters, length, syntax, size, names, literals.
    Cheap and bounded, so the app process may run it on every keystroke."""
    _check_parentheses(_check_text(text))
    root, origin = _parse_ast(text)
    _check_size(root, origin)
    scalars, vectors = _names(root, origin)
    source, _ = _python_text(text)
    _Walker(_CheckBackend(source), origin).walk(root)
    return Syntax(text, source, root, origin, scalars, vectors)


@dataclass(frozen=True)
class Parsed:
    """A built formula: the expression and the names as written (scalars, then vectors)."""

    text: str
    expr: sp.Expr
    scalars: tuple[str, ...]
    vectors: tuple[str, ...]
    symbols: dict[str, sp.Symbol] = field(repr=False)


def build(text: str) -> Parsed:
    """The SymPy expression of a formula, with every size limit checked as it is built.

    SymPy evaluates as it builds (2^1000, sqrt(8) = 2√2, roots of numbers), so this runs in a
    worker process (parse() sends it there); the limits keep it quick for any text they accept."""
    syntax = read(text)
    symbols: dict[str, sp.Symbol] = {}
    expr = _Walker(_SympyBackend(syntax.source, symbols), syntax.origin).walk(syntax.root)
    symbols = {("vec:" + n): symbols.get("vec:" + n, VectorSymbol(n, real=True)) for n in syntax.vectors} | {
        n: symbols.get(n, sp.Symbol(n, real=True)) for n in syntax.scalars}
    return Parsed(text, expr, syntax.scalars, syntax.vectors, symbols)


# what a built expression may contain, by class name: the app process rebuilds only these
TREE_CLASSES: dict[str, Callable] = {
    "Add": sp.Add, "Mul": sp.Mul, "Pow": sp.Pow, "exp": sp.exp, "log": sp.log, "sin": sp.sin, "cos": sp.cos,
    "tanh": sp.tanh, "Abs": sp.Abs, "Max": sp.Max, "Min": sp.Min, "Sigmoid": Sigmoid, "ReLU": ReLU,
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


def parse(text: str, *, timeout: float = DEFAULT_TIMEOUT) -> sp.Expr:
    """A learner's formula → a SymPy expression, or FormulaError(code, message, **params).

    The text is checked here (read); SymPy builds it in a worker process under the time and memory
    limits, and the result comes back as a tree that is rebuilt without evaluating anything."""
    read(text)
    from engine.formula import pool as formula_worker

    return from_tree(formula_worker.run("parse", {"text": text}, _check_timeout(timeout))["tree"])


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
        return _torch_dot(self.values[a], self.values[b])

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


def torch_value(text: str, values: dict[str, torch.Tensor]) -> torch.Tensor:
    """The formula computed with torch functions (FUNCTIONS[...].torch) on the given tensors.
    Walks the same checked syntax tree as parse(), independently of SymPy's rewriting."""
    syntax = read(text)
    return _Walker(_TorchBackend(syntax.source, values), syntax.origin).walk(syntax.root)


# ----- analyses (run in engine.formula.pool's guarded processes) ------------------------------


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
    max/min), are not compared: n_compared = n_points − n_nonfinite − n_kinks."""

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


def analyse(text: str, *, variable: str | None = None, x_range=(-5.0, 5.0), n_grid: int = 201,
            values: dict[str, float] | None = None, vector_dim: int = VECTOR_DIM, seed: int = 0,
            simplify: bool = True, simplify_budget: float | None = 0.5,
            timeout: float = DEFAULT_TIMEOUT) -> Analysis:
    """Parse, then (in a worker) LaTeX, ∂f/∂v for every variable, simplified forms and a grid.

    variable: the grid's variable (default x, else the first name); other variables are held at
    `values` (default 0.5). simplify_budget: the share of `timeout` simplification may use before
    the raw forms are kept; None lets it use all of it (then a slow simplify is a "timeout")."""
    parsed = read(text)
    if variable is not None and variable not in parsed.scalars:
        raise ValueError(f"variable must be one of the formula's numbers {parsed.scalars}, got {variable!r}.")
    timeout = _check_timeout(timeout)
    share = _fraction(simplify_budget, "simplify_budget")
    args = {"text": text, "variable": variable, "x_range": _check_interval(x_range, "x_range"),
            "n_grid": check("formula_grid", n_grid), "values": _check_values(values, parsed),
            "vector_dim": check("vector_dim", vector_dim), "seed": int(seed), "simplify": bool(simplify),
            "simplify_seconds": None if share is None else share * timeout}
    from engine.formula import pool as formula_worker

    out = formula_worker.run("analyse", args, timeout)
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


def autograd_check(text: str, *, n_points: int = 64, seed: int = 0, domain=(-2.0, 2.0), points=None,
                   vector_dim: int = VECTOR_DIM, tol: float = 1e-9, timeout: float = DEFAULT_TIMEOUT) -> AutogradCheck:
    """∂f/∂v from SymPy (lambdified, float64) against torch.autograd on the same formula built from
    the torch table, at `n_points` random points (uniform in `domain`, a pair or {name: pair}) or at
    given `points` ({name: values}). passed: max |Δ| / max(1, |torch|) ≤ tol over compared points."""
    parsed = read(text)
    if not (isinstance(tol, float | int) and 0 < tol < 1):
        raise ValueError(f"tol must be in (0, 1), got {tol!r}.")
    vector_dim = check("vector_dim", vector_dim)
    args = {"text": text, "n_points": check("formula_points", n_points), "seed": int(seed),
            "domain": _check_domain(domain), "vector_dim": vector_dim,
            "points": _check_points(points, parsed, vector_dim), "tol": float(tol)}
    from engine.formula import pool as formula_worker

    out = formula_worker.run("autograd", args, _check_timeout(timeout))
    return AutogradCheck(text=text, **out)


def check_identity(lhs: str, rhs: str, *, n_points: int = 100, seed: int = 0, domain=(-2.0, 2.0),
                   vector_dim: int = VECTOR_DIM, tol: float = 1e-9, symbolic_budget: float | None = 0.5,
                   timeout: float = DEFAULT_TIMEOUT) -> IdentityResult:
    """Is lhs = rhs? simplify(lhs − rhs) == 0 first (network functions rewritten as exp/log/erf/Max),
    within `symbolic_budget` × timeout; then both sides at `n_points` random points."""
    read(lhs)
    read(rhs)
    timeout = _check_timeout(timeout)
    share = _fraction(symbolic_budget, "symbolic_budget")
    if not (isinstance(tol, float | int) and 0 < tol < 1):
        raise ValueError(f"tol must be in (0, 1), got {tol!r}.")
    args = {"lhs": lhs, "rhs": rhs, "n_points": check("formula_points", n_points), "seed": int(seed),
            "domain": _check_domain(domain), "vector_dim": check("vector_dim", vector_dim), "tol": float(tol),
            "symbolic_seconds": None if share is None else share * timeout}
    from engine.formula import pool as formula_worker

    out = formula_worker.run("identity", args, timeout)
    return IdentityResult(lhs=lhs, rhs=rhs, **out)


def warm_up() -> None:
    """Start the worker processes now (the first start imports SymPy and torch: seconds)."""
    from engine.formula import pool as formula_worker

    formula_worker.pool().warm_up()
