"""engine.ops.conv against torch, in float64 with fixed seeds, over many shapes."""

from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.ops.conv import (
    avg_pool2d,
    conv2d,
    conv2d_loops,
    conv_cell,
    convolve2d,
    max_pool2d,
    max_pool2d_trace,
    output_size,
    relu,
    shift_image,
)

TOL = 1e-6


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _rand(*shape, seed=0) -> torch.Tensor:
    return torch.randn(*shape, generator=_gen(seed), dtype=torch.float64)


def _max_delta(a: torch.Tensor, b: torch.Tensor) -> float:
    assert a.shape == b.shape, (a.shape, b.shape)
    return float((a - b).abs().max()) if a.numel() else 0.0


# ----- conv2d / conv2d_loops vs F.conv2d ---------------------------------------------------

CASES = [
    # (N, C_in, C_out, H, W, k_h, k_w, stride, padding, bias)
    (1, 1, 1, 28, 28, 3, 3, 1, 0, True),
    (2, 3, 4, 9, 7, 3, 3, 1, 1, True),
    (3, 2, 5, 8, 11, 5, 5, 2, 2, False),
    (1, 4, 2, 6, 5, 1, 1, 1, 0, True),
    (2, 1, 3, 10, 13, 2, 4, 3, 1, True),
    (1, 2, 2, 7, 7, 4, 2, 2, 0, False),
    (4, 3, 1, 5, 9, 3, 5, 1, 2, True),
    (1, 1, 1, 5, 5, 5, 5, 1, 0, True),  # kernel as large as the input: one output cell
]


@pytest.mark.parametrize("N,C_in,C_out,H,W,k_h,k_w,s,p,use_bias", CASES)
def test_conv2d_matches_torch(N, C_in, C_out, H, W, k_h, k_w, s, p, use_bias):
    x = _rand(N, C_in, H, W, seed=1)
    w = _rand(C_out, C_in, k_h, k_w, seed=2)
    b = _rand(C_out, seed=3) if use_bias else None
    ref = F.conv2d(x, w, b, stride=s, padding=p)
    assert _max_delta(conv2d(x, w, b, stride=s, padding=p), ref) < TOL
    assert _max_delta(conv2d_loops(x, w, b, stride=s, padding=p), ref) < TOL


