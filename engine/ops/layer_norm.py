"""LayerNorm, as a Transformer block uses it: each position's E features normalised to mean 0
and variance ≈ 1, then scaled by γ and shifted by β (equal to nn.LayerNorm(E)).

position_moments is an independent check of LayerNorm's invariant: after normalising (before
γ and β) every position has mean 0 and variance σ²/(σ² + ε) ≈ 1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class LayerNormTrace:
    """LayerNorm over the last axis (the E features of one position). mean, var: (...,)."""

    mean: torch.Tensor  # μ per position
    var: torch.Tensor  # σ² per position, biased (÷E), as torch
    normalized: torch.Tensor  # x̂ = (x − μ)/√(σ² + ε): mean 0, variance σ²/(σ² + ε) ≈ 1
    output: torch.Tensor  # γ ⊙ x̂ + β


def layer_norm(x, weight=None, bias=None, eps: float = 1e-5) -> LayerNormTrace:
    """nn.LayerNorm(E) on x (..., E): weight γ and bias β are (E,) (None: 1 and 0)."""
    E = x.shape[-1]
    for name, p in (("weight", weight), ("bias", bias)):
        if p is not None and tuple(p.shape) != (E,):
            raise ValueError(f"LayerNorm {name} must be (E,) = ({E},), got {tuple(p.shape)}")
    eps = float(eps)
    if not 0 <= eps < math.inf:
        raise ValueError(f"eps must be a finite number ≥ 0, got {eps}")
    # μ = (1/E) Σ_e x_e
    mean = x.mean(dim=-1, keepdim=True)
    # σ² = (1/E) Σ_e (x_e − μ)²
    var = ((x - mean) ** 2).mean(dim=-1, keepdim=True)
    # x̂ = (x − μ) / √(σ² + ε)
    normalized = (x - mean) / torch.sqrt(var + eps)
    output = normalized
    if weight is not None:
        output = output * weight
    if bias is not None:
        output = output + bias
    return LayerNormTrace(mean.squeeze(-1), var.squeeze(-1), normalized, output)


def position_moments(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and biased variance of each position's features (last axis): two (...,) tensors."""
    # mean_t = (1/E) Σ_e x_te ; var_t = (1/E) Σ_e (x_te − mean_t)²
    return x.mean(dim=-1), x.var(dim=-1, correction=0)
