"""Temperature, top-k and top-p from scratch, equal to transformers' logits warpers on the same
logits (float64; several shapes, seeds and vocabulary sizes; ties; p near 0 and 1)."""

from __future__ import annotations

import math

import pytest
import torch
from transformers.generation.logits_process import (
    TemperatureLogitsWarper,
    TopKLogitsWarper,
    TopPLogitsWarper,
)

from engine.ops.sampling import (
    CUT_GREEDY,
    CUT_TOP_K,
    CUT_TOP_P,
    KEPT,
    SamplingError,
    choose,
    filter_logits,
    kth_largest,
    reference_gap,
    rows,
    settings,
    softmax,
    temperature,
    top_k_cut,
    top_p_cut,
)

SHAPES = [(1, 7), (3, 50), (2, 1000), (4, 49152)]
NO_IDS = torch.zeros(1, 1, dtype=torch.long)


def _logits(shape, seed, ties=False):
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(shape, generator=g, dtype=torch.float64) * 3
    if ties:  # coarse values: many exact ties, at every rank
        z = torch.round(z)
    return z


def _filtered(z, cut):
    return z.masked_fill(cut, -math.inf)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("ties", [False, True])
def test_top_k_equals_transformers(shape, seed, ties):
    z = _logits(shape, seed, ties)
    for k in (1, 2, 5, 40, shape[-1], shape[-1] + 10):
        ref = TopKLogitsWarper(top_k=k)(NO_IDS, z.clone())
        assert torch.equal(_filtered(z, top_k_cut(z, k)), ref)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("seed", [0, 3])
@pytest.mark.parametrize("ties", [False, True])
def test_top_p_equals_transformers(shape, seed, ties):
    z = _logits(shape, seed, ties)
    for p in (1e-9, 0.01, 0.3, 0.5, 0.9, 0.95, 0.999999, 1.0):
        ref = TopPLogitsWarper(top_p=p)(NO_IDS, z.clone())
        assert torch.equal(_filtered(z, top_p_cut(z, p)), ref), p


def test_top_p_keeps_the_token_that_crosses_p_and_at_least_one():
    z = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]], dtype=torch.float64))
    assert top_p_cut(z, 0.5).tolist() == [[False, True, True, True]]  # 0.5 reaches 0.5 itself
    assert top_p_cut(z, 0.6).tolist() == [[False, False, True, True]]  # 0.5 + 0.3 crosses 0.6
    assert top_p_cut(z, 1e-12).tolist() == [[False, True, True, True]]  # never empty
    # the kept set is the smallest prefix of the sorted probabilities whose sum reaches p
    g = torch.Generator().manual_seed(5)
    for _ in range(20):
        z = torch.randn(1, 30, generator=g, dtype=torch.float64)
        p = float(torch.rand(1, generator=g))
        kept = ~top_p_cut(z, p)[0]
        probs = softmax(z)[0]
        n = int(kept.sum())
        top = probs.sort(descending=True).values
        assert top[:n].sum() >= p - 1e-12 and (n == 1 or top[: n - 1].sum() < p)


@pytest.mark.parametrize("shape", SHAPES[:3])
@pytest.mark.parametrize("T", [0.1, 0.7, 1.0, 1.5, 4.0])
def test_temperature_equals_transformers(shape, T):
    z = _logits(shape, 2)
    assert torch.equal(temperature(z, T), TemperatureLogitsWarper(float(T))(NO_IDS, z.clone()))
    assert torch.allclose(softmax(z), torch.softmax(z, -1), rtol=0, atol=1e-15)


