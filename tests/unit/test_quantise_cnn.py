"""engine.models.cnn_quant: the fake-quantised SeedCNN equals the same CNN quantised with
torch.fake_quantize_*; activation ranges come from seeded TRAINING digits; the table is reproducible,
its sizes add up, and the accuracy behaves as quantisation predicts (8 bits ≈ float, 2 bits per tensor worse)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.data.digits import embedded_mnist
from engine.models.cnn import load_network, trace
from engine.models.cnn_quant import (
    ACTIVATIONS,
    WEIGHTED,
    calibrate,
    calibration_digits,
    cpu_float,
    float_bytes,
    layer_quant,
    model_size,
    quant_table,
    quantise_weights,
    torch_logit_gap,
    weight,
)
from engine.ops.quantise import torch_fake_quantise


@pytest.fixture(scope="module")
def model():
    return cpu_float(load_network().model64)


@pytest.fixture(scope="module")
def split():
    return embedded_mnist()


def test_quantised_weights_equal_torchs(model):
    for bits in range(2, 9):
        for channelwise in (False, True):
            ours = quantise_weights(model, bits, channelwise)
            ref = quantise_weights(model, bits, channelwise, torch_fake_quantise)
            for name in WEIGHTED:
                assert torch.equal(weight(ours, name), weight(ref, name))
                # at most 2^b distinct values per tensor (per tensor) or per row (per channel)
                w = weight(ours, name).reshape(weight(ours, name).shape[0], -1)
                assert len(torch.unique(w if not channelwise else w[0])) <= 2**bits
                # biases are kept in float32, untouched
                assert torch.equal(getattr(ours, name).bias, getattr(model, name).bias)


def test_the_whole_quantised_cnn_equals_torchs(model, split):
    x = torch.from_numpy(split.x_test[:64])[:, None]
    ranges = calibrate(model, calibration_digits(split.x_train, 64, 0))
    for bits, channelwise in ((8, False), (3, True), (2, False)):
        assert torch_logit_gap(model, x, bits, channelwise, ranges) == 0.0


def test_calibration_reads_seeded_training_digits(model, split):
    a, b = calibration_digits(split.x_train, 100, 0), calibration_digits(split.x_train, 100, 0)
    assert torch.equal(a, b) and not torch.equal(a, calibration_digits(split.x_train, 100, 1))
    # every calibration digit is a training digit
    train = {row.tobytes() for row in split.x_train}
    assert all(d[0].numpy().tobytes() in train for d in a)
    ranges = calibrate(model, a)
    tr = trace(model, a)
    ins = (tr.x, tr.p1, tr.p2, tr.flat, tr.a4)
    assert len(ranges.lo) == len(ACTIVATIONS) == 5 and ranges.n == 100
    for lo, hi, v in zip(ranges.lo, ranges.hi, ins):
        assert lo == pytest.approx(float(v.min()), abs=1e-6) and hi == pytest.approx(float(v.max()), rel=1e-5)
        assert lo >= 0.0  # the image and ReLU outputs: the affine range starts at 0, so z = 0


def test_sizes_add_up(model):
    n_w, n_b = 93_322 - 234, 234
    assert float_bytes(model) == 4 * 93_322
    s = model_size(model, 8, False, False)
    assert s.bytes == (8 * n_w + 32 * n_b + (32 + 8) * 5) / 8
    s = model_size(model, 4, True, True)
    assert s.n_qparams == 32 + 64 + 64 + 64 + 10 + 5
    assert s.bytes == (4 * n_w + 32 * n_b + (32 + 4) * s.n_qparams) / 8
    # fewer bits, a smaller model; per channel costs a few bytes more than per tensor
    sizes = [model_size(model, b, False, False).bytes for b in (8, 6, 4, 3, 2)]
    assert sizes == sorted(sizes, reverse=True)
    assert model_size(model, 4, True, False).bytes > model_size(model, 4, False, False).bytes


def test_table_is_reproducible_and_behaves(model, split):
    args = (model, split.x_train, split.x_test[:200], split.y_test[:200])
    t1 = quant_table(*args, bits=(8, 2), calib_size=64, seed=0)
    t2 = quant_table(*args, bits=(8, 2), calib_size=64, seed=0)
    assert t1 == t2
    assert len(t1.rows) == 2 * 2 * 2 and t1.test_size == 200
    assert t1.float_accuracy > 0.95
    for channelwise in (False, True):
        for activations in (False, True):
            assert abs(t1.row(8, channelwise, activations).accuracy - t1.float_accuracy) <= 0.01
    # two bits (four levels) for a whole tensor loses much more than per channel
    assert t1.row(2, False, False).accuracy < t1.row(8, False, False).accuracy - 0.1
    assert t1.row(2, True, False).accuracy > t1.row(2, False, False).accuracy
    with pytest.raises(KeyError):
        t1.row(5, False, False)


def test_layer_quant_per_channel_fits_each_channel(model):
    for name in ("conv1", "fc2"):
        L = layer_quant(model, name, 3)
        w = weight(model, name).reshape(weight(model, name).shape[0], -1).double()
        assert torch.equal(L.ch_min, w.min(1).values) and torch.equal(L.ch_max, w.max(1).values)
        assert L.torch_gap == 0.0
        assert L.channel.rms < L.tensor.rms
        assert np.isclose(float(L.rms_tensor.pow(2).mean()), L.tensor.rms**2)
        # per channel: each channel's scale spans its own range; per tensor: the layer's
        assert L.channel.p.s.shape == (w.shape[0],) and L.tensor.p.s.dim() == 0
        assert bool((L.channel.p.s <= L.tensor.p.s * (1 + 1e-6)).all())
