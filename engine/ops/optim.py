"""Six optimisers written from scratch on a 2-D point, each equal to its torch.optim twin.

`trajectory(optimizer, f, start, lr, steps, **hp)` is the public contract: the points
θ_0 … θ_steps as a (steps + 1, 2) float64 tensor. `run(...)` is the same walk as a typed
`OptimTrace` holding, for every step, the gradient and the optimiser's state (the velocity,
RMSProp's running average v, Adam's m, v, m̂, v̂) and the step taken; it stops when the walk
diverges (a non-finite loss or point, or a point outside `box`) and says at which step and why.

Only the gradient comes from torch.autograd; the update rules are written out below, in the
order torch.optim applies them (torch 2.x, single-tensor path), so the points agree to ~1e-15.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from engine.limits import CodedError

OPTIMIZERS = ("sgd", "momentum", "nesterov", "rmsprop", "adam", "adamw")

# torch.optim's defaults; "momentum" and "nesterov" are torch's SGD with momentum = 0.9 (torch's own
# SGD default is 0, which would make them plain SGD; "sgd" keeps 0 and, as torch's SGD, takes a
# momentum too). AdamW's weight decay is torch's 0.01.
DEFAULTS: dict[str, dict] = {
    "sgd": {"momentum": 0.0, "weight_decay": 0.0},
    "momentum": {"momentum": 0.9, "weight_decay": 0.0},
    "nesterov": {"momentum": 0.9, "weight_decay": 0.0},
    "rmsprop": {"alpha": 0.99, "eps": 1e-8, "momentum": 0.0, "weight_decay": 0.0},
    "adam": {"betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.0},
    "adamw": {"betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.01},
}

BOUND = 1e6  # a coordinate beyond this counts as diverged (the default box)

Objective = Callable[[torch.Tensor], torch.Tensor]


class OptimError(CodedError):
    """A request the optimisers cannot honour; `code` and `params` let a page translate it."""


@dataclass(frozen=True)
class Box:
    """The region a walk may visit: x_lo ≤ x ≤ x_hi and y_lo ≤ y ≤ y_hi."""

    x_lo: float = -BOUND
    x_hi: float = BOUND
    y_lo: float = -BOUND
    y_hi: float = BOUND

    def contains(self, x: float, y: float) -> bool:
        return self.x_lo <= x <= self.x_hi and self.y_lo <= y <= self.y_hi


@dataclass(frozen=True)
class Divergence:
    """Where a walk stopped: θ_step was non-finite or outside the box ("nan", "overflow", "box"),
    or the loss at θ_step was not finite ("loss")."""

    step: int
    reason: str


@dataclass(frozen=True)
class OptimTrace:
    """One optimiser's walk. Row t of the per-step tensors (shape (n, 2), n = steps done) is step
    t + 1: g[t] = ∇f(θ_t), the state after the update, and delta[t] = θ_{t+1} − θ_t.
    State an optimiser does not keep is None."""

    optimizer: str
    lr: float
    hp: dict
    points: torch.Tensor  # (n + 1, 2) θ_0 … θ_n
    losses: torch.Tensor  # (n + 1,) f(θ_t)
    g: torch.Tensor  # (n, 2) ∇f(θ_t)
    delta: torch.Tensor  # (n, 2) θ_{t+1} − θ_t
    velocity: torch.Tensor | None = None  # SGD's momentum buffer b_t; RMSProp's when momentum > 0
    m: torch.Tensor | None = None  # Adam's first moment
    v: torch.Tensor | None = None  # RMSProp's / Adam's running average of g²
    m_hat: torch.Tensor | None = None  # m / (1 − β₁ᵗ)
    v_hat: torch.Tensor | None = None  # v / (1 − β₂ᵗ)
    diverged: Divergence | None = None
    steps_asked: int = 0
    state_names: tuple = field(default=())

    @property
    def steps_done(self) -> int:
        return self.points.shape[0] - 1

    @property
    def moved(self) -> float:
        """‖θ_n − θ_0‖: how far the walk got."""
        return float((self.points[-1] - self.points[0]).norm())


def hyper_parameters(optimizer: str, **hp) -> dict:
    """torch.optim's defaults for `optimizer`, updated by `hp`; an unknown name is refused."""
    if optimizer not in DEFAULTS:
        raise OptimError("unknown_optimizer", f"unknown optimizer {optimizer!r}; choose one of "
                         f"{', '.join(OPTIMIZERS)}", optimizer=optimizer, known=", ".join(OPTIMIZERS))
    merged = dict(DEFAULTS[optimizer])
    for name, value in hp.items():
        if name not in merged:
            raise OptimError("unknown_hp", f"{optimizer} has no hyper-parameter {name!r}; it takes "
                             f"{', '.join(merged)}", optimizer=optimizer, name=name, known=", ".join(merged))
        merged[name] = tuple(float(b) for b in value) if name == "betas" else float(value)
    _check_values(optimizer, merged)
    return merged


