"""engine.ops.attention: scaled dot-product and multi-head attention equal torch's (float64), their
traces obey the formulas (rows sum to 1, causal zeros, permutation equivariance), the √d_k
chart's statistics behave, and bad inputs raise clear errors."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import engine.ops.attention as att
from engine.limits import BOUNDS, LimitError

TOL = 1e-6
f64 = torch.float64


def randn(*shape, seed):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=f64)


def random_keep(shape, seed, p=0.6):
    """A random bool keep-mask that leaves every query row at least one key (its first)."""
    keep = torch.rand(*shape, generator=torch.Generator().manual_seed(seed)) < p
    keep[..., 0] = True
    return keep


# ----- scaled dot-product: equal to F.scaled_dot_product_attention ---------------------------

# (leading, T, S, d_k, d_v)
SDP_SHAPES = [((), 1, 1, 1, 1), ((), 4, 4, 8, 8), ((2,), 3, 6, 5, 2), ((2, 3), 7, 5, 4, 6), ((1,), 16, 16, 16, 3)]


@pytest.mark.parametrize("shape", SDP_SHAPES)
@pytest.mark.parametrize("mask_kind", ["none", "causal", "random"])
@pytest.mark.parametrize("scale,temperature", [(True, 1.0), (False, 1.0), (True, 0.5), (False, 3.0)])
def test_sdp_equals_torch(shape, mask_kind, scale, temperature):
    lead, T, S, d_k, d_v = shape
    seed = T * 100 + S * 10 + d_k
    Q, K, V = randn(*lead, T, d_k, seed=seed), randn(*lead, S, d_k, seed=seed + 1), randn(*lead, S, d_v, seed=seed + 2)
    mask = {"none": None, "causal": att.causal_mask(T, S), "random": random_keep((*lead, T, S), seed)}[mask_kind]
    trace = att.scaled_dot_product(Q, K, V, mask=mask, scale=scale, temperature=temperature)
    divisor = (math.sqrt(d_k) if scale else 1.0) * temperature
    expected = F.scaled_dot_product_attention(Q, K, V, attn_mask=mask, scale=1.0 / divisor)
    assert trace.output.shape == (*lead, T, d_v)
    assert (trace.output - expected).abs().max() < TOL
    assert trace.divisor == pytest.approx(divisor)


def test_causal_mask_equals_torch_is_causal():
    Q, K, V = randn(2, 6, 4, seed=1), randn(2, 6, 4, seed=2), randn(2, 6, 3, seed=3)
    ours = att.scaled_dot_product(Q, K, V, mask=att.causal_mask(6)).output
    assert (ours - F.scaled_dot_product_attention(Q, K, V, is_causal=True)).abs().max() < TOL


def test_trace_stages_follow_the_formula():
    Q, K, V = randn(5, 8, seed=4), randn(7, 8, seed=5), randn(7, 2, seed=6)
    keep = random_keep((5, 7), seed=7)
    t = att.scaled_dot_product(Q, K, V, mask=keep, temperature=2.0)
    assert torch.allclose(t.scores, Q @ K.T, atol=1e-12)
    assert torch.allclose(t.scaled, Q @ K.T / (math.sqrt(8) * 2.0), atol=1e-12)
    assert torch.isneginf(t.masked[~keep]).all() and torch.equal(t.masked[keep], t.scaled[keep])
    assert torch.allclose(t.output, t.weights @ V, atol=1e-12)


def test_loops_equal_vectorised():
    for seed, (T, S, d_k, d_v) in enumerate([(1, 1, 1, 1), (4, 6, 3, 2), (5, 5, 8, 4)]):
        Q, K, V = randn(T, d_k, seed=seed), randn(S, d_k, seed=seed + 10), randn(S, d_v, seed=seed + 20)
        for mask in (None, att.causal_mask(T, S)):
            A, O = att.scaled_dot_product_loops(Q, K, V, mask)
            t = att.scaled_dot_product(Q, K, V, mask=mask)
            assert (A - t.weights).abs().max() < 1e-12 and (O - t.output).abs().max() < 1e-12


# ----- invariants ---------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(4))
def test_rows_sum_to_one_and_masked_weights_are_zero(seed):
    Q, K, V = randn(3, 6, 4, seed=seed), randn(3, 9, 4, seed=seed + 50), randn(3, 9, 5, seed=seed + 99)
    keep = random_keep((3, 6, 9), seed)
    w = att.scaled_dot_product(Q, K, V, mask=keep).weights
    assert (w.sum(-1) - 1).abs().max() < 1e-12
    assert (w[~keep] == 0).all() and (w[keep] > 0).all()


@pytest.mark.parametrize("T,S", [(1, 1), (5, 5), (4, 7), (7, 4)])
def test_causal_weights_exactly_zero_above_the_diagonal(T, S):
    w = att.scaled_dot_product(randn(T, 3, seed=T), randn(S, 3, seed=S), randn(S, 2, seed=9),
                               mask=att.causal_mask(T, S)).weights
    above = torch.ones(T, S, dtype=torch.bool).triu(diagonal=1)
    assert (w[above] == 0).all()
    assert (w[~above] > 0).all()
    assert w[0, 0] == 1.0  # the first query sees only the first key


def test_causal_and_padding_masks():
    assert torch.equal(att.causal_mask(3), torch.tensor([[1, 0, 0], [1, 1, 0], [1, 1, 1]], dtype=torch.bool))
    assert att.causal_mask(2, 4).shape == (2, 4) and att.causal_mask(2, 4)[1].tolist() == [True, True, False, False]
    pad = att.padding_mask([2, 4, 1], 4)
    assert pad.tolist() == [[True, True, False, False], [True, True, True, True], [True, False, False, False]]
    assert torch.equal(att.padding_mask(torch.tensor([3]), 5), torch.tensor([[True, True, True, False, False]]))


def test_padding_mask_hides_the_padded_keys():
    # values at padded positions must not reach the output: change them and nothing moves
    Q, K, V = randn(2, 4, 3, seed=1), randn(2, 6, 3, seed=2), randn(2, 6, 2, seed=3)
    keep = att.padding_mask([4, 2], 6)[:, None, :]
    out = att.scaled_dot_product(Q, K, V, mask=keep).output
    V2, K2 = V.clone(), K.clone()
    V2[1, 2:] += 100.0
    K2[1, 2:] -= 50.0
    assert torch.equal(att.scaled_dot_product(Q, K2, V2, mask=keep).output, out)


@pytest.mark.parametrize("seed", range(3))
def test_self_attention_is_permutation_equivariant(seed):
    # no positional information: permuting the tokens permutes the outputs the same way
    X = randn(1, 6, 8, seed=seed)
    W_in, W_out = randn(24, 8, seed=seed + 1) / 3, randn(8, 8, seed=seed + 2) / 3
    b_in, b_out = randn(24, seed=seed + 3), randn(8, seed=seed + 4)
    perm = torch.randperm(6, generator=torch.Generator().manual_seed(seed))
    out = att.multi_head_attention(X, X, X, 2, W_in, b_in, W_out, b_out).output
    Xp = X[:, perm]
    out_p = att.multi_head_attention(Xp, Xp, Xp, 2, W_in, b_in, W_out, b_out).output
    assert (out_p - out[:, perm]).abs().max() < 1e-12
    assert (out_p - out).abs().max() > 1e-3  # and the permutation did move things


@pytest.mark.parametrize("seed", range(4))
def test_wrong_identity_from_the_article_fails(seed):
    # errata: softmax(QKᵀ/√d_k)V = (1/d_v)·softmax(QKᵀ)V is not an identity
    Q, K, V = randn(5, 16, seed=seed), randn(5, 16, seed=seed + 1), randn(5, 4, seed=seed + 2)
    right = att.scaled_dot_product(Q, K, V).output
    wrong = att.scaled_dot_product(Q, K, V, scale=False).output / V.shape[-1]
    assert (right - wrong).abs().max() > 0.05


def test_one_token():
    Q, K, V = randn(1, 3, seed=1), randn(1, 3, seed=2), randn(1, 5, seed=3)
    t = att.scaled_dot_product(Q, K, V)
    assert t.weights.tolist() == [[1.0]] and torch.equal(t.output, V)


# ----- multi-head attention: equal to nn.MultiheadAttention ----------------------------------


def torch_mha(E, h, seed, bias=True):
    torch.manual_seed(seed)
    m = nn.MultiheadAttention(E, h, batch_first=True, bias=bias, dtype=f64)
    with torch.no_grad():  # torch zeros the biases at init: randomise every parameter instead
        for p in m.parameters():
            p.copy_(torch.randn_like(p) / math.sqrt(E))
    return m


def weights_of(m):
    b_in = None if m.in_proj_bias is None else m.in_proj_bias.detach()
    b_out = None if m.out_proj.bias is None else m.out_proj.bias.detach()
    return m.in_proj_weight.detach(), b_in, m.out_proj.weight.detach(), b_out


# (B, T, S, E, h)
MHA_SHAPES = [(1, 1, 1, 4, 1), (2, 5, 5, 8, 2), (3, 4, 7, 12, 3), (2, 6, 3, 16, 4), (1, 9, 9, 16, 16)]


@pytest.mark.parametrize("shape", MHA_SHAPES)
@pytest.mark.parametrize("masks", ["none", "causal", "padding", "causal+padding", "per-item", "per-head"])
def test_mha_equals_torch(shape, masks):
    B, T, S, E, h = shape
    seed = sum(shape)
    m = torch_mha(E, h, seed)
    query, key, value = randn(B, T, E, seed=seed), randn(B, S, E, seed=seed + 1), randn(B, S, E, seed=seed + 2)
    mask = kpm = None
    torch_mask = torch_kpm = None
    lengths = [max(1, S - b) for b in range(B)]
    if "causal" in masks:
        mask = att.causal_mask(T, S)
        torch_mask = ~mask
    if "padding" in masks:
        kpm = att.padding_mask(lengths, S)
        torch_kpm = ~kpm
    if masks == "per-item":
        mask = random_keep((B, T, S), seed)
        # torch wants a 3-D mask as (B·h, T, S), item-major
        torch_mask = ~mask.repeat_interleave(h, dim=0)
    if masks == "per-head":
        mask = random_keep((B, h, T, S), seed)
        torch_mask = ~mask.reshape(B * h, T, S)
    with torch.no_grad():
        out, w = m(query, key, value, attn_mask=torch_mask, key_padding_mask=torch_kpm,
                   need_weights=True, average_attn_weights=False)
    trace = att.multi_head_attention(query, key, value, h, *weights_of(m), mask=mask, key_padding_mask=kpm)
    assert trace.output.shape == (B, T, E) and trace.weights.shape == (B, h, T, S)
    assert (trace.output - out).abs().max() < TOL
    assert (trace.weights - w).abs().max() < TOL


def test_mha_self_attention_and_no_bias_equal_torch():
    m = torch_mha(8, 4, seed=3, bias=False)
    X = randn(2, 5, 8, seed=3)
    with torch.no_grad():
        out, w = m(X, X, X, need_weights=True, average_attn_weights=False)
    trace = att.multi_head_attention(X, X, X, 4, *weights_of(m))
    assert (trace.output - out).abs().max() < TOL and (trace.weights - w).abs().max() < TOL


def test_mha_trace_stages():
    B, T, S, E, h = 2, 3, 4, 6, 3
    W_in, b_in, W_out, b_out = randn(3 * E, E, seed=1), randn(3 * E, seed=2), randn(E, E, seed=3), randn(E, seed=4)
    query, kv = randn(B, T, E, seed=5), randn(B, S, E, seed=6)
    t = att.multi_head_attention(query, kv, kv, h, W_in, b_in, W_out, b_out)
    d_k = E // h
    assert t.q.shape == (B, h, T, d_k) and t.k.shape == (B, h, S, d_k) and t.v.shape == (B, h, S, d_k)
    # head i of q is features i·d_k … (i+1)·d_k − 1 of the projected query
    Q = query @ W_in[:E].T + b_in[:E]
    assert torch.allclose(t.q[:, 1], Q[..., d_k:2 * d_k], atol=1e-12)
    # concat puts head i's output in the same slice
    assert torch.allclose(t.concat[..., 2 * d_k:], t.heads.output[:, 2], atol=1e-12)
    assert torch.allclose(t.output, t.concat @ W_out.T + b_out, atol=1e-12)
    assert (t.weights.sum(-1) - 1).abs().max() < 1e-12


def test_mha_one_token():
    m = torch_mha(4, 2, seed=0)
    X = randn(1, 1, 4, seed=0)
    with torch.no_grad():
        out, _ = m(X, X, X)
    t = att.multi_head_attention(X, X, X, 2, *weights_of(m))
    assert (t.output - out).abs().max() < TOL and torch.equal(t.weights, torch.ones(1, 2, 1, 1, dtype=f64))


# ----- softmax statistics: why divide by √d_k ------------------------------------------------


def test_softmax_stats_shows_why_the_scale_exists():
    s = att.softmax_stats([1, 4, 16, 64, 256], n_keys=16, seed=0, samples=1000)
    assert s.d_k == (1, 4, 16, 64, 256) and s.entropy_scaled.shape == (5,)
    # d_k = 1: √d_k = 1, the two agree exactly
    assert s.entropy_scaled[0] == s.entropy_unscaled[0] and s.max_weight_scaled[0] == s.max_weight_unscaled[0]
    # unscaled: the logits spread like √d_k and the softmax saturates as d_k grows
    assert torch.all(s.entropy_unscaled[1:] < s.entropy_unscaled[:-1])
    assert torch.all(s.max_weight_unscaled[1:] > s.max_weight_unscaled[:-1])
    assert s.max_weight_unscaled[-1] > 0.85 and s.entropy_unscaled[-1] < 0.5
    assert torch.allclose(s.logit_std_unscaled, torch.tensor([1.0, 2, 4, 8, 16], dtype=f64), rtol=0.1)
    # scaled: spread ≈ 1 and the entropy stays put
    assert torch.allclose(s.logit_std_scaled, torch.ones(5, dtype=f64), rtol=0.1)
    assert s.entropy_scaled.max() - s.entropy_scaled.min() < 0.15
    assert (s.entropy_scaled <= s.max_entropy).all() and s.max_entropy == pytest.approx(math.log(16))


def test_softmax_stats_is_seeded():
    a = att.softmax_stats([2, 8], n_keys=5, seed=3, samples=200)
    b = att.softmax_stats([2, 8], n_keys=5, seed=3, samples=200)
    c = att.softmax_stats([2, 8], n_keys=5, seed=4, samples=200)
    assert torch.equal(a.entropy_unscaled, b.entropy_unscaled)
    assert not torch.equal(a.entropy_unscaled, c.entropy_unscaled)


# ----- bad inputs ---------------------------------------------------------------------------


def test_e_not_divisible_by_h():
    E = 10
    with pytest.raises(ValueError, match=r"E=10 is not divisible by h=3: each head needs d_k = E/h"):
        X = randn(1, 2, E, seed=0)
        att.multi_head_attention(X, X, X, 3, randn(3 * E, E, seed=1), None, randn(E, E, seed=2), None)


def test_fully_masked_row_is_refused():
    Q = randn(3, 2, seed=0)
    keep = torch.tensor([[True, False, False], [False, False, False], [True, True, True]])
    with pytest.raises(ValueError, match=r"query row \(1,\) has every key masked"):
        att.scaled_dot_product(Q, Q, Q, mask=keep)
    with pytest.raises(ValueError, match="every key masked"):
        att.scaled_dot_product_loops(Q, Q, Q, keep)


@pytest.mark.parametrize("Q_shape,K_shape,V_shape,match", [
    ((4, 3), (5, 2), (5, 2), "same d_k"),
    ((4, 3), (5, 3), (6, 2), "same S"),
    ((2, 4, 3), (3, 5, 3), (3, 5, 3), "leading"),
    ((3,), (3,), (3,), r"shape \(\.\.\., n, d\)"),
])
def test_sdp_shape_errors(Q_shape, K_shape, V_shape, match):
    with pytest.raises(ValueError, match=match):
        att.scaled_dot_product(randn(*Q_shape, seed=0), randn(*K_shape, seed=1), randn(*V_shape, seed=2))


def test_sdp_bad_mask_and_temperature():
    Q = randn(3, 2, seed=0)
    with pytest.raises(ValueError, match="bool"):
        att.scaled_dot_product(Q, Q, Q, mask=torch.ones(3, 3))
    with pytest.raises(ValueError, match="does not broadcast"):
        att.scaled_dot_product(Q, Q, Q, mask=torch.ones(2, 3, dtype=torch.bool))
    for tau in (0, -1, math.inf, math.nan):
        with pytest.raises(ValueError, match="temperature"):
            att.scaled_dot_product(Q, Q, Q, temperature=tau)


def test_mha_shape_errors():
    E = 4
    W_in, W_out = randn(3 * E, E, seed=1), randn(E, E, seed=2)
    X = randn(2, 3, E, seed=0)
    with pytest.raises(ValueError, match=r"\(B, n, E\)"):
        att.multi_head_attention(X[0], X[0], X[0], 2, W_in, None, W_out, None)
    with pytest.raises(ValueError, match="key and value must be"):
        att.multi_head_attention(X, randn(1, 3, E, seed=3), X, 2, W_in, None, W_out, None)
    with pytest.raises(ValueError, match="in_proj_weight must be"):
        att.multi_head_attention(X, X, X, 2, W_in[:E], None, W_out, None)
    with pytest.raises(ValueError, match="key_padding_mask"):
        att.multi_head_attention(X, X, X, 2, W_in, None, W_out, None, key_padding_mask=torch.ones(2, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match="mask must be"):
        att.multi_head_attention(X, X, X, 2, W_in, None, W_out, None, mask=torch.ones(3, 3))


def test_sizes_are_bounded():
    too_long = BOUNDS["tokens"].high + 1
    with pytest.raises(LimitError):
        att.causal_mask(too_long)
    with pytest.raises(LimitError):
        Q = randn(too_long, 2, seed=0)
        att.scaled_dot_product(Q, Q, Q)
    h = BOUNDS["num_heads"].high * 2
    with pytest.raises(LimitError):
        X = randn(1, 2, h, seed=0)
        att.multi_head_attention(X, X, X, h, randn(3 * h, h, seed=1), None, randn(h, h, seed=2), None)
    with pytest.raises(LimitError):
        att.softmax_stats([BOUNDS["d_model"].high + 1], n_keys=4, seed=0, samples=10)
    with pytest.raises(LimitError):
        att.softmax_stats([4], n_keys=4, seed=0, samples=BOUNDS["samples"].high + 1)


@pytest.mark.parametrize("lengths", [[0, 2], [5], [-1]])
def test_bad_padding_lengths(lengths):
    with pytest.raises(ValueError, match="between 1 and S=4"):
        att.padding_mask(lengths, 4)
