"""Convolution (cross-correlation, as in every deep-learning library), from scratch: the ops, the
kernels a learner starts from, and the checks on a kernel typed into a grid.

Tensors use torch's layouts: x is (N, C, H, W), weight is (C_out, C_in, k_h, k_w); a single
kernel is (k, k), w[m, n]. Pooling lives beside it in engine.ops.pooling.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from engine.device import get_device
from engine.limits import BOUNDS, MAX_KERNEL_ABS, CodedError, check


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


def windows(x: torch.Tensor, k_h: int, k_w: int, s_h: int, s_w: int) -> torch.Tensor:
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
    patches = windows(x, k_h, k_w, s_h, s_w)
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
    """out[i,j] of a 2-D image (array or tensor) with a 2-D kernel, with its patch and element-wise
    products; computed in float64, the numbers a page writes out."""
    x2d = torch.as_tensor(x2d, dtype=torch.float64)
    kernel = torch.as_tensor(kernel, dtype=torch.float64)
    k_h, k_w = kernel.shape
    x_pad = F.pad(x2d, (padding, padding, padding, padding))
    r, c = i * stride, j * stride
    patch = x_pad[r : r + k_h, c : c + k_w]
    # products[m,n] = w[m,n] · x[i·s+m, j·s+n]
    products = kernel * patch
    # out[i,j] = Σ_m Σ_n products[m,n] + b
    total = float(products.sum()) + float(bias)
    return ConvCellTrace(patch, kernel, products, float(bias), total, r, c)


# ----- kernels a learner starts from, and a kernel typed into a grid ----------------------------

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


class KernelError(CodedError):
    """A grid that is not a usable kernel; `code` and `params` let a page translate it.

    codes: kernel_shape (not k×k with 1 ≤ k ≤ 7), kernel_empty (a blank or non-numeric cell),
    kernel_too_big (|w| > MAX_KERNEL_ABS or not finite), bias_too_big.
    """


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


# ----- the convolution lesson on one 2-D image -----------------------------------------------------

def conv_map(x, kernel, bias: float = 0.0, stride: int = 1, padding: int = 0) -> torch.Tensor:
    """out = x ⋆ w + b for one 2-D image x (H, W) and one kernel w (k, k), in float64:
    (H, W) → (H_out, W_out). Float64 lets a torch check use the very numbers on screen."""
    x = torch.as_tensor(x, dtype=torch.float64)
    w = torch.as_tensor(kernel, dtype=torch.float64)
    b = torch.tensor([float(bias)], dtype=torch.float64)
    # (1, 1, H, W) ⋆ (1, 1, k, k) → (1, 1, H_out, W_out)
    return conv2d(x[None, None], w[None, None], b, stride, padding)[0, 0]


def strongest_cell(z: torch.Tensor) -> tuple[int, int]:
    """(i, j) of the largest |z[i, j]| (first on ties): a cell with something to see."""
    i, j = divmod(int(z.abs().argmax()), z.shape[1])
    return i, j


def torch_delta(x, kernel, bias: float = 0.0, stride: int = 1, padding: int = 0, loops: bool = False) -> float:
    """max |ours − F.conv2d| on one 2-D image, in float64: conv2d, or conv2d_loops (slow) if `loops`."""
    x = torch.as_tensor(x, dtype=torch.float64)[None, None]  # (1, 1, H, W)
    w = torch.as_tensor(kernel, dtype=torch.float64)[None, None]  # (1, 1, k, k)
    b = torch.tensor([float(bias)], dtype=torch.float64)
    ours = (conv2d_loops if loops else conv2d)(x, w, b, stride, padding)
    return float((ours - F.conv2d(x, w, b, stride=stride, padding=padding)).abs().max())


@dataclass(frozen=True)
class ManyMaps:
    """K kernels on one image: K feature maps, and the single sum the 'one formula' mistake gives."""

    maps: torch.Tensor  # (K, H_out, W_out): z_o = w_o ⋆ x + b_o
    summed: torch.Tensor  # (H_out, W_out): Σ_o z_o


def many_maps(x, weight: torch.Tensor, bias: torch.Tensor) -> ManyMaps:
    """Each kernel o of weight (K, 1, k, k) makes its own map of the 2-D image x (on the compute device)."""
    device = get_device()
    with torch.no_grad():
        x_dev = torch.as_tensor(x, dtype=torch.float32).to(device)[None, None]  # (1, 1, H, W)
        # z_o = w_o ⋆ x + b_o → (1, K, H_out, W_out)
        maps = conv2d(x_dev, weight.float().to(device), bias.float().to(device))[0].cpu()
    # (K, H, W) → (H, W): what the wrong formula f(x) = Σ_i w_i * x_i + b would give
    return ManyMaps(maps, maps.sum(dim=0))


@dataclass(frozen=True)
class FlipTrace:
    """Cross-correlation (what F.conv2d computes) beside true convolution (kernel rotated by 180°)."""

    kernel: torch.Tensor  # (k, k) w: the learner's kernel, or sobel_x when theirs is symmetric
    flipped: torch.Tensor  # (k, k) w[k−1−m, k−1−n]
    xcorr: torch.Tensor  # x ⋆ w + b
    conv: torch.Tensor  # x * w + b
    substituted: bool  # the learner's kernel was symmetric under the flip, so sobel_x is shown
    delta: float  # max |x ⋆ w − x * w|


def flip_demo(x, kernel, bias: float = 0.0, stride: int = 1, padding: int = 0) -> FlipTrace:
    """x ⋆ w and x * w side by side; a flip-symmetric kernel (both equal) is swapped for sobel_x."""
    w = torch.as_tensor(kernel, dtype=torch.float64)
    substituted = torch.equal(w, torch.flip(w, dims=(0, 1)))
    if substituted:
        w = preset("sobel_x").double()
    xcorr = conv_map(x, w, bias, stride, padding)
    # true convolution = cross-correlation with the kernel rotated by 180°
    flipped = torch.flip(w, dims=(0, 1))
    conv = conv_map(x, flipped, bias, stride, padding)
    return FlipTrace(w, flipped, xcorr, conv, bool(substituted), float((xcorr - conv).abs().max()))


@dataclass(frozen=True)
class ReluTrace:
    """A feature map before and after ReLU."""

    z: torch.Tensor
    a: torch.Tensor  # max(0, z)
    zero_fraction: float  # share of cells ReLU sets to 0


def relu_map(z: torch.Tensor) -> ReluTrace:
    a = relu(z)
    return ReluTrace(z, a, float((a == 0).double().mean()))
