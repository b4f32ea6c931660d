"""engine.ops.positional. The encodings: the sinusoidal table is Vaswani et al.'s (checked entry by entry and against
the annotated-transformer formula), PE(pos + k) = M_k PE(pos), learned tables are nn.Embedding's
N(0, 1), RoPE equals a complex-number rotation and makes scores depend on m − n only.

The page's experiments, each against an independent float64 reference (math-module loops,
torch.polar, F.scaled_dot_product_attention, nn.MultiheadAttention) on several sizes and seeds,
plus the properties the page teaches and bad inputs."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import engine.ops.positional as pos
from engine.limits import BOUNDS, LimitError

f64 = torch.float64
SIZES = [(1, 1), (1, 4), (10, 2), (17, 5), (50, 16), (128, 63), (512, 256)]


def randn(*shape, seed):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=f64)


# ----- sinusoidal ---------------------------------------------------------------------------


@pytest.mark.parametrize("max_len,d", SIZES)
def test_sinusoidal_entry_by_entry(max_len, d):
    PE = pos.sinusoidal(max_len, d)
    assert PE.shape == (max_len, d) and PE.dtype == f64
    for p in sorted({0, min(1, max_len - 1), max_len // 2, max_len - 1}):
        for j in range(d):
            i2 = j - j % 2  # 2i for both columns of pair i
            angle = p / 10000 ** (i2 / d)
            expected = math.sin(angle) if j % 2 == 0 else math.cos(angle)
            assert abs(PE[p, j].item() - expected) < 1e-12


@pytest.mark.parametrize("max_len,d", [(s, d) for s, d in SIZES if d % 2 == 0])
def test_sinusoidal_equals_the_annotated_transformer(max_len, d):
    # the widely copied torch code: div_term = exp(2i · (−ln 10000 / d))
    position = torch.arange(max_len, dtype=f64)[:, None]
    div_term = torch.exp(torch.arange(0, d, 2, dtype=f64) * (-math.log(10000.0) / d))
    ref = torch.zeros(max_len, d, dtype=f64)
    ref[:, 0::2] = torch.sin(position * div_term)
    ref[:, 1::2] = torch.cos(position * div_term)
    assert (pos.sinusoidal(max_len, d) - ref).abs().max() < 1e-9


@pytest.mark.parametrize("max_len,d", SIZES)
def test_sinusoidal_properties(max_len, d):
    PE = pos.sinusoidal(max_len, d)
    assert PE.abs().max() <= 1.0
    # position 0: sin 0 = 0 in even columns, cos 0 = 1 in odd ones
    assert torch.equal(PE[0], torch.tensor([float(j % 2) for j in range(d)], dtype=f64))
    if d >= 2:
        # each pair lies on the unit circle: sin² + cos² = 1
        pairs = PE[:, : 2 * (d // 2)].reshape(max_len, d // 2, 2)
        assert ((pairs ** 2).sum(-1) - 1).abs().max() < 1e-12


def test_errata_sin_is_not_cos():
    # errata: "PE(i,j) = sin(i/10000^{2j/d}) = cos(i/10000^{2j/d})" — the two columns differ
    PE = pos.sinusoidal(20, 8)
    assert (PE[1:, 0::2] - PE[1:, 1::2]).abs().max() > 0.5


def test_sinusoidal_dot_product_depends_on_offset_only():
    PE = pos.sinusoidal(60, 16)
    for k in (1, 5, 13):
        dots = (PE[:-k] * PE[k:]).sum(-1)
        assert (dots - dots[0]).abs().max() < 1e-10


# ----- shift matrix -------------------------------------------------------------------------


@pytest.mark.parametrize("d", [2, 4, 8, 16, 64, 256])
@pytest.mark.parametrize("k", [-7, -1, 0, 1, 2, 5, 33])
def test_shift_matrix_moves_every_position(k, d):
    PE = pos.sinusoidal(100, d)
    M = pos.shift_matrix(k, d)
    lo, hi = max(0, -k), min(100, 100 - k)
    # rows of PE are PE(pos)ᵀ, so M_k PE(pos) for every pos at once is PE @ M_kᵀ
    assert (PE[lo + k: hi + k] - PE[lo:hi] @ M.T).abs().max() < 1e-9


@pytest.mark.parametrize("d", [2, 6, 32])
def test_shift_matrix_is_a_rotation_group(d):
    M = {k: pos.shift_matrix(k, d) for k in (-3, 0, 2, 5, 7)}
    eye = torch.eye(d, dtype=f64)
    assert torch.equal(M[0], eye)
    assert (M[5] @ M[5].T - eye).abs().max() < 1e-12  # orthogonal
    assert (M[2] @ M[5] - M[7]).abs().max() < 1e-12  # M_a M_b = M_{a+b}
    assert (M[5] @ M[-3] - M[2]).abs().max() < 1e-12
    # block-diagonal: nothing outside the 2×2 blocks
    block = torch.block_diag(*[torch.ones(2, 2)] * (d // 2)).bool()
    assert (M[5][~block] == 0).all()


def test_shift_matrix_refuses_odd_d():
    with pytest.raises(ValueError, match="even d_model"):
        pos.shift_matrix(1, 5)


# ----- learned ------------------------------------------------------------------------------


@pytest.mark.parametrize("max_len,d,seed", [(1, 1, 0), (10, 4, 1), (64, 32, 7)])
def test_learned_equals_nn_embedding_init(max_len, d, seed):
    torch.manual_seed(seed)
    ref = nn.Embedding(max_len, d, dtype=f64).weight.detach()
    state = torch.random.get_rng_state()
    table = pos.learned(max_len, d, seed)
    assert torch.equal(torch.random.get_rng_state(), state)  # the global generator is untouched
    assert table.shape == (max_len, d) and torch.equal(table, ref)


def test_learned_is_seeded_standard_normal():
    a, b, c = pos.learned(512, 256, 3), pos.learned(512, 256, 3), pos.learned(512, 256, 4)
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert abs(a.mean().item()) < 0.01 and abs(a.std().item() - 1) < 0.01


# ----- RoPE ---------------------------------------------------------------------------------


def rope_complex(x, base=10000.0):
    """Independent reference: pairs as complex numbers z_i = x_{2i} + i·x_{2i+1}, times e^{i·m·θ_i}."""
    T, d = x.shape[-2:]
    theta = base ** (-torch.arange(0, d, 2, dtype=f64) / d)
    m = torch.arange(T, dtype=f64)
    rot = torch.polar(torch.ones(T, d // 2, dtype=f64), torch.outer(m, theta))
    z = torch.view_as_complex(x.reshape(*x.shape[:-1], d // 2, 2).contiguous())
    return torch.view_as_real(z * rot).reshape(x.shape)


@pytest.mark.parametrize("shape", [(1, 2), (5, 2), (7, 8), (3, 9, 16), (2, 2, 33, 64)])
@pytest.mark.parametrize("base", [10000.0, 100.0, 2.0])
def test_rope_equals_complex_rotation(shape, base):
    x = randn(*shape, seed=sum(shape))
    assert (pos.rope(x, base) - rope_complex(x, base)).abs().max() < 1e-12


@pytest.mark.parametrize("d,seed", [(2, 0), (8, 1), (64, 2)])
def test_rope_scores_depend_on_offset_only(d, seed):
    T = 40
    q, k = randn(d, seed=seed), randn(d, seed=seed + 1)
    # the same q at every position m, the same k at every position n
    Rq, Rk = pos.rope(q.expand(T, d).clone()), pos.rope(k.expand(T, d).clone())
    scores = Rq @ Rk.T  # scores[m, n] = ⟨rope(q)_m, rope(k)_n⟩
    for offset in range(-T + 1, T):
        diag = torch.diagonal(scores, offset=offset)
        assert (diag - diag[0]).abs().max() < 1e-10
    assert abs(scores[0, 0] - q @ k) < 1e-12  # at m = n = 0 nothing turns
    assert (scores[0, 1] - scores[0, 5]).abs() > 1e-3  # different offsets do differ


def test_rope_keeps_lengths_and_position_zero():
    x = randn(2, 10, 6, seed=5)
    y = pos.rope(x)
    assert (y.norm(dim=-1) - x.norm(dim=-1)).abs().max() < 1e-12
    assert torch.equal(y[:, 0], x[:, 0])
    assert (y[:, 1:] - x[:, 1:]).abs().max() > 1e-3


def test_rope_angles():
    phi = pos.rope_angles(4, 6, base=100.0)
    assert phi.shape == (4, 3)
    assert phi[3].tolist() == pytest.approx([3 * 100 ** (-2 * i / 6) for i in range(3)])


# ----- bad inputs ---------------------------------------------------------------------------


def test_rope_bad_inputs():
    with pytest.raises(ValueError, match="even d"):
        pos.rope(randn(3, 5, seed=0))
    with pytest.raises(ValueError, match=r"\(\.\.\., T, d\)"):
        pos.rope(randn(4, seed=0))
    with pytest.raises(ValueError, match="floating-point"):
        pos.rope(torch.ones(3, 4, dtype=torch.long))
    for base in (0, -2, math.inf):
        with pytest.raises(ValueError, match="base"):
            pos.rope(randn(3, 4, seed=0), base)


def test_sizes_are_bounded():
    with pytest.raises(LimitError):
        pos.sinusoidal(BOUNDS["max_len"].high + 1, 4)
    with pytest.raises(LimitError):
        pos.sinusoidal(4, 0)
    with pytest.raises(LimitError):
        pos.learned(4, BOUNDS["d_model"].high + 1, 0)
    with pytest.raises(LimitError):
        pos.shift_matrix(BOUNDS["position_shift"].high + 1, 4)
    with pytest.raises(LimitError):
        pos.sinusoidal(4.0, 4)
    with pytest.raises(LimitError):
        pos.rope(randn(BOUNDS["max_len"].high + 1, 2, seed=0))


# ===== the page's experiments ====================================================================

PROBE_SIZES = [(1, 2), (5, 4), (16, 8), (33, 10), (64, 64), (128, 128)]


def pe_loops(L: int, d: int) -> list[list[float]]:
    """Vaswani et al.'s table one entry at a time with the math module."""
    return [[(math.sin if j % 2 == 0 else math.cos)(p / 10000 ** ((j - j % 2) / d)) for j in range(d)]
            for p in range(L)]


