"""Positional information: attention alone cannot tell token order (permuting the tokens only
permutes its outputs), so position has to be put into the vectors.

- sinusoidal: Vaswani et al. (2017) add a fixed table PE to the embeddings; pair i of a row is
  a point on a circle turning at frequency ω_i = 1/10000^{2i/d}, so moving k positions is one
  fixed rotation per pair: PE(pos + k) = M_k · PE(pos), whatever pos is.
- learned: a table of free parameters, one row per position (nn.Embedding).
- RoPE (Su et al., 2021): rotate each pair (2i, 2i+1) of q and k by the angle m·θ_i at position
  m; then ⟨rope(q)_m, rope(k)_n⟩ depends on m − n only, so attention scores see relative position.
"""

from __future__ import annotations

import math

import torch

from engine.limits import check


def frequencies(d_model: int, base: float = 10000.0) -> torch.Tensor:
    """ω_i = base^(−2i/d) for i = 0 … ⌈d/2⌉ − 1, float64: pair i's angle per position."""
    two_i = torch.arange(0, d_model, 2, dtype=torch.float64)
    # ω_i = 1 / base^{2i/d}
    return base ** (-two_i / d_model)


def sinusoidal(max_len: int, d_model: int) -> torch.Tensor:
    """(max_len, d_model) float64: PE[pos, 2i] = sin(pos/10000^{2i/d}), PE[pos, 2i+1] = cos(pos/10000^{2i/d}).

    An odd d_model is allowed: its last column is a sine whose cosine partner would be column d."""
    check("max_len", max_len)
    check("d_model", d_model)
    pos = torch.arange(max_len, dtype=torch.float64)
    # angle[pos, i] = pos · ω_i, (max_len, ⌈d/2⌉)
    angle = pos[:, None] * frequencies(d_model)[None, :]
    PE = torch.zeros(max_len, d_model, dtype=torch.float64)
    # PE[pos, 2i] = sin(pos / 10000^{2i/d})
    PE[:, 0::2] = torch.sin(angle)
    # PE[pos, 2i+1] = cos(pos / 10000^{2i/d})
    PE[:, 1::2] = torch.cos(angle[:, : d_model // 2])
    return PE


def learned(max_len: int, d_model: int, seed: int) -> torch.Tensor:
    """(max_len, d_model) float64 drawn from N(0, 1), as nn.Embedding initialises its table.

    Equal to nn.Embedding(max_len, d_model, dtype=torch.float64).weight after torch.manual_seed(seed),
    but from a private generator (no global state is touched). Untrained, it carries no order."""
    check("max_len", max_len)
    check("d_model", d_model)
    gen = torch.Generator().manual_seed(int(seed))
    return torch.randn(max_len, d_model, generator=gen, dtype=torch.float64)


def shift_matrix(k: int, d_model: int) -> torch.Tensor:
    """(d_model, d_model) block-diagonal M_k with PE(pos + k) = M_k · PE(pos) for every pos.

    Pair i holds (sin pω_i, cos pω_i); by the angle-addition formulas one 2×2 rotation by kω_i
    takes it to ((p + k)ω_i). d_model must be even (an odd last sine has no cosine to turn with)."""
    check("position_shift", k)
    check("d_model", d_model)
    if d_model % 2:
        raise ValueError(f"shift_matrix needs an even d_model (got {d_model}): the last sine "
                         f"column has no cosine partner to rotate with")
    blocks = []
    for w in frequencies(d_model).tolist():
        c, s = math.cos(k * w), math.sin(k * w)
        # [sin(p+k)ω; cos(p+k)ω] = [[cos kω, sin kω], [−sin kω, cos kω]] · [sin pω; cos pω]
        blocks.append(torch.tensor([[c, s], [-s, c]], dtype=torch.float64))
    return torch.block_diag(*blocks)


def rope_angles(T: int, d: int, base: float = 10000.0) -> torch.Tensor:
    """(T, d/2) float64: φ[m, i] = m·θ_i, the angle RoPE turns pair i by at position m."""
    theta = frequencies(d, base)
    # φ_{m,i} = m · θ_i
    return torch.arange(T, dtype=torch.float64)[:, None] * theta[None, :]


def rope(x: torch.Tensor, base: float = 10000.0) -> torch.Tensor:
    """Rotary position embedding of x (..., T, d), d even: pair (2i, 2i+1) of row m turned by m·θ_i,
    θ_i = base^(−2i/d). Lengths are kept: ‖rope(x)_m‖ = ‖x_m‖."""
    if not torch.is_tensor(x) or not x.is_floating_point() or x.dim() < 2:
        raise ValueError("x must be a floating-point tensor of shape (..., T, d)")
    T, d = x.shape[-2:]
    check("max_len", T)
    check("d_model", d)
    if d % 2:
        raise ValueError(f"rope needs an even d (got {d}): it rotates the pairs (2i, 2i+1)")
    base = float(base)
    if not 0 < base < math.inf:
        raise ValueError(f"base must be a finite number > 0, got {base}")
    phi = rope_angles(T, d, base).to(x)
    cos, sin = phi.cos(), phi.sin()
    x_even, x_odd = x[..., 0::2], x[..., 1::2]
    # x'_{2i} = x_{2i} cos(mθ_i) − x_{2i+1} sin(mθ_i)
    y_even = x_even * cos - x_odd * sin
    # x'_{2i+1} = x_{2i} sin(mθ_i) + x_{2i+1} cos(mθ_i)
    y_odd = x_even * sin + x_odd * cos
    # (..., T, d/2) twice → (..., T, d/2, 2) → (..., T, d): pairs back in place
    return torch.stack([y_even, y_odd], dim=-1).flatten(-2)
