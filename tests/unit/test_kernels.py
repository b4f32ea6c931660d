"""engine/ops/kernels.py: the preset kernels do what their comments say; grid and bias validation."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from engine.limits import MAX_KERNEL_ABS, LimitError
from engine.ops.conv import conv2d
from engine.ops.kernels import (
    KERNEL_PRESETS,
    KernelError,
    centred_impulse,
    check_bias,
    glorot_filters,
    kernel_from_grid,
    preset,
)


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
