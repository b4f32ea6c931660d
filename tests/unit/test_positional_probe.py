"""engine.ops.positional_probe: each experiment against an independent float64 reference (math-module
loops, torch.polar, F.scaled_dot_product_attention) on several sizes and seeds, plus the
properties the page teaches and bad inputs."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

import engine.ops.positional_probe as probe
from engine.limits import LimitError
from engine.ops.positional import learned, sinusoidal

f64 = torch.float64
SIZES = [(1, 2), (5, 4), (16, 8), (33, 10), (64, 64), (128, 128)]


def randn(*shape, seed):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=f64)


def pe_loops(L: int, d: int) -> list[list[float]]:
    """Vaswani et al.'s table one entry at a time with the math module."""
    return [[(math.sin if j % 2 == 0 else math.cos)(p / 10000 ** ((j - j % 2) / d)) for j in range(d)]
            for p in range(L)]


# ----- wavelengths, similarity, distance --------------------------------------------------


@pytest.mark.parametrize("d", [2, 8, 31, 64, 256])
def test_wavelengths_grow_geometrically_from_2pi(d):
    lam = probe.wavelengths(d)
    ref = torch.tensor([2 * math.pi * 10000 ** (2 * i / d) for i in range((d + 1) // 2)], dtype=f64)
    assert (lam - ref).abs().max() / ref.max() < 1e-13
    assert abs(lam[0].item() - 2 * math.pi) < 1e-15
    # ratio λ_{i+1}/λ_i = 10000^{2/d}; all below 10000·2π
    if len(lam) > 1:
        assert ((lam[1:] / lam[:-1]) - 10000 ** (2 / d)).abs().max() < 1e-9
    assert lam.max() < 10000 * 2 * math.pi


@pytest.mark.parametrize("L,d", SIZES)
def test_similarity_equals_loops_and_sum_of_cosines(L, d):
    PE = sinusoidal(L, d)
    S = probe.similarity(PE)
    table = pe_loops(L, d)
    for p in sorted({0, L // 3, L - 1}):
        for q in sorted({0, L // 2, L - 1}):
            dot = sum(a * b for a, b in zip(table[p], table[q]))
            # sin a sin b + cos a cos b = cos(a − b), pair by pair
            cosines = sum(math.cos((p - q) / 10000 ** (2 * i / d)) for i in range(d // 2))
            assert abs(S[p, q].item() - dot) < 1e-9
            assert abs(S[p, q].item() - cosines) < 1e-9


@pytest.mark.parametrize("L,d", SIZES)
def test_sinusoidal_similarity_depends_on_distance_only(L, d):
    prof = probe.by_distance(probe.similarity(sinusoidal(L, d)))
    assert prof.distance.tolist() == list(range(L))
    assert prof.spread < 1e-10
    # at distance 0 every row has length² d/2 (d/2 unit circles)
    assert abs(prof.high[0].item() - d / 2) < 1e-12


@pytest.mark.parametrize("seed", [0, 1, 7])
def test_learned_similarity_does_not_depend_on_distance_only(seed):
    prof = probe.by_distance(probe.similarity(learned(32, 16, seed)))
    assert prof.spread > 1.0


def test_by_distance_on_a_known_matrix():
    S = torch.tensor([[1.0, 2.0, 3.0], [2.0, 5.0, 4.0], [3.0, 4.0, 0.0]], dtype=f64)
    prof = probe.by_distance(S)
    assert prof.low.tolist() == [0.0, 2.0, 3.0] and prof.high.tolist() == [5.0, 4.0, 3.0]
    assert prof.spread == 5.0


# ----- PE(pos + k) = M_k PE(pos) -----------------------------------------------------------


@pytest.mark.parametrize("L,d,k", [(8, 8, 1), (16, 4, 3), (50, 16, 17), (128, 64, 64), (128, 128, 0)])
def test_shift_check_against_loops(L, d, k):
    tr = probe.shift_check(L, d, k)
    table = pe_loops(L + k, d)
    assert tr.PE.shape == (L + k, d) and tr.predicted.shape == (L, d)
    assert (tr.actual - torch.tensor(table[k:], dtype=f64)).abs().max() < 1e-12
    # M_k · PE(pos) computed pair by pair with the rotation written out
    for p in sorted({0, L // 2, L - 1}):
        for i in range(d // 2):
            w = 1 / 10000 ** (2 * i / d)
            s, c = table[p][2 * i], table[p][2 * i + 1]
            assert abs(tr.predicted[p, 2 * i].item() - (math.cos(k * w) * s + math.sin(k * w) * c)) < 1e-12
            assert abs(tr.predicted[p, 2 * i + 1].item() - (-math.sin(k * w) * s + math.cos(k * w) * c)) < 1e-12
    assert tr.delta.shape == (L,) and tr.delta.max() < 1e-12


def test_shift_check_refuses_bad_input():
    with pytest.raises(ValueError, match="even"):
        probe.shift_check(8, 7, 1)
    with pytest.raises(ValueError, match="≥ 0"):
        probe.shift_check(8, 8, -1)
    with pytest.raises(LimitError):
        probe.shift_check(500, 8, 100)


# ----- RoPE --------------------------------------------------------------------------------


def rope_polar(x: torch.Tensor) -> torch.Tensor:
    """RoPE as complex multiplication: pair (2i, 2i+1) is x_2i + i·x_2i+1, times e^{i m θ_i}."""
    T, d = x.shape
    theta = 10000.0 ** (-torch.arange(0, d, 2, dtype=f64) / d)
    phi = torch.arange(T, dtype=f64)[:, None] * theta[None, :]
    z = torch.view_as_complex(x.reshape(T, d // 2, 2).contiguous())
    return torch.view_as_real(z * torch.polar(torch.ones_like(phi), phi)).reshape(T, d)


@pytest.mark.parametrize("T,d,seed", [(1, 2, 0), (6, 4, 1), (20, 16, 2), (64, 64, 3), (128, 128, 4)])
def test_rope_scores_against_polar_and_relative(T, d, seed):
    q, k = probe.random_qk(d, seed)
    rs = probe.rope_scores(q, k, T)
    q_ref, k_ref = rope_polar(q.expand(T, d)), rope_polar(k.expand(T, d))
    assert (rs.q_rot - q_ref).abs().max() < 1e-12 and (rs.k_rot - k_ref).abs().max() < 1e-12
    assert (rs.scores - q_ref @ k_ref.T).abs().max() < 1e-10
    # constant along every diagonal: the score depends on m − n alone
    for off in range(-(T - 1), T):
        diag = torch.diagonal(rs.scores, offset=off)
        assert (diag - diag[0]).abs().max() < 1e-10
    # lengths kept
    assert (rs.q_rot.norm(dim=1) - q.norm()).abs().max() < 1e-12


@pytest.mark.parametrize("T,d,seed", [(8, 4, 0), (32, 16, 5)])
def test_additive_scores_depend_on_more_than_the_difference(T, d, seed):
    q, k = probe.random_qk(d, seed)
    PE = sinusoidal(T, d)
    s = probe.additive_scores(q, k, PE)
    ref = torch.tensor([[sum((q[j] + PE[m, j]).item() * (k[j] + PE[n, j]).item() for j in range(d))
                         for n in range(T)] for m in range(T)], dtype=f64)
    assert (s - ref).abs().max() < 1e-10
    diag = torch.diagonal(s, offset=-1)
    assert (diag - diag[0]).abs().max() > 1e-3


def test_random_qk_is_seeded_and_rope_refuses_bad_input():
    a, b = probe.random_qk(8, 3)
    assert torch.equal(a, probe.random_qk(8, 3)[0]) and not torch.equal(a, b)
    assert not torch.equal(a, probe.random_qk(8, 4)[0])
    with pytest.raises(ValueError, match="even"):
        probe.rope_scores(*probe.random_qk(5, 0), 4)
    with pytest.raises(ValueError, match="same shape"):
        probe.rope_scores(torch.zeros(4, dtype=f64), torch.zeros(6, dtype=f64), 4)
    with pytest.raises(ValueError):
        probe.additive_scores(torch.zeros(4, dtype=f64), torch.zeros(4, dtype=f64), sinusoidal(3, 6))


# ----- attention cannot tell order ----------------------------------------------------------


@pytest.mark.parametrize("T", [1, 2, 3, 9, 16, 128])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_permutation_is_seeded_and_never_the_identity(T, seed):
    perm = probe.permutation(T, seed)
    assert sorted(perm.tolist()) == list(range(T))
    assert torch.equal(perm, probe.permutation(T, seed))
    if T >= 2:
        assert not torch.equal(perm, torch.arange(T))


@pytest.mark.parametrize("T,d,seed", [(1, 4, 0), (2, 8, 1), (5, 16, 2), (12, 32, 3), (16, 128, 4)])
def test_order_check_against_sdpa(T, d, seed):
    X = randn(T, d, seed=seed)
    perm = probe.permutation(T, seed)
    PE = sinusoidal(T, d)
    for P in (None, PE):
        tr = probe.order_check(X, perm, P)
        Z = X if P is None else X + P
        Zs = X[perm] if P is None else X[perm] + P
        ref = F.scaled_dot_product_attention(Z[None], Z[None], Z[None])[0]
        ref_s = F.scaled_dot_product_attention(Zs[None], Zs[None], Zs[None])[0]
        assert (tr.attn.output - ref).abs().max() < 1e-10
        assert (tr.attn_shuffled.output - ref_s).abs().max() < 1e-10
        assert abs(tr.delta - float((ref[perm] - ref_s).abs().max())) < 1e-10
    # without positions the outputs follow the tokens; with PE they do not (T ≥ 2)
    assert probe.order_check(X, perm).delta < 1e-12
    if T >= 2:
        assert probe.order_check(X, perm, PE).delta > 1e-3


@pytest.mark.parametrize("T,d,seed", [(1, 4, 0), (3, 8, 1), (7, 16, 2), (16, 64, 3)])
def test_order_check_with_projections_against_multihead_attention(T, d, seed):
    X = randn(T, d, seed=seed + 100)
    perm = probe.permutation(T, seed)
    W = probe.seeded_projections(d, seed)
    mha = torch.nn.MultiheadAttention(d, 1, bias=False, batch_first=True, dtype=f64)
    with torch.no_grad():
        mha.in_proj_weight.copy_(torch.cat(W))
        mha.out_proj.weight.copy_(torch.eye(d, dtype=f64))
    for P in (None, sinusoidal(T, d)):
        tr = probe.order_check(X, perm, P, W)
        Z = X if P is None else X + P
        Zs = X[perm] if P is None else X[perm] + P
        out, A = mha(Z[None], Z[None], Z[None], average_attn_weights=False)
        out_s, A_s = mha(Zs[None], Zs[None], Zs[None], average_attn_weights=False)
        assert (tr.attn.output - out[0]).abs().max() < 1e-10 and (tr.attn.weights - A[0, 0]).abs().max() < 1e-12
        assert (tr.attn_shuffled.output - out_s[0]).abs().max() < 1e-10
        assert (tr.attn_shuffled.weights - A_s[0, 0]).abs().max() < 1e-12
    assert probe.order_check(X, perm, None, W).delta < 1e-12
    if T >= 2:
        assert probe.order_check(X, perm, sinusoidal(T, d), W).delta > 1e-3


def test_seeded_projections_are_seeded_and_scaled():
    W_Q, W_K, W_V = probe.seeded_projections(64, 5)
    assert W_Q.shape == (64, 64) and not torch.equal(W_Q, W_K)
    assert torch.equal(W_V, probe.seeded_projections(64, 5)[2])
    # entries ~ N(0, 1/d): variance near 1/64
    assert abs(torch.cat([W_Q, W_K, W_V]).var().item() * 64 - 1) < 0.05
    with pytest.raises(ValueError, match="three"):
        probe.order_check(randn(4, 8, seed=0), torch.arange(4), None, (W_Q, W_K, W_V))


def test_order_check_weights_are_permuted_without_positions():
    X = randn(6, 8, seed=11)
    perm = probe.permutation(6, 3)
    tr = probe.order_check(X, perm)
    # A'[s, t] = A[perm[s], perm[t]]
    assert (tr.attn_shuffled.weights - tr.attn.weights[perm][:, perm]).abs().max() < 1e-12


def test_order_check_refuses_bad_input():
    X = randn(4, 8, seed=0)
    with pytest.raises(ValueError, match="permutation"):
        probe.order_check(X, torch.tensor([0, 1, 1, 3]))
    with pytest.raises(ValueError, match="shape"):
        probe.order_check(X, torch.arange(4), sinusoidal(5, 8))
    with pytest.raises(ValueError):
        probe.order_check(torch.zeros(4, dtype=torch.long), torch.arange(4))
    with pytest.raises(ValueError):
        probe.similarity(torch.zeros(3))
    with pytest.raises(ValueError):
        probe.by_distance(torch.zeros(3, 4))
