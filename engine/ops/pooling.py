"""What the pooling lesson computes beyond engine.ops.conv: one pooled cell with its window, a
ReLU feature map to pool, and the translation demo (how much a small shift changes a map
before and after pooling).

Everything is a pure function of tensors; images are 2-D (H, W) here.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from engine.ops.conv import avg_pool2d, conv2d, max_pool2d, output_size, relu, shift_image

MODES = ("max", "avg")

# Edge kernels used when the trained checkpoint is absent (cross-correlation, as conv2d).
SOBEL_X = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])
SOBEL_Y = SOBEL_X.T.contiguous()
EDGE_KERNELS = {"sobel_x": SOBEL_X, "sobel_y": SOBEL_Y}


def pool(x: torch.Tensor, mode: str, kernel_size: int, stride: int) -> torch.Tensor:
    """max_pool2d or avg_pool2d of a 2-D map: (H, W) → (H_out, W_out)."""
    fn = max_pool2d if mode == "max" else avg_pool2d
    # (H, W) → (1, 1, H, W), torch's layout, and back
    return fn(x[None, None], kernel_size, stride)[0, 0]


def feature_map(x: torch.Tensor, kernel: torch.Tensor, bias: float = 0.0) -> torch.Tensor:
    """A = ReLU(x ⋆ w + b) for one 2-D image and one k×k kernel: (H, W) → (H−k+1, W−k+1)."""
    w = kernel.to(x.dtype)[None, None]  # (k, k) → (1, 1, k, k)
    b = torch.tensor([bias], dtype=x.dtype)
    # A[i,j] = max(0, Σ_m Σ_n w[m,n]·x[i+m, j+n] + b)
    return relu(conv2d(x[None, None], w, b))[0, 0]


@dataclass(frozen=True)
class PoolCellTrace:
    """out[i,j] of a pooling layer, with the window that made it."""

    window: torch.Tensor  # (k, k) x[i·s : i·s+k, j·s : j·s+k]
    value: float  # max or mean of the window
    row: int  # top-left corner of the window in the input: i·s
    col: int  # j·s
    arg_row: int | None  # offset of the max inside the window (first on ties); None for avg
    arg_col: int | None


def pool_cell(x: torch.Tensor, mode: str, kernel_size: int, stride: int, i: int, j: int) -> PoolCellTrace:
    """One output cell, computed from its window alone."""
    k, s = kernel_size, stride
    r, c = i * s, j * s
    window = x[r : r + k, c : c + k]
    if mode == "avg":
        # out[i,j] = (1/k²) Σ_m Σ_n x[i·s+m, j·s+n]
        return PoolCellTrace(window, float(window.mean()), r, c, None, None)
    # out[i,j] = max_{m,n} x[i·s+m, j·s+n]
    value, idx = window.reshape(-1).max(dim=0)
    m, n = divmod(int(idx), k)
    return PoolCellTrace(window, float(value), r, c, m, n)


def telling_cell(x: torch.Tensor, kernel_size: int, stride: int) -> tuple[int, int]:
    """The output cell whose window varies most (largest std, first on ties; the largest value
    when k = 1): a window worth reading, unlike the many all-zero background windows of a digit."""
    k, s = kernel_size, stride
    # (H, W) → (H_out, W_out, k, k) → (H_out, W_out, k·k)
    windows = x.unfold(0, k, s).unfold(1, k, s).flatten(start_dim=2)
    score = windows.std(dim=-1, correction=0) if k > 1 else windows[..., 0]
    i, j = divmod(int(score.flatten().argmax()), score.shape[1])
    return i, j


@dataclass(frozen=True)
class MapChange:
    """How much a map changed when its input was shifted, compared cell by cell."""

    shape: tuple[int, int]
    active: int  # cells non-zero in either map
    changed: int  # active cells whose value moved by more than `tol`
    changed_fraction: float  # changed / active
    mean_abs_delta: float  # mean |Δ| over all cells
    relative_change: float  # ‖Δ‖₂ / ‖original‖₂


def map_change(original: torch.Tensor, shifted: torch.Tensor, tol: float = 1e-9) -> MapChange:
    # Δ = shifted − original, at the same positions: what a later layer would see change
    delta = shifted - original
    active = (original != 0) | (shifted != 0)
    changed = active & (delta.abs() > tol)
    n_active = int(active.sum())
    norm = float(original.norm())
    return MapChange(
        shape=(int(original.shape[0]), int(original.shape[1])),
        active=n_active,
        changed=int(changed.sum()),
        changed_fraction=int(changed.sum()) / n_active if n_active else 0.0,
        mean_abs_delta=float(delta.abs().mean()),
        # ‖Δ‖₂ / ‖A‖₂: a scale-free size of the change, comparable across stages
        relative_change=float(delta.norm()) / norm if norm > 0 else 0.0,
    )


STAGES = ("conv", "pool1", "pool2")


@dataclass(frozen=True)
class TranslationTrace:
    """The feature map, pooled once and pooled twice, for a digit and its shifted copy."""

    dy: int
    dx: int
    kernel_size: int
    stride: int
    original: dict[str, torch.Tensor]  # stage → 2-D map
    shifted: dict[str, torch.Tensor]
    change: dict[str, MapChange]
    # When dy and dx are multiples of s: max |pool(shifted) − pool(original) moved by (dy/s, dx/s)|;
    # 0 means pooling did not absorb the shift at all, it only moved the pooled map. Else None.
    moved_delta: float | None


def translation_demo(x: torch.Tensor, kernel: torch.Tensor, bias: float, dy: int, dx: int,
                     kernel_size: int = 2, stride: int = 2) -> TranslationTrace:
    """Shift the digit by (dy, dx), then compare conv → max-pool → max-pool stage by stage.

    Computed in float64, so 'changed' means changed, not rounding noise.
    """
    x = x.to(torch.float64)
    x_shift = shift_image(x, dy, dx)
    maps = []
    for image in (x, x_shift):
        a = feature_map(image, kernel, bias)
        p1 = pool(a, "max", kernel_size, stride)
        p2 = pool(p1, "max", kernel_size, stride)
        maps.append({"conv": a, "pool1": p1, "pool2": p2})
    original, shifted = maps
    change = {name: map_change(original[name], shifted[name]) for name in STAGES}
    moved_delta = None
    if (dy, dx) != (0, 0) and dy % stride == 0 and dx % stride == 0:
        moved = shift_image(original["pool1"], dy // stride, dx // stride)
        moved_delta = float((moved - shifted["pool1"]).abs().max())
    return TranslationTrace(dy, dx, kernel_size, stride, original, shifted, change, moved_delta)


def pooled_sizes(n: int, kernel_size: int, stride: int, times: int = 2) -> list[int]:
    """n, then its size after each of `times` poolings: n_out = ⌊(n − k)/s⌋ + 1."""
    sizes = [n]
    for _ in range(times):
        sizes.append(output_size(sizes[-1], kernel_size, stride))
    return sizes
