"""engine.ops.errata: each wrong form computed literally, against an independent torch computation in
float64, and the properties that make it wrong (lost window, lost maps, softmax over features)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from engine.ops.attention import scaled_dot_product
from engine.ops.errata import (
    attention_unscaled,
    conv_without_window,
    kernels_summed,
    pool_without_window,
)

TOL = 1e-10
f64 = torch.float64


def randn(*shape, seed):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=f64)


# ----- convolution without a window ---------------------------------------------------------

CONV_SHAPES = [(1, 1, 6, 6, 1, 3), (2, 3, 7, 5, 4, 3), (1, 2, 9, 9, 32, 5), (3, 1, 4, 4, 2, 1)]  # N, C, H, W, C_out, k


@pytest.mark.parametrize("shape", CONV_SHAPES)
@pytest.mark.parametrize("with_bias", [False, True])
def test_conv_without_window_is_each_pixel_times_the_kernel_sum(shape, with_bias):
    N, C, H, W, C_out, k = shape
    seed = sum(shape) + with_bias
    x, w = randn(N, C, H, W, seed=seed), randn(C_out, C, k, k, seed=seed + 1)
    b = randn(C_out, seed=seed + 2) if with_bias else None
    out = conv_without_window(x, w, b)
    # out[n, o, i, j] = Σ_c (Σ_mn w[o, c, m, n]) x[n, c, i, j] + b[o], written with einsum
    expected = torch.einsum("oc,nchw->nohw", w.sum(dim=(2, 3)), x)
    if b is not None:
        expected = expected + b[None, :, None, None]
    assert out.shape == (N, C_out, H, W)
    assert (out - expected).abs().max() < TOL
    # and torch's own 1×1 convolution agrees
    assert (out - F.conv2d(x, w.sum(dim=(2, 3), keepdim=True), b)).abs().max() < TOL


def test_conv_without_window_cannot_see_neighbours():
    # a single bright pixel: the right convolution spreads it over a k×k neighbourhood, the wrong
    # form leaves it where it is
    x = torch.zeros(1, 1, 7, 7, dtype=f64)
    x[0, 0, 3, 3] = 1.0
    w = randn(1, 1, 3, 3, seed=5)
    right = F.conv2d(x, w)
    wrong = conv_without_window(x, w)
    assert int((right.abs() > 0).sum()) == 9
    assert int((wrong.abs() > 0).sum()) == 1


# ----- 32 kernels summed --------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(1, 1, 28, 28, 32, 3), (2, 3, 8, 6, 5, 3), (1, 2, 5, 5, 1, 5)])
@pytest.mark.parametrize("with_bias", [False, True])
def test_kernels_summed_is_the_sum_of_the_maps(shape, with_bias):
    N, C, H, W, C_out, k = shape
    seed = 3 * sum(shape) + with_bias
    x, w = randn(N, C, H, W, seed=seed), randn(C_out, C, k, k, seed=seed + 1)
    b = randn(C_out, seed=seed + 2) if with_bias else None
    summed = kernels_summed(x, w, b)
    maps = F.conv2d(x, w, b)
    assert summed.shape == (N, 1, H - k + 1, W - k + 1)
    assert (summed - maps.sum(dim=1, keepdim=True)).abs().max() < 1e-9


def test_different_kernels_with_the_same_sum_are_indistinguishable_when_summed():
    x, w = randn(1, 1, 10, 10, seed=1), randn(4, 1, 3, 3, seed=2)
    # move weight between two kernels: every map changes, their sum does not
    moved = w.clone()
    moved[0] += 0.5
    moved[1] -= 0.5
    assert (F.conv2d(x, w) - F.conv2d(x, moved)).abs().max() > 0.1
    assert (kernels_summed(x, w) - kernels_summed(x, moved)).abs().max() < 1e-12


# ----- max pooling without a window ---------------------------------------------------------


@pytest.mark.parametrize("shape", [(1, 1, 6, 6), (2, 3, 5, 7), (1, 32, 26, 26)])
def test_pool_without_window_returns_the_input(shape):
    x = randn(*shape, seed=sum(shape))
    out = pool_without_window(x)
    assert torch.equal(out, x)
    assert torch.equal(out, F.max_pool2d(x, 1))
    # the right pooling shrinks it and keeps each window's largest value
    right = F.max_pool2d(x, 2)
    assert right.shape[-2:] == (shape[-2] // 2, shape[-1] // 2)


# ----- the attention chart without ÷√d_k ----------------------------------------------------

ATT_SHAPES = [(1, 1, 1), (4, 5, 3), (2, 6, 6, 8)]  # (..., T, S, d_k)


@pytest.mark.parametrize("shape", ATT_SHAPES)
def test_attention_unscaled_equals_torch(shape):
    *batch, T, S, d_k = shape
    seed = sum(shape)
    Q, K = randn(*batch, T, d_k, seed=seed), randn(*batch, S, d_k, seed=seed + 1)
    wrong = attention_unscaled(Q, K)
    expected = torch.softmax(Q @ K.transpose(-2, -1), dim=-1)
    assert wrong.shape == (*batch, T, S) and (wrong - expected).abs().max() < TOL
    # it is attention with the scale undone: softmax(QKᵀ) = weights of (Q·√d_k, K)
    assert (wrong - scaled_dot_product(Q * math.sqrt(d_k), K, K).weights).abs().max() < TOL


def test_attention_weights_ignore_V_and_the_output_is_linear_in_it():
    Q, K, V = randn(4, 3, seed=1), randn(4, 3, seed=2), randn(4, 3, seed=3)
    right, other, doubled = (scaled_dot_product(Q, K, v) for v in (V, randn(4, 3, seed=4), 2 * V))
    assert torch.equal(right.weights, other.weights) and (right.output - other.output).abs().max() > 0.01
    assert (doubled.output - 2 * right.output).abs().max() < 1e-12
    assert (right.output - F.scaled_dot_product_attention(Q, K, V)).abs().max() < TOL


def test_attention_unscaled_refuses_mismatched_shapes():
    with pytest.raises(ValueError, match="d_k"):
        attention_unscaled(randn(2, 3, seed=0), randn(2, 4, seed=1))


# ----- the page's cases (engine.ops.errata_cases) ----------------------------------------------


def test_cases_right_forms_equal_pytorch_and_wrong_forms_differ():
    from engine.ops import errata_cases as ec

    att, conv, ffn, flow, pe = ec.attention_case(3), ec.conv_case(3), ec.ffn_case(3), ec.flow_case(3), ec.pe_case(3)
    kern = ec.kernels_case(3, ec.first_layer())
    lstm = ec.lstm_case(3, None)  # a random LSTM: no checkpoint needed
    enc = ec.encoder_case("the cat sat on the mat", 3)
    checks = ec.torch_checks(att, conv, kern, lstm, ffn, enc)
    assert [c.key for c in checks] == ["attention", "conv", "kernels", "pooling", "lstm", "ffn", "encoder"]
    assert all(c.gap < 1e-9 for c in checks)
    # the wrong forms, against the right ones, on the same inputs
    assert att.trace.max_abs_delta > 0.01 and att.ratio_lo < att.ratio_hi
    assert conv.wrong.shape == conv.x.shape and conv.right.shape == (4, 4) and conv.pool_delta == 0
    assert torch.equal(conv.wrong, conv.w.sum() * conv.x + conv.b)
    assert kern.summed.shape == (26, 26) and torch.allclose(kern.summed, kern.maps.sum(dim=0), atol=1e-9)
    assert kern.maps.abs().sum(dim=0)[kern.i, kern.j] == kern.maps.abs().sum(dim=0).max()
    assert lstm.no_cell.c.abs().max() < 1 and lstm.right.loss < lstm.no_cell.loss
    assert lstm.x.shape == (len(lstm.text), 1, len(ec.char_rnn.VOCAB)) and not lstm.trained
    assert ffn.trace.n_negative > 0 and ffn.trace.floor >= 0
    assert enc.Y.shape == (6, ec.ENC.d_model) and enc.min_distance > 0.1
    # the chart: V takes no part in the weights; without ÷√d_k they saturate
    assert flow.v_delta == 0 and flow.out_delta > 0.01
    r, w = flow.right_stats, flow.wrong_stats
    assert w.score_std == pytest.approx(math.sqrt(ec.D_FLOW) * r.score_std, rel=1e-12)
    assert w.max_weight > r.max_weight and w.entropy < r.entropy and w.jacobian < r.jacobian
    assert 0 <= w.entropy <= r.entropy <= math.log(ec.T_FLOW) + 1e-12
    assert pe.sin == pytest.approx(math.sin(pe.theta), abs=1e-12)
    assert pe.cos == pytest.approx(math.cos(pe.theta), abs=1e-12)


def test_cases_are_drawn_per_seed_and_per_erratum():
    from engine.ops import errata_cases as ec

    assert torch.equal(ec.attention_case(5).Q, ec.attention_case(5).Q)
    assert not torch.equal(ec.attention_case(5).Q, ec.attention_case(6).Q)
    # each erratum has its own generator: the FFN's input is not the attention's Q
    assert not torch.equal(ec.ffn_case(5).x[:, :4], ec.attention_case(5).Q)
