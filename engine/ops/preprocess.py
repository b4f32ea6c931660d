"""Preprocessing: what the input's scale does to the first layer's pre-activations.

The digits are stored as pixels x_raw in 0 … 255. The shipped CNN was trained on x_raw/255
(in [0, 1]); standardisation uses the training set's pixel mean μ and std σ instead:

    raw:           x = x_raw
    /255:          x = x_raw / 255
    standardised:  x = (x_raw − μ) / σ

conv1 is linear before its ReLU, z_1 = W_1 ⋆ x + b_1, so the three inputs give
z_1 = s·(W_1 ⋆ x_raw/255) − c·ΣW_1 + b_1 with s = 255 (raw), 1 (/255) or 255/σ, and
c = 0, 0 or μ/σ: the same maps stretched and shifted, the shift flipping which ReLUs fire.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from engine.models.cnn import SeedCNN, trace

VARIANTS = ("raw", "scaled", "standardised")


@dataclass(frozen=True)
class PixelStats:
    """The training set's pixel mean μ and std σ, on the raw 0 … 255 scale."""

    mu: float
    sigma: float


def pixel_stats(x_train: np.ndarray) -> PixelStats:
    """μ and σ over every pixel of the training images (given in [0, 1], as stored)."""
    raw = np.asarray(x_train, dtype=np.float64) * 255.0
    # μ = mean of all pixels; σ = their (population) standard deviation
    return PixelStats(float(raw.mean()), float(raw.std()))


def prepare(x01, variant: str, stats: PixelStats) -> torch.Tensor:
    """The digits x01 (N, 28, 28) in [0, 1] as the model would read them under `variant`: (N, 1, 28, 28) float64."""
    x_raw = torch.as_tensor(np.asarray(x01), dtype=torch.float64)[:, None] * 255.0  # (N, 1, 28, 28)
    if variant == "raw":
        return x_raw
    if variant == "scaled":
        # x = x_raw / 255
        return x_raw / 255.0
    if variant == "standardised":
        # x = (x_raw − μ) / σ
        return (x_raw - stats.mu) / stats.sigma
    raise ValueError(f"unknown variant {variant!r}")


@dataclass(frozen=True)
class Preprocessed:
    """conv1's pre-activations z_1 under one preprocessing, and what the whole model then says."""

    variant: str
    x_min: float
    x_max: float
    mean: float  # mean of z_1 over images, channels and positions
    std: float
    active: float  # fraction of z_1 > 0: the ReLUs that fire
    counts: np.ndarray  # histogram of z_1
    edges: np.ndarray  # its bin edges (len(counts) + 1)
    pred: int  # the model's digit for the first image
    conf: float  # its softmax probability
    accuracy: float | None  # over the batch, when labels were given


def first_layer(model64: SeedCNN, x01, variant: str, stats: PixelStats, labels=None, bins: int = 60) -> Preprocessed:
    """z_1 = W_1 ⋆ x + b_1 of `model64` (a float64 SeedCNN) on the digits prepared by `variant`."""
    x = prepare(x01, variant, stats)
    tr = trace(model64, x)
    z1 = tr.z1.reshape(-1)
    counts, edges = np.histogram(z1.numpy(), bins=bins)
    pred = tr.probs.argmax(-1)
    acc = None if labels is None else float((pred == torch.as_tensor(np.asarray(labels))).double().mean())
    return Preprocessed(variant, float(x.min()), float(x.max()), float(z1.mean()), float(z1.std(correction=0)),
                      float((z1 > 0).double().mean()), counts, edges, int(pred[0]), float(tr.probs[0, pred[0]]), acc)


def first_layers(model64: SeedCNN, x01, stats: PixelStats, labels=None) -> dict[str, Preprocessed]:
    """All three preprocessings of the same digits: variant → Preprocessed."""
    return {v: first_layer(model64, x01, v, stats, labels) for v in VARIANTS}


def affine_gap(model64: SeedCNN, x01, stats: PixelStats) -> float:
    """max |Δ| between z_1 of the standardised input and s·(W_1 ⋆ x) − c·ΣW_1 + b_1 computed from
    the /255 run (s = 255/σ, c = μ/σ): the formula in the lesson, checked."""
    W, b = model64.conv1.weight.detach(), model64.conv1.bias.detach()
    z_scaled = trace(model64, prepare(x01, "scaled", stats)).z1
    z_std = trace(model64, prepare(x01, "standardised", stats)).z1
    s, c = 255.0 / stats.sigma, stats.mu / stats.sigma
    # z_std = s·(z_scaled − b) − c·ΣW + b
    formula = s * (z_scaled - b[None, :, None, None]) - c * W.sum(dim=(1, 2, 3))[None, :, None, None] + b[None, :, None, None]
    return float((z_std - formula).abs().max())
