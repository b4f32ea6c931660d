"""Per-head summaries of attention weights: where a head puts its weight, in numbers.

Each summary turns one head's weight matrix A (T queries × T keys, rows summing to 1) into one
number, averaged over the queries, so a (L, H, T, T) stack of every layer's heads becomes an
(L, H) table a learner can scan for a pattern:

- mass on given key positions (the [CLS] token, the [SEP] tokens): m_P = (1/T) Σ_i Σ_{j∈P} a_ij;
- mass on a diagonal at offset k (−1: the previous token, +1: the next, 0: the same token):
  m_k = (1/|I_k|) Σ_{i∈I_k} a_{i,i+k}, over the queries I_k whose position i + k exists;
- entropy (nats): H = (1/T) Σ_i −Σ_j a_ij log a_ij (0 log 0 = 0), low for a head that looks at
  one key, log T for one that spreads evenly.

Pure torch; every function takes weights (..., T, T) and returns (...).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

SUMMARIES = ("cls", "sep", "prev", "next", "same", "entropy")


@dataclass(frozen=True)
class HeadStats:
    """The six summaries of every head, each (L, H) (or whatever leading shape A had)."""

    cls: torch.Tensor  # mean mass on the [CLS] position(s)
    sep: torch.Tensor  # mean mass on the [SEP] position(s)
    prev: torch.Tensor  # mean a_{i,i−1}
    next: torch.Tensor  # mean a_{i,i+1}
    same: torch.Tensor  # mean a_{i,i}
    entropy: torch.Tensor  # mean row entropy, nats

    def get(self, name: str) -> torch.Tensor:
        if name not in SUMMARIES:
            raise ValueError(f"unknown summary {name!r}; one of {SUMMARIES}")
        return getattr(self, name)


@dataclass(frozen=True)
class HeadPick:
    """One head of an (L, H) table, counted from 0, with its value."""

    layer: int
    head: int
    value: float


def _check_square(A: torch.Tensor) -> int:
    if A.dim() < 2 or A.shape[-1] != A.shape[-2]:
        raise ValueError(f"attention weights must be (..., T, T), got shape {tuple(A.shape)}")
    return A.shape[-1]


def key_mass(A: torch.Tensor, positions: Sequence[int]) -> torch.Tensor:
    """Mean over the queries of the weight on the keys at `positions` (an empty set gives 0)."""
    T = _check_square(A)
    P = sorted(set(int(p) for p in positions))
    if any(not 0 <= p < T for p in P):
        raise ValueError(f"key positions {P} outside 0 … {T - 1}")
    # m_P = (1/T) Σ_i Σ_{j∈P} a_ij
    m_P = A[..., :, P].sum(dim=(-2, -1)) / T
    return m_P


def diagonal_mass(A: torch.Tensor, k: int) -> torch.Tensor:
    """Mean over the queries i with a key at i + k of a_{i,i+k} (k = −1 previous, +1 next, 0 same)."""
    T = _check_square(A)
    if not -T < k < T:
        raise ValueError(f"offset {k} leaves no query with a key at i + k (T = {T})")
    # the k-th diagonal holds a_{i,i+k}: (..., T − |k|)
    a_diag = torch.diagonal(A, offset=k, dim1=-2, dim2=-1)
    # m_k = (1/|I_k|) Σ_{i∈I_k} a_{i,i+k}
    m_k = a_diag.mean(dim=-1)
    return m_k


def entropy(A: torch.Tensor) -> torch.Tensor:
    """Mean over the queries of the row entropy −Σ_j a_ij log a_ij, in nats (0 log 0 = 0)."""
    _check_square(A)
    log_a = torch.where(A > 0, torch.log(A.clamp_min(torch.finfo(A.dtype).tiny)), torch.zeros_like(A))
    # H_i = −Σ_j a_ij log a_ij
    H_i = -(A * log_a).sum(dim=-1)
    return H_i.mean(dim=-1)


def head_stats(A: torch.Tensor, cls_positions: Sequence[int], sep_positions: Sequence[int]) -> HeadStats:
    """Every summary of every head of A (..., T, T)."""
    return HeadStats(cls=key_mass(A, cls_positions), sep=key_mass(A, sep_positions),
                     prev=diagonal_mass(A, -1) if A.shape[-1] > 1 else torch.zeros(A.shape[:-2], dtype=A.dtype),
                     next=diagonal_mass(A, 1) if A.shape[-1] > 1 else torch.zeros(A.shape[:-2], dtype=A.dtype),
                     same=diagonal_mass(A, 0), entropy=entropy(A))


def strongest_head(values: torch.Tensor, largest: bool = True) -> HeadPick:
    """The head with the largest (or smallest) value of an (L, H) table; ties go to the first."""
    if values.dim() != 2 or values.numel() == 0:
        raise ValueError(f"a head table must be (L, H), got shape {tuple(values.shape)}")
    flat = values.flatten()
    idx = int(torch.argmax(flat) if largest else torch.argmin(flat))
    layer, head = divmod(idx, values.shape[1])
    return HeadPick(layer=layer, head=head, value=float(flat[idx]))


def row_sum_gap(A: torch.Tensor) -> float:
    """max |Σ_j a_ij − 1| over every row of A (..., T, T), in float64: 0 up to rounding for softmax rows."""
    _check_square(A)
    return float((A.double().sum(dim=-1) - 1).abs().max())
