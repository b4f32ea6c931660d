"""engine.ops.head_stats: every per-head summary equals a straightforward loop over the weights
(float64, several shapes and seeds), on rows that sum to 1, with exact zeros (0 log 0 = 0), and the
summaries take the values their definitions give on weights built to have them."""

from __future__ import annotations

import math

import pytest
import torch

import engine.ops.head_stats as hs

f64 = torch.float64
SHAPES = [(1, 1, 1), (1, 1, 2), (2, 3, 5), (6, 12, 9), (3, 4, 17)]  # (L, H, T)


def weights(L, H, T, seed, causal=False):
    g = torch.Generator().manual_seed(seed)
    S = 3 * torch.randn(L, H, T, T, generator=g, dtype=f64)
    if causal:  # exact zeros above the diagonal
        S = S.masked_fill(~torch.ones(T, T, dtype=torch.bool).tril(), -math.inf)
    return torch.softmax(S, dim=-1)


def loop_key_mass(A, P):
    L, H, T, _ = A.shape
    out = torch.zeros(L, H, dtype=f64)
    for l in range(L):
        for h in range(H):
            out[l, h] = sum(float(A[l, h, i, j]) for i in range(T) for j in set(P)) / T
    return out


def loop_diag(A, k):
    L, H, T, _ = A.shape
    out = torch.zeros(L, H, dtype=f64)
    for l in range(L):
        for h in range(H):
            vals = [float(A[l, h, i, i + k]) for i in range(T) if 0 <= i + k < T]
            out[l, h] = sum(vals) / len(vals)
    return out


def loop_entropy(A):
    L, H, T, _ = A.shape
    out = torch.zeros(L, H, dtype=f64)
    for l in range(L):
        for h in range(H):
            rows = [-sum(float(a) * math.log(float(a)) for a in A[l, h, i] if a > 0) for i in range(T)]
            out[l, h] = sum(rows) / T
    return out


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("causal", [False, True])
def test_summaries_equal_loops(shape, seed, causal):
    L, H, T = shape
    A = weights(L, H, T, seed, causal)
    cls, sep = [0], sorted({T - 1, T // 2})
    stats = hs.head_stats(A, cls, sep)
    torch.testing.assert_close(stats.cls, loop_key_mass(A, cls), rtol=0, atol=1e-12)
    torch.testing.assert_close(stats.sep, loop_key_mass(A, sep), rtol=0, atol=1e-12)
    torch.testing.assert_close(stats.same, loop_diag(A, 0), rtol=0, atol=1e-12)
    torch.testing.assert_close(stats.entropy, loop_entropy(A), rtol=0, atol=1e-12)
    if T > 1:
        torch.testing.assert_close(stats.prev, loop_diag(A, -1), rtol=0, atol=1e-12)
        torch.testing.assert_close(stats.next, loop_diag(A, 1), rtol=0, atol=1e-12)
    for name in hs.SUMMARIES:
        assert stats.get(name).shape == (L, H)
    # a mass is a weight: between 0 and 1; entropy between 0 and log T
    for name in ("cls", "sep", "prev", "next", "same"):
        v = stats.get(name)
        assert (v >= 0).all() and (v <= 1 + 1e-12).all()
    assert (stats.entropy >= -1e-12).all() and (stats.entropy <= math.log(T) + 1e-12).all()


def test_pattern_heads_score_one():
    """A head that copies the previous token, one on [CLS], a uniform one: their summaries are
    exactly what the definitions say."""
    T = 6
    prev = torch.zeros(T, T, dtype=f64)
    prev[0, 0] = 1.0
    prev[torch.arange(1, T), torch.arange(T - 1)] = 1.0
    on_cls = torch.zeros(T, T, dtype=f64)
    on_cls[:, 0] = 1.0
    uniform = torch.full((T, T), 1.0 / T, dtype=f64)
    A = torch.stack([prev, on_cls, uniform])[None]  # (1, 3, T, T)
    stats = hs.head_stats(A, [0], [T - 1])
    assert stats.prev[0, 0] == 1.0 and stats.next[0, 0] == 0.0
    assert stats.cls[0, 1] == 1.0 and stats.entropy[0, 1] == 0.0 and stats.sep[0, 1] == 0.0
    assert stats.entropy[0, 2] == pytest.approx(math.log(T), abs=1e-12)
    assert stats.sep[0, 2] == pytest.approx(1 / T, abs=1e-12)
    assert hs.strongest_head(stats.prev) == hs.HeadPick(0, 0, 1.0)
    assert hs.strongest_head(stats.entropy, largest=False).head in (0, 1)
    assert hs.strongest_head(stats.entropy).head == 2


def test_strongest_head_reads_layer_and_head():
    v = torch.zeros(6, 12, dtype=f64)
    v[3, 7] = 2.0
    v[5, 1] = -1.0
    assert hs.strongest_head(v) == hs.HeadPick(3, 7, 2.0)
    assert hs.strongest_head(v, largest=False) == hs.HeadPick(5, 1, -1.0)


def test_bad_inputs_are_refused():
    A = weights(1, 1, 4, 0)
    with pytest.raises(ValueError):
        hs.key_mass(A, [4])
    with pytest.raises(ValueError):
        hs.diagonal_mass(A, 4)
    with pytest.raises(ValueError):
        hs.entropy(torch.ones(2, 3))
    with pytest.raises(ValueError):
        hs.head_stats(A, [0], [3]).get("nope")
    with pytest.raises(ValueError):
        hs.strongest_head(torch.ones(3))


def test_row_sum_gap():
    assert hs.row_sum_gap(weights(2, 3, 6, 0)) < 1e-12
    A = torch.full((1, 1, 2, 2), 0.5, dtype=f64)
    A[0, 0, 1, 1] = 1.0  # that row sums to 1.5
    assert hs.row_sum_gap(A) == pytest.approx(0.5)
