"""Reading a formula: text → a checked syntax tree, without SymPy and without running anything.

`read(text)` turns a learner's text such as `sigmoid(w*x + b)` into a `Syntax`: Python's `ast`
parses it (mode "eval"; never eval, exec, sympify or parse_expr) after every character, the length
and the parentheses were checked, and walk.Walker accepts only the allowlist (numbers, names,
+ − × ÷, powers, unary ±, calls to FUNCTIONS, `a.b`). Every refusal is a FormulaError with a `code`,
`params` and an English message that says where (column) and what to write instead.

Conventions (what the reader chooses):
- `^` is power, with the precedence of `**`: `x^2 + 1` is x² + 1 and `-x^2` is −(x²). Python's own
  `^` (xor) binds more loosely than `+`, so `^` is swapped for `**` before `ast.parse`; the text
  holds no strings or comments at that point (quotes and `#` are refused), so every `^` is an
  operator, and a column map (`origin`) keeps error columns pointing into the learner's text.
- A name used as a vector (in `a.b`) may not also be used as a number.

Cheap and bounded: the app process may run it on every keystroke."""

from __future__ import annotations

import ast
import re
import unicodedata
from dataclasses import dataclass, field

from engine.formula.errors import FormulaError, hint_text
from engine.formula.functions import CONSTANTS, FUNCTIONS
from engine.formula.rules import ALLOWED_CHARS, MAX_CHARS, MAX_DEPTH, MAX_NODES
from engine.formula.walk import CheckBackend, Walker, column

# look-alikes a learner may paste from a document or a slide, and what to write instead
LOOK_ALIKES = {
    "×": "*", "·": "*", "⋅": "*", "∙": "*", "÷": "/", "−": "-", "–": "-", "—": "-", "²": "^2",
    "³": "^3", "√": "sqrt(...)", "π": "pi", "σ": "sigmoid(...)", "α": "alpha", "β": "beta",
    "γ": "gamma", "λ": "lam", "θ": "theta", "μ": "mu", "η": "eta", "ε": "eps",
    "а": "a", "е": "e", "о": "o", "р": "p", "с": "c", "х": "x", "у": "y", "к": "k", "в": "B",
    "А": "A", "В": "B", "Е": "E", "К": "K", "М": "M", "Н": "H", "О": "O", "Р": "P", "С": "C",
    "Т": "T", "Х": "X", "ο": "o", "ν": "v", "Α": "A", "Β": "B", "Ε": "E", "Ο": "O", "Ρ": "P",
}
# look-alikes whose advice is not a replacement text: the hint code says it
LOOK_ALIKE_HINTS = {"∑": "sum", "‘": "typographic_quote", "’": "typographic_quote"}
# ASCII characters a formula may not hold: the hint code (errors.HINTS) for each
ASCII_HINTS = {
    "!": "factorial", "=": "equals", "<": "comparison", ">": "comparison", "'": "quotes", '"': "quotes",
    "[": "brackets", "]": "brackets", "{": "brackets", "}": "brackets", "%": "percent", "@": "at",
    "&": "logical", "|": "pipe", "~": "logical", ":": "colon", ";": "semicolon", "#": "hash",
    "\\": "latex", "\t": "tab", "\n": "newline", "\r": "newline",
}


def _char_hint(ch: str) -> dict:
    """The hint code for a refused non-ASCII character, and its params (plain: what to type)."""
    if unicodedata.category(ch) in ("Cf", "Cc", "Zl", "Zp") or ch in "\u00a0\u2028\u2029":
        return {"hint": "invisible"}
    if ch in LOOK_ALIKE_HINTS:
        return {"hint": LOOK_ALIKE_HINTS[ch]}
    if ch in LOOK_ALIKES:
        return {"hint": "lookalike", "plain": LOOK_ALIKES[ch]}
    folded = unicodedata.normalize("NFKC", ch)
    if folded.isascii() and folded.isprintable():
        return {"hint": "folded", "plain": folded}
    return {"hint": "nonascii_other"}


def _char_error(ch: str, index: int) -> FormulaError:
    col = index + 1
    code = f"U+{ord(ch):04X}"
    if ch in ASCII_HINTS or ord(ch) < 128:
        hint = ASCII_HINTS.get(ch, "ascii_other")
        return FormulaError("bad_character", f"The character {ch!r} at column {col} is not allowed: "
                            f"{hint_text(hint)}.", char=ch, codepoint=code, column=col, hint=hint)
    name = unicodedata.name(ch, "control character" if ord(ch) < 32 or ord(ch) == 127 else code)
    hint = _char_hint(ch)
    return FormulaError("bad_character", f"The character {ch!r} ({code} {name}) at column {col} "
                        f"is not allowed: {hint_text(**hint)}.", char=ch, codepoint=code, name=name,
                        column=col, **hint)


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


