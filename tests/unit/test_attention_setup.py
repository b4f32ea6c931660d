"""engine.ops.attention_setup: seeded weights follow torch's initialisation ranges and feed torch's
layers, typed grids are checked, the written-out softmax row equals torch.softmax, the parameter
count equals nn.MultiheadAttention's, the circulating identity is false (with numbers), and the
torch references the pages check against are torch's own layers with our weights."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import engine.ops.attention_setup as setup
from engine.data.tokens import TokenError
from engine.limits import LimitError
from engine.ops.attention import causal_mask, multi_head_attention, scaled_dot_product

f64 = torch.float64
TOL = 1e-6


def randn(*shape, seed):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=f64)


# ----- grids typed by hand -------------------------------------------------------------------


def test_matrix_from_grid_reads_numbers():
    M = setup.matrix_from_grid([[1, "2.5"], [-3, 0]], "Q")
    assert M.dtype == f64 and M.tolist() == [[1.0, 2.5], [-3.0, 0.0]]
    assert setup.matrix_from_grid([[1, 2, 3]], "V", shape=(1, 3)).shape == (1, 3)


@pytest.mark.parametrize("rows, code", [
    ([[1, None]], "matrix_empty"), ([[1, ""]], "matrix_empty"), ([[1, "x"]], "matrix_empty"),
    ([[1, float("nan")]], "matrix_empty"), ([[True, 1]], "matrix_empty"),
    ([[1, 11]], "matrix_too_big"), ([[-10.5, 1]], "matrix_too_big"), ([[float("inf"), 1]], "matrix_too_big"),
    ([[1, 2], [3]], "matrix_shape"), ([], "matrix_shape"), ([[]], "matrix_shape"),
])
def test_matrix_from_grid_refuses_bad_cells(rows, code):
    with pytest.raises(setup.LabError) as e:
        setup.matrix_from_grid(rows, "K")
    assert e.value.code == code and e.value.params["name"] == "K"


def test_matrix_from_grid_shape_and_cell_position():
    with pytest.raises(setup.LabError) as e:
        setup.matrix_from_grid([[1, 2]], "Q", shape=(3, 2))
    assert e.value.code == "matrix_shape" and e.value.params["shape"] == "3×2"
    with pytest.raises(setup.LabError) as e:
        setup.matrix_from_grid([[1, 2], [3, 99]], "V")
    assert (e.value.params["row"], e.value.params["col"], e.value.params["value"]) == (2, 2, "99")


@pytest.mark.parametrize("text, max_tokens, tokens, n", [
    ("The cat sat.", 12, ["The", "cat", "sat", "."], 4),
    ("a b c d e f", 3, ["a", "b", "c"], 6),
    ("猫坐在垫子上。", 4, ["猫", "坐", "在", "垫"], 7),
    ("one", 1, ["one"], 1),
])
def test_first_tokens(text, max_tokens, tokens, n):
    assert setup.first_tokens(text, max_tokens) == (tokens, n)


def test_first_tokens_past_the_engine_bound():
    words = [f"w{k}" for k in range(300)]
    tokens, n = setup.first_tokens("   ".join(words), 12)
    assert tokens == words[:12] and n == 300
    tokens, n = setup.first_tokens("猫" * 500, 5)
    assert tokens == ["猫"] * 5 and n == 500


@pytest.mark.parametrize("text", ["", "   ", "\u200b"])
def test_first_tokens_blank(text):
    with pytest.raises(TokenError) as e:
        setup.first_tokens(text, 12)
    assert e.value.code == "no_tokens"


@pytest.mark.parametrize("tau, ok", [(0.1, True), (1, True), (5.0, True), (0.05, False), (5.5, False),
                                     (float("nan"), False), ("x", False), (None, False)])
def test_check_temperature(tau, ok):
    if ok:
        assert setup.check_temperature(tau) == float(tau)
    else:
        with pytest.raises(setup.LabError) as e:
            setup.check_temperature(tau)
        assert e.value.code == "temperature"


# ----- seeded weights ------------------------------------------------------------------------


@pytest.mark.parametrize("d_model, d_k, seed", [(4, 2, 0), (8, 4, 1), (32, 16, 7), (1, 1, 3)])
def test_seeded_projections_range_shape_and_seed(d_model, d_k, seed):
    P = setup.seeded_projections(d_model, d_k, seed)
    b = math.sqrt(3 / d_model)
    for W in (P.W_Q, P.W_K, P.W_V):
        assert W.shape == (d_model, d_k) and W.dtype == f64
        assert float(W.abs().max()) <= b
    # independently drawn: three blocks of one generator, in the order Q, K, V
    gen = torch.Generator().manual_seed(seed)
    for W in (P.W_Q, P.W_K, P.W_V):
        expected = (2 * torch.rand(d_model, d_k, generator=gen, dtype=f64) - 1) * b
        assert torch.equal(W, expected)
    again = setup.seeded_projections(d_model, d_k, seed)
    assert torch.equal(again.W_Q, P.W_Q)
    if d_model * d_k > 1:
        assert not torch.equal(setup.seeded_projections(d_model, d_k, seed + 1).W_Q, P.W_Q)
        assert not torch.equal(P.W_Q, P.W_K)


@pytest.mark.parametrize("T, d_model, d_k", [(1, 4, 2), (5, 8, 4), (12, 32, 16)])
def test_project_equals_nn_linear_without_bias(T, d_model, d_k):
    X = randn(T, d_model, seed=T)
    P = setup.seeded_projections(d_model, d_k, 0)
    qkv = setup.project(X, P)
    for ours, W in ((qkv.Q, P.W_Q), (qkv.K, P.W_K), (qkv.V, P.W_V)):
        linear = nn.Linear(d_model, d_k, bias=False).double()
        with torch.no_grad():
            # nn.Linear stores (out, in): y = x Wᵀ
            linear.weight.copy_(W.T)
            assert (ours - linear(X)).abs().max() < TOL


def test_projected_entries_have_unit_variance():
    # x ~ N(0, I) through W ~ U(±√(3/d)): Var(q_k) = Σ_d Var(x_d)·Var(W_dk) = d·(1/d) = 1
    d_model, d_k = 32, 16
    X = randn(4000, d_model, seed=0)
    for seed in range(3):
        qkv = setup.project(X, setup.seeded_projections(d_model, d_k, seed))
        for M in (qkv.Q, qkv.K, qkv.V):
            assert float(M.var()) == pytest.approx(1.0, rel=0.15)


def test_seeded_projections_are_bounded():
    with pytest.raises(LimitError):
        setup.seeded_projections(0, 2, 0)
    with pytest.raises(LimitError):
        setup.seeded_projections(8, 1000, 0)


@pytest.mark.parametrize("E, h, seed", [(4, 1, 0), (8, 2, 1), (12, 3, 2), (32, 8, 5)])
def test_seeded_mha_params_feed_torch_and_follow_its_init(E, h, seed):
    p = setup.seeded_mha_params(E, seed)
    assert p.in_proj_weight.shape == (3 * E, E) and p.out_proj_weight.shape == (E, E)
    assert float(p.in_proj_weight.abs().max()) <= math.sqrt(6 / (4 * E))
    assert float(p.out_proj_weight.abs().max()) <= 1 / math.sqrt(E)
    assert not p.in_proj_bias.any() and not p.out_proj_bias.any()
    # the same zero biases torch gives a fresh layer
    ref = nn.MultiheadAttention(E, h, batch_first=True).double()
    assert not ref.in_proj_bias.any() and not ref.out_proj.bias.any()
    with torch.no_grad():
        ref.in_proj_weight.copy_(p.in_proj_weight)
        ref.out_proj.weight.copy_(p.out_proj_weight)
    x = randn(1, 5, E, seed=seed)
    out, w = ref(x, x, x, need_weights=True, average_attn_weights=False)
    trace = multi_head_attention(x, x, x, h, p.in_proj_weight, p.in_proj_bias, p.out_proj_weight, p.out_proj_bias)
    assert (trace.output - out).abs().max() < TOL and (trace.weights - w).abs().max() < TOL
    assert torch.equal(setup.seeded_mha_params(E, seed).in_proj_weight, p.in_proj_weight)


def test_seeded_mha_weights_spread_like_torch():
    # a uniform on (−b, b) has standard deviation b/√3; torch's xavier and ours agree on it
    E = 64
    p = setup.seeded_mha_params(E, 0)
    b_in, b_out = math.sqrt(6 / (4 * E)), 1 / math.sqrt(E)
    assert float(p.in_proj_weight.std()) == pytest.approx(b_in / math.sqrt(3), rel=0.03)
    assert float(p.out_proj_weight.std()) == pytest.approx(b_out / math.sqrt(3), rel=0.05)
    torch.manual_seed(0)
    ref = nn.MultiheadAttention(E, 4)
    assert float(ref.in_proj_weight.detach().std()) == pytest.approx(b_in / math.sqrt(3), rel=0.03)


# ----- heads and parameter counts ------------------------------------------------------------


@pytest.mark.parametrize("E", [1, 4, 8, 10, 12, 32, 256])
@pytest.mark.parametrize("h", [1, 2, 4, 8])
def test_param_count_equals_torch(E, h):
    if E % h:
        return
    ref = nn.MultiheadAttention(E, h)
    assert setup.mha_param_count(E) == sum(p.numel() for p in ref.parameters())


@pytest.mark.parametrize("E, expected", [(1, [1]), (8, [1, 2, 4, 8]), (10, [1, 2, 5, 10]), (12, [1, 2, 3, 4, 6, 12]),
                                         (32, [1, 2, 4, 8, 16]), (7, [1, 7])])
def test_valid_heads(E, expected):
    assert setup.valid_heads(E) == expected
    assert setup.valid_heads(E, 4) == [h for h in expected if h <= 4]


def test_check_heads():
    assert setup.check_heads(12, 3) == 4
    with pytest.raises(setup.LabError) as e:
        setup.check_heads(10, 3)
    assert e.value.code == "not_divisible"
    assert e.value.params == {"E": 10, "h": 3, "valid": "1, 2, 5, 10"}
    assert "E = 10" in str(e.value) and "3 heads" in str(e.value)
    with pytest.raises(setup.LabError) as e:
        setup.check_heads(10, 3, h_max=8)
    assert e.value.params["valid"] == "1, 2, 5"
    with pytest.raises(LimitError):
        setup.check_heads(8, 0)


# ----- one softmax row ------------------------------------------------------------------------


@pytest.mark.parametrize("seed, n, spread", [(0, 1, 1.0), (1, 5, 1.0), (2, 12, 3.0), (3, 8, 200.0), (4, 6, 1e4)])
def test_softmax_terms_equal_torch(seed, n, spread):
    s = randn(n, seed=seed) * spread
    terms = setup.softmax_terms(s)
    assert (terms.weights - torch.softmax(s, -1)).abs().max() < 1e-12
    assert terms.Z == pytest.approx(float(terms.exps.sum()))
    assert torch.isfinite(terms.exps).all() and terms.Z > 0
    # small logits are written as plain exponentials, large ones shifted by the row's max
    if float(s.abs().max()) <= setup.SHIFT_ABOVE:
        assert terms.shift == 0.0 and torch.allclose(terms.exps, s.exp())
    else:
        assert terms.shift == float(s.max()) and float(terms.exps.max()) == 1.0


def test_softmax_terms_masked_keys_get_zero():
    s = torch.tensor([0.5, -math.inf, 1.5, -math.inf], dtype=f64)
    terms = setup.softmax_terms(s)
    assert terms.exps[1] == 0 and terms.weights[3] == 0
    assert terms.weights[[0, 2]].sum() == pytest.approx(1.0)
    trace = scaled_dot_product(randn(3, 2, seed=1), randn(3, 2, seed=2), randn(3, 2, seed=3), mask=causal_mask(3))
    for i in range(3):
        assert (setup.softmax_terms(trace.masked[i]).weights - trace.weights[i]).abs().max() < 1e-12


@pytest.mark.parametrize("row", [[-math.inf, -math.inf], [math.nan, 1.0], [math.inf, 1.0], []])
def test_softmax_terms_refuses_rows_without_a_softmax(row):
    with pytest.raises(ValueError):
        setup.softmax_terms(torch.tensor(row, dtype=f64))


# ----- the wrong identity ---------------------------------------------------------------------


@pytest.mark.parametrize("T, d_k, d_v, seed", [(3, 2, 2, 0), (5, 4, 4, 1), (12, 16, 8, 2)])
def test_wrong_identity_is_false(T, d_k, d_v, seed):
    Q, K, V = randn(T, d_k, seed=seed), randn(T, d_k, seed=seed + 1), randn(T, d_v, seed=seed + 2)
    w = setup.wrong_identity(Q, K, V)
    # the left side is attention itself
    assert (w.correct - F.scaled_dot_product_attention(Q, K, V)).abs().max() < TOL
    # the right side, computed independently
    right = torch.softmax(Q @ K.T, -1) @ V / d_v
    assert (w.wrong - right).abs().max() < TOL
    assert w.max_abs_delta == pytest.approx(float((w.correct - right).abs().max()))
    assert w.max_abs_delta > 1e-3
    # the scale changes the weights themselves, not by a constant factor
    assert not torch.allclose(w.weights_scaled, w.weights_unscaled)
    assert not torch.allclose(w.correct / w.wrong, torch.full_like(w.correct, float(w.correct[0, 0] / w.wrong[0, 0])))


def test_wrong_identity_with_a_mask_and_its_one_coincidence():
    Q, K, V = randn(4, 3, seed=1), randn(4, 3, seed=2), randn(4, 3, seed=3)
    w = setup.wrong_identity(Q, K, V, mask=causal_mask(4))
    assert (w.weights_scaled.triu(1) == 0).all() and w.max_abs_delta > 1e-3
    # one key and d_v = 1: every softmax is [1] and 1/d_v = 1, so both sides are V
    one = setup.wrong_identity(randn(1, 2, seed=4), randn(1, 2, seed=5), randn(1, 1, seed=6))
    assert one.max_abs_delta == 0.0


# ----- torch's layers as the pages' references ------------------------------------------------


@pytest.mark.parametrize("T, d_k, causal, scale", [(1, 2, False, True), (5, 4, True, True), (12, 16, False, False)])
def test_sdpa_reference_equals_scaled_dot_product(T, d_k, causal, scale):
    X = randn(T, 8, seed=T)
    qkv = setup.project(X, setup.seeded_projections(8, d_k, 1))
    keep = causal_mask(T) if causal else None
    ours = scaled_dot_product(qkv.Q, qkv.K, qkv.V, mask=keep, scale=scale, temperature=0.5)
    assert (setup.sdpa_reference(qkv, ours.divisor, keep) - ours.output).abs().max() < 1e-12
    assert setup.sdpa_gap(qkv, ours, keep) < 1e-12
    # an output that is off shows up as a gap
    wrong = dataclasses.replace(ours, output=ours.output + 1e-3)
    assert setup.sdpa_gap(qkv, wrong, keep) == pytest.approx(1e-3)
    assert setup.projection_bound(8) == math.sqrt(3 / 8)


@pytest.mark.parametrize("T, E, h, causal", [(1, 4, 1, False), (6, 8, 2, True), (12, 32, 8, False)])
def test_mha_reference_equals_multi_head_attention(T, E, h, causal):
    X = randn(1, T, E, seed=E)
    p = setup.seeded_mha_params(E, 3)
    keep = causal_mask(T) if causal else None
    ours = multi_head_attention(X, X, X, h, p.in_proj_weight, p.in_proj_bias, p.out_proj_weight,
                                p.out_proj_bias, mask=keep)
    out, w = setup.mha_reference(X, h, p, keep)
    assert out.shape == (1, T, E) and w.shape == (1, h, T, T)
    assert (out - ours.output).abs().max() < 1e-12 and (w - ours.weights).abs().max() < 1e-12
    gaps = setup.mha_gaps(X, h, p, ours, keep)
    assert gaps.output < 1e-12 and gaps.weights < 1e-12


def test_square_projections_as_one_head_of_torch():
    P = setup.seeded_projections(8, 8, 2)
    X = randn(5, 8, seed=0)
    qkv = setup.project(X, P)
    ours = scaled_dot_product(qkv.Q, qkv.K, qkv.V)
    out, w = setup.mha_reference(X, 1, P.mha_params())
    # unbatched (T, E): weights (h, T, T); the output map is the identity, so out = head
    assert (out - ours.output).abs().max() < 1e-12 and (w[0] - ours.weights).abs().max() < 1e-12
    with pytest.raises(ValueError, match="d_k = d_model"):
        setup.seeded_projections(8, 4, 0).mha_params()


@pytest.mark.parametrize("E, h", [(4, 1), (8, 2), (12, 3), (32, 8)])
def test_torch_mha_params_add_up_to_the_count(E, h):
    rows = setup.torch_mha_params(E, h)
    assert {r.name: r.shape for r in rows} == {"in_proj_weight": (3 * E, E), "in_proj_bias": (3 * E,),
                                               "out_proj.weight": (E, E), "out_proj.bias": (E,)}
    assert sum(r.numel for r in rows) == setup.mha_param_count(E)
