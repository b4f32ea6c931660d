"""engine.ops.pooling against torch (float64): the ops (max, avg, the argmax trace, shift_image),
one pooled cell, the feature map, the translation demo's maps and its change statistics, and the
page's checks."""

from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.ops.conv import output_size
from engine.ops.pooling import (
    EDGE_KERNELS,
    STAGES,
    avg_pool2d,
    feature_map,
    map_change,
    max_pool2d,
    max_pool2d_trace,
    pool,
    pool_cell,
    pool_input,
    pooled_map,
    pooled_sizes,
    shift_image,
    telling_cell,
    torch_checks,
    translation_demo,
    verdict,
)

TOL = 1e-6


def _digit_like(seed: int = 0, side: int = 28) -> torch.Tensor:
    """A non-negative image with a zero border of 4 pixels (like an MNIST digit)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.zeros(side, side, dtype=torch.float64)
    x[4:-4, 4:-4] = torch.rand(side - 8, side - 8, generator=g, dtype=torch.float64)
    # sparse ink: most of it zero, as in a digit
    return torch.where(x > 0.6, x, torch.zeros_like(x))


@pytest.mark.parametrize("mode", ["max", "avg"])
@pytest.mark.parametrize("k,s", [(1, 1), (2, 2), (3, 1), (3, 2), (4, 3), (2, 4)])
def test_pool_matches_torch(mode, k, s):
    x = _digit_like(1)
    ref = (F.max_pool2d if mode == "max" else F.avg_pool2d)(x[None, None], k, s)[0, 0]
    ours = pool(x, mode, k, s)
    assert ours.shape == ref.shape == (output_size(28, k, s),) * 2
    assert float((ours - ref).abs().max()) <= TOL


@pytest.mark.parametrize("name", sorted(EDGE_KERNELS))
def test_feature_map_is_relu_of_conv(name):
    x = _digit_like(2)
    w = EDGE_KERNELS[name].to(torch.float64)
    ref = F.relu(F.conv2d(x[None, None], w[None, None], torch.tensor([0.25], dtype=torch.float64)))[0, 0]
    ours = feature_map(x, w, 0.25)
    assert ours.shape == (26, 26)
    assert float((ours - ref).abs().max()) <= TOL
    assert float(ours.min()) >= 0.0


@pytest.mark.parametrize("k,s", [(2, 2), (3, 1), (3, 2), (4, 4), (1, 1)])
def test_pool_cell_equals_torch_at_every_position(k, s):
    x = _digit_like(3)
    ref_max, ref_idx = F.max_pool2d(x[None, None], k, s, return_indices=True)
    ref_avg = F.avg_pool2d(x[None, None], k, s)[0, 0]
    n_out = output_size(28, k, s)
    for i, j in itertools.product(range(n_out), repeat=2):
        cell = pool_cell(x, "max", k, s, i, j)
        assert (cell.row, cell.col) == (i * s, j * s)
        assert cell.window.shape == (k, k)
        assert abs(cell.value - float(ref_max[0, 0, i, j])) <= TOL
        # torch's flat index row·W + col of the same (first) maximum
        assert (cell.row + cell.arg_row) * 28 + (cell.col + cell.arg_col) == int(ref_idx[0, 0, i, j])
        avg = pool_cell(x, "avg", k, s, i, j)
        assert avg.arg_row is None and avg.arg_col is None
        assert abs(avg.value - float(ref_avg[i, j])) <= TOL


def test_telling_cell_prefers_a_varied_window():
    x = torch.zeros(8, 8, dtype=torch.float64)
    x[5, 6] = 1.0
    assert telling_cell(x, 2, 2) == (2, 3)
    assert telling_cell(x, 1, 1) == (5, 6)  # k = 1: the largest value
    i, j = telling_cell(_digit_like(4), 3, 2)
    assert 0 <= i < output_size(28, 3, 2) and 0 <= j < output_size(28, 3, 2)


def test_map_change_counts():
    a = torch.tensor([[0.0, 1.0], [2.0, 0.0]], dtype=torch.float64)
    b = torch.tensor([[0.0, 1.0], [0.0, 3.0]], dtype=torch.float64)
    change = map_change(a, b)
    assert change.shape == (2, 2)
    assert change.active == 3 and change.changed == 2
    assert change.changed_fraction == pytest.approx(2 / 3)
    assert change.mean_abs_delta == pytest.approx((2 + 3) / 4)
    # ‖Δ‖ / ‖A‖ = √(4 + 9) / √(1 + 4)
    assert change.relative_change == pytest.approx((13 ** 0.5) / (5 ** 0.5))
    same = map_change(a, a.clone())
    assert same.changed == 0 and same.mean_abs_delta == 0 and same.relative_change == 0


def test_translation_demo_without_shift_changes_nothing():
    demo = translation_demo(_digit_like(5), EDGE_KERNELS["sobel_x"], 0.0, 0, 0)
    for name in STAGES:
        assert demo.change[name].changed == 0
        assert torch.equal(demo.original[name], demo.shifted[name])
    assert demo.moved_delta is None


@pytest.mark.parametrize("k,s", [(2, 2), (3, 2), (2, 1), (4, 4)])
@pytest.mark.parametrize("dy,dx", [(0, 1), (1, -1), (-2, 2)])
def test_translation_demo_matches_torch(k, s, dy, dx):
    x = _digit_like(6)
    w = EDGE_KERNELS["sobel_y"].to(torch.float64)
    demo = translation_demo(x, w, 0.1, dy, dx, k, s)
    b = torch.tensor([0.1], dtype=torch.float64)
    for image, maps in ((x, demo.original), (shift_image(x, dy, dx), demo.shifted)):
        a = F.relu(F.conv2d(image[None, None], w[None, None], b))
        p1 = F.max_pool2d(a, k, s)
        p2 = F.max_pool2d(p1, k, s)
        for name, ref in zip(STAGES, (a, p1, p2)):
            assert float((maps[name] - ref[0, 0]).abs().max()) <= TOL
    sizes = pooled_sizes(26, k, s)
    assert [demo.change[name].shape[0] for name in STAGES] == sizes
    for name in STAGES:
        ref = map_change(demo.original[name], demo.shifted[name])
        assert demo.change[name] == ref


@pytest.mark.parametrize("s", [1, 2])
def test_shift_by_a_multiple_of_the_stride_only_moves_the_pooled_map(s):
    # the digit keeps a zero border, so nothing falls off the frame
    demo = translation_demo(_digit_like(7), EDGE_KERNELS["sobel_x"], 0.0, 0, 2, s, s)
    assert demo.moved_delta == 0.0
    assert demo.change["pool1"].changed > 0  # compared cell by cell it still changes


def test_moved_delta_only_for_multiples_of_the_stride():
    demo = translation_demo(_digit_like(8), EDGE_KERNELS["sobel_x"], 0.0, 1, 0, 2, 2)
    assert demo.moved_delta is None


def test_pooled_sizes_follow_the_formula():
    assert pooled_sizes(26, 2, 2) == [26, 13, 6]
    assert pooled_sizes(28, 3, 1) == [28, 26, 24]
    assert pooled_sizes(11, 2, 2, times=1) == [11, 5]


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _rand(*shape, seed=0) -> torch.Tensor:
    return torch.randn(*shape, generator=_gen(seed), dtype=torch.float64)


def _max_delta(a: torch.Tensor, b: torch.Tensor) -> float:
    assert a.shape == b.shape, (a.shape, b.shape)
    return float((a - b).abs().max()) if a.numel() else 0.0


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


@pytest.mark.parametrize("mode", ["max", "avg"])
def test_pooled_map_is_the_pooled_output_with_the_max_trace(mode):
    x = _rand(11, 9, seed=12)
    pm = pooled_map(x, mode, 3, 2)
    ref = (F.max_pool2d if mode == "max" else F.avg_pool2d)(x[None, None], 3, 2)[0, 0]
    assert _max_delta(pm.output, ref) < TOL
    assert torch.equal(x[pm.rows, pm.cols], F.max_pool2d(x[None, None], 3, 2)[0, 0])


def test_torch_checks_are_all_tiny():
    checks = torch_checks(_rand(13, 13, seed=13).float(), 3, 2)
    assert max(checks.max, checks.avg, checks.indices) < TOL


def test_pool_input_is_the_digit_or_its_relu_feature_map():
    digit = _digit_like(4).numpy()
    assert torch.equal(pool_input(digit), torch.as_tensor(digit, dtype=torch.float32))
    fm = pool_input(digit, EDGE_KERNELS["sobel_x"], 0.5)
    assert fm.shape == (26, 26) and torch.allclose(fm, feature_map(torch.as_tensor(digit, dtype=torch.float32), EDGE_KERNELS["sobel_x"], 0.5))


def test_verdict_reads_the_relative_changes():
    demo = translation_demo(_digit_like(5), EDGE_KERNELS["sobel_x"], 0.0, 0, 1)
    v = verdict(demo)
    conv, p1, p2 = (100 * demo.change[name].relative_change for name in STAGES)
    assert (v.conv, v.pool1, v.pool2) == (conv, p1, p2)
    assert v.once == ("less" if p1 < 0.9 * conv else "more" if p1 > 1.1 * conv else "same")
    assert v.twice == ("less" if p2 < 0.9 * p1 else "not")
