"""Experiments on positional encodings, for the positional-encoding page.

- similarity: PE(p)·PE(q) = Σ_i cos((p − q)·ω_i) for the sinusoidal table, a function of the
  distance alone; `by_distance` gathers every pair (p, p + Δ) to show the spread is ~0.
- shift_check: M_k · PE(pos) against PE(pos + k) at every position (one matrix for all pos).
- rope_scores: one query q at every position m and one key k at every position n, both turned by
  RoPE; the score matrix ⟨rope(q)_m, rope(k)_n⟩ is constant along its diagonals (depends on m − n).
  additive_scores: the same with PE added instead, (q + PE_m)·(k + PE_n), which is not.
- order_check: self-attention (Q = K = V = X, or seeded projections of X) on the tokens and on the
  shuffled tokens; without position information the outputs just follow the tokens (permutation
  equivariance), with PE added to the positions they do not.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from engine.limits import check
from engine.ops.attention import AttentionTrace, scaled_dot_product
from engine.ops.positional import frequencies, rope, shift_matrix, sinusoidal


def _table(name: str, X) -> None:
    if not torch.is_tensor(X) or not X.is_floating_point() or X.dim() != 2:
        raise ValueError(f"{name} must be a floating-point (positions, d_model) tensor")


def wavelengths(d_model: int, base: float = 10000.0) -> torch.Tensor:
    """(⌈d/2⌉,) float64: λ_i = 2π / ω_i = 2π·base^{2i/d}, the period (in positions) of pair i."""
    check("d_model", d_model)
    # λ_i = 2π / ω_i
    return 2 * math.pi / frequencies(d_model, base)


def similarity(PE: torch.Tensor) -> torch.Tensor:
    """(L, L): S[p, q] = PE(p)·PE(q), every pair of positions."""
    _table("PE", PE)
    # S_pq = Σ_j PE_pj PE_qj
    return torch.einsum("pj,qj->pq", PE, PE)


@dataclass(frozen=True)
class DistanceProfile:
    """For every distance Δ = 0 … L − 1, the smallest and largest S[p, p + Δ] over the pairs."""

    distance: torch.Tensor  # (L,) 0 … L − 1
    low: torch.Tensor  # (L,) min over p of S[p, p + Δ]
    high: torch.Tensor  # (L,) max over p of S[p, p + Δ]

    @property
    def spread(self) -> float:
        """max over Δ of (high − low): 0 when S depends on the distance alone."""
        return float((self.high - self.low).max())


def by_distance(S: torch.Tensor) -> DistanceProfile:
    """Group a symmetric (L, L) similarity matrix by distance: diagonal Δ holds S[p, p + Δ]."""
    if not torch.is_tensor(S) or S.dim() != 2 or S.shape[0] != S.shape[1]:
        raise ValueError("S must be a square (L, L) tensor")
    L = S.shape[0]
    diagonals = [torch.diagonal(S, offset=delta) for delta in range(L)]
    low = torch.stack([d.min() for d in diagonals])
    high = torch.stack([d.max() for d in diagonals])
    return DistanceProfile(torch.arange(L), low, high)


@dataclass(frozen=True)
class ShiftTrace:
    """PE(pos + k) predicted as M_k · PE(pos) for pos = 0 … max_len − 1."""

    k: int
    M: torch.Tensor  # (d, d) block-diagonal M_k
    PE: torch.Tensor  # (max_len + k, d): the table, long enough to hold pos + k
    predicted: torch.Tensor  # (max_len, d): row pos is M_k · PE(pos)
    actual: torch.Tensor  # (max_len, d): row pos is PE(pos + k)
    delta: torch.Tensor  # (max_len,): max over the dimensions of |predicted − actual|


def shift_check(max_len: int, d_model: int, k: int) -> ShiftTrace:
    """M_k · PE(pos) against PE(pos + k) at every pos < max_len (k ≥ 0, d_model even)."""
    check("max_len", max_len)
    check("position_shift", k)
    if k < 0:
        raise ValueError(f"k must be ≥ 0 here (got {k}): the table starts at position 0")
    check("max_len", max_len + k)
    M = shift_matrix(k, d_model)
    PE = sinusoidal(max_len + k, d_model)
    # PE(pos + k) ≟ M_k · PE(pos), all rows at once: (L, d) · (d, d)ᵀ
    predicted = PE[:max_len] @ M.T
    actual = PE[k:k + max_len]
    delta = (predicted - actual).abs().amax(dim=1)
    return ShiftTrace(k, M, PE, predicted, actual, delta)


def random_qk(d: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Two (d,) float64 vectors q, k from N(0, 1), from a private generator seeded with `seed`."""
    check("d_model", d)
    gen = torch.Generator().manual_seed(int(seed))
    q, k = torch.randn(2, d, generator=gen, dtype=torch.float64)
    return q, k


@dataclass(frozen=True)
class RopeScores:
    """q and k placed at every position 0 … T − 1 and rotated by RoPE."""

    q_rot: torch.Tensor  # (T, d): row m is rope(q) at position m
    k_rot: torch.Tensor  # (T, d): row n is rope(k) at position n
    scores: torch.Tensor  # (T, T): scores[m, n] = ⟨rope(q)_m, rope(k)_n⟩


