"""Toy sequence tasks for the tiny Transformer: copy, reverse, sort and add two numbers.

Each example is a row of digit tokens x (the input) and a row of targets y of the same length,
one target per input position, so an encoder that outputs one vector per position can learn
the task by classifying each position:

    copy      x = 3 1 4 1 5      y = 3 1 4 1 5          y_i = x_i
    reverse   x = 3 1 4 1 5      y = 5 1 4 1 3          y_i = x_{L−1−i}   (attention: anti-diagonal)
    sort      x = 3 1 4 1 5      y = 1 1 3 4 5
    add       x = 4 7 + 5 8      y = 1 0 5 · ·          47 + 58 = 105, written in L+1 digits;
                                                       the remaining positions are not scored

Tokens 0…9 are digits, PLUS = 10 is '+'. Unscored targets are IGNORE (F.cross_entropy's
ignore_index). Examples are drawn from a torch.Generator that the caller seeds.
"""

from __future__ import annotations

import torch

from engine.limits import check

SEQ_TASKS = ("copy", "reverse", "sort", "add")
BASE = 10  # digit tokens 0 … 9
PLUS = 10  # the '+' token of the add task
VOCAB = 11  # digits and '+'
IGNORE = -100  # targets not scored (F.cross_entropy's default ignore_index)
SYMBOLS = "0123456789+"


def _task(name: str) -> str:
    if name not in SEQ_TASKS:
        raise ValueError(f"task must be one of {SEQ_TASKS}, got {name!r}")
    return name


def input_length(task: str, L: int) -> int:
    """Tokens in one input: L digits, or for add two L-digit numbers and '+' (2L + 1)."""
    _task(task)
    check("toy_len", L)
    return 2 * L + 1 if task == "add" else L


def digits_to_int(d: torch.Tensor) -> torch.Tensor:
    """(B, L) digits, most significant first → (B,) int64 values: Σ_k d_k · 10^(L−1−k)."""
    L = d.shape[-1]
    powers = BASE ** torch.arange(L - 1, -1, -1, dtype=torch.int64)
    # n = Σ_k d_k · 10^(L−1−k)
    return (d.to(torch.int64) * powers).sum(-1)


def add_digits(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Schoolbook addition of (B, L) digit rows (most significant first) → (B, L + 1) digits."""
    B, L = a.shape
    out = torch.zeros(B, L + 1, dtype=torch.int64)
    carry = torch.zeros(B, dtype=torch.int64)
    for k in range(L - 1, -1, -1):
        # s_k = a_k + b_k + carry_k;  digit = s_k mod 10, carry_{k−1} = ⌊s_k / 10⌋
        s = a[:, k] + b[:, k] + carry
        out[:, k + 1] = s % BASE
        carry = s // BASE
    out[:, 0] = carry
    return out


def make_batch(task: str, B: int, L: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """B random examples: x (B, T) and y (B, T) int64 on the CPU, T = input_length(task, L)."""
    _task(task)
    check("batch", B)
    T = input_length(task, L)
    if task == "add":
        a = torch.randint(0, BASE, (B, L), generator=generator)
        b = torch.randint(0, BASE, (B, L), generator=generator)
        x = torch.cat([a, torch.full((B, 1), PLUS), b], dim=1)  # (B, 2L + 1)
        y = torch.full((B, T), IGNORE, dtype=torch.int64)
        y[:, : L + 1] = add_digits(a, b)
        return x, y
    x = torch.randint(0, BASE, (B, L), generator=generator)
    if task == "copy":
        y = x.clone()
    elif task == "reverse":
        # y_i = x_{L−1−i}
        y = x.flip(1)
    else:
        y = x.sort(dim=1).values
    return x, y


def render(tokens) -> str:
    """Token ids → text ('47+58'); IGNORE shows as '·'."""
    return "".join("·" if int(t) == IGNORE else SYMBOLS[int(t)] for t in torch.as_tensor(tokens).reshape(-1))
