"""Convolution (cross-correlation, as in every deep-learning library) and pooling, from scratch.

Tensors use torch's layouts: x is (N, C, H, W), weight is (C_out, C_in, k_h, k_w).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


def _pair(v: int | tuple[int, int]) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else (int(v[0]), int(v[1]))


def output_size(n: int, kernel_size: int, stride: int = 1, padding: int = 0) -> int:
    """Output length along one axis: ⌊(n + 2p − k)/s⌋ + 1."""
    if kernel_size > n + 2 * padding:
        raise ValueError(f"kernel {kernel_size} is larger than the padded input {n + 2 * padding}")
    # n_out = ⌊(n + 2p − k)/s⌋ + 1
    return (n + 2 * padding - kernel_size) // stride + 1


def conv2d_loops(x, weight, bias=None, stride=1, padding=0) -> torch.Tensor:
    """The definition, one output cell at a time (slow; for teaching and for testing).

    out[n, o, i, j] = Σ_c Σ_m Σ_n' w[o, c, m, n'] · x[n, c, i·s + m, j·s + n'] + b[o]
    """
    s_h, s_w = _pair(stride)
    x = F.pad(x, _padding_lrtb(padding))
    N, C, H, W = x.shape
    O, _, k_h, k_w = weight.shape
    H_out, W_out = (H - k_h) // s_h + 1, (W - k_w) // s_w + 1
    out = x.new_zeros(N, O, H_out, W_out)
    for n in range(N):
        for o in range(O):
            for i in range(H_out):
                for j in range(W_out):
                    patch = x[n, :, i * s_h : i * s_h + k_h, j * s_w : j * s_w + k_w]
                    # out[i,j] = Σ_c Σ_m Σ_n w[c,m,n] · x[c, i·s+m, j·s+n] + b
                    out[n, o, i, j] = (weight[o] * patch).sum() + (bias[o] if bias is not None else 0)
    return out


def _padding_lrtb(padding) -> tuple[int, int, int, int]:
    p_h, p_w = _pair(padding)
    return (p_w, p_w, p_h, p_h)


def _windows(x: torch.Tensor, k_h: int, k_w: int, s_h: int, s_w: int) -> torch.Tensor:
    """Every k_h×k_w window of x, without copying: (..., H, W) → (..., H_out, W_out, k_h, k_w)."""
    # unfold the last two axes, whatever leads them: (..., H, W) → (..., H_out, W, k_h) → (..., H_out, W_out, k_h, k_w)
    return x.unfold(-2, k_h, s_h).unfold(-2, k_w, s_w)


def conv2d(x, weight, bias=None, stride=1, padding=0) -> torch.Tensor:
    """Vectorised cross-correlation, equal to F.conv2d.

    out[n, o, i, j] = Σ_c Σ_m Σ_n' w[o, c, m, n'] · x[n, c, i·s + m, j·s + n'] + b[o]
    """
    s_h, s_w = _pair(stride)
    x = F.pad(x, _padding_lrtb(padding))
    k_h, k_w = weight.shape[-2:]
    # (N, C, H_out, W_out, k_h, k_w)
    patches = _windows(x, k_h, k_w, s_h, s_w)
    # out[n,o,i,j] = Σ_c Σ_m Σ_n' w[o,c,m,n'] · patch[n,c,i,j,m,n']
    out = torch.einsum("ncijmq,ocmq->noij", patches, weight)
    if bias is not None:
        # (O,) → (1, O, 1, 1) so each output channel gets its own bias
        out = out + bias.view(1, -1, 1, 1)
    return out


def convolve2d(x, weight, bias=None, stride=1, padding=0) -> torch.Tensor:
    """True (mathematical) convolution: cross-correlation with the kernel flipped in both axes."""
    return conv2d(x, torch.flip(weight, dims=(-2, -1)), bias, stride, padding)


def relu(x: torch.Tensor) -> torch.Tensor:
    # ReLU(x) = max(0, x)
    return torch.clamp(x, min=0)


@dataclass(frozen=True)
class ConvCellTrace:
    """One output cell of a single-channel convolution, with everything that made it."""

    patch: torch.Tensor  # (k, k) input window x[i·s : i·s+k, j·s : j·s+k] (after padding)
    kernel: torch.Tensor  # (k, k) w
    products: torch.Tensor  # (k, k) w ⊙ patch
    bias: float
    total: float  # Σ products + b
    row: int  # top-left corner of the window in the padded input
    col: int


def conv_cell(x2d: torch.Tensor, kernel: torch.Tensor, bias: float, i: int, j: int,
              stride: int = 1, padding: int = 0) -> ConvCellTrace:
    """out[i,j] of a 2-D image with a 2-D kernel, with its patch and element-wise products."""
    k_h, k_w = kernel.shape
    x_pad = F.pad(x2d, (padding, padding, padding, padding))
    r, c = i * stride, j * stride
    patch = x_pad[r : r + k_h, c : c + k_w]
    # products[m,n] = w[m,n] · x[i·s+m, j·s+n]
    products = kernel * patch
    # out[i,j] = Σ_m Σ_n products[m,n] + b
    total = float(products.sum()) + float(bias)
    return ConvCellTrace(patch, kernel, products, float(bias), total, r, c)


def max_pool2d(x: torch.Tensor, kernel_size, stride=None) -> torch.Tensor:
    """out[i,j] = max over the k×k window at (i·s, j·s); equal to F.max_pool2d."""
    k_h, k_w = _pair(kernel_size)
    s_h, s_w = _pair(stride if stride is not None else kernel_size)
    # (N, C, H_out, W_out, k_h, k_w) → max over the window
    return _windows(x, k_h, k_w, s_h, s_w).amax(dim=(-2, -1))


def avg_pool2d(x: torch.Tensor, kernel_size, stride=None) -> torch.Tensor:
    """out[i,j] = mean over the k×k window at (i·s, j·s); equal to F.avg_pool2d."""
    k_h, k_w = _pair(kernel_size)
    s_h, s_w = _pair(stride if stride is not None else kernel_size)
    return _windows(x, k_h, k_w, s_h, s_w).mean(dim=(-2, -1))


@dataclass(frozen=True)
class MaxPoolTrace:
    output: torch.Tensor  # (..., H_out, W_out)
    rows: torch.Tensor  # (..., H_out, W_out) input row of each max
    cols: torch.Tensor  # (..., H_out, W_out) input column of each max


def max_pool2d_trace(x: torch.Tensor, kernel_size: int, stride: int | None = None) -> MaxPoolTrace:
    """Max pooling that also says which input cell each max came from (first one on ties)."""
    k = kernel_size
    s = stride if stride is not None else k
    win = _windows(x, k, k, s, s)
    # (..., H_out, W_out, k, k) → (..., H_out, W_out, k·k)
    flat = win.reshape(*win.shape[:-2], k * k)
    output, idx = flat.max(dim=-1)
    H_out, W_out = output.shape[-2:]
    i = torch.arange(H_out, device=x.device).view(-1, 1)
    j = torch.arange(W_out, device=x.device).view(1, -1)
    # input cell = window corner (i·s, j·s) + offset inside the window (idx // k, idx % k)
    rows = i * s + torch.div(idx, k, rounding_mode="floor")
    cols = j * s + idx % k
    return MaxPoolTrace(output, rows, cols)


def shift_image(x: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    """Translate the last two axes by (dy, dx) pixels, filling with zeros (no wrap-around)."""
    out = torch.zeros_like(x)
    H, W = x.shape[-2:]
    if abs(dy) >= H or abs(dx) >= W:
        return out  # shifted entirely out of the frame
    src_r = slice(max(0, -dy), min(H, H - dy))
    dst_r = slice(max(0, dy), min(H, H + dy))
    src_c = slice(max(0, -dx), min(W, W - dx))
    dst_c = slice(max(0, dx), min(W, W + dx))
    out[..., dst_r, dst_c] = x[..., src_r, src_c]
    return out
