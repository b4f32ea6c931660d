"""The walker over a formula's Python syntax tree: it accepts only an allowlist of node kinds —
numbers, names, + − × ÷, powers, unary ±, calls to FUNCTIONS by position, and `a.b` — and hands
each accepted node to a backend that builds the value (CheckBackend: nothing, only the literals'
sizes; build.py's SympyBackend and TorchBackend: a SymPy expression, a torch tensor).

Every refusal is a FormulaError whose `what` and `hint` params are codes (errors.WHATS, errors.HINTS)."""

from __future__ import annotations

import ast
import difflib
import math
from fractions import Fraction

from engine.formula.errors import FormulaError, hint_text, what_text
from engine.formula.functions import CONSTANTS, FUNCTIONS, NOT_FINITE_WORDS, FunctionSpec
from engine.formula.rules import MAX_BITS, MAX_LITERAL, MAX_NAME, NAME


def column(node: ast.AST, origin: list[int]) -> int:
    """1-based column in the learner's text of a node of the rewritten source (`^` → `**`)."""
    offset = getattr(node, "col_offset", 0)
    return origin[min(offset, len(origin) - 1)] + 1


def check_name(name: str, col: int, *, as_function: bool = False) -> None:
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


# syntax a formula may not use: what it is, and what to write instead (codes of errors.WHATS, errors.HINTS)
REFUSED_NODES = {
    ast.Compare: ("comparison", "one_expression"), ast.BoolOp: ("and_or", "general"),
    ast.IfExp: ("if_else", "max_min"), ast.Lambda: ("lambda", "general"), ast.Tuple: ("tuple", "commas"),
    ast.GeneratorExp: ("generator", "general"), ast.ListComp: ("comprehension", "general"),
    ast.SetComp: ("comprehension", "general"), ast.DictComp: ("comprehension", "general"),
    ast.Subscript: ("subscript", "component"), ast.JoinedStr: ("fstring", "general"),
    ast.Starred: ("starred", "write_arguments"), ast.NamedExpr: ("assignment", "one_expression"),
    ast.List: ("list", "general"), ast.Set: ("set", "general"), ast.Dict: ("dict", "general"),
    ast.Await: ("await", "general"), ast.Yield: ("yield", "general"), ast.Slice: ("slice", "general"),
}
REFUSED_OPS = {
    ast.FloorDiv: ("floordiv", "write_div"), ast.Mod: ("mod", "general"), ast.MatMult: ("matmul", "dot"),
    ast.LShift: ("lshift", "general"), ast.RShift: ("rshift", "general"), ast.BitOr: ("bitor", "pipe"),
    ast.BitAnd: ("bitand", "general"), ast.BitXor: ("xor", "power"), ast.Not: ("not", "general"),
    ast.Invert: ("invert", "general"),
}


class Walker:
    """Walks an allowlisted AST; `backend` does the arithmetic (SymPy with limits, or torch)."""

    def __init__(self, backend, origin: list[int]):
        self.backend = backend
        self.origin = origin

    def col(self, node: ast.AST) -> int:
        return column(node, self.origin)

    def op_col(self, node: ast.BinOp) -> int:
        """Column of a binary operator: the first symbol between its two operands."""
        gap = self.backend.source[node.left.end_col_offset:node.right.col_offset]
        skip = len(gap) - len(gap.lstrip(" ()"))
        return column(node.left, self.origin) + (node.left.end_col_offset - node.left.col_offset) + skip

    def refuse(self, node: ast.AST, what: str, instead: str = "general", col: int | None = None, **params):
        """FormulaError "not_allowed": `what` and `instead` are codes of errors.WHATS and errors.HINTS."""
        col = col or self.col(node)
        raise FormulaError("not_allowed", f"Column {col}: {what_text(what, **params)} is not allowed in a "
                           f"formula; {hint_text(instead)}.", what=what, column=col, hint=instead, **params)

    def walk(self, node: ast.AST):
        method = getattr(self, f"walk_{type(node).__name__}", None)
        if method is None:
            what, instead = REFUSED_NODES.get(type(node), ("other", "general"))
            self.refuse(node, what, instead, kind=type(node).__name__)
        return method(node)

    def walk_Constant(self, node: ast.Constant):
        value = node.value
        if isinstance(value, complex):
            self.refuse(node, "imaginary")
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.refuse(node, "not_number", value=str(value)[:20])
        return self.backend.number(value, self.literal_text(node), node, self)

    def literal_text(self, node: ast.Constant) -> str:
        segment = self.backend.source[node.col_offset:node.end_col_offset]
        return segment.replace("_", "")

    def walk_Name(self, node: ast.Name):
        check_name(node.id, self.col(node))
        if node.id in CONSTANTS:
            return self.backend.constant(node.id)
        return self.backend.scalar(node.id)

    def walk_Attribute(self, node: ast.Attribute):
        if not isinstance(node.value, ast.Name):
            self.refuse(node, "dot_after", "at")
        col = self.col(node)
        for name in (node.value.id, node.attr):
            check_name(name, col)
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
            what, instead = REFUSED_OPS.get(op, ("other", "general"))
            self.refuse(node, what, instead, col=self.op_col(node), kind=op.__name__)
        left, right = self.walk(node.left), self.walk(node.right)
        return self.backend.binary(op, left, right, node, self)

    def walk_Call(self, node: ast.Call):
        col = self.col(node)
        if node.keywords:
            self.refuse(node, "keyword", "by_position")
        if any(isinstance(arg, ast.Starred) for arg in node.args):
            self.refuse(node, "starred", "one_by_one")
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
            self.refuse(func, "call", "product")
        name = func.id
        check_name(name, col, as_function=True)
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


def literal(value, text: str, col: int) -> Fraction:
    """A number as written, exactly (0.1 is 1/10); refused if infinite or too large."""
    if isinstance(value, float) and not math.isfinite(value):
        raise FormulaError("not_finite", f"The number {text[:30]} at column {col} is too large (it is "
                           "infinite as a float).", literal=text[:30], column=col)
    exact = Fraction(text) if isinstance(value, float) else Fraction(value)
    if abs(exact) > MAX_LITERAL or max(exact.numerator.bit_length(), exact.denominator.bit_length()) > MAX_BITS:
        raise FormulaError("number_too_large", f"The number {text[:30]} at column {col} is too large or "
                           f"too long: numbers up to {MAX_LITERAL} are allowed (write 10^7 for bigger ones).",
                           literal=text[:30], column=col, limit=MAX_LITERAL)
    return exact


class CheckBackend:
    """Checks literals only: the syntax walk without building anything (cheap, no SymPy)."""

    def __init__(self, source: str):
        self.source = source

    def number(self, value, text: str, node, walker):
        literal(value, text, walker.col(node))

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
