"""Names and numbers as LaTeX and as short table text, for the playground."""

from __future__ import annotations

import numpy as np
import sympy as sp

from widgets.i18n import T

t = T("playground")


def tex_name(name: str, vector: bool = False) -> str:
    """A variable's name as LaTeX (d_k → d_{k}, w1 → w_{1}); vectors bold. The name was checked
    by formula.read (letters, digits, _), so it is a plain Symbol name."""
    body = sp.latex(sp.Symbol(name))
    return rf"\mathbf{{{body}}}" if vector else body


def label_name(name: str) -> str:
    """A variable's name for a $…$ widget label, braced so a subscript can follow (d_k → {d_{k}})."""
    return "{" + tex_name(name) + "}"


def tex_number(v: float, digits: int = 4) -> str:
    if v is None or not np.isfinite(v):
        return r"\text{" + t("undefined") + "}"
    return f"{v:.{digits}f}" if 1e-3 <= abs(v) < 1e5 or v == 0 else sp.latex(sp.Float(v, digits))


def fmt_values(values, digits: int = 10) -> str:
    """A scalar or a vector as short text for a table cell (vectors with fewer digits, to fit)."""
    values = values if isinstance(values, list) else [values]
    digits = digits if len(values) == 1 else min(digits, 5)
    parts = [f"{float(v):.{digits}g}" for v in values]
    return parts[0] if len(parts) == 1 else "(" + ", ".join(parts) + ")"
