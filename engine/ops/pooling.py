"""Pooling from scratch (max and average, equal to torch's), and what the pooling lesson computes
with it: one pooled cell with its window, a ReLU feature map to pool, the checks against torch,
and the translation demo (how much a small shift changes a map before and after pooling).

The ops take torch's layout (N, C, H, W) (any leading axes, in fact); the lesson's functions take
2-D maps (H, W). Everything is a pure function of tensors.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from engine.ops.conv import KERNEL_PRESETS, conv2d, output_size, relu, windows

MODES = ("max", "avg")

# Edge kernels used when the trained checkpoint is absent (cross-correlation, as conv2d).
EDGE_KERNELS = {name: KERNEL_PRESETS[name] for name in ("sobel_x", "sobel_y")}


# ----- the ops ---------------------------------------------------------------------------------

def _pair(v: int | tuple[int, int]) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else (int(v[0]), int(v[1]))


def max_pool2d(x: torch.Tensor, kernel_size, stride=None) -> torch.Tensor:
    """out[i,j] = max over the k×k window at (i·s, j·s); equal to F.max_pool2d."""
    k_h, k_w = _pair(kernel_size)
    s_h, s_w = _pair(stride if stride is not None else kernel_size)
    # (N, C, H_out, W_out, k_h, k_w) → max over the window
    return windows(x, k_h, k_w, s_h, s_w).amax(dim=(-2, -1))


def avg_pool2d(x: torch.Tensor, kernel_size, stride=None) -> torch.Tensor:
    """out[i,j] = mean over the k×k window at (i·s, j·s); equal to F.avg_pool2d."""
    k_h, k_w = _pair(kernel_size)
    s_h, s_w = _pair(stride if stride is not None else kernel_size)
    return windows(x, k_h, k_w, s_h, s_w).mean(dim=(-2, -1))


@dataclass(frozen=True)
class MaxPoolTrace:
    output: torch.Tensor  # (..., H_out, W_out)
    rows: torch.Tensor  # (..., H_out, W_out) input row of each max
    cols: torch.Tensor  # (..., H_out, W_out) input column of each max


def max_pool2d_trace(x: torch.Tensor, kernel_size: int, stride: int | None = None) -> MaxPoolTrace:
    """Max pooling that also says which input cell each max came from (first one on ties)."""
    k = kernel_size
    s = stride if stride is not None else k
    win = windows(x, k, k, s, s)
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


# ----- the pooling lesson on one 2-D map ---------------------------------------------------------


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


def pool_input(digit, kernel: torch.Tensor | None = None, bias: float = 0.0) -> torch.Tensor:
    """The 2-D map the lesson pools: the digit itself (float32), or its ReLU feature map
    ReLU(x ⋆ w + b) when a kernel is given."""
    x = torch.as_tensor(digit, dtype=torch.float32)
    return x if kernel is None else feature_map(x, kernel, bias)


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
    x = torch.as_tensor(x, dtype=torch.float64)
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


@dataclass(frozen=True)
class Verdict:
    """What the translation demo shows, read from its numbers (never a fixed claim)."""

    conv: float  # relative change of the feature map, in %
    pool1: float  # … after one pooling
    pool2: float  # … after two
    once: str  # pooling once changed the map "less", "more" or about the "same" (±10 %) as the shift did to A
    twice: str  # pooling again reduced the change further: "less", else "not"


def verdict(trace: TranslationTrace) -> Verdict:
    conv, p1, p2 = (100 * trace.change[name].relative_change for name in STAGES)
    once = "less" if p1 < 0.9 * conv else "more" if p1 > 1.1 * conv else "same"
    return Verdict(conv, p1, p2, once, "less" if p2 < 0.9 * p1 else "not")


def pooled_sizes(n: int, kernel_size: int, stride: int, times: int = 2) -> list[int]:
    """n, then its size after each of `times` poolings: n_out = ⌊(n − k)/s⌋ + 1."""
    sizes = [n]
    for _ in range(times):
        sizes.append(output_size(sizes[-1], kernel_size, stride))
    return sizes


@dataclass(frozen=True)
class PooledMap:
    """A 2-D map pooled once, with where each max came from (the max trace, whatever the mode)."""

    output: torch.Tensor  # (H_out, W_out): max or mean of each window
    rows: torch.Tensor  # (H_out, W_out) input row of each window's max
    cols: torch.Tensor  # (H_out, W_out) input column of each window's max


def pooled_map(x: torch.Tensor, mode: str, kernel_size: int, stride: int) -> PooledMap:
    """Pool a 2-D map (H, W) by max or mean; the argmax cells come with it either way."""
    # (H, W) → (1, 1, H, W), torch's layout
    tr = max_pool2d_trace(x[None, None], kernel_size, stride)
    out = tr.output if mode == "max" else avg_pool2d(x[None, None], kernel_size, stride)
    return PooledMap(out[0, 0], tr.rows[0, 0], tr.cols[0, 0])


@dataclass(frozen=True)
class PoolChecks:
    """max |ours − torch| on one map, in float64."""

    max: float  # max_pool2d vs F.max_pool2d
    avg: float  # avg_pool2d vs F.avg_pool2d
    indices: float  # max_pool2d_trace's (row, col) vs F.max_pool2d's return_indices


def torch_checks(x: torch.Tensor, kernel_size: int, stride: int) -> PoolChecks:
    """Our pooling ops against torch's on the 2-D map x (H, W)."""
    k, s = kernel_size, stride
    x64 = x.to(torch.float64)[None, None]  # (1, 1, H, W)
    tr = max_pool2d_trace(x64, k, s)
    _, torch_idx = F.max_pool2d(x64, k, s, return_indices=True)
    return PoolChecks(
        max=float((max_pool2d(x64, k, s) - F.max_pool2d(x64, k, s)).abs().max()),
        avg=float((avg_pool2d(x64, k, s) - F.avg_pool2d(x64, k, s)).abs().max()),
        # torch's index is the flat position in the input: row·W + col
        indices=float((tr.rows * x.shape[-1] + tr.cols - torch_idx).abs().max()),
    )