@settings(max_examples=40, deadline=None, derandomize=True)
@given(
    N=st.integers(1, 2),
    C_in=st.integers(1, 3),
    C_out=st.integers(1, 3),
    H=st.integers(1, 9),
    W=st.integers(1, 9),
    k_h=st.integers(1, 5),
    k_w=st.integers(1, 5),
    s_h=st.integers(1, 3),
    s_w=st.integers(1, 3),
    p=st.integers(0, 2),
    use_bias=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_conv2d_property(N, C_in, C_out, H, W, k_h, k_w, s_h, s_w, p, use_bias, seed):
    if k_h > H + 2 * p or k_w > W + 2 * p:
        return  # torch refuses these too
    x = _rand(N, C_in, H, W, seed=seed)
    w = _rand(C_out, C_in, k_h, k_w, seed=seed + 1)
    b = _rand(C_out, seed=seed + 2) if use_bias else None
    stride = (s_h, s_w)
    ref = F.conv2d(x, w, b, stride=stride, padding=p)
    assert _max_delta(conv2d(x, w, b, stride=stride, padding=p), ref) < TOL
    assert _max_delta(conv2d_loops(x, w, b, stride=stride, padding=p), ref) < TOL


def test_conv2d_tuple_padding():
    x, w = _rand(1, 2, 6, 8, seed=4), _rand(3, 2, 3, 3, seed=5)
    ref = F.conv2d(x, w, stride=(1, 2), padding=(2, 1))
    assert _max_delta(conv2d(x, w, stride=(1, 2), padding=(2, 1)), ref) < TOL
    assert _max_delta(conv2d_loops(x, w, stride=(1, 2), padding=(2, 1)), ref) < TOL


def test_conv2d_loops_equals_vectorised():
    x, w, b = _rand(2, 3, 12, 10, seed=6), _rand(4, 3, 3, 3, seed=7), _rand(4, seed=8)
    assert _max_delta(conv2d_loops(x, w, b, 2, 1), conv2d(x, w, b, 2, 1)) < TOL


@pytest.mark.parametrize("k_h,k_w,s,p", [(3, 3, 1, 0), (2, 3, 1, 1), (5, 5, 2, 2), (1, 4, 3, 0)])
def test_convolve2d_is_conv_with_flipped_kernel(k_h, k_w, s, p):
    x = _rand(2, 2, 9, 8, seed=9)
    w = _rand(3, 2, k_h, k_w, seed=10)
    b = _rand(3, seed=11)
    ref = F.conv2d(x, torch.flip(w, dims=(-2, -1)), b, stride=s, padding=p)
    assert _max_delta(convolve2d(x, w, b, stride=s, padding=p), ref) < TOL


def test_convolve2d_differs_from_cross_correlation_for_asymmetric_kernel():
    x = _rand(1, 1, 8, 8, seed=12)
    w = torch.tensor([[[[1.0, 0.0, -1.0], [2.0, 0.0, -2.0], [1.0, 0.0, -1.0]]]], dtype=torch.float64)
    assert _max_delta(convolve2d(x, w), conv2d(x, w)) > 0.1
    # Sobel x flipped is −Sobel x: convolution = −cross-correlation here
    assert _max_delta(convolve2d(x, w), -conv2d(x, w)) < TOL


# ----- output_size ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "n,k,s,p",
    [(n, k, s, p) for n, k, s, p in itertools.product((1, 5, 8, 13, 28), range(1, 6), range(1, 4), range(3))
     if k <= n + 2 * p],
)
def test_output_size_formula_and_actual_shape(n, k, s, p):
    expected = (n + 2 * p - k) // s + 1  # ⌊(n + 2p − k)/s⌋ + 1
    assert output_size(n, k, s, p) == expected
    x = torch.zeros(1, 1, n, n, dtype=torch.float64)
    w = torch.zeros(1, 1, k, k, dtype=torch.float64)
    assert conv2d(x, w, stride=s, padding=p).shape[-1] == expected
    assert F.conv2d(x, w, stride=s, padding=p).shape[-1] == expected


def test_output_size_article_example():
    assert output_size(28, 3, 1, 0) == 26
    assert output_size(26, 2, 2, 0) == 13


@pytest.mark.parametrize("n,k,p", [(3, 4, 0), (5, 8, 1), (1, 4, 1), (28, 33, 2)])
def test_output_size_rejects_kernel_larger_than_padded_input(n, k, p):
    with pytest.raises(ValueError):
        output_size(n, k, 1, p)


# ----- pooling ----------------------------------------------------------------------------

POOL_CASES = [
    # (H, W, k, s)
    (28, 28, 2, None),
    (26, 26, 2, 2),
    (9, 7, 3, 1),
    (10, 11, 3, 2),
    (8, 8, 4, 4),
    (7, 9, 2, 3),
    (5, 6, 1, 1),
    (13, 13, 4, 2),
]


@pytest.mark.parametrize("H,W,k,s", POOL_CASES)
def test_max_pool2d_matches_torch(H, W, k, s):
    x = _rand(2, 3, H, W, seed=13)
    assert _max_delta(max_pool2d(x, k, s), F.max_pool2d(x, k, s)) < TOL


@pytest.mark.parametrize("H,W,k,s", POOL_CASES)
def test_avg_pool2d_matches_torch(H, W, k, s):
    x = _rand(2, 3, H, W, seed=14)
    assert _max_delta(avg_pool2d(x, k, s), F.avg_pool2d(x, k, s)) < TOL


