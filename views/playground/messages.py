"""The formula engine's refusals in the learner's language: translated by the error's `code` and
its `params` (the `hint` and `what` params are codes too: hint_<code>, what_<code> in
lessons/ui/playground.toml), never by the engine's English text; and the text with a ^ under the
column the engine names."""

from __future__ import annotations

import unicodedata
from types import SimpleNamespace

import streamlit as st

from engine.formula import FormulaError
from engine.limits import LimitError
from widgets.i18n import T

t = T("playground")


def visible(ch: str) -> str:
    """A character as it can be shown in a message (invisible ones become a placeholder)."""
    return {"\n": "↵", "\r": "↵", "\t": "⇥", " ": "␣"}.get(ch, ch if ch.isprintable() else "⍰")


# codes raised with different details: (param that selects the wording, the wording's key)
CHOICES = {
    "bad_name": ("limit", "bad_name_long"),
    "vector_as_number": ("column", "vector_as_number_at"),
    "unknown_function": ("suggestion", "unknown_function_suggest"),
    "result_too_large": ("column", "result_too_large_at"), "unsupported": ("what", "unsupported_what"),
}


def variant(code: str, params: dict) -> str:
    """The message key: some codes are raised with different details (sub-messages say more)."""
    if code == "syntax":
        return next((f"syntax_{v}" for k, v in (("open", "open"), ("hint", "hint"), ("column", "close"))
                     if k in params), "syntax")
    if code == "arity" and params.get("arity") in (1, 2):
        return f"arity_{params['arity']}"
    if code == "bad_character" and "name" in params and t.lang == "en":
        return "bad_character_named"  # Unicode's character names are English: other languages show the code point
    if code in CHOICES and params.get(CHOICES[code][0]) is not None:
        return CHOICES[code][1]
    if code == "not_finite":
        return "not_finite_word" if "name" in params else "not_finite_number" if "literal" in params else code
    if code == "result_too_large" and "length" in params:
        return "result_too_long"
    return code


def message(exc: FormulaError | LimitError) -> str:
    """t.error(exc) in the most specific wording, its hint and construct translated by their codes."""
    params = dict(exc.params)
    if "hint" in params:
        params["hint"] = t(f"hint_{params['hint']}", **params)
    if "what" in params and exc.code == "not_allowed":
        params["what"] = t(f"what_{params['what']}", **params)
    if "char" in params:
        params["char"] = visible(params["char"])
    if isinstance(params.get("timeout"), float):
        params["timeout"] = f"{params['timeout']:g}"
    return t.error(SimpleNamespace(code=variant(exc.code, params), params=params))


def pointer(text: str, column: int) -> str:
    """The text, and a ^ under `column` (1-based; wide characters count twice, invisible ones
    are shown as ⍰ so the caret lines up)."""
    shown, pad = [], 0
    for index, ch in enumerate(text):
        wide = unicodedata.east_asian_width(ch) in ("W", "F")
        shown.append(visible(ch) if not ch.isprintable() or ch in "\t\n\r" else ch)
        if index < column - 1:
            pad += 2 if wide else 1
    return "".join(shown) + "\n" + " " * pad + "^"


def show_error(exc: FormulaError, text: str | None = None, side: str | None = None) -> None:
    """A friendly message (st.info for an empty box, st.error otherwise) and, where the engine
    names a column, the text with a ^ under it. The text itself stays in its box."""
    body = message(exc)
    if side:
        body = t("side_prefix", side=side) + " " + body
    (st.info if exc.code == "empty" else st.error)(body)
    column = exc.params.get("column")
    if text and isinstance(column, int) and 1 <= column <= len(text) + 1:
        st.code(pointer(text, column), language=None)
