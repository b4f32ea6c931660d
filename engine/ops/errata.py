"""Wrong formulas that circulate in tutorials (docs/ARCHITECTURE.md, "Formula errata"), computed literally.

Each function here takes a wrong form at its word and computes it with the same engine pieces
as the right form, so a page can put the two side by side with numbers:

- convolution written `out_ij = Σ_k w_k·in_ij + b`: every weight multiplies the same pixel, so
  the kernel collapses to one number Σ w and the "convolution" is a 1×1 one (no window, no
  neighbours, the output keeps the input's size);
- "32 kernels" written `f(x) = Σ_{i=1}^{32} w_i * x + b`: the 32 feature maps added into one,
  which (convolution being linear in the kernel) is one convolution with the kernel Σ_i w_i;
- max pooling written `out_ij = max(in_ij)`: the max of a single number is that number, a 1×1
  pooling that returns the input unchanged;
- the self-attention flow drawn as Q → K → V → dot product → softmax → weighted sum → output:
  it has no ÷√d_k step, so the weights are softmax(Q Kᵀ), which saturate as d_k grows (and V,
  drawn before the dot product, takes no part in the scores: errata_cases shows it).

The right forms are engine.ops.conv.conv2d, engine.ops.pooling.max_pool2d and
engine.ops.attention.scaled_dot_product; the remaining errata (the (1/d_v) attention identity, the
FFN's outer activation, the LSTM without a cell state, PE sin = cos) live beside their lessons
(engine.ops.attention_setup, engine.ops.ffn, engine.ops.lstm_units, engine.ops.positional).
engine.ops.errata_cases puts each wrong form beside the right one on seeded inputs, for the page.
"""

from __future__ import annotations

import torch

from engine.ops.conv import conv2d
from engine.ops.pooling import max_pool2d


def conv_without_window(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """out_ij = Σ_k w_k·x_ij + b taken literally, for x (N, C, H, W) and weight (C_out, C, k, k):
    a 1×1 convolution with the kernel's sum, (N, C_out, H, W)."""
    # w'[o, c] = Σ_m Σ_n w[o, c, m, n]: (C_out, C, k, k) → (C_out, C, 1, 1)
    w_sum = weight.sum(dim=(-2, -1), keepdim=True)
    # out[o, i, j] = Σ_c w'[o, c]·x[c, i, j] + b[o]
    return conv2d(x, w_sum, bias)


def kernels_summed(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """f(x) = Σ_i (w_i ⋆ x + b_i): the C_out feature maps added into one, (N, 1, H', W')."""
    # Σ_i (w_i ⋆ x + b_i) = (Σ_i w_i) ⋆ x + Σ_i b_i: (C_out, C, k, k) → (1, C, k, k)
    w_sum = weight.sum(dim=0, keepdim=True)
    b_sum = None if bias is None else bias.sum().reshape(1)
    return conv2d(x, w_sum, b_sum)


def pool_without_window(x: torch.Tensor) -> torch.Tensor:
    """out_ij = max(in_ij) taken literally: the max over a 1×1 window, which is x itself."""
    return max_pool2d(x, 1)


def attention_unscaled(Q: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    """The article's self-attention chart has no ÷√d_k step: the weights softmax(Q Kᵀ) over the
    keys, for Q (..., T, d_k), K (..., S, d_k) → (..., T, S)."""
    if Q.shape[-1] != K.shape[-1]:
        raise ValueError(f"Q (..., T, d_k) and K (..., S, d_k) need the same d_k; got {tuple(Q.shape)}, "
                         f"{tuple(K.shape)}")
    # A'_ij = exp(q_i·k_j) / Σ_j' exp(q_i·k_j')
    return torch.softmax(Q @ K.transpose(-2, -1), dim=-1)