def _check_values(optimizer: str, hp: dict) -> None:
    """The ranges torch.optim itself accepts (it raises ValueError outside them)."""
    bad = [n for n in ("momentum", "alpha", "eps", "weight_decay") if n in hp and not hp[n] >= 0]
    if "betas" in hp and (len(hp["betas"]) != 2 or not all(0 <= b < 1 for b in hp["betas"])):
        bad.append("betas")
    if optimizer == "nesterov" and not hp["momentum"] > 0:  # torch: Nesterov needs a momentum
        bad.append("momentum")
    if bad:
        raise OptimError("bad_hp", f"{optimizer}: {bad[0]} = {hp[bad[0]]!r} is out of range",
                         optimizer=optimizer, name=bad[0], value=repr(hp[bad[0]]))


def gradient(f: Objective, theta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """f(θ) and ∇f(θ) by torch.autograd (the only thing not written out here)."""
    x = theta.detach().clone().requires_grad_(True)
    L = f(x)
    (g,) = torch.autograd.grad(L, x)
    return L.detach(), g


# ----- one update each, in torch.optim's order ------------------------------------------------------

def sgd_update(theta, g, state, lr, hp):
    """θ ← θ − η g, with momentum b ← μ b + g (b₁ = g) and Nesterov's look-ahead g + μ b."""
    lam, mu = hp["weight_decay"], hp.get("momentum", 0.0)
    # g ← g + λ θ   (torch.add with alpha rounds it as torch.optim does: one fused multiply-add)
    g = torch.add(g, theta, alpha=lam) if lam else g
    if mu:
        b = state.get("velocity")
        # b_t = μ b_{t−1} + g_t   (b_1 = g_1)
        b = g.clone() if b is None else mu * b + g
        state["velocity"] = b
        # Nesterov: d = g + μ b;   classical momentum: d = b
        g = g + mu * b if state["nesterov"] else b
    # θ_{t+1} = θ_t − η d
    return theta - lr * g


def rmsprop_update(theta, g, state, lr, hp):
    """v ← α v + (1 − α) g², θ ← θ − η g / (√v + ε) (ε outside the square root, as torch)."""
    alpha, eps, mu, lam = hp["alpha"], hp["eps"], hp["momentum"], hp["weight_decay"]
    # g ← g + λ θ   (torch.add with alpha rounds it as torch.optim does: one fused multiply-add)
    g = torch.add(g, theta, alpha=lam) if lam else g
    v = state["v"] if "v" in state else torch.zeros_like(theta)
    # v_t = α v_{t−1} + (1 − α) g_t²
    v = alpha * v + (1 - alpha) * g * g
    state["v"] = v
    # denominator √v_t + ε
    denom = v.sqrt() + eps
    if mu:
        # b_t = μ b_{t−1} + g_t / (√v_t + ε)
        b = g / denom if "velocity" not in state else mu * state["velocity"] + g / denom
        state["velocity"] = b
        return theta - lr * b
    # θ_{t+1} = θ_t − η g_t / (√v_t + ε)
    return theta - lr * g / denom  # (η g) / (√v + ε), torch's order of rounding


def adam_update(theta, g, state, lr, hp):
    """Adam (weight decay added to g) and AdamW (θ shrunk by ηλ first), with bias correction."""
    (beta1, beta2), eps, lam = hp["betas"], hp["eps"], hp["weight_decay"]
    t = state["t"]
    if state["decoupled"]:
        # AdamW: θ ← θ (1 − η λ)
        theta = theta * (1 - lr * lam)
    elif lam:
        # Adam: g ← g + λ θ   (rounded as torch.optim rounds it)
        g = torch.add(g, theta, alpha=lam)
    zero = torch.zeros_like(theta)
    m, v = state.get("m", zero), state.get("v", zero)
    # m_t = β₁ m_{t−1} + (1 − β₁) g_t, written as torch's lerp writes it (the same value, the same rounding):
    # m + w (g − m) for w = 1 − β₁ < ½, else g − (g − m)(1 − w)
    w = 1 - beta1
    m = m + w * (g - m) if abs(w) < 0.5 else g - (g - m) * (1 - w)
    # v_t = β₂ v_{t−1} + (1 − β₂) g_t²
    v = beta2 * v + (1 - beta2) * g * g
    c1, c2 = 1 - beta1**t, 1 - beta2**t
    # m̂_t = m_t / (1 − β₁ᵗ),  v̂_t = v_t / (1 − β₂ᵗ)
    state.update(m=m, v=v, m_hat=m / c1, v_hat=v / c2)
    # θ_{t+1} = θ_t − η m̂_t / (√v̂_t + ε)   (torch computes √v̂ as √v / √(1 − β₂ᵗ))
    return theta - (lr / c1) * (m / (v.sqrt() / math.sqrt(c2) + eps))


UPDATES = {"sgd": sgd_update, "momentum": sgd_update, "nesterov": sgd_update,
           "rmsprop": rmsprop_update, "adam": adam_update, "adamw": adam_update}
STATE = {"sgd": (), "momentum": ("velocity",), "nesterov": ("velocity",), "rmsprop": ("v",),
         "adam": ("m", "v", "m_hat", "v_hat"), "adamw": ("m", "v", "m_hat", "v_hat")}


# ----- the walk -------------------------------------------------------------------------------------

def _check_run(lr, steps) -> None:
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
        raise OptimError("bad_steps", f"steps must be a whole number ≥ 0 (got {steps!r})", steps=steps)
    if not (isinstance(lr, int | float) and math.isfinite(lr) and lr > 0):
        raise OptimError("bad_lr", f"the learning rate must be a finite number > 0 (got {lr!r})", lr=lr)


def _why_stop(theta: torch.Tensor, box: Box) -> str | None:
    x, y = theta.tolist()
    if math.isnan(x) or math.isnan(y):
        return "nan"
    if math.isinf(x) or math.isinf(y):
        return "overflow"
    return None if box.contains(x, y) else "box"


def run(optimizer: str, f: Objective, start, lr: float, steps: int, box: Box | None = Box(),
        grad: Objective | None = None, **hp) -> OptimTrace:
    """`steps` updates of `optimizer` on f from `start`, keeping every gradient and state.

    The walk stops early (trace.diverged says at which step and why) when a point is non-finite
    or leaves `box` (default |coordinate| ≤ 1e6), or the loss there is not finite;
    box=None never stops (the points may then overflow to inf or nan). `grad`, when given, is
    ∇f written out (else torch.autograd differentiates f); f must then also take a batch of
    points (n, 2), since the losses are evaluated after the walk, all at once."""
    hp = hyper_parameters(optimizer, **hp)
    _check_run(lr, steps)
    theta = torch.tensor([float(start[0]), float(start[1])], dtype=torch.float64)
    state = {"nesterov": optimizer == "nesterov", "decoupled": optimizer == "adamw"}
    names = STATE[optimizer]
    if optimizer in ("sgd", "rmsprop") and hp["momentum"]:  # torch's SGD and RMSprop take a momentum too
        names = (*names, "velocity")
    points, losses, grads, kept = [theta], [], [], {n: [] for n in names}
    diverged = None
    for t in range(1, steps + 1):
        if grad is None:
            L, g = gradient(f, theta)
            losses.append(L)
            if box is not None and not math.isfinite(float(L)):
                diverged = Divergence(t - 1, "loss")
                break
        else:
            g = grad(theta)
        state["t"] = t
        new = UPDATES[optimizer](theta, g, state, lr, hp)
        why = _why_stop(new, box) if box is not None else None
        if why:  # the point that overflowed or left the box is not kept
            diverged = Divergence(t, why)
            break
        grads.append(g)
        for n in names:
            kept[n].append(state[n])
        points.append(new)
        theta = new
    return _trace(optimizer, f, lr, hp, steps, points, losses, grads, kept, diverged, box is not None, grad is None)


def _trace(optimizer, f, lr, hp, steps, points, losses, grads, kept, diverged, stops, autograd) -> OptimTrace:
    P = torch.stack(points)
    with torch.no_grad():
        if len(losses) == len(points):
            L = torch.stack(losses)
        elif autograd:  # autograd gave f at every point but the last
            L = torch.stack([*losses, f(P[-1]).reshape(())])
        else:  # analytic gradient: f at every point in one batch
            L = f(P)
    L = L.detach().to(torch.float64)
    bad = (~torch.isfinite(L)).nonzero()
    if stops and diverged is None and len(bad):  # a loss overflowed before any point did
        k = int(bad[0])
        diverged, P, L = Divergence(k, "loss"), P[: k + 1], L[: k + 1]
    n = P.shape[0] - 1
    empty = torch.zeros(0, 2, dtype=torch.float64)
    stack = lambda xs: torch.stack(xs[:n]) if n else empty  # noqa: E731
    return OptimTrace(
        optimizer=optimizer, lr=float(lr), hp=hp, points=P, losses=L,
        g=stack(grads), delta=(P[1:] - P[:-1]) if n else empty,
        diverged=diverged, steps_asked=steps, state_names=tuple(kept),
        **{name: stack(kept[name]) for name in kept},
    )


def trajectory(optimizer: str, f: Objective, start, lr: float, steps: int, **hp) -> torch.Tensor:
    """The points θ_0 = start, θ_1, …, θ_steps of `optimizer` on f: a (steps + 1, 2) float64 tensor.

    optimizer: one of sgd, momentum, nesterov, rmsprop, adam, adamw; hyper-parameters as in
    torch.optim (momentum, alpha, betas, eps, weight_decay) with its defaults (momentum 0.9 for
    "momentum" and "nesterov"). The walk never stops early: a diverging run fills with inf or nan."""
    return run(optimizer, f, start, lr, steps, box=None, **hp).points


# ----- the reference: torch.optim itself -------------------------------------------------------------

def torch_optimizer(optimizer: str, params: list[torch.Tensor], lr: float, **hp) -> torch.optim.Optimizer:
    """The torch.optim optimiser our `optimizer` reproduces, with the same hyper-parameters."""
    hp = hyper_parameters(optimizer, **hp)
    O = torch.optim
    if optimizer in ("sgd", "momentum", "nesterov"):
        return O.SGD(params, lr=lr, momentum=hp.get("momentum", 0.0), nesterov=optimizer == "nesterov",
                     weight_decay=hp["weight_decay"])
    if optimizer == "rmsprop":
        return O.RMSprop(params, lr=lr, alpha=hp["alpha"], eps=hp["eps"], momentum=hp["momentum"],
                         weight_decay=hp["weight_decay"])
    cls = O.Adam if optimizer == "adam" else O.AdamW
    return cls(params, lr=lr, betas=hp["betas"], eps=hp["eps"], weight_decay=hp["weight_decay"])


def torch_trajectory(optimizer: str, f: Objective, start, lr: float, steps: int,
                     grad: Objective | None = None, **hp) -> torch.Tensor:
    """The same walk by torch.optim: (steps + 1, 2) float64 points. The gradient comes from
    f.backward(), or is set to grad(θ) when the analytic gradient is given."""
    _check_run(lr, steps)
    theta = torch.tensor([float(start[0]), float(start[1])], dtype=torch.float64, requires_grad=True)
    opt = torch_optimizer(optimizer, [theta], lr, **hp)
    points = [theta.detach().clone()]
    for _ in range(steps):
        opt.zero_grad()
        if grad is None:
            f(theta).backward()
        else:
            theta.grad = grad(theta.detach())
        opt.step()
        points.append(theta.detach().clone())
    return torch.stack(points)


def torch_gap(trace: OptimTrace, f: Objective, grad: Objective | None = None) -> float:
    """max |Δ| between a trace's points and torch.optim's from the same start over the same steps."""
    n = trace.steps_done
    start = trace.points[0].tolist()
    ref = torch_trajectory(trace.optimizer, f, start, trace.lr, n, grad=grad, **trace.hp)
    return float((trace.points - ref).abs().max()) if n else 0.0
