"""BatchNorm from scratch, and the same batch under LayerNorm: which axes each averages over.

On a batch of feature maps x of shape (N, C, H, W):

    BatchNorm (nn.BatchNorm2d, training mode):  one μ_c, σ²_c per channel c, over the N·H·W
        values of that channel in the whole batch;
    LayerNorm (nn.LayerNorm([C, H, W])):        one μ_n, σ²_n per example n, over its C·H·W values;
    LayerNorm per position (as in a Transformer, nn.LayerNorm(C) on (N, H, W, C)): one μ, σ² per
        example and position (n, h, w), over its C channels.

Then x̂ = (x − μ)/√(σ² + ε) and y = γ x̂ + β. BatchNorm therefore depends on the other examples
in the batch; both LayerNorms do not. The LayerNorms reuse engine.ops.layer_norm.layer_norm.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from engine.ops.layer_norm import layer_norm

MODES = ("batch", "layer", "position")


@dataclass(frozen=True)
class NormTrace:
    """One normalisation of x (N, C, H, W): its statistics and its output, in x's layout."""

    mode: str  # "batch", "layer" or "position"
    axes: tuple[int, ...]  # the axes of x averaged over
    mean: torch.Tensor  # batch: (C,); layer: (N,); position: (N, H, W)
    var: torch.Tensor  # biased (÷ count), as torch normalises with
    normalized: torch.Tensor  # x̂, (N, C, H, W)
    output: torch.Tensor  # γ x̂ + β, (N, C, H, W)


def batch_norm(x: torch.Tensor, weight=None, bias=None, eps: float = 1e-5) -> NormTrace:
    """nn.BatchNorm2d in training mode on x (N, C, H, W): batch statistics per channel; γ, β are (C,)."""
    if x.dim() != 4:
        raise ValueError(f"batch_norm expects (N, C, H, W), got {tuple(x.shape)}")
    eps = float(eps)
    if not 0 <= eps < math.inf:
        raise ValueError(f"eps must be a finite number ≥ 0, got {eps}")
    axes = (0, 2, 3)
    # μ_c = (1/(N·H·W)) Σ_{n,h,w} x_nchw
    mean = x.mean(dim=axes, keepdim=True)
    # σ²_c = (1/(N·H·W)) Σ_{n,h,w} (x_nchw − μ_c)²
    var = ((x - mean) ** 2).mean(dim=axes, keepdim=True)
    # x̂ = (x − μ_c) / √(σ²_c + ε)
    normalized = (x - mean) / torch.sqrt(var + eps)
    output = normalized
    if weight is not None:
        output = output * weight[None, :, None, None]
    if bias is not None:
        output = output + bias[None, :, None, None]
    return NormTrace("batch", axes, mean.reshape(-1), var.reshape(-1), normalized, output)


def layer_norm_chw(x: torch.Tensor, weight=None, bias=None, eps: float = 1e-5) -> NormTrace:
    """nn.LayerNorm([C, H, W]) on x (N, C, H, W): statistics per example; γ, β are (C, H, W)."""
    N, C, H, W = x.shape
    flat = lambda p: None if p is None else p.reshape(-1)  # noqa: E731  (C, H, W) → (C·H·W,)
    ln = layer_norm(x.reshape(N, C * H * W), flat(weight), flat(bias), eps)  # rows: one example each
    return NormTrace("layer", (1, 2, 3), ln.mean, ln.var, ln.normalized.reshape(x.shape), ln.output.reshape(x.shape))


def layer_norm_positions(x: torch.Tensor, weight=None, bias=None, eps: float = 1e-5) -> NormTrace:
    """nn.LayerNorm(C) at every position, as a Transformer normalises a token: γ, β are (C,)."""
    xt = x.permute(0, 2, 3, 1)  # (N, H, W, C): channels last, one "token" per (n, h, w)
    ln = layer_norm(xt, weight, bias, eps)
    back = lambda t: t.permute(0, 3, 1, 2)  # noqa: E731  (N, H, W, C) → (N, C, H, W)
    return NormTrace("position", (1,), ln.mean, ln.var, back(ln.normalized), back(ln.output))


def normalise(x: torch.Tensor, mode: str) -> NormTrace:
    """One of MODES with γ = 1, β = 0 (a freshly built layer's defaults)."""
    if mode == "batch":
        return batch_norm(x)
    if mode == "layer":
        return layer_norm_chw(x)
    if mode == "position":
        return layer_norm_positions(x)
    raise ValueError(f"unknown mode {mode!r}")


@dataclass(frozen=True)
class TorchGaps:
    """max |Δ| of our outputs against torch's modules on the same x (and the same γ, β)."""

    batch_norm: float  # against nn.BatchNorm2d(C) in training mode
    f_batch_norm: float  # against F.batch_norm(training=True)
    layer_norm: float  # against nn.LayerNorm([C, H, W])
    layer_norm_positions: float  # against nn.LayerNorm(C) on (N, H, W, C)

    @property
    def worst(self) -> float:
        return max(self.batch_norm, self.f_batch_norm, self.layer_norm, self.layer_norm_positions)


def torch_gaps(x: torch.Tensor, seed: int = 0) -> TorchGaps:
    """Our three norms against torch's on x, with random γ, β (seeded) copied into torch's layers."""
    N, C, H, W = x.shape
    gen = torch.Generator().manual_seed(seed)
    rand = lambda *s: torch.randn(*s, generator=gen, dtype=x.dtype)  # noqa: E731
    g_c, b_c, g_l, b_l = rand(C), rand(C), rand(C, H, W), rand(C, H, W)
    bn = nn.BatchNorm2d(C, dtype=x.dtype).train()
    ln = nn.LayerNorm([C, H, W], dtype=x.dtype)
    lp = nn.LayerNorm(C, dtype=x.dtype)
    with torch.no_grad():
        bn.weight.copy_(g_c), bn.bias.copy_(b_c), ln.weight.copy_(g_l), ln.bias.copy_(b_l)
        lp.weight.copy_(g_c), lp.bias.copy_(b_c)
        gap = lambda a, b: float((a - b).abs().max())  # noqa: E731
        return TorchGaps(
            gap(batch_norm(x, g_c, b_c).output, bn(x)),
            gap(batch_norm(x, g_c, b_c).output, F.batch_norm(x, None, None, g_c, b_c, training=True)),
            gap(layer_norm_chw(x, g_l, b_l).output, ln(x)),
            gap(layer_norm_positions(x, g_c, b_c).output, lp(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)),
        )


@dataclass(frozen=True)
class BatchDependence:
    """One example normalised inside two different batches."""

    mode: str
    out_a: torch.Tensor  # (C, H, W) the example's output in batch A
    out_b: torch.Tensor  # the same example's output in batch B
    gap: float  # max |out_a − out_b|: > 0 for BatchNorm, 0 for the LayerNorms


def batch_dependence(example: torch.Tensor, others_a: torch.Tensor, others_b: torch.Tensor, mode: str) -> BatchDependence:
    """`example` (C, H, W) normalised with the batch [example, *others_a] and with [example, *others_b]."""
    out_a = normalise(torch.cat([example[None], others_a]), mode).output[0]
    out_b = normalise(torch.cat([example[None], others_b]), mode).output[0]
    return BatchDependence(mode, out_a, out_b, float((out_a - out_b).abs().max()))
