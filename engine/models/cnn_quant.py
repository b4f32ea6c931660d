"""The shipped SeedCNN fake-quantised to b bits: weights only, then weights and activations.

Post-training quantisation, no retraining:

- weights only: every weight tensor (conv1 … fc2) is replaced by x̂ = s·(q − z), its b-bit affine
  quantisation, with one (s, z) per tensor or one per output channel; biases stay float32 (234 of the
  93,322 parameters);
- weights and activations: in addition, the input of every weighted layer (the image x, p₁, p₂, the
  flattened a₃ and a₄) is fake-quantised to b bits per tensor, with a range [min, max] calibrated on a
  seeded subset of the TRAINING digits (never the held-out ones), on the float model.

The model size counts b bits a weight, 32 bits a bias, and a float32 scale plus a b-bit zero point for
every (s, z) the model stores. Everything runs in float32 on the CPU, so the figures are reproducible.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from engine.models.cnn import SeedCNN, keras_flatten
from engine.ops.quantise import (
    QParams,
    TensorQuant,
    channel_rms,
    fake_quantise,
    per_channel,
    per_tensor,
    qparams,
    tensor_quant,
    torch_fake_quantise,
    torch_gap,
)

WEIGHTED = ("conv1", "conv2", "conv3", "fc1", "fc2")  # the layers with weights, in order
ACTIVATIONS = ("x", "p1", "p2", "a3", "a4")  # the input of each weighted layer, in the same order
BITS = (8, 6, 4, 3, 2)  # the bit widths of the table
FLOAT_BITS = 32
FakeQuant = Callable[[torch.Tensor, QParams], torch.Tensor]


def cpu_float(model: SeedCNN) -> SeedCNN:
    """A float32 CPU copy in eval mode (the original is left alone)."""
    return copy.deepcopy(model).float().cpu().eval()


def weight(model: SeedCNN, name: str) -> torch.Tensor:
    """The weight tensor of layer `name`, detached: (C_out, C_in, 3, 3) or (out, in)."""
    if name not in WEIGHTED:
        raise KeyError(f"no weighted layer {name!r}; they are {', '.join(WEIGHTED)}")
    return getattr(model, name).weight.detach()


def quantise_weights(model: SeedCNN, bits: int, channelwise: bool, fq: FakeQuant = fake_quantise) -> SeedCNN:
    """A copy whose weights are x̂ = s·(q − z) at b bits (per tensor or per output channel)."""
    out = cpu_float(model)
    with torch.no_grad():
        for name in WEIGHTED:
            w = getattr(out, name).weight
            p = (per_channel if channelwise else per_tensor)(w, bits)
            w.copy_(fq(w, p))
    return out


@dataclass(frozen=True)
class ActRanges:
    """[min, max] of each weighted layer's input over the calibration digits (ACTIVATIONS order)."""

    lo: tuple[float, ...]
    hi: tuple[float, ...]
    n: int  # calibration digits


