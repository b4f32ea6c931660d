"""FormulaError, and the fixed phrases its messages are made of, each under a code.

Every refusal carries a `code` (which message) and `params` (its details). Two params are codes
themselves: `hint` (what to write instead, a key of HINTS) and `what` (the construct refused, a key
of WHATS). A page translates a message by code (err_<code>, hint_<hint>, what_<what> in its toml),
never by matching the English text here; the English is for str(exc), logs and tests."""

from __future__ import annotations

from engine.limits import CodedError


class FormulaError(CodedError):
    """A formula that cannot be read or computed; `code` and `params` let a page translate it."""


# what to write instead: code → the English phrase (params of the error fill the {…})
HINTS: dict[str, str] = {
    # characters
    "factorial": "factorials are not supported",
    "equals": "write one expression without '=' (to compare two sides, use the identity check)",
    "comparison": "comparisons are not supported",
    "quotes": "a formula holds no text: remove the quotes",
    "brackets": "use ( ) for grouping",
    "percent": "the remainder % is not supported",
    "at": "write a.b for the dot product of two vectors",
    "logical": "logical operators are not supported",
    "pipe": "write abs(x) for |x|",
    "colon": "write one expression, no ':'",
    "semicolon": "write one expression, no ';'",
    "hash": "comments are not allowed",
    "latex": "write plain text, not LaTeX",
    "tab": "use spaces, not tabs",
    "newline": "write the formula on one line",
    "ascii_other": "only letters, digits, spaces and + - * / ^ ( ) . , _ are allowed",
    "invisible": "it is invisible (a zero-width, direction or control mark): delete it and retype the text around it",
    "lookalike": "it looks like plain text but is not ASCII; write {plain} instead",
    "sum": "it looks like plain text but is not ASCII; write a sum of terms instead",
    "typographic_quote": "it looks like plain text but is not ASCII; write nothing (quotes are not allowed) instead",
    "folded": "it looks like {plain!r} but is not ASCII; type {plain!r} instead",
    "nonascii_other": "only plain ASCII letters, digits and + - * / ^ ( ) . , are allowed",
    # syntax
    "syntax_end": "the formula ends with an operator or '(': add what comes after it",
    "syntax_number_name": "write * between a number and what it multiplies: 2*x, not 2x",
    "syntax_missing_op": "an operator is missing: write * for a product, e.g. x*y or x*(y + 1)",
    "syntax_empty_parens": "empty parentheses: put an expression inside them",
    "syntax_two_ops": "two operators in a row: remove one or add a value between them",
    "syntax_other": "check for a missing or doubled operator or a misplaced comma or dot",
    # constructs
    "general": "use numbers, names, + - * / ^, functions like sigmoid(x), and a.b",
    "one_expression": "write one expression",
    "max_min": "write max(a, b) or min(a, b)",
    "commas": "commas only separate a function's arguments, as in max(x, y)",
    "component": "write x_1 for a component",
    "write_arguments": "write the arguments",
    "write_div": "write /",
    "dot": "write a.b for a dot product",
    "power": "write ^ or ** for a power",
    "by_position": "pass values by position, e.g. max(x, 0)",
    "one_by_one": "write the arguments one by one",
    "product": "write * for a product",
}

# a construct a formula may not use: code → the English phrase
WHATS: dict[str, str] = {
    "comparison": "a comparison (<, ==, in, is)", "and_or": "'and' / 'or'", "if_else": "'if … else'",
    "lambda": "a lambda", "tuple": "a tuple", "generator": "a generator", "comprehension": "a comprehension",
    "subscript": "indexing with [ ]", "fstring": "text (f-string)", "starred": "a starred argument",
    "assignment": "an assignment (:=)", "list": "a list", "set": "a set", "dict": "a dictionary",
    "await": "'await'", "yield": "'yield'", "slice": "a slice", "floordiv": "integer division '//'",
    "mod": "the remainder %", "matmul": "'@'", "lshift": "'<<'", "rshift": "'>>'", "bitor": "'|'",
    "bitand": "'&'", "xor": "xor", "not": "'not'", "invert": "'~'", "imaginary": "an imaginary number",
    "not_number": "{value!r} (not a number)", "dot_after": "a dot after something other than a name",
    "keyword": "a named (keyword) argument", "call": "calling something that is not a function name",
    "other": "'{kind}'",
}


def hint_text(hint: str, **params) -> str:
    """The English phrase of a hint code (params fill its placeholders)."""
    return HINTS[hint].format(**params)


def what_text(code: str, **params) -> str:
    """The English phrase of a refused construct's code."""
    return WHATS[code].format(**params)
