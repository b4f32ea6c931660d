"""Training the article's CNN: random-affine augmentation, a one-cycle learning rate, evaluation.

Pure functions of tensors and a seed (no streamlit, no globals): scripts/train_default_cnn.py
uses them to produce the shipped checkpoint, and the tests run them on a few images.
Augmentation is done with F.affine_grid / F.grid_sample (no torchvision).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from engine.models.cnn import SeedCNN


@dataclass(frozen=True)
class AugmentConfig:
    """Random affine: rotation ±angle°, scale in [scale_min, scale_max], shift ±shift px."""

    angle_deg: float = 10.0
    scale_min: float = 0.9
    scale_max: float = 1.1
    shift_px: float = 2.0


@dataclass(frozen=True)
class TrainConfig:
    """Adam with a one-cycle learning rate (max_lr), batch B, for `epochs` passes."""

    seed: int = 0
    epochs: int = 20
    batch_size: int = 64
    max_lr: float = 3e-3
    weight_decay: float = 0.0
    augment: AugmentConfig | None = AugmentConfig()
    channels_last: bool = True


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


def one_cycle(optimizer: torch.optim.Optimizer, max_lr: float, epochs: int,
              steps_per_epoch: int, cycle_momentum: bool = True) -> torch.optim.lr_scheduler.OneCycleLR:
    """Learning rate warms up to max_lr over the first 30 % of steps, then anneals (cosine).

    cycle_momentum=True also cycles the momentum (Adam's β₁) inversely, 0.95 → 0.85 → 0.95; pass
    False for plain SGD, which the cycle would otherwise turn into SGD with momentum."""
    return torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=max_lr, epochs=epochs, steps_per_epoch=steps_per_epoch, pct_start=0.3,
        cycle_momentum=cycle_momentum,
    )


def as_batch(images: np.ndarray) -> torch.Tensor:
    """(N, 28, 28) float images → (N, 1, 28, 28) float32 tensor."""
    return torch.as_tensor(np.asarray(images, dtype=np.float32)).unsqueeze(1)


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 1000) -> float:
    """Accuracy: the fraction of images whose arg-max logit is the label."""
    was_training = model.training
    model.eval()
    correct = 0
    for start in range(0, x.shape[0], batch_size):
        xb = x[start : start + batch_size]
        # ŷ = argmax_k z_k
        correct += int((model(xb).argmax(dim=1) == y[start : start + batch_size]).sum())
    model.train(was_training)
    return correct / x.shape[0]


@dataclass(frozen=True)
class TrainResult:
    model: SeedCNN
    epoch_accuracy: tuple[float, ...]  # held-out accuracy after each epoch
    seconds: float  # training time (evaluation excluded)


def new_model(seed: int) -> SeedCNN:
    """A freshly initialised SeedCNN whose weights depend only on `seed` (global RNG untouched)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return SeedCNN()


def train(cfg: TrainConfig, x_train: torch.Tensor, y_train: torch.Tensor,
          x_test: torch.Tensor | None = None, y_test: torch.Tensor | None = None,
          on_epoch: Callable[[int, float, float], None] | None = None) -> TrainResult:
    """Train a SeedCNN with Adam + one-cycle; data order and augmentation come from cfg.seed.

    x_*: (N, 1, 28, 28) float32 in [0, 1]; y_*: (N,) int64. `on_epoch(epoch, accuracy, seconds)`
    is called after each epoch when a held-out set is given (accuracy is NaN otherwise).
    """
    model = new_model(cfg.seed)
    if cfg.channels_last:
        model = model.to(memory_format=torch.channels_last)
    generator = torch.Generator().manual_seed(cfg.seed)
    N = x_train.shape[0]
    steps = math.ceil(N / cfg.batch_size)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.max_lr, weight_decay=cfg.weight_decay)
    scheduler = one_cycle(optimizer, cfg.max_lr, cfg.epochs, steps)
    if x_test is not None and cfg.channels_last:
        x_test = x_test.contiguous(memory_format=torch.channels_last)
    accuracies: list[float] = []
    seconds = 0.0
    for epoch in range(cfg.epochs):
        start = time.perf_counter()
        train_epoch(model, optimizer, scheduler, x_train, y_train, cfg, generator)
        seconds += time.perf_counter() - start
        acc = evaluate(model, x_test, y_test) if x_test is not None else float("nan")
        accuracies.append(acc)
        if on_epoch is not None:
            on_epoch(epoch + 1, acc, seconds)
    model.eval()
    return TrainResult(model, tuple(accuracies), seconds)


def train_epoch(model: nn.Module, optimizer: torch.optim.Optimizer, scheduler, x: torch.Tensor,
                y: torch.Tensor, cfg: TrainConfig, generator: torch.Generator) -> None:
    """One pass over the data in a seeded random order, one optimizer + scheduler step per batch."""
    model.train()
    order = torch.randperm(x.shape[0], generator=generator)
    for start in range(0, x.shape[0], cfg.batch_size):
        idx = order[start : start + cfg.batch_size]
        xb, yb = x[idx], y[idx]
        if cfg.augment is not None:
            xb = random_affine(xb, cfg.augment, generator)
        if cfg.channels_last:
            xb = xb.contiguous(memory_format=torch.channels_last)
        # L = −(1/B) Σ_b log softmax(z_b)[y_b]
        loss = F.cross_entropy(model(xb), yb)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()


def plain_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """The weights as ordinary contiguous float32 CPU tensors (channels_last undone)."""
    return {k: v.detach().to("cpu", torch.float32).contiguous() for k, v in model.state_dict().items()}
