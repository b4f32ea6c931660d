"""Kernels a learner starts from, and the checks on a kernel typed into a grid.

Kernels are (k, k) float tensors w[m, n]; a layer's weight is (C_out, C_in, k, k) as in torch.
"""

from __future__ import annotations

import math

import torch

from engine.limits import BOUNDS, MAX_KERNEL_ABS, check

# Classic 3×3 image kernels. Cross-correlation (what deep learning calls convolution) is used
# everywhere, so "sobel_x" responds positively where the image gets brighter to the right.
KERNEL_PRESETS: dict[str, torch.Tensor] = {
    # out = x: a single 1 in the centre
    "identity": torch.tensor([[0.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 0.0]]),
    # Laplacian-like outline: 8·centre − Σ 8 neighbours (0 on flat regions)
    "edges": torch.tensor([[-1.0, -1.0, -1.0], [-1.0, 8.0, -1.0], [-1.0, -1.0, -1.0]]),
    # ∂x/∂col, smoothed along rows
    "sobel_x": torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]]),
    # ∂x/∂row, smoothed along columns
    "sobel_y": torch.tensor([[-1.0, -2.0, -1.0], [0.0, 0.0, 0.0], [1.0, 2.0, 1.0]]),
    # Gaussian blur: [1 2 1]ᵀ[1 2 1] / 16 (weights sum to 1)
    "blur": torch.tensor([[1.0, 2.0, 1.0], [2.0, 4.0, 2.0], [1.0, 2.0, 1.0]]) / 16.0,
    # sharpen = identity + (4·centre − Σ 4 neighbours): the outline added back onto the image
    "sharpen": torch.tensor([[0.0, -1.0, 0.0], [-1.0, 5.0, -1.0], [0.0, -1.0, 0.0]]),
}


def preset(name: str) -> torch.Tensor:
    """A copy of a preset kernel (callers may edit it)."""
    return KERNEL_PRESETS[name].clone()


def centred_impulse(k: int) -> torch.Tensor:
    """A k×k kernel with a single 1 at (⌊k/2⌋, ⌊k/2⌋): the start of a custom kernel."""
    check("kernel_size", k)
    w = torch.zeros(k, k)
    w[k // 2, k // 2] = 1.0
    return w


class KernelError(ValueError):
    """A grid that is not a usable kernel; `code` and `params` let a page translate it.

    codes: kernel_shape (not k×k with 1 ≤ k ≤ 7), kernel_empty (a blank or non-numeric cell),
    kernel_too_big (|w| > MAX_KERNEL_ABS or not finite), bias_too_big.
    """

    def __init__(self, code: str, message: str, **params):
        self.code = code
        self.params = params
        super().__init__(message)


def _as_number(v, m: int, n: int) -> float:
    if isinstance(v, bool):
        raise KernelError("kernel_empty", f"cell ({m}, {n}) is not a number", m=m, n=n)
    try:
        f = float(v)
    except (TypeError, ValueError):
        raise KernelError("kernel_empty", f"cell ({m}, {n}) is empty or not a number", m=m, n=n) from None
    if math.isnan(f):
        raise KernelError("kernel_empty", f"cell ({m}, {n}) is empty or not a number", m=m, n=n)
    if not abs(f) <= MAX_KERNEL_ABS:  # also catches ±inf
        raise KernelError("kernel_too_big", f"cell ({m}, {n}) = {f} exceeds ±{MAX_KERNEL_ABS:g}",
                          m=m, n=n, value=f"{f:g}", limit=f"{MAX_KERNEL_ABS:g}")
    return f


def kernel_from_grid(rows) -> torch.Tensor:
    """A k×k grid of cells (lists, a numpy array, DataFrame values) → (k, k) float tensor w[m, n].

    Every cell must be a finite number with |w| ≤ MAX_KERNEL_ABS; raises KernelError otherwise.
    """
    rows = [list(r) for r in rows]
    k = len(rows)
    low, high = BOUNDS["kernel_size"].low, BOUNDS["kernel_size"].high
    if not low <= k <= high or any(len(r) != k for r in rows):
        raise KernelError("kernel_shape", "the kernel must be a square k×k grid",
                          low=low, high=high)
    return torch.tensor([[_as_number(v, m, n) for n, v in enumerate(r)] for m, r in enumerate(rows)])


def check_bias(b) -> float:
    """b as a float, if finite and |b| ≤ MAX_KERNEL_ABS; raises KernelError otherwise."""
    try:
        f = float(b)
    except (TypeError, ValueError):
        f = math.nan
    if not abs(f) <= MAX_KERNEL_ABS:
        raise KernelError("bias_too_big", f"bias {b} is not within ±{MAX_KERNEL_ABS:g}",
                          value=str(b), limit=f"{MAX_KERNEL_ABS:g}")
    return f


def glorot_filters(C_out: int = 32, C_in: int = 1, k: int = 3, seed: int = 0) -> torch.Tensor:
    """Random (C_out, C_in, k, k) filters, Keras's glorot_uniform, from a fixed seed.

    w ~ U(−a, a) with a = √(6 / (fan_in + fan_out)), fan_in = C_in·k·k, fan_out = C_out·k·k.
    """
    g = torch.Generator().manual_seed(seed)
    fan_in, fan_out = C_in * k * k, C_out * k * k
    # a = √(6 / (fan_in + fan_out))
    a = math.sqrt(6.0 / (fan_in + fan_out))
    return (torch.rand(C_out, C_in, k, k, generator=g) * 2.0 - 1.0) * a