def test_pooling_rectangular_window():
    x = _rand(1, 2, 9, 10, seed=15)
    assert _max_delta(max_pool2d(x, (2, 3), (1, 2)), F.max_pool2d(x, (2, 3), (1, 2))) < TOL
    assert _max_delta(avg_pool2d(x, (3, 2), (2, 1)), F.avg_pool2d(x, (3, 2), (2, 1))) < TOL


@settings(max_examples=30, deadline=None, derandomize=True)
@given(H=st.integers(1, 12), W=st.integers(1, 12), k=st.integers(1, 4), s=st.integers(1, 4),
       seed=st.integers(0, 2**16))
def test_pooling_property(H, W, k, s, seed):
    if k > H or k > W:
        return
    x = _rand(1, 2, H, W, seed=seed)
    assert _max_delta(max_pool2d(x, k, s), F.max_pool2d(x, k, s)) < TOL
    assert _max_delta(avg_pool2d(x, k, s), F.avg_pool2d(x, k, s)) < TOL


@pytest.mark.parametrize("H,W,k,s", [(28, 28, 2, None), (9, 7, 3, 1), (10, 11, 3, 2), (8, 8, 4, 4), (7, 9, 2, 3), (26, 26, 3, 2)])
def test_max_pool2d_trace_matches_torch_indices(H, W, k, s):
    x = _rand(2, 3, H, W, seed=16)
    tr = max_pool2d_trace(x, k, s)
    ref, ref_idx = F.max_pool2d(x, k, s, return_indices=True)
    assert _max_delta(tr.output, ref) < TOL
    assert tr.rows.shape == tr.cols.shape == ref.shape
    # torch's index is the flat position in each (H, W) plane: row·W + col
    assert torch.equal(tr.rows * W + tr.cols, ref_idx)


@pytest.mark.parametrize("k,s", [(2, None), (3, 1), (3, 2), (4, 3)])
def test_max_pool2d_trace_invariant_points_at_the_max(k, s):
    x = _rand(13, 11, seed=17)
    tr = max_pool2d_trace(x, k, s)
    # x[rows, cols] is exactly the max it reports
    assert torch.equal(x[tr.rows, tr.cols], tr.output)
    s_ = s or k
    H_out, W_out = tr.output.shape
    for i in range(H_out):
        for j in range(W_out):
            # each source cell lies inside its own window at (i·s, j·s)
            assert i * s_ <= tr.rows[i, j] < i * s_ + k
            assert j * s_ <= tr.cols[i, j] < j * s_ + k


def test_max_pool2d_trace_ties_pick_first():
    x = torch.zeros(1, 1, 4, 4, dtype=torch.float64)
    tr = max_pool2d_trace(x, 2)
    assert torch.equal(tr.rows[0, 0], torch.tensor([[0, 0], [2, 2]]))
    assert torch.equal(tr.cols[0, 0], torch.tensor([[0, 2], [0, 2]]))


# ----- conv_cell --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "H,W,k,s,p,positions",
    [
        (28, 28, 3, 1, 0, [(0, 0), (13, 7), (25, 25)]),
        (12, 10, 3, 2, 1, [(0, 0), (2, 3), (5, 4)]),
        (9, 9, 5, 1, 2, [(0, 8), (4, 4), (8, 0)]),
        (10, 7, 2, 3, 0, [(0, 0), (1, 1), (2, 1)]),
        (8, 8, 4, 2, 2, [(0, 0), (2, 1), (4, 4)]),
    ],
)
def test_conv_cell_total_equals_torch(H, W, k, s, p, positions):
    x = _rand(H, W, seed=18)
    w = _rand(k, k, seed=19)
    b = 0.375
    ref = F.conv2d(x.view(1, 1, H, W), w.view(1, 1, k, k), torch.tensor([b], dtype=torch.float64),
                   stride=s, padding=p)[0, 0]
    x_pad = F.pad(x, (p, p, p, p))
    for i, j in positions:
        cell = conv_cell(x, w, b, i, j, stride=s, padding=p)
        assert abs(cell.total - float(ref[i, j])) < TOL
        assert (cell.row, cell.col) == (i * s, j * s)
        assert torch.equal(cell.patch, x_pad[i * s : i * s + k, j * s : j * s + k])
        # products = kernel ⊙ patch, and total = Σ products + b
        assert torch.equal(cell.products, w * cell.patch)
        assert torch.equal(cell.kernel, w)
        assert abs(float(cell.products.sum()) + b - cell.total) < TOL
        assert cell.bias == b


