"""Positional information: attention alone cannot tell token order (permuting the tokens only
permutes its outputs), so position has to be put into the vectors.

- sinusoidal: Vaswani et al. (2017) add a fixed table PE to the embeddings; pair i of a row is
  a point on a circle turning at frequency ω_i = 1/10000^{2i/d}, so moving k positions is one
  fixed rotation per pair: PE(pos + k) = M_k · PE(pos), whatever pos is.
- learned: a table of free parameters, one row per position (nn.Embedding).
- RoPE (Su et al., 2021): rotate each pair (2i, 2i+1) of q and k by the angle m·θ_i at position
  m; then ⟨rope(q)_m, rope(k)_n⟩ depends on m − n only, so attention scores see relative position.

The experiments the positional page runs on them:
- similarity: PE(p)·PE(q) = Σ_i cos((p − q)·ω_i) for the sinusoidal table, a function of the
  distance alone; `by_distance` gathers every pair (p, p + Δ) to show the spread is ~0.
- shift_check: M_k · PE(pos) against PE(pos + k) at every position (one matrix for all pos).
- rope_scores: one query q at every position m and one key k at every position n, both turned by
  RoPE; the score matrix ⟨rope(q)_m, rope(k)_n⟩ is constant along its diagonals (depends on m − n).
  additive_scores: the same with PE added instead, (q + PE_m)·(k + PE_n), which is not.
- order_check / order_study: self-attention (Q = K = V = X, or seeded projections of X) on the
  tokens and on the shuffled tokens; without position information the outputs just follow the
  tokens (permutation equivariance), with PE added to the positions they do not.
- sinusoidal_loops and rope_polar: independent references (the math module one entry at a time;
  complex numbers) that the page checks the table and RoPE against.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from engine.data.tokens import embed
from engine.limits import check
from engine.ops.attention import AttentionTrace, scaled_dot_product
from engine.ops.attention_setup import Projections, mha_reference, project


def frequencies(d_model: int, base: float = 10000.0) -> torch.Tensor:
    """ω_i = base^(−2i/d) for i = 0 … ⌈d/2⌉ − 1, float64: pair i's angle per position."""
    two_i = torch.arange(0, d_model, 2, dtype=torch.float64)
    # ω_i = 1 / base^{2i/d}
    return base ** (-two_i / d_model)


