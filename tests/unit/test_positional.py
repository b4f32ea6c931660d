"""engine.ops.positional: the sinusoidal table is Vaswani et al.'s (checked entry by entry and against
the annotated-transformer formula), PE(pos + k) = M_k PE(pos), learned tables are nn.Embedding's
N(0, 1), RoPE equals a complex-number rotation and makes scores depend on m − n only."""

from __future__ import annotations

import math

import pytest
import torch
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
