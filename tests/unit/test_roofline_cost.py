"""engine/ops/cost.py: SeedCNN's per-layer counts against an independent count (torch's
FlopCounterMode, which counts FLOPs = 2·MACs for convolutions and matrix multiplies) and against
the model's own parameters; the bytes model and the roofline's formulas."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from engine.limits import LimitError
from engine.models.cnn import SeedCNN, count_parameters
from engine.ops.cost import LAYER_NAMES, attainable, ridge, seed_cnn_costs, torch_flops, torch_gap


@pytest.fixture(scope="module")
def model():
    return SeedCNN()


def _counts_by_layer(counter: FlopCounterMode) -> dict[str, int]:
    counts = counter.get_flop_counts()
    return {name: sum(counts.get(f"SeedCNN.{name}", {}).values()) for name in LAYER_NAMES}


def _torch_counts(model: SeedCNN, N: int) -> tuple[dict, dict]:
    """FLOPs per layer of one forward and one backward (mean cross-entropy) on N images."""
    x = torch.rand(N, 1, 28, 28)
    y = torch.randint(0, 10, (N,))
    with FlopCounterMode(display=False) as fwd:
        F.cross_entropy(model(x), y)
    # the counter files backward work under a module only when it saw that module's forward too
    with FlopCounterMode(display=False) as both:
        F.cross_entropy(model(x), y).backward()
    forward, total = _counts_by_layer(fwd), _counts_by_layer(both)
    return forward, {name: total[name] - forward[name] for name in LAYER_NAMES}


@pytest.mark.parametrize("N", [1, 3, 16])
def test_macs_equal_torch_flop_counter_forward_and_backward(model, N):
    forward, backward = _torch_counts(model, N)
    table = seed_cnn_costs(model, N)
    assert [r.name for r in table.layers] == list(LAYER_NAMES)
    for row in table.layers:
        assert 2 * row.forward.macs == forward[row.name], row.name
        assert 2 * row.backward.macs == backward[row.name], row.name
    assert 2 * table.forward.macs == sum(forward.values()) > 0


@pytest.mark.parametrize("N", [1, 16, 1024])
def test_the_pages_check_on_meta_tensors_agrees(model, N):
    counted = torch_flops(model, N)
    table = seed_cnn_costs(model, N)
    assert torch_gap(table, counted) == 0
    assert counted.forward["conv2"] == 2 * table.layer("conv2").forward.macs > 0
    assert counted.backward["pool1"] == 0 and counted.backward["conv1"] == counted.forward["conv1"]
    assert next(model.parameters()).device.type == "cpu"  # the model itself is left where it was


def test_backward_is_twice_forward_except_the_first_layer(model):
    table = seed_cnn_costs(model, 4)
    conv1 = table.layer("conv1")
    assert conv1.backward.macs == conv1.forward.macs  # the images need no gradient
    for name in ("conv2", "conv3", "fc1", "fc2"):
        row = table.layer(name)
        assert row.backward.macs == 2 * row.forward.macs
    for name in ("pool1", "pool2"):
        assert table.layer(name).forward.macs == table.layer(name).backward.macs == 0
        # 3 comparisons per output of a 2×2 window
        C, H, W = table.layer(name).y_shape
        assert table.layer(name).forward.flops == 3 * 4 * C * H * W


def test_parameters_equal_the_model(model):
    table = seed_cnn_costs(model, 1)
    assert table.params == count_parameters(model) == 93_322
    for name in ("conv1", "conv2", "conv3", "fc1", "fc2"):
        module = getattr(model, name)
        assert table.layer(name).params == sum(p.numel() for p in module.parameters())


def test_shapes_follow_the_model(model):
    table = seed_cnn_costs(model, 1)
    x = torch.zeros(1, 1, 28, 28)
    with torch.no_grad():
        a1 = F.relu(model.conv1(x))
        p1 = F.max_pool2d(a1, 2)
    assert table.layer("conv1").y_shape == tuple(a1.shape[1:])
    assert table.layer("pool1").y_shape == tuple(p1.shape[1:])
    assert table.layer("conv3").y_shape == (64, 3, 3)
    assert table.layer("fc1").x_shape == (576,)


def test_bytes_follow_the_stated_model(model):
    N = 8
    row = seed_cnn_costs(model, N).layer("fc1")
    # forward: read x (N·576) and θ (576·64 + 64), write y (N·64), 4 bytes each
    assert row.forward.bytes == 4 * (N * 576 + 576 * 64 + 64 + N * 64)
    # backward: read ∂y, y (ReLU mask), x, θ; write ∂θ and ∂x
    assert row.backward.bytes == 4 * (2 * N * 64 + N * 576 + 2 * (576 * 64 + 64) + N * 576)
    conv1 = seed_cnn_costs(model, N).layer("conv1")
    # no ∂x and no read of θ for the first layer
    assert conv1.backward.bytes == 4 * (2 * N * 32 * 26 * 26 + N * 784 + 320)


def test_intensity_of_a_dense_layer_grows_with_the_batch(model):
    I = [seed_cnn_costs(model, N).layer("fc1").forward.intensity for N in (1, 8, 64, 1024)]
    assert all(a < b for a, b in zip(I, I[1:]))
    # N = 1: each weight is read once for one multiply-add, about ½ FLOP per byte
    assert I[0] == pytest.approx(2 * 576 * 64 / (4 * (576 + 576 * 64 + 64 + 64)))
    # a convolution reuses each weight at every position: far more intense, even at N = 1
    assert seed_cnn_costs(model, 1).layer("conv2").forward.intensity > 10 * I[0]
    # pooling stays under one operation per byte whatever N is
    assert seed_cnn_costs(model, 1024).layer("pool1").forward.intensity < 1


def test_totals_are_sums(model):
    table = seed_cnn_costs(model, 2)
    assert table.forward.flops == sum(r.forward.flops for r in table.layers)
    assert table.backward.bytes == sum(r.backward.bytes for r in table.layers)
    # the article's CNN: 2,794,240 multiply-adds for one image
    assert seed_cnn_costs(model, 1).forward.macs == 2_794_240


def test_roofline_formulas():
    assert ridge(100e9, 10e9) == 10.0
    assert attainable(1.0, 100e9, 10e9) == 10e9  # memory-bound: β·I
    assert attainable(50.0, 100e9, 10e9) == 100e9  # compute-bound: π
    assert math.isclose(attainable(ridge(100e9, 10e9), 100e9, 10e9), 100e9)


@pytest.mark.parametrize("N", [0, -1, 1025, 2.5, True])
def test_batch_outside_its_range_is_refused(model, N):
    with pytest.raises(LimitError) as e:
        seed_cnn_costs(model, N)
    assert e.value.code == "limit" and e.value.params["name"] == "roof_batch"
