"""Learning-rate schedules: constant, one-cycle (warm up, then cosine down) and geometric decay."""

from __future__ import annotations

import torch

SCHEDULES = ("constant", "one_cycle", "geometric")


def one_cycle(optimizer: torch.optim.Optimizer, max_lr: float, total_steps: int,
              cycle_momentum: bool = True) -> torch.optim.lr_scheduler.OneCycleLR:
    """Learning rate warms up to max_lr over the first 30 % of steps, then anneals (cosine).

    cycle_momentum=True also cycles the momentum (Adam's β₁) inversely, 0.95 → 0.85 → 0.95; pass
    False for plain SGD, which the cycle would otherwise turn into SGD with momentum."""
    return torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=max_lr, total_steps=total_steps, pct_start=0.3, cycle_momentum=cycle_momentum,
    )


def geometric(optimizer: torch.optim.Optimizer, lr: float, lr_final: float,
              total_steps: int) -> torch.optim.lr_scheduler.LambdaLR:
    """lr_s = lr · (lr_final / lr)^(s / steps): from lr down to lr_final at the last step."""
    # lr_s = lr · (lr_final / lr)^(s / steps)
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: (lr_final / lr) ** (s / total_steps))
