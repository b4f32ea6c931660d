"""Learning-rate schedules: constant, one-cycle (warm up, then cosine down) and geometric decay."""

from __future__ import annotations

import math
from dataclasses import dataclass

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


# ----- the schedules written out, lr(t) for t = 0 … steps − 1 (the optimisers page plots them) --------
# Each equals its torch.optim.lr_scheduler twin step by step (tests/unit/test_optim.py); torch computes
# some of them recursively (lr_t from lr_{t−1}), so the two agree to rounding, not bit for bit.

CURVES = ("constant", "step", "cosine", "warmup", "one_cycle")


def constant_lr(lr: float, t: int) -> float:
    """η_t = η."""
    return lr


def step_lr(lr: float, t: int, step_size: int, gamma: float = 0.1) -> float:
    """StepLR: η_t = η · γ^⌊t / step_size⌋."""
    # η_t = η · γ^⌊t / step_size⌋
    return lr * gamma ** (t // step_size)


def cosine_lr(lr: float, t: int, T_max: int, eta_min: float = 0.0) -> float:
    """CosineAnnealingLR (one half-period): η_t = η_min + (η − η_min)(1 + cos(π t / T_max)) / 2."""
    # η_t = η_min + (η − η_min)(1 + cos(π t / T_max)) / 2
    return eta_min + (lr - eta_min) * (1 + math.cos(math.pi * t / T_max)) / 2


def warmup_lr(lr: float, t: int, warmup: int, start_factor: float = 0.1) -> float:
    """LinearLR warm-up: η_t = η · (s + (1 − s) · min(t, T_w) / T_w), from s·η up to η at t = T_w."""
    # η_t = η · (s + (1 − s) · min(t, T_w) / T_w)
    return lr * (start_factor + (1 - start_factor) * min(t, warmup) / warmup)


def one_cycle_lr(max_lr: float, t: int, total_steps: int, pct_start: float = 0.3,
                 div_factor: float = 25.0, final_div_factor: float = 1e4) -> float:
    """OneCycleLR (cosine, two phases) — the schedule `one_cycle` above hands to torch: from
    η_max/25 up to η_max by step 0.3·T − 1, then down to η_max/25/10⁴ at step T − 1, each half a cosine."""
    eta_0 = max_lr / div_factor
    eta_end = eta_0 / final_div_factor
    t_peak = pct_start * total_steps - 1
    if t <= t_peak:
        return _cos_between(eta_0, max_lr, t / t_peak)
    return _cos_between(max_lr, eta_end, (t - t_peak) / (total_steps - 1 - t_peak))


def _cos_between(start: float, end: float, pct: float) -> float:
    # η = end + (start − end)(1 + cos(π · pct)) / 2
    return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)


@dataclass(frozen=True)
class Curve:
    """One schedule's learning rates η_0 … η_{T−1}."""

    name: str
    lr: tuple[float, ...]


def curves(lr: float, steps: int) -> tuple[Curve, ...]:
    """The five schedules over `steps` steps with peak η = lr: constant; step (γ = 0.1 every
    steps // 3 steps); cosine (T_max = steps); linear warm-up over the first 10 % of steps from
    0.1 η; one-cycle (peak at 30 %)."""
    step_size, warmup = max(1, steps // 3), max(1, steps // 10)
    make = {
        "constant": lambda t: constant_lr(lr, t),
        "step": lambda t: step_lr(lr, t, step_size),
        "cosine": lambda t: cosine_lr(lr, t, steps),
        "warmup": lambda t: warmup_lr(lr, t, warmup),
        "one_cycle": lambda t: one_cycle_lr(lr, t, steps),
    }
    return tuple(Curve(name, tuple(make[name](t) for t in range(steps))) for name in CURVES)


def torch_curves(lr: float, steps: int) -> tuple[Curve, ...]:
    """The same five by torch.optim.lr_scheduler, read with get_last_lr() before each step."""
    S = torch.optim.lr_scheduler
    step_size, warmup = max(1, steps // 3), max(1, steps // 10)
    makers = {
        "constant": lambda o: S.ConstantLR(o, factor=1.0, total_iters=0),
        "step": lambda o: S.StepLR(o, step_size=step_size, gamma=0.1),
        "cosine": lambda o: S.CosineAnnealingLR(o, T_max=steps),
        "warmup": lambda o: S.LinearLR(o, start_factor=0.1, end_factor=1.0, total_iters=warmup),
        "one_cycle": lambda o: S.OneCycleLR(o, max_lr=lr, total_steps=steps, pct_start=0.3,
                                            cycle_momentum=False),
    }
    out = []
    for name in CURVES:
        opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=lr)
        sched = makers[name](opt)
        lrs = []
        for _ in range(steps):
            lrs.append(float(sched.get_last_lr()[0]))
            opt.step()
            sched.step()
        out.append(Curve(name, tuple(lrs)))
    return tuple(out)


def curves_gap(lr: float, steps: int) -> float:
    """max |Δ| between the written-out schedules and torch's, over every step of the five."""
    return max(abs(a - b) for ours, ref in zip(curves(lr, steps), torch_curves(lr, steps), strict=True)
               for a, b in zip(ours.lr, ref.lr, strict=True))
