"""Random affine augmentation of 28×28 images: rotate, scale and shift each image a little.

Done with F.affine_grid / F.grid_sample (no torchvision). The draws come from a generator the
caller seeds, so an augmented batch repeats bit for bit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class AugmentConfig:
    """Random affine: rotation ±angle°, scale in [scale_min, scale_max], shift ±shift px."""

    angle_deg: float = 10.0
    scale_min: float = 0.9
    scale_max: float = 1.1
    shift_px: float = 2.0


def affine_theta(angle: torch.Tensor, scale: torch.Tensor, shift_x: torch.Tensor,
                 shift_y: torch.Tensor, size: int = 28) -> torch.Tensor:
    """The (N, 2, 3) matrices F.affine_grid wants, for a rotate/scale/shift of the image.

    affine_grid maps each *output* pixel p (normalised to [−1, 1]) to the *input* point it
    samples, so we give it the inverse transform: p_in = R(−α)·(p_out − t) / s, where one pixel
    is 2/size in normalised units.
    """
    cos, sin = torch.cos(angle), torch.sin(angle)
    # t = shift in normalised units (one pixel = 2 / size)
    t_x, t_y = shift_x * 2.0 / size, shift_y * 2.0 / size
    # A = R(−α) / s
    a11, a12 = cos / scale, sin / scale
    a21, a22 = -sin / scale, cos / scale
    # p_in = A·p_out − A·t
    b1 = -(a11 * t_x + a12 * t_y)
    b2 = -(a21 * t_x + a22 * t_y)
    row1 = torch.stack([a11, a12, b1], dim=-1)
    row2 = torch.stack([a21, a22, b2], dim=-1)
    return torch.stack([row1, row2], dim=-2)  # (N, 2, 3)


def affine(x: torch.Tensor, angle: torch.Tensor, scale: torch.Tensor,
           shift_x: torch.Tensor, shift_y: torch.Tensor) -> torch.Tensor:
    """Rotate (radians), scale and shift (pixels) each image of x (N, C, H, W); zeros outside."""
    theta = affine_theta(angle, scale, shift_x, shift_y, size=x.shape[-1]).to(x.dtype)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)  # (N, H, W, 2)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def random_affine(x: torch.Tensor, cfg: AugmentConfig, generator: torch.Generator) -> torch.Tensor:
    """One random affine per image, drawn uniformly within cfg's ranges from `generator`.

    The draws come from `generator` on its own device (a CPU generator gives the same draws
    whatever device x is on) and are moved to x's device without waiting for it (non_blocking)."""
    N = x.shape[0]

    def uniform(low: float, high: float) -> torch.Tensor:
        u = torch.rand(N, generator=generator, device=generator.device)
        return (low + (high - low) * u).to(x.device, non_blocking=True)

    angle = uniform(-cfg.angle_deg, cfg.angle_deg) * (math.pi / 180.0)
    scale = uniform(cfg.scale_min, cfg.scale_max)
    shift_x = uniform(-cfg.shift_px, cfg.shift_px)
    shift_y = uniform(-cfg.shift_px, cfg.shift_px)
    return affine(x, angle, scale, shift_x, shift_y)