def test_conv_cell_rectangular_kernel():
    x, w = _rand(9, 8, seed=20), _rand(2, 4, seed=21)
    ref = F.conv2d(x.view(1, 1, 9, 8), w.view(1, 1, 2, 4), padding=1)[0, 0]
    cell = conv_cell(x, w, 0.0, 3, 2, stride=1, padding=1)
    assert cell.products.shape == (2, 4)
    assert abs(cell.total - float(ref[3, 2])) < TOL


def test_conv_cell_trace_is_frozen():
    cell = conv_cell(_rand(5, 5), _rand(3, 3), 0.0, 0, 0)
    with pytest.raises(AttributeError):
        cell.total = 0.0  # type: ignore[misc]


# ----- relu, shift_image ------------------------------------------------------------------


def test_relu_matches_torch():
    x = _rand(3, 4, 5, seed=22)
    assert torch.equal(relu(x), F.relu(x))
    assert bool((relu(x) >= 0).all())


@pytest.mark.parametrize("dy,dx", [(0, 0), (1, 0), (0, -2), (2, 1), (-1, -1), (-3, 2), (4, -4)])
def test_shift_image(dy, dx):
    x = _rand(2, 10, 12, seed=23) + 5.0  # strictly positive so zeros are visibly fill
    out = shift_image(x, dy, dx)
    assert out.shape == x.shape
    H, W = x.shape[-2:]
    # moved pixels: out[r + dy, c + dx] = x[r, c]
    for r in range(H):
        for c in range(W):
            if 0 <= r + dy < H and 0 <= c + dx < W:
                assert torch.equal(out[:, r + dy, c + dx], x[:, r, c])
    # zero fill: exactly H·W − (H−|dy|)(W−|dx|) pixels per plane are zero
    n_zero = H * W - (H - abs(dy)) * (W - abs(dx))
    assert int((out[0] == 0).sum()) == n_zero
    # shifting back recovers the interior that never left the frame
    back = shift_image(out, -dy, -dx)
    rows = slice(max(0, -dy), H - max(0, dy))
    cols = slice(max(0, -dx), W - max(0, dx))
    assert torch.equal(back[..., rows, cols], x[..., rows, cols])


def test_shift_image_out_of_frame_is_all_zero():
    x = _rand(5, 5, seed=24)
    assert bool((shift_image(x, 5, 0) == 0).all())
    assert bool((shift_image(x, 0, -7) == 0).all())


@pytest.mark.parametrize("shape", [(9, 10), (3, 9, 10), (2, 3, 9, 10)])
def test_pooling_any_leading_axes(shape):
    # pages pool a single 2-D feature map as well as (N, C, H, W) batches
    x = _rand(*shape, seed=25)
    x4 = x.reshape(-1, 1, 9, 10)
    for k, s in ((2, None), (3, 2)):
        ref = F.max_pool2d(x4, k, s).reshape(*shape[:-2], *F.max_pool2d(x4, k, s).shape[-2:])
        assert _max_delta(max_pool2d(x, k, s), ref) < TOL
        ref_avg = F.avg_pool2d(x4, k, s).reshape(ref.shape)
        assert _max_delta(avg_pool2d(x, k, s), ref_avg) < TOL
        assert _max_delta(max_pool2d_trace(x, k, s).output, ref) < TOL