def _layer_inputs(model: SeedCNN, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """x, p₁, p₂, flat(a₃), a₄: what each weighted layer reads, in the float model."""
    p1 = F.max_pool2d(F.relu(model.conv1(x)), 2)
    p2 = F.max_pool2d(F.relu(model.conv2(p1)), 2)
    flat = keras_flatten(F.relu(model.conv3(p2)))
    a4 = F.relu(model.fc1(flat))
    return x, p1, p2, flat, a4


@torch.no_grad()
def calibrate(model: SeedCNN, x_cal: torch.Tensor) -> ActRanges:
    """Observe min and max of every weighted layer's input on the calibration batch (N, 1, 28, 28)."""
    inputs = _layer_inputs(cpu_float(model), x_cal.float())
    return ActRanges(tuple(float(a.min()) for a in inputs), tuple(float(a.max()) for a in inputs), len(x_cal))


def act_qparams(ranges: ActRanges, bits: int) -> tuple[QParams, ...]:
    """One (s, z) per activation tensor, from its calibrated range."""
    return tuple(qparams(torch.tensor(lo), torch.tensor(hi), bits) for lo, hi in zip(ranges.lo, ranges.hi))


@torch.no_grad()
def forward_quant(model: SeedCNN, x: torch.Tensor, acts: tuple[QParams, ...] | None = None,
                  fq: FakeQuant = fake_quantise) -> torch.Tensor:
    """SeedCNN's forward pass, fake-quantising each weighted layer's input when `acts` is given → logits."""
    def a(k: int, v: torch.Tensor) -> torch.Tensor:
        return v if acts is None else fq(v, acts[k])

    h = F.max_pool2d(F.relu(model.conv1(a(0, x))), 2)  # (N, 32, 13, 13)
    h = F.max_pool2d(F.relu(model.conv2(a(1, h))), 2)  # (N, 64, 5, 5)
    h = keras_flatten(F.relu(model.conv3(a(2, h))))  # (N, 576)
    h = F.relu(model.fc1(a(3, h)))  # (N, 64)
    return model.fc2(a(4, h))  # (N, 10)


def accuracy(model: SeedCNN, x: torch.Tensor, y: torch.Tensor, acts: tuple[QParams, ...] | None = None,
             batch: int = 100) -> float:
    """The share of digits whose argmax logit is the label (run channels-last: ~3× faster here on the CPU)."""
    model = copy.deepcopy(model).to(memory_format=torch.channels_last)
    x = x.contiguous(memory_format=torch.channels_last)
    right = 0
    for i in range(0, len(x), batch):
        right += int((forward_quant(model, x[i : i + batch], acts).argmax(-1) == y[i : i + batch]).sum())
    return right / len(x)


@dataclass(frozen=True)
class ModelSize:
    """What a b-bit model stores, in bits, and the total in bytes."""

    weight_bits: int  # b per weight
    bias_bits: int  # 32 per bias (kept in float32)
    qparam_bits: int  # 32 (s) + b (z) per stored (s, z), weights' and activations'
    n_qparams: int

    @property
    def bytes(self) -> float:
        return (self.weight_bits + self.bias_bits + self.qparam_bits) / 8


def model_size(model: SeedCNN, bits: int, channelwise: bool, activations: bool) -> ModelSize:
    """The stored size of SeedCNN at b bits: weights, float32 biases, and every scale and zero point."""
    weights = [weight(model, n) for n in WEIGHTED]
    n_w = sum(w.numel() for w in weights)
    n_b = sum(getattr(model, n).bias.numel() for n in WEIGHTED)
    n_qp = sum(w.shape[0] for w in weights) if channelwise else len(weights)
    n_qp += len(ACTIVATIONS) if activations else 0
    # size = b·(weights) + 32·(biases) + (32 + b)·(scales and zero points)
    return ModelSize(bits * n_w, FLOAT_BITS * n_b, (FLOAT_BITS + bits) * n_qp, n_qp)


def float_bytes(model: SeedCNN) -> int:
    """float32: 4 bytes a parameter."""
    return 4 * sum(p.numel() for p in model.parameters())


@dataclass(frozen=True)
class QuantRow:
    bits: int
    channelwise: bool  # one (s, z) per output channel (else per tensor)
    activations: bool  # activations quantised too (else weights only)
    accuracy: float  # on the held-out digits
    size: ModelSize


@dataclass(frozen=True)
class QuantTable:
    """Held-out accuracy and size for every bit width, both granularities and both modes."""

    float_accuracy: float
    float_bytes: int
    rows: tuple[QuantRow, ...]
    ranges: ActRanges  # the calibrated activation ranges
    calib_seed: int
    test_size: int

    def row(self, bits: int, channelwise: bool, activations: bool) -> QuantRow:
        for r in self.rows:
            if (r.bits, r.channelwise, r.activations) == (bits, channelwise, activations):
                return r
        raise KeyError((bits, channelwise, activations))


def calibration_digits(x_train: np.ndarray, n: int, seed: int) -> torch.Tensor:
    """n training digits picked without replacement by a seeded generator → (n, 1, 28, 28) float32."""
    idx = np.random.default_rng(seed).choice(len(x_train), size=n, replace=False)
    return torch.from_numpy(np.asarray(x_train[np.sort(idx)], np.float32))[:, None]


def quant_table(model: SeedCNN, x_train: np.ndarray, x_test: np.ndarray, y_test: np.ndarray,
                bits: tuple[int, ...] = BITS, calib_size: int = 256, seed: int = 0) -> QuantTable:
    """Every row of the table; reproducible (a seeded calibration subset, CPU float32)."""
    model = cpu_float(model)
    x = torch.from_numpy(np.asarray(x_test, np.float32))[:, None]
    y = torch.from_numpy(np.asarray(y_test, np.int64))
    ranges = calibrate(model, calibration_digits(x_train, calib_size, seed))
    rows = []
    for b in bits:
        for channelwise in (False, True):
            q_model = quantise_weights(model, b, channelwise)
            for activations in (False, True):
                acts = act_qparams(ranges, b) if activations else None
                rows.append(QuantRow(b, channelwise, activations, accuracy(q_model, x, y, acts),
                                     model_size(model, b, channelwise, activations)))
    return QuantTable(accuracy(model, x, y), float_bytes(model), tuple(rows), ranges, seed, len(x))


def torch_logit_gap(model: SeedCNN, x: torch.Tensor, bits: int, channelwise: bool, ranges: ActRanges) -> float:
    """max |Δ| between our fake-quantised CNN's logits (weights and activations) and the same CNN
    built with torch.fake_quantize_per_tensor_affine / _per_channel_affine."""
    acts = act_qparams(ranges, bits)
    ours = forward_quant(quantise_weights(model, bits, channelwise), x.float(), acts)
    ref = forward_quant(quantise_weights(model, bits, channelwise, torch_fake_quantise), x.float(), acts,
                        torch_fake_quantise)
    return float((ours - ref).abs().max())


@dataclass(frozen=True)
class LayerQuant:
    """One layer's weights at b bits, per tensor and per output channel, side by side."""

    name: str
    bits: int
    tensor: TensorQuant  # one (s, z) for the layer
    channel: TensorQuant  # one (s, z) per output channel
    ch_min: torch.Tensor  # (C,) each channel's smallest weight
    ch_max: torch.Tensor  # (C,) each channel's largest weight
    rms_tensor: torch.Tensor  # (C,) each channel's RMS error with the layer's (s, z)
    rms_channel: torch.Tensor  # (C,) each channel's RMS error with its own (s, z)
    torch_gap: float  # max |Δ| against torch.fake_quantize_*, both granularities


def layer_quant(model: SeedCNN, name: str, bits: int) -> LayerQuant:
    """Layer `name`'s weights quantised both ways, with each channel's range and error."""
    w = weight(cpu_float(model), name)
    t, c = tensor_quant(w, bits, False), tensor_quant(w, bits, True)
    rows = w.reshape(w.shape[0], -1).double()  # (C, weights per channel)
    gap = max(torch_gap(w, t.p), torch_gap(w, c.p))
    return LayerQuant(name, bits, t, c, rows.min(1).values, rows.max(1).values, channel_rms(t), channel_rms(c), gap)