# ----- wavelengths, similarity, distance --------------------------------------------------


@pytest.mark.parametrize("d", [2, 8, 31, 64, 256])
def test_wavelengths_grow_geometrically_from_2pi(d):
    lam = pos.wavelengths(d)
    ref = torch.tensor([2 * math.pi * 10000 ** (2 * i / d) for i in range((d + 1) // 2)], dtype=f64)
    assert (lam - ref).abs().max() / ref.max() < 1e-13
    assert abs(lam[0].item() - 2 * math.pi) < 1e-15
    # ratio λ_{i+1}/λ_i = 10000^{2/d}; all below 10000·2π
    if len(lam) > 1:
        assert ((lam[1:] / lam[:-1]) - 10000 ** (2 / d)).abs().max() < 1e-9
    assert lam.max() < 10000 * 2 * math.pi


@pytest.mark.parametrize("L,d", PROBE_SIZES)
def test_similarity_equals_loops_and_sum_of_cosines(L, d):
    PE = pos.sinusoidal(L, d)
    S = pos.similarity(PE)
    table = pe_loops(L, d)
    for p in sorted({0, L // 3, L - 1}):
        for q in sorted({0, L // 2, L - 1}):
            dot = sum(a * b for a, b in zip(table[p], table[q]))
            # sin a sin b + cos a cos b = cos(a − b), pair by pair
            cosines = sum(math.cos((p - q) / 10000 ** (2 * i / d)) for i in range(d // 2))
            assert abs(S[p, q].item() - dot) < 1e-9
            assert abs(S[p, q].item() - cosines) < 1e-9


@pytest.mark.parametrize("L,d", PROBE_SIZES)
def test_sinusoidal_similarity_depends_on_distance_only(L, d):
    prof = pos.by_distance(pos.similarity(pos.sinusoidal(L, d)))
    assert prof.distance.tolist() == list(range(L))
    assert prof.spread < 1e-10
    # at distance 0 every row has length² d/2 (d/2 unit circles)
    assert abs(prof.high[0].item() - d / 2) < 1e-12


@pytest.mark.parametrize("seed", [0, 1, 7])
def test_learned_similarity_does_not_depend_on_distance_only(seed):
    prof = pos.by_distance(pos.similarity(pos.learned(32, 16, seed)))
    assert prof.spread > 1.0


def test_by_distance_on_a_known_matrix():
    S = torch.tensor([[1.0, 2.0, 3.0], [2.0, 5.0, 4.0], [3.0, 4.0, 0.0]], dtype=f64)
    prof = pos.by_distance(S)
    assert prof.low.tolist() == [0.0, 2.0, 3.0] and prof.high.tolist() == [5.0, 4.0, 3.0]
    assert prof.spread == 5.0


# ----- PE(pos + k) = M_k PE(pos) -----------------------------------------------------------


@pytest.mark.parametrize("L,d,k", [(8, 8, 1), (16, 4, 3), (50, 16, 17), (128, 64, 64), (128, 128, 0)])
def test_shift_check_against_loops(L, d, k):
    tr = pos.shift_check(L, d, k)
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
        pos.shift_check(8, 7, 1)
    with pytest.raises(ValueError, match="≥ 0"):
        pos.shift_check(8, 8, -1)
    with pytest.raises(LimitError):
        pos.shift_check(500, 8, 100)


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
    q, k = pos.random_qk(d, seed)
    rs = pos.rope_scores(q, k, T)
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
    q, k = pos.random_qk(d, seed)
    PE = pos.sinusoidal(T, d)
    s = pos.additive_scores(q, k, PE)
    ref = torch.tensor([[sum((q[j] + PE[m, j]).item() * (k[j] + PE[n, j]).item() for j in range(d))
                         for n in range(T)] for m in range(T)], dtype=f64)
    assert (s - ref).abs().max() < 1e-10
    diag = torch.diagonal(s, offset=-1)
    assert (diag - diag[0]).abs().max() > 1e-3


def test_random_qk_is_seeded_and_rope_refuses_bad_input():
    a, b = pos.random_qk(8, 3)
    assert torch.equal(a, pos.random_qk(8, 3)[0]) and not torch.equal(a, b)
    assert not torch.equal(a, pos.random_qk(8, 4)[0])
    with pytest.raises(ValueError, match="even"):
        pos.rope_scores(*pos.random_qk(5, 0), 4)
    with pytest.raises(ValueError, match="same shape"):
        pos.rope_scores(torch.zeros(4, dtype=f64), torch.zeros(6, dtype=f64), 4)
    with pytest.raises(ValueError):
        pos.additive_scores(torch.zeros(4, dtype=f64), torch.zeros(4, dtype=f64), pos.sinusoidal(3, 6))


# ----- attention cannot tell order ----------------------------------------------------------


@pytest.mark.parametrize("T", [1, 2, 3, 9, 16, 128])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_permutation_is_seeded_and_never_the_identity(T, seed):
    perm = pos.permutation(T, seed)
    assert sorted(perm.tolist()) == list(range(T))
    assert torch.equal(perm, pos.permutation(T, seed))
    if T >= 2:
        assert not torch.equal(perm, torch.arange(T))


@pytest.mark.parametrize("T,d,seed", [(1, 4, 0), (2, 8, 1), (5, 16, 2), (12, 32, 3), (16, 128, 4)])
def test_order_check_against_sdpa(T, d, seed):
    X = randn(T, d, seed=seed)
    perm = pos.permutation(T, seed)
    PE = pos.sinusoidal(T, d)
    for P in (None, PE):
        tr = pos.order_check(X, perm, P)
        Z = X if P is None else X + P
        Zs = X[perm] if P is None else X[perm] + P
        ref = F.scaled_dot_product_attention(Z[None], Z[None], Z[None])[0]
        ref_s = F.scaled_dot_product_attention(Zs[None], Zs[None], Zs[None])[0]
        assert (tr.attn.output - ref).abs().max() < 1e-10
        assert (tr.attn_shuffled.output - ref_s).abs().max() < 1e-10
        assert abs(tr.delta - float((ref[perm] - ref_s).abs().max())) < 1e-10
    # without positions the outputs follow the tokens; with PE they do not (T ≥ 2)
    assert pos.order_check(X, perm).delta < 1e-12
    if T >= 2:
        assert pos.order_check(X, perm, PE).delta > 1e-3


@pytest.mark.parametrize("T,d,seed", [(1, 4, 0), (3, 8, 1), (7, 16, 2), (16, 64, 3)])
def test_order_check_with_projections_against_multihead_attention(T, d, seed):
    X = randn(T, d, seed=seed + 100)
    perm = pos.permutation(T, seed)
    W = pos.gaussian_projections(d, seed)
    mha = torch.nn.MultiheadAttention(d, 1, bias=False, batch_first=True, dtype=f64)
    with torch.no_grad():
        # torch computes Z W_inᵀ; ours is Q = Z W_Q
        mha.in_proj_weight.copy_(torch.cat([W.W_Q.T, W.W_K.T, W.W_V.T]))
        mha.out_proj.weight.copy_(torch.eye(d, dtype=f64))
    for P in (None, pos.sinusoidal(T, d)):
        tr = pos.order_check(X, perm, P, W)
        Z = X if P is None else X + P
        Zs = X[perm] if P is None else X[perm] + P
        out, A = mha(Z[None], Z[None], Z[None], average_attn_weights=False)
        out_s, A_s = mha(Zs[None], Zs[None], Zs[None], average_attn_weights=False)
        assert (tr.attn.output - out[0]).abs().max() < 1e-10 and (tr.attn.weights - A[0, 0]).abs().max() < 1e-12
        assert (tr.attn_shuffled.output - out_s[0]).abs().max() < 1e-10
        assert (tr.attn_shuffled.weights - A_s[0, 0]).abs().max() < 1e-12
    assert pos.order_check(X, perm, None, W).delta < 1e-12
    if T >= 2:
        assert pos.order_check(X, perm, pos.sinusoidal(T, d), W).delta > 1e-3


def test_gaussian_projections_are_seeded_and_scaled():
    W = pos.gaussian_projections(64, 5)
    assert W.W_Q.shape == (64, 64) and not torch.equal(W.W_Q, W.W_K)
    assert torch.equal(W.W_V, pos.gaussian_projections(64, 5).W_V)
    # drawn in torch's (out, in) layout, used transposed: W_Q = (randn(3, d, d)[0] / √d)ᵀ
    raw = randn(3, 64, 64, seed=5) / 8
    assert torch.equal(W.W_Q, raw[0].T) and torch.equal(W.W_V, raw[2].T)
    # entries ~ N(0, 1/d): variance near 1/64
    assert abs(torch.cat([W.W_Q, W.W_K, W.W_V]).var().item() * 64 - 1) < 0.05
    with pytest.raises(ValueError, match="three"):
        pos.order_check(randn(4, 8, seed=0), torch.arange(4), None, W)


def test_order_check_weights_are_permuted_without_positions():
    X = randn(6, 8, seed=11)
    perm = pos.permutation(6, 3)
    tr = pos.order_check(X, perm)
    # A'[s, t] = A[perm[s], perm[t]]
    assert (tr.attn_shuffled.weights - tr.attn.weights[perm][:, perm]).abs().max() < 1e-12


def test_order_check_refuses_bad_input():
    X = randn(4, 8, seed=0)
    with pytest.raises(ValueError, match="permutation"):
        pos.order_check(X, torch.tensor([0, 1, 1, 3]))
    with pytest.raises(ValueError, match="shape"):
        pos.order_check(X, torch.arange(4), pos.sinusoidal(5, 8))
    with pytest.raises(ValueError):
        pos.order_check(torch.zeros(4, dtype=torch.long), torch.arange(4))
    with pytest.raises(ValueError):
        pos.similarity(torch.zeros(3))
    with pytest.raises(ValueError):
        pos.by_distance(torch.zeros(3, 4))


# ----- the whole order study on a sentence, and the page's references -----------------------


@pytest.mark.parametrize("tokens,d,shuffle", [(["a"], 8, 0), (["the", "cat", "saw", "the", "dog"], 16, 1),
                                              (list("abcdefghijklmnop"), 64, 9)])
def test_order_study_on_a_sentence(tokens, d, shuffle):
    from engine.data.tokens import embed

    st = pos.order_study(tokens, d, shuffle)
    perm = pos.permutation(len(tokens), shuffle)
    assert st.tokens == tokens and st.shuffled == [tokens[p] for p in perm.tolist()]
    X, W = embed(tokens, d, 0), pos.gaussian_projections(d, 0)
    ref = pos.order_check(X, perm, pos.sinusoidal(len(tokens), d), W)
    assert torch.equal(st.with_pe.attn.output, ref.attn.output) and st.with_pe.delta == ref.delta
    assert st.bare.delta < 1e-12 and st.torch_delta < 1e-10
    if len(tokens) > 1:
        assert st.with_pe.delta > 1e-3


def test_order_study_twins():
    st = pos.order_study(["the", "cat", "saw", "the", "dog"], 16, 1)
    assert (st.twins.token, st.twins.a, st.twins.b) == ("the", 0, 3)
    # without positions the two copies of "the" get the same output; with PE they do not
    assert st.twins.gap_bare < 1e-12 and st.twins.gap_pe > 1e-3
    assert pos.order_study(["a", "b"], 8, 0).twins is None


@pytest.mark.parametrize("L,d", [(1, 2), (9, 8), (64, 64), (128, 128)])
def test_page_references_equal_the_test_references(L, d):
    assert (pos.sinusoidal_loops(L, d) - torch.tensor(pe_loops(L, d), dtype=f64)).abs().max() == 0
    x = randn(L, d, seed=L)
    assert (pos.rope_polar(x) - rope_polar(x)).abs().max() < 1e-15
    q, _ = pos.random_qk(d, 0)
    checks = pos.reference_checks(L, d, q)
    assert checks.table < 1e-12 and checks.rope < 1e-12
    with pytest.raises(ValueError):
        pos.rope_polar(randn(3, 5, seed=0))


@pytest.mark.parametrize("T,d,offset", [(2, 2, 0), (8, 4, 3), (64, 16, 63), (64, 64, 5)])
def test_along_offset_reads_one_diagonal(T, d, offset):
    q, k = pos.random_qk(d, 1)
    rs = pos.rope_scores(q, k, T)
    added = pos.additive_scores(q, k, pos.sinusoidal(T, d))
    view = pos.along_offset(rs.scores, added, offset)
    assert view.rope.tolist() == [rs.scores[n + offset, n].item() for n in range(T - offset)]
    assert view.added.tolist() == [added[n + offset, n].item() for n in range(T - offset)]
    last = T - 1 - offset
    assert view.shown == sorted({0, 1, last // 2, last} & set(range(last + 1)))
    assert view.rope_spread < 1e-10 and rs.norm_gap < 1e-12
    if T - offset > 2:
        assert view.added_spread > 1e-3
    with pytest.raises(ValueError):
        pos.along_offset(rs.scores, added, T)


def test_shift_trace_max_delta():
    tr = pos.shift_check(32, 16, 5)
    assert tr.max_delta == float(tr.delta.max()) and tr.max_delta < 1e-12