@pytest.mark.parametrize("V", [7, 1000, 49152])
@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("ties", [False, True])
def test_the_chain_equals_transformers_in_generate_order(V, seed, ties):
    z = _logits((V,), seed, ties)
    for T, k, p in [(0.7, 50, 0.9), (1.0, None, 0.5), (1.3, 5, 1.0), (0.5, 3, 0.2), (2.0, None, 0.999)]:
        ref = z[None].clone()
        if T != 1.0:
            ref = TemperatureLogitsWarper(T)(NO_IDS, ref)
        if k is not None:
            ref = TopKLogitsWarper(top_k=k)(NO_IDS, ref)
        if p < 1.0:
            ref = TopPLogitsWarper(top_p=p)(NO_IDS, ref)
        tr = filter_logits(z, settings(T, k, p))
        assert torch.equal(tr.z_filtered, ref[0])
        assert torch.allclose(tr.q, torch.softmax(ref[0], -1), rtol=0, atol=1e-15)
        assert math.isclose(float(tr.q.sum()), 1.0, abs_tol=1e-12)
        assert torch.equal(tr.kept.sort().values, torch.nonzero(ref[0] > -math.inf).flatten())
        # which step cut each token: top-k first, top-p only among top-k's survivors
        if k is not None:
            assert torch.equal(tr.cut == CUT_TOP_K, TopKLogitsWarper(top_k=k)(NO_IDS, z[None] / T)[0] == -math.inf)
        if p == 1.0:
            assert not (tr.cut == CUT_TOP_P).any()
        # renormalised: q = p_T / Σ_kept p_T on the kept tokens
        assert torch.allclose(tr.q[tr.kept], tr.p_T[tr.kept] / tr.kept_mass, rtol=1e-12, atol=0)


def test_greedy_at_temperature_zero_keeps_only_the_argmax():
    z = _logits((500,), 4)
    tr = filter_logits(z, settings(0, 10, 0.5))
    top = int(torch.argmax(z))
    assert tr.settings.greedy and tr.kept.tolist() == [top]
    assert tr.q[top] == 1 and tr.q.sum() == 1
    assert (tr.cut == CUT_GREEDY).sum() == 499 and tr.cut[top] == KEPT
    assert choose(tr) == top


def test_seeded_choice_is_reproducible_and_follows_q():
    z = _logits((20,), 6)
    tr = filter_logits(z, settings(1.0, 5, 1.0))
    draws = [choose(tr, torch.Generator().manual_seed(s)) for s in range(400)]
    assert draws[:50] == [choose(tr, torch.Generator().manual_seed(s)) for s in range(50)]
    assert set(draws) <= set(tr.kept.tolist())
    freq = torch.bincount(torch.tensor(draws), minlength=20).double() / 400
    assert (freq - tr.q).abs().max() < 0.1


@pytest.mark.parametrize("kwargs,code", [
    ({"top_p": 0.0}, "bad_top_p"), ({"top_p": 1.5}, "bad_top_p"), ({"top_p": -0.1}, "bad_top_p"),
    ({"top_p": float("nan")}, "bad_top_p"), ({"top_k": 0}, "bad_top_k"), ({"top_k": -3}, "bad_top_k"),
    ({"top_k": 2.5}, "bad_top_k"), ({"T": -0.5}, "bad_temperature"), ({"T": float("inf")}, "bad_temperature"),
    ({"T": float("nan")}, "bad_temperature"),
])
def test_bad_settings_are_coded_errors(kwargs, code):
    with pytest.raises(SamplingError) as info:
        settings(**kwargs)
    assert info.value.code == code and "value" in info.value.params


def test_rows_write_out_every_step_and_the_reference_gap_is_zero():
    z = _logits((3000,), 8)
    tr = filter_logits(z, settings(0.8, 10, 0.7))
    table = rows(tr, 20)
    assert [r.p_T for r in table] == sorted((r.p_T for r in table), reverse=True)
    kept = [r for r in table if r.cut == KEPT]
    # the nucleus: kept rows are a prefix; the last kept one is the first whose C reaches top-p
    assert table[: len(kept)] == kept and kept[-1].C >= 0.7 and (len(kept) == 1 or kept[-2].C < 0.7)
    assert all(r.cut == CUT_TOP_K for r in table[10:]) and all(r.p_k == 0 for r in table if r.cut == CUT_TOP_K)
    assert sum(r.q for r in kept) == pytest.approx(1.0, abs=1e-12)
    assert reference_gap(tr) == 0.0
    assert reference_gap(filter_logits(z, settings(0.0))) == 0.0
    assert reference_gap(filter_logits(z, settings(1.0))) < 1e-15


def test_kth_largest_is_top_k_threshold():
    z = _logits((100,), 9)
    for k in (1, 7, 100, 150):
        kept = ~top_k_cut(z[None], k)[0]
        assert float(z[kept].min()) == kth_largest(z, k)
