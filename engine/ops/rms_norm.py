"""RMSNorm (Zhang & Sennrich, 2019), the normalisation of Llama-style models such as SmolLM2:
each position's features divided by their root mean square, then scaled by a gain g.

Unlike LayerNorm (engine/ops/layer_norm.py) it subtracts no mean and adds no bias:
    y = x / √(mean(x²) + ε) ⊙ g
Equal to torch.nn.functional.rms_norm(x, (E,), g, ε) and to nn.RMSNorm(E, eps=ε).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class RMSNormTrace:
    """RMSNorm over the last axis (the E features of one position)."""

    ms: torch.Tensor  # mean(x²) per position, (..., 1)
    rms: torch.Tensor  # √(mean(x²) + ε) per position, (..., 1)
    normalized: torch.Tensor  # x / rms: root mean square ≈ 1
    output: torch.Tensor  # normalized ⊙ g


def rms_norm(x: torch.Tensor, g: torch.Tensor | None = None, eps: float = 1e-5) -> RMSNormTrace:
    """RMSNorm of x (..., E) with gain g (E,) (None: 1) and ε > 0 added under the root."""
    if not torch.is_tensor(x) or not x.is_floating_point() or x.dim() < 1:
        raise ValueError("x must be a floating-point tensor of shape (..., E)")
    E = x.shape[-1]
    if g is not None and tuple(g.shape) != (E,):
        raise ValueError(f"g must have shape ({E},), got {tuple(g.shape)}")
    if not float(eps) > 0:
        raise ValueError(f"eps must be > 0, got {eps}")
    # ms = Σ_e x_e² / E
    ms = x.pow(2).mean(dim=-1, keepdim=True)
    # rms = √(ms + ε)
    rms = torch.sqrt(ms + eps)
    # x̂ = x / rms
    normalized = x / rms
    # y = x̂ ⊙ g
    output = normalized if g is None else normalized * g
    return RMSNormTrace(ms, rms, normalized, output)
