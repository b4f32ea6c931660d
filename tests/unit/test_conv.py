"""engine.ops.conv: the ops against torch (float64, fixed seeds, many shapes), the preset kernels do
what their comments say, grid and bias validation, and the lesson helpers."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.limits import MAX_KERNEL_ABS, LimitError
from engine.ops.conv import (
    KERNEL_PRESETS,
    KernelError,
    centred_impulse,
    check_bias,
    conv2d,
    conv2d_loops,
    conv_cell,
    conv_map,
    convolve2d,
    flip_demo,
    glorot_filters,
    kernel_from_grid,
    many_maps,
    output_size,
    preset,
    relu,
    relu_map,
    strongest_cell,
    torch_delta,
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


# ----- relu ------------------------------------------------------------------------


def test_relu_matches_torch():
    x = _rand(3, 4, 5, seed=22)
    assert torch.equal(relu(x), F.relu(x))
    assert bool((relu(x) >= 0).all())


# ----- kernel presets, grids, Glorot filters --------------------------------------------------


def test_presets_are_the_documented_names_and_3x3():
    assert list(KERNEL_PRESETS) == ["identity", "edges", "sobel_x", "sobel_y", "blur", "sharpen"]
    assert all(w.shape == (3, 3) and w.dtype == torch.float32 for w in KERNEL_PRESETS.values())


def test_preset_formulas_in_comments():
    I = preset("identity")
    # identity: out = x
    x = torch.rand(1, 1, 8, 8)
    torch.testing.assert_close(conv2d(x, I[None, None], padding=1), x)
    # edges: 8·centre − Σ 8 neighbours, zero on flat regions
    assert preset("edges").sum() == 0 and preset("edges")[1, 1] == 8
    # sobel_y is sobel_x transposed; sobel_x = [1 2 1]ᵀ ⊗ [−1 0 1]
    torch.testing.assert_close(preset("sobel_y"), preset("sobel_x").T)
    torch.testing.assert_close(preset("sobel_x"), torch.outer(torch.tensor([1.0, 2, 1]), torch.tensor([-1.0, 0, 1])))
    # blur: [1 2 1]ᵀ[1 2 1]/16, weights sum to 1
    torch.testing.assert_close(preset("blur"), torch.outer(torch.tensor([1.0, 2, 1]), torch.tensor([1.0, 2, 1])) / 16)
    assert float(preset("blur").sum()) == pytest.approx(1.0)
    # sharpen = identity + (4·centre − Σ 4 neighbours)
    cross = torch.tensor([[0.0, -1, 0], [-1, 4, -1], [0, -1, 0]])
    torch.testing.assert_close(preset("sharpen"), I + cross)


def test_sobel_x_responds_to_brightening_to_the_right():
    ramp = torch.arange(6.0).repeat(6, 1)  # brighter to the right
    out = F.conv2d(ramp[None, None], preset("sobel_x")[None, None])
    assert (out > 0).all()


def test_preset_returns_a_copy():
    w = preset("identity")
    w[1, 1] = 5.0
    assert KERNEL_PRESETS["identity"][1, 1] == 1.0


@pytest.mark.parametrize("k", range(1, 8))
def test_centred_impulse(k):
    w = centred_impulse(k)
    assert w.shape == (k, k) and w.sum() == 1 and w[k // 2, k // 2] == 1


def test_centred_impulse_is_bounded():
    with pytest.raises(LimitError):
        centred_impulse(8)


def test_kernel_from_grid_accepts_numbers_and_strings_of_numbers():
    w = kernel_from_grid([[1, "2.5", -3], [0, 0, 0], [np.float64(0.5), 1e-3, MAX_KERNEL_ABS]])
    assert w.shape == (3, 3)
    assert w[0, 1] == 2.5 and w[2, 2] == MAX_KERNEL_ABS


@pytest.mark.parametrize("bad,code,where", [
    (None, "kernel_empty", (1, 2)),
    (float("nan"), "kernel_empty", (1, 2)),
    ("abc", "kernel_empty", (1, 2)),
    ("", "kernel_empty", (1, 2)),
    (True, "kernel_empty", (1, 2)),
    (1e9, "kernel_too_big", (1, 2)),
    (-MAX_KERNEL_ABS - 0.1, "kernel_too_big", (1, 2)),
    (float("inf"), "kernel_too_big", (1, 2)),
])
def test_kernel_from_grid_names_the_bad_cell(bad, code, where):
    rows = [[0.0] * 3 for _ in range(3)]
    rows[where[0]][where[1]] = bad
    with pytest.raises(KernelError) as e:
        kernel_from_grid(rows)
    assert e.value.code == code
    assert (e.value.params["m"], e.value.params["n"]) == where


def test_kernel_from_grid_works_on_dataframe_values():
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame([[1.0, None], [0.0, 2.0]])
    with pytest.raises(KernelError) as e:
        kernel_from_grid(frame.to_numpy(dtype=object))
    assert e.value.code == "kernel_empty" and e.value.params == {"m": 0, "n": 1}


@pytest.mark.parametrize("rows", [[], [[1, 2], [3]], [[1, 2, 3], [4, 5, 6]], [[0.0] * 8 for _ in range(8)]])
def test_kernel_from_grid_rejects_non_square_or_oversized(rows):
    with pytest.raises(KernelError) as e:
        kernel_from_grid(rows)
    assert e.value.code == "kernel_shape"


def test_check_bias():
    assert check_bias(0.5) == 0.5
    assert check_bias(-MAX_KERNEL_ABS) == -MAX_KERNEL_ABS
    for bad in (MAX_KERNEL_ABS + 1, float("nan"), float("inf"), "x", None):
        with pytest.raises(KernelError) as e:
            check_bias(bad)
        assert e.value.code == "bias_too_big"


def test_glorot_filters_bound_and_seed():
    w = glorot_filters(32, 1, 3, seed=0)
    assert w.shape == (32, 1, 3, 3)
    # a = √(6 / (fan_in + fan_out)), fan_in = 1·3·3, fan_out = 32·3·3
    a = math.sqrt(6 / (9 + 288))
    assert float(w.abs().max()) <= a
    assert float(w.abs().max()) > 0.9 * a  # 288 draws come close to the bound
    torch.testing.assert_close(w, glorot_filters(32, 1, 3, seed=0))
    assert not torch.equal(w, glorot_filters(32, 1, 3, seed=1))


# ----- the lesson on one 2-D image ----------------------------------------------------------------


def test_conv_map_equals_torch_and_strongest_cell_is_the_largest_magnitude():
    x, w = _rand(12, 10, seed=3), _rand(3, 3, seed=4)
    z = conv_map(x, w, 0.5, stride=2, padding=1)
    ref = F.conv2d(x[None, None], w[None, None], torch.tensor([0.5], dtype=torch.float64), stride=2, padding=1)
    assert _max_delta(z, ref[0, 0]) < TOL
    i, j = strongest_cell(z)
    assert abs(float(z[i, j])) == float(z.abs().max())


@pytest.mark.parametrize("loops", [False, True])
def test_torch_delta_is_tiny_for_both_implementations(loops):
    x = _rand(9, 9, seed=5).numpy()  # a numpy digit, as the pages hold it
    assert torch_delta(x, _rand(3, 3, seed=6), 0.25, stride=2, padding=1, loops=loops) < TOL


def test_many_maps_are_one_map_per_kernel_and_their_sum():
    x, weight, bias = _rand(10, 10, seed=7).float(), glorot_filters(5, 1, 3, seed=1), torch.arange(5.0)
    mm = many_maps(x, weight, bias)
    ref = F.conv2d(x[None, None], weight, bias)[0]
    assert mm.maps.shape == (5, 8, 8) and _max_delta(mm.maps.double(), ref.double()) < 1e-4
    assert _max_delta(mm.summed.double(), ref.sum(0).double()) < 1e-4


def test_flip_demo_swaps_a_symmetric_kernel_for_sobel_x_and_convolves_with_the_rotated_kernel():
    x = _rand(8, 8, seed=8)
    sym = flip_demo(x, preset("blur"), 0.0)
    assert sym.substituted and torch.equal(sym.kernel, preset("sobel_x").double())
    w = _rand(3, 3, seed=9)
    tr = flip_demo(x, w, 0.1, stride=1, padding=1)
    assert not tr.substituted and torch.equal(tr.flipped, torch.flip(w, dims=(0, 1)))
    assert _max_delta(tr.conv, convolve2d(x[None, None], w[None, None], torch.tensor([0.1], dtype=torch.float64),
                                          1, 1)[0, 0]) < TOL
    assert tr.delta == pytest.approx(float((tr.xcorr - tr.conv).abs().max()))


def test_relu_map_counts_the_zeros():
    z = torch.tensor([[-1.0, 0.0], [2.0, -3.0]], dtype=torch.float64)
    tr = relu_map(z)
    assert torch.equal(tr.a, torch.tensor([[0.0, 0.0], [2.0, 0.0]], dtype=torch.float64))
    assert tr.zero_fraction == 0.75
