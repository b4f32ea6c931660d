"""Magnitude pruning from scratch: which weights (or whole output channels) a prune removes.

A mask M has the weight's shape, 1 where a weight is kept and 0 where it is pruned; the pruned
weight is W ⊙ M. Three rules, each equal to torch.nn.utils.prune's mask:

    unstructured, per layer   prune the k = round(s·n) weights of one tensor with the smallest |W|
                              (prune.l1_unstructured)
    unstructured, global      the same over all tensors at once: one threshold for every layer
                              (prune.global_unstructured with prune.L1Unstructured)
    structured (channels)     prune the k = round(s·C_out) output channels with the smallest L1
                              norm ‖W_c‖₁ = Σ |W[c, …]| (prune.ln_structured(n=1, dim=0))

round() is Python's (halves to even), as torch rounds. On exact ties the lower index is pruned
first (torch's topk leaves the order of ties unspecified).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class PruneMask:
    """One tensor's mask: M (the weight's shape, 1 = kept), k (entries pruned: weights, or channels
    for a structured prune) and τ, the largest score pruned (|W| or ‖W_c‖₁; 0 when k = 0)."""

    M: torch.Tensor
    k: int
    tau: float

    @property
    def kept(self) -> int:
        """Weights kept (entries of M equal to 1)."""
        return int(self.M.sum())


def n_pruned(s: float, n: int) -> int:
    """The number of entries a fraction s of n prunes, rounded as torch rounds it."""
    if not 0.0 <= s <= 1.0:
        raise ValueError(f"the sparsity must lie in [0, 1], got {s!r}")
    # k = round(s · n)   (Python's round: halves go to the even integer)
    return round(s * n)


def smallest(scores: torch.Tensor, k: int) -> torch.Tensor:
    """A 0/1 vector over `scores` (1-D) with 0 at its k smallest entries (lower index first on ties)."""
    keep = torch.ones_like(scores)
    order = torch.sort(scores, stable=True).indices  # ascending; ties keep their index order
    keep[order[:k]] = 0
    return keep


def _tau(scores: torch.Tensor, keep: torch.Tensor) -> float:
    pruned = scores[keep == 0]
    return float(pruned.max()) if pruned.numel() else 0.0


def l1_unstructured(W: torch.Tensor, s: float) -> PruneMask:
    """Per-layer magnitude pruning: M = 0 at the round(s·n) weights with the smallest |W|."""
    scores = W.detach().abs().reshape(-1)  # (n,)
    k = n_pruned(s, scores.numel())
    # M_i = 0 for the k smallest |W_i|, else 1
    keep = smallest(scores, k)
    return PruneMask(keep.reshape(W.shape), k, _tau(scores, keep))


def global_unstructured(Ws: Sequence[torch.Tensor], s: float) -> list[PruneMask]:
    """Global magnitude pruning: one ranking of |W| over every tensor together (one threshold τ
    for all), round(s·Σn) weights pruned in all; one mask per tensor, each with its own k."""
    flat = [W.detach().abs().reshape(-1) for W in Ws]
    scores = torch.cat([f.to(flat[0].dtype) for f in flat])  # (Σ n,)
    k = n_pruned(s, scores.numel())
    # M_i = 0 for the k smallest |W_i| of all layers together
    keep = smallest(scores, k)
    tau = _tau(scores, keep)
    masks, start = [], 0
    for W, f in zip(Ws, flat, strict=True):
        part = keep[start: start + f.numel()].to(W.dtype)
        start += f.numel()
        masks.append(PruneMask(part.reshape(W.shape), int((part == 0).sum()), tau))
    return masks


def channel_norms(W: torch.Tensor) -> torch.Tensor:
    """‖W_c‖₁ of every output channel c (dim 0): (C_out,)."""
    # ‖W_c‖₁ = Σ_{i,…} |W[c, i, …]|
    return W.detach().abs().reshape(W.shape[0], -1).sum(dim=1)


def ln_structured(W: torch.Tensor, s: float) -> PruneMask:
    """Structured pruning: M = 0 on the whole output channels (rows of W along dim 0) of the
    round(s·C_out) smallest L1 norms; k counts channels."""
    norms = channel_norms(W)  # (C_out,)
    k = n_pruned(s, norms.numel())
    # M[c, …] = 0 for the k channels with the smallest ‖W_c‖₁
    keep_c = smallest(norms, k).to(W.dtype)
    M = keep_c.reshape(-1, *([1] * (W.dim() - 1))).expand_as(W).clone()
    return PruneMask(M, k, _tau(norms, keep_c))


def kept_channels(mask: PruneMask) -> torch.Tensor:
    """The indices of the output channels a mask keeps (any weight of the channel kept)."""
    return mask.M.reshape(mask.M.shape[0], -1).amax(dim=1).nonzero().flatten()