def sinusoidal(max_len: int, d_model: int) -> torch.Tensor:
    """(max_len, d_model) float64: PE[pos, 2i] = sin(pos/10000^{2i/d}), PE[pos, 2i+1] = cos(pos/10000^{2i/d}).

    An odd d_model is allowed: its last column is a sine whose cosine partner would be column d."""
    check("max_len", max_len)
    check("d_model", d_model)
    pos = torch.arange(max_len, dtype=torch.float64)
    # angle[pos, i] = pos · ω_i, (max_len, ⌈d/2⌉)
    angle = pos[:, None] * frequencies(d_model)[None, :]
    PE = torch.zeros(max_len, d_model, dtype=torch.float64)
    # PE[pos, 2i] = sin(pos / 10000^{2i/d})
    PE[:, 0::2] = torch.sin(angle)
    # PE[pos, 2i+1] = cos(pos / 10000^{2i/d})
    PE[:, 1::2] = torch.cos(angle[:, : d_model // 2])
    return PE


def learned(max_len: int, d_model: int, seed: int) -> torch.Tensor:
    """(max_len, d_model) float64 drawn from N(0, 1), as nn.Embedding initialises its table.

    Equal to nn.Embedding(max_len, d_model, dtype=torch.float64).weight after torch.manual_seed(seed),
    but from a private generator (no global state is touched). Untrained, it carries no order."""
    check("max_len", max_len)
    check("d_model", d_model)
    gen = torch.Generator().manual_seed(int(seed))
    return torch.randn(max_len, d_model, generator=gen, dtype=torch.float64)


def shift_matrix(k: int, d_model: int) -> torch.Tensor:
    """(d_model, d_model) block-diagonal M_k with PE(pos + k) = M_k · PE(pos) for every pos.

    Pair i holds (sin pω_i, cos pω_i); by the angle-addition formulas one 2×2 rotation by kω_i
    takes it to ((p + k)ω_i). d_model must be even (an odd last sine has no cosine to turn with)."""
    check("position_shift", k)
    check("d_model", d_model)
    if d_model % 2:
        raise ValueError(f"shift_matrix needs an even d_model (got {d_model}): the last sine "
                         f"column has no cosine partner to rotate with")
    blocks = []
    for w in frequencies(d_model).tolist():
        c, s = math.cos(k * w), math.sin(k * w)
        # [sin(p+k)ω; cos(p+k)ω] = [[cos kω, sin kω], [−sin kω, cos kω]] · [sin pω; cos pω]
        blocks.append(torch.tensor([[c, s], [-s, c]], dtype=torch.float64))
    return torch.block_diag(*blocks)


def rope_angles(T: int, d: int, base: float = 10000.0) -> torch.Tensor:
    """(T, d/2) float64: φ[m, i] = m·θ_i, the angle RoPE turns pair i by at position m."""
    theta = frequencies(d, base)
    # φ_{m,i} = m · θ_i
    return torch.arange(T, dtype=torch.float64)[:, None] * theta[None, :]


def rope(x: torch.Tensor, base: float = 10000.0) -> torch.Tensor:
    """Rotary position embedding of x (..., T, d), d even: pair (2i, 2i+1) of row m turned by m·θ_i,
    θ_i = base^(−2i/d). Lengths are kept: ‖rope(x)_m‖ = ‖x_m‖."""
    if not torch.is_tensor(x) or not x.is_floating_point() or x.dim() < 2:
        raise ValueError("x must be a floating-point tensor of shape (..., T, d)")
    T, d = x.shape[-2:]
    check("max_len", T)
    check("d_model", d)
    if d % 2:
        raise ValueError(f"rope needs an even d (got {d}): it rotates the pairs (2i, 2i+1)")
    base = float(base)
    if not 0 < base < math.inf:
        raise ValueError(f"base must be a finite number > 0, got {base}")
    phi = rope_angles(T, d, base).to(x)
    cos, sin = phi.cos(), phi.sin()
    x_even, x_odd = x[..., 0::2], x[..., 1::2]
    # x'_{2i} = x_{2i} cos(mθ_i) − x_{2i+1} sin(mθ_i)
    y_even = x_even * cos - x_odd * sin
    # x'_{2i+1} = x_{2i} sin(mθ_i) + x_{2i+1} cos(mθ_i)
    y_odd = x_even * sin + x_odd * cos
    # (..., T, d/2) twice → (..., T, d/2, 2) → (..., T, d): pairs back in place
    return torch.stack([y_even, y_odd], dim=-1).flatten(-2)



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

    @property
    def max_delta(self) -> float:
        """The largest |M_k·PE(pos) − PE(pos + k)| over every pos and dimension."""
        return float(self.delta.max())


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

    @property
    def norm_gap(self) -> float:
        """max over m of |‖rope(q)_m‖ − ‖q‖| (row 0 is q itself, turned by 0): 0, RoPE keeps lengths."""
        return float((self.q_rot.norm(dim=1) - self.q_rot[0].norm()).abs().max())


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


@dataclass(frozen=True)
class OffsetView:
    """The pairs m = n + offset of the RoPE and the additive score matrices (one diagonal each)."""

    offset: int
    rope: torch.Tensor  # (T − offset,) rope scores[n + offset, n]
    added: torch.Tensor  # (T − offset,) additive scores[n + offset, n]
    shown: list[int]  # a few n to list: the first two, the middle one, the last

    @property
    def rope_spread(self) -> float:
        """max − min along the diagonal: ~0, the RoPE score depends on m − n only."""
        return float(self.rope.max() - self.rope.min())

    @property
    def added_spread(self) -> float:
        """max − min along the diagonal of the additive scores: it depends on m and n, not on m − n."""
        return float(self.added.max() - self.added.min())


def along_offset(rope_scores: torch.Tensor, added: torch.Tensor, offset: int) -> OffsetView:
    """Both (T, T) score matrices read along m − n = offset (0 ≤ offset < T)."""
    T = rope_scores.shape[0]
    if rope_scores.shape != (T, T) or added.shape != (T, T) or not 0 <= int(offset) < T:
        raise ValueError(f"two (T, T) score matrices and 0 ≤ offset < T are needed; got offset {offset}")
    last = T - 1 - offset
    shown = sorted({0, 1, last // 2, last} & set(range(last + 1)))
    return OffsetView(offset, torch.diagonal(rope_scores, offset=-offset), torch.diagonal(added, offset=-offset),
                      shown)


def permutation(T: int, seed: int) -> torch.Tensor:
    """(T,) a seeded shuffle of 0 … T − 1; never the identity when T ≥ 2 (then it is rolled by one)."""
    check("tokens", T)
    gen = torch.Generator().manual_seed(int(seed))
    perm = torch.randperm(T, generator=gen)
    if T >= 2 and torch.equal(perm, torch.arange(T)):
        perm = perm.roll(1)
    return perm


def gaussian_projections(d: int, seed: int) -> Projections:
    """W_Q, W_K, W_V, each (d, d) float64 from N(0, 1/d) (private generator), used as Q = Z W_Q:
    q·k/√d then has a spread near 1, so the weights are not all on the diagonal as with Q = K = V = X."""
    check("d_model", d)
    gen = torch.Generator().manual_seed(int(seed))
    # W_ij ~ N(0, 1/d): a standard normal divided by √d
    W = torch.randn(3, d, d, generator=gen, dtype=torch.float64) / math.sqrt(d)
    # drawn as torch's (out, in) layout; Q = Z W_Q takes the transpose
    return Projections(W[0].T, W[1].T, W[2].T)


@dataclass(frozen=True)
class OrderTrace:
    """Self-attention on the tokens in their order and shuffled, with the same positions added."""

    perm: torch.Tensor  # (T,): shuffled slot t holds token perm[t]
    inputs: torch.Tensor  # (T, d): Z = X + P (P = 0 without position information)
    inputs_shuffled: torch.Tensor  # (T, d): Z' = X[perm] + P, the positions stay in place
    attn: AttentionTrace  # on inputs
    attn_shuffled: AttentionTrace  # on inputs_shuffled
    delta: float  # max |out[perm] − out_shuffled|: 0 when the outputs just follow the tokens


def _self_attention(Z: torch.Tensor, W: Projections | None) -> AttentionTrace:
    if W is None:
        return scaled_dot_product(Z, Z, Z)
    # Q = Z W_Q, K = Z W_K, V = Z W_V
    qkv = project(Z, W)
    return scaled_dot_product(qkv.Q, qkv.K, qkv.V)


def order_check(X: torch.Tensor, perm: torch.Tensor, P: torch.Tensor | None = None,
                W: Projections | None = None) -> OrderTrace:
    """Self-attention of Z = X + P and of Z' = X[perm] + P (the positions P do not move).

    W (each matrix (d, d)) projects Z first; without W, Q = K = V = Z. Without P, attention is
    permutation-equivariant: out(X[perm]) = out(X)[perm], so delta ≈ 0."""
    _table("X", X)
    T, d = X.shape
    if not torch.is_tensor(perm) or sorted(perm.tolist()) != list(range(T)):
        raise ValueError(f"perm must be a permutation of 0 … {T - 1}")
    if P is None:
        P = torch.zeros_like(X)
    _table("P", P)
    if P.shape != X.shape:
        raise ValueError(f"P must have X's shape {tuple(X.shape)}; got {tuple(P.shape)}")
    if W is not None and any(tuple(w.shape) != (d, d) for w in (W.W_Q, W.W_K, W.W_V)):
        raise ValueError(f"W must hold three ({d}, {d}) matrices W_Q, W_K, W_V")
    # Z = X + P (in order) and Z' = X[perm] + P (tokens moved, positions not)
    Z, Z_shuffled = X + P, X[perm] + P
    attn, attn_shuffled = _self_attention(Z, W), _self_attention(Z_shuffled, W)
    delta = float((attn.output[perm] - attn_shuffled.output).abs().max())
    return OrderTrace(perm, Z, Z_shuffled, attn, attn_shuffled, delta)


@dataclass(frozen=True)
class Twins:
    """The first token that appears twice (positions a < b) and how far apart its two outputs are."""

    token: str
    a: int
    b: int
    gap_bare: float  # max |out_a − out_b| without positions: 0, the copies cannot be told apart
    gap_pe: float  # the same with PE added


@dataclass(frozen=True)
class OrderStudy:
    """A sentence's self-attention, in order and shuffled, without and with the sinusoidal PE."""

    tokens: list[str]
    shuffled: list[str]  # tokens[perm[t]] at slot t
    bare: OrderTrace  # no position information
    with_pe: OrderTrace  # sinusoidal(T, d) added
    twins: Twins | None  # None when no token repeats
    torch_delta: float  # max |Δ| of every output and weight against nn.MultiheadAttention


def order_study(tokens: list[str], d: int, shuffle_seed: int, seed: int = 0) -> OrderStudy:
    """Embed the tokens (engine.data.tokens.embed), project them with gaussian_projections(d, seed),
    shuffle them with permutation(T, shuffle_seed) and run order_check without and with PE; then
    the same inputs through nn.MultiheadAttention (one head, no biases, identity output map)."""
    T = check("tokens", len(tokens))
    X = embed(tokens, d, seed)
    W = gaussian_projections(d, seed)
    perm = permutation(T, shuffle_seed)
    bare = order_check(X, perm, None, W)
    with_pe = order_check(X, perm, sinusoidal(T, d), W)
    twins = None
    pairs = [(a, b) for a in range(T) for b in range(a + 1, T) if tokens[a] == tokens[b]]
    if pairs:
        a, b = pairs[0]
        gaps = [float((tr.attn.output[a] - tr.attn.output[b]).abs().max()) for tr in (bare, with_pe)]
        twins = Twins(tokens[a], a, b, *gaps)
    params = W.mha_params()
    delta = 0.0
    for tr in (bare, with_pe):
        for Z, ours in ((tr.inputs, tr.attn), (tr.inputs_shuffled, tr.attn_shuffled)):
            out, A = mha_reference(Z, 1, params)
            delta = max(delta, float((ours.output - out).abs().max()), float((ours.weights - A[0]).abs().max()))
    return OrderStudy(list(tokens), [tokens[p] for p in perm.tolist()], bare, with_pe, twins, delta)


# ----- independent references -----------------------------------------------------------------


def sinusoidal_loops(max_len: int, d_model: int) -> torch.Tensor:
    """Vaswani et al.'s table one entry at a time with Python's math module (no torch maths):
    the reference sinusoidal() is checked against."""
    check("max_len", max_len)
    check("d_model", d_model)
    rows = [[(math.sin if j % 2 == 0 else math.cos)(p / 10000 ** ((j - j % 2) / d_model)) for j in range(d_model)]
            for p in range(max_len)]
    return torch.tensor(rows, dtype=torch.float64)


def rope_polar(x: torch.Tensor, base: float = 10000.0) -> torch.Tensor:
    """RoPE as complex numbers, for x (T, d), d even: pair (x_2i, x_2i+1) times e^{i·m·θ_i}
    (torch.polar); the reference rope() is checked against."""
    if not torch.is_tensor(x) or x.dtype != torch.float64 or x.dim() != 2 or x.shape[1] % 2:
        raise ValueError("x must be a float64 (T, d) tensor with d even")
    T, d = x.shape
    theta = base ** (-torch.arange(0, d, 2, dtype=torch.float64) / d)
    phi = torch.arange(T, dtype=torch.float64)[:, None] * theta[None, :]
    # (T, d) → (T, d/2) complex: z = x_2i + i·x_2i+1
    z = torch.view_as_complex(x.reshape(T, d // 2, 2).contiguous())
    # z·e^{iφ}, (T, d/2) complex → (T, d/2, 2) → (T, d)
    return torch.view_as_real(z * torch.polar(torch.ones_like(phi), phi)).reshape(T, d)


@dataclass(frozen=True)
class ReferenceChecks:
    """Largest |Δ| of the page's table and RoPE against the independent references."""

    table: float  # sinusoidal(L, d) against sinusoidal_loops(L, d)
    rope: float  # rope(q at every position) against rope_polar of the same rows


def reference_checks(max_len: int, d_model: int, q: torch.Tensor) -> ReferenceChecks:
    """sinusoidal and rope against sinusoidal_loops and rope_polar, with q (d,) at every position."""
    table = float((sinusoidal(max_len, d_model) - sinusoidal_loops(max_len, d_model)).abs().max())
    rows = _at_every_position(q, max_len)
    return ReferenceChecks(table, float((rope(rows) - rope_polar(rows)).abs().max()))
