"""engine.ops.pooling against torch (float64): one pooled cell, the feature map, the
translation demo's maps and its change statistics."""

from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as F

from engine.ops.conv import output_size, shift_image
from engine.ops.pooling import (
    EDGE_KERNELS,
    STAGES,
    feature_map,
    map_change,
    pool,
    pool_cell,
    pooled_sizes,
    telling_cell,
    translation_demo,
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