def _at_every_position(v: torch.Tensor, T: int) -> torch.Tensor:
    if not torch.is_tensor(v) or not v.is_floating_point() or v.dim() != 1:
        raise ValueError("q and k must be floating-point (d,) vectors")
    check("max_len", T)
    # (d,) → (T, d): the same vector in every row
    return v[None, :].expand(T, -1)


def rope_scores(q: torch.Tensor, k: torch.Tensor, T: int, base: float = 10000.0) -> RopeScores:
    """⟨rope(q)_m, rope(k)_n⟩ for every m, n < T; q and k are (d,) with d even."""
    if q.shape != k.shape:
        raise ValueError(f"q and k need the same shape; got {tuple(q.shape)} and {tuple(k.shape)}")
    q_rot = rope(_at_every_position(q, T), base)
    k_rot = rope(_at_every_position(k, T), base)
    # s_mn = Σ_j rope(q)_mj rope(k)_nj
    return RopeScores(q_rot, k_rot, torch.einsum("mj,nj->mn", q_rot, k_rot))


def additive_scores(q: torch.Tensor, k: torch.Tensor, PE: torch.Tensor) -> torch.Tensor:
    """(T, T): s[m, n] = (q + PE_m)·(k + PE_n), position added to the vectors (T = len(PE))."""
    _table("PE", PE)
    if q.shape != k.shape or q.shape[-1:] != PE.shape[-1:]:
        raise ValueError(f"q, k must be (d,) with d = {PE.shape[1]}; got {tuple(q.shape)}, {tuple(k.shape)}")
    T = PE.shape[0]
    # (T, d): q + PE_m at every m, k + PE_n at every n
    Qp, Kp = _at_every_position(q, T) + PE, _at_every_position(k, T) + PE
    # s_mn = Σ_j (q + PE_m)_j (k + PE_n)_j
    return torch.einsum("mj,nj->mn", Qp, Kp)


def permutation(T: int, seed: int) -> torch.Tensor:
    """(T,) a seeded shuffle of 0 … T − 1; never the identity when T ≥ 2 (then it is rolled by one)."""
    check("tokens", T)
    gen = torch.Generator().manual_seed(int(seed))
    perm = torch.randperm(T, generator=gen)
    if T >= 2 and torch.equal(perm, torch.arange(T)):
        perm = perm.roll(1)
    return perm


def seeded_projections(d: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """W_Q, W_K, W_V, each (d, d) float64 from N(0, 1/d) (private generator): q·k/√d then has a
    spread near 1, so the weights are not all on the diagonal as with Q = K = V = X."""
    check("d_model", d)
    gen = torch.Generator().manual_seed(int(seed))
    W = torch.randn(3, d, d, generator=gen, dtype=torch.float64) / math.sqrt(d)
    return W[0], W[1], W[2]


@dataclass(frozen=True)
class OrderTrace:
    """Self-attention on the tokens in their order and shuffled, with the same positions added."""

    perm: torch.Tensor  # (T,): shuffled slot t holds token perm[t]
    inputs: torch.Tensor  # (T, d): Z = X + P (P = 0 without position information)
    inputs_shuffled: torch.Tensor  # (T, d): Z' = X[perm] + P, the positions stay in place
    attn: AttentionTrace  # on inputs
    attn_shuffled: AttentionTrace  # on inputs_shuffled
    delta: float  # max |out[perm] − out_shuffled|: 0 when the outputs just follow the tokens


def _self_attention(Z: torch.Tensor, W) -> AttentionTrace:
    if W is None:
        return scaled_dot_product(Z, Z, Z)
    W_Q, W_K, W_V = W
    # Q = Z W_Qᵀ, K = Z W_Kᵀ, V = Z W_Vᵀ
    return scaled_dot_product(Z @ W_Q.T, Z @ W_K.T, Z @ W_V.T)


def order_check(X: torch.Tensor, perm: torch.Tensor, P: torch.Tensor | None = None,
                W: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None) -> OrderTrace:
    """Self-attention of Z = X + P and of Z' = X[perm] + P (the positions P do not move).

    W = (W_Q, W_K, W_V), each (d, d), projects Z first; without W, Q = K = V = Z. Without P,
    attention is permutation-equivariant: out(X[perm]) = out(X)[perm], so delta ≈ 0."""
    _table("X", X)
    T, d = X.shape
    if not torch.is_tensor(perm) or sorted(perm.tolist()) != list(range(T)):
        raise ValueError(f"perm must be a permutation of 0 … {T - 1}")
    if P is None:
        P = torch.zeros_like(X)
    _table("P", P)
    if P.shape != X.shape:
        raise ValueError(f"P must have X's shape {tuple(X.shape)}; got {tuple(P.shape)}")
    if W is not None and (len(W) != 3 or any(tuple(w.shape) != (d, d) for w in W)):
        raise ValueError(f"W must be three ({d}, {d}) matrices W_Q, W_K, W_V")
    # Z = X + P (in order) and Z' = X[perm] + P (tokens moved, positions not)
    Z, Z_shuffled = X + P, X[perm] + P
    attn, attn_shuffled = _self_attention(Z, W), _self_attention(Z_shuffled, W)
    delta = float((attn.output[perm] - attn_shuffled.output).abs().max())
    return OrderTrace(perm, Z, Z_shuffled, attn, attn_shuffled, delta)