def python_text(text: str) -> tuple[str, list[int]]:
    """'x^2' → 'x**2' and, for each character of the result, its index in the original text."""
    # only operators can be '^' here: quotes and '#' were refused, so no strings or comments remain
    out, origin = [], []
    for index, ch in enumerate(text):
        out.append("**" if ch == "^" else ch)
        origin.extend([index, index] if ch == "^" else [index])
    return "".join(out), origin


# likely causes of a syntax error: a pattern, and the hint code (errors.HINTS) it suggests
SYNTAX_HINTS = (
    (re.compile(r"[-+*/^,.(]\s*$"), "syntax_end"),
    (re.compile(r"(?:^|[^\w.])\d+(?:\.\d*)?\s*([A-Za-z(])"), "syntax_number_name"),
    (re.compile(r"(?:[\w)]\s+([\w(]))|(?:\)\s*([\w(]))"), "syntax_missing_op"),
    (re.compile(r"\(\s*(\))"), "syntax_empty_parens"),
    (re.compile(r"(?:\*\*|[-+*/^.,])\s*([*/^.,)])"), "syntax_two_ops"),
)


def _syntax_hint(text: str, col: int) -> tuple[int, str]:
    """A likely cause of a syntax error (a hint code), and the column it points at (else Python's)."""
    for pattern, hint in SYNTAX_HINTS:
        match = pattern.search(text)
        if match:
            group = next((g for g in range(1, (pattern.groups or 0) + 1) if match.group(g) is not None), 0)
            return (match.start(group) + 1 if group else len(text.rstrip())), hint
    return col, "syntax_other"


def _parse_ast(text: str) -> tuple[ast.expr, list[int]]:
    source, origin = python_text(text)
    try:
        tree = ast.parse(source, mode="eval")
    except SyntaxError as exc:
        offset = max(1, min(exc.offset or 1, len(source)))
        col, hint = _syntax_hint(text, origin[offset - 1] + 1)
        raise FormulaError("syntax", f"The formula cannot be read near column {col}: {hint_text(hint)}.",
                           column=col, hint=hint) from None
    except (ValueError, RecursionError, MemoryError):
        raise FormulaError("syntax", "The formula cannot be read.") from None
    return tree.body, origin


def _check_size(root: ast.expr, origin: list[int]) -> None:
    nodes = [n for n in ast.walk(root) if isinstance(n, ast.expr)]
    if len(nodes) > MAX_NODES:
        raise FormulaError("too_many_nodes", f"The formula has {len(nodes)} parts; at most {MAX_NODES} "
                           "are allowed. Shorten it.", nodes=len(nodes), limit=MAX_NODES)
    stack = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            col = column(node, origin)
            raise FormulaError("too_deep", f"The formula is nested more than {MAX_DEPTH} levels deep "
                               f"(at column {col}). Simplify or split it.", column=col, limit=MAX_DEPTH)
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node) if isinstance(child, ast.expr))


def _names(root: ast.expr, origin: list[int]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(scalar names, vector names) as written; a name may not be both."""
    vectors, scalars = {}, {}
    calls = {id(n.func) for n in ast.walk(root) if isinstance(n, ast.Call)}
    in_dot = {id(n.value) for n in ast.walk(root) if isinstance(n, ast.Attribute)}
    for node in ast.walk(root):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            vectors.setdefault(node.value.id, column(node, origin))
            vectors.setdefault(node.attr, column(node, origin))
        elif isinstance(node, ast.Name) and id(node) not in calls | in_dot and node.id not in CONSTANTS:
            scalars.setdefault(node.id, column(node, origin))
    for name, col in scalars.items():
        if name in vectors:
            raise FormulaError("vector_as_number", f"{name!r} is a vector in a dot product ({name}.…) and "
                               f"a number at column {col}: use another name for one of them.",
                               name=name, column=col)
    return tuple(sorted(scalars)), tuple(sorted(vectors))


@dataclass(frozen=True)
class Syntax:
    """A formula's text, checked without SymPy: the allowlisted syntax tree and its names."""

    text: str
    source: str
    root: ast.expr = field(repr=False)
    origin: list[int] = field(repr=False)
    scalars: tuple[str, ...]
    vectors: tuple[str, ...]

    @property
    def names(self) -> tuple[str, ...]:
        """Every variable: the numbers, then the vectors (the order analyses use)."""
        return self.scalars + self.vectors

    def display_only(self) -> str | None:
        """The first function called that is shown but never computed (softmax), if any."""
        for node in ast.walk(self.root):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                spec = FUNCTIONS.get(node.func.id)
                if spec is not None and spec.display_only:
                    return spec.name
        return None


def read(text: str) -> Syntax:
    """Every check that needs no SymPy: characters, length, syntax, size, names, literals.
    Cheap and bounded, so the app process may run it on every keystroke."""
    _check_parentheses(_check_text(text))
    root, origin = _parse_ast(text)
    _check_size(root, origin)
    scalars, vectors = _names(root, origin)
    source, _ = python_text(text)
    Walker(CheckBackend(source), origin).walk(root)
    return Syntax(text, source, root, origin, scalars, vectors)
