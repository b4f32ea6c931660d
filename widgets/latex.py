"""Pieces of LaTeX for formulas written out with live numbers (KaTeX, inside `aligned`)."""

from __future__ import annotations

import torch


def num(v: float, digits: int = 3) -> str:
    """A number for LaTeX: negative ones in parentheses, since they follow an operator."""
    s = f"{v:.{digits}f}"
    return f"({s})" if v < 0 else s


def recurrent_sum(name: str, j: int, tt: int, weights_row: torch.Tensor, h_prev: torch.Tensor,
                  terms: int = 8, per_line: int = 4) -> str:
    """Σ_m W_name[j,m] h_{t−1}[m] written out as two `aligned` rows: up to `terms` products,
    then \\dots, then the total."""
    shown = [rf"{num(float(w), 2)}\cdot{num(float(h), 2)}" for w, h in zip(weights_row[:terms], h_prev[:terms])]
    total = float(weights_row @ h_prev)
    lines = [" + ".join(shown[i:i + per_line]) for i in range(0, len(shown), per_line)]
    if len(h_prev) > terms:
        # \dots ends the last line rather than standing alone on a line of its own
        lines[-1] += r" + \dots"
    body = r" \\ &\qquad + ".join(lines)
    return (rf"\textstyle\sum_{{m}} W_{{{name}}}[{j},m]\,h_{{{tt - 1}}}[m] &= {body} \\ "
            rf"&= {total:.4f}")
