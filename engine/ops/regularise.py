"""Regularisation written out: inverted dropout and the L2 penalty that weight decay adds.

    dropout (training):  m_i ~ Bernoulli(1 − p),  y_i = x_i · m_i / (1 − p)   so E[y_i] = x_i
    dropout (eval):      y = x
    weight decay (L2):   L_total = L + (λ/2)‖θ‖²,  ∇L_total = ∇L + λθ

torch.optim.Adam(weight_decay=λ) and SGD(weight_decay=λ) add λθ to the gradient before their
update (L2 in the gradient; AdamW instead decouples it): adam_l2_gap checks that this is the same
as Adam on the loss with the penalty written in.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass(frozen=True)
class DropoutTrace:
    """One inverted-dropout pass: input, keep mask, scale 1/(1 − p), output; and the output
    averaged over many independent masks (close to x: E[y] = x)."""

    x: torch.Tensor
    p: float
    m: torch.Tensor  # bool, True = kept
    scale: float  # 1/(1 − p)
    y: torch.Tensor
    mean_y: torch.Tensor | None = None  # (1/K) Σ_k y^(k) over K masks
    draws: int = 0  # K


def keep_mask(shape, p: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """m_i ~ Bernoulli(1 − p): True where a unit is kept."""
    # m_i = [u_i < 1 − p],  u_i ~ U(0, 1)
    return torch.rand(shape, generator=generator, dtype=torch.float64) < 1.0 - p


def inverted_dropout(x: torch.Tensor, p: float, m: torch.Tensor | None = None,
                     generator: torch.Generator | None = None, training: bool = True) -> DropoutTrace:
    """y = x · m / (1 − p) with keep mask m (drawn when not given); the identity when not training
    or p = 0. Equal to F.dropout(x, p) when m is torch's own mask."""
    if not 0.0 <= p < 1.0:
        raise ValueError(f"p must be in [0, 1), got {p!r}")
    if not training or p == 0.0:
        return DropoutTrace(x, p, torch.ones_like(x, dtype=torch.bool), 1.0, x)
    if m is None:
        m = keep_mask(x.shape, p, generator)
    scale = 1.0 / (1.0 - p)
    # y = x · (m / (1 − p)), the order torch uses (noise.div_(1 − p), then input · noise)
    y = x * (m.to(x.dtype) / (1.0 - p))
    return DropoutTrace(x, p, m, scale, y)


def dropout_example(p: float, seed: int = 0, n: int = 8, draws: int = 10_000) -> DropoutTrace:
    """A worked example: n ReLU-like activations x (seeded), one mask, and the mean of y over
    `draws` masks, which approaches x (E[y] = x)."""
    g = torch.Generator().manual_seed(int(seed))
    x = torch.round(torch.rand(n, generator=g, dtype=torch.float64) * 200) / 100  # values in [0, 2]
    one = inverted_dropout(x, p, generator=g)
    if p == 0.0:
        return DropoutTrace(x, p, one.m, 1.0, x, x.clone(), draws)
    masks = keep_mask((draws, n), p, g)
    # ȳ = (1/K) Σ_k x · m^(k) / (1 − p)
    mean_y = (x * masks.to(x.dtype) / (1.0 - p)).mean(dim=0)
    return DropoutTrace(x, p, one.m, one.scale, one.y, mean_y, draws)


def torch_dropout_gap(p: float, seed: int = 0, x: torch.Tensor | None = None) -> float:
    """max |inverted_dropout − F.dropout| with the same mask: torch's mask is read from
    F.dropout(1) under a seed, then F.dropout(x) is drawn again under the same seed. x defaults
    to a seeded float64 batch shaped like SeedCNN's flattened features (64, 576)."""
    if x is None:
        x = torch.randn(64, 576, generator=torch.Generator().manual_seed(int(seed)), dtype=torch.float64)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        m = F.dropout(torch.ones_like(x), p, training=True) != 0
        torch.manual_seed(seed)
        ref = F.dropout(x, p, training=True)
    return float((inverted_dropout(x, p, m).y - ref).abs().max())


@dataclass(frozen=True)
class PenaltyTrace:
    """The L2 penalty of weight decay on a set of parameters."""

    lam: float  # λ
    sq_norm: float  # ‖θ‖² = Σ_i θ_i²
    penalty: float  # (λ/2)‖θ‖²
    count: int  # how many numbers θ holds


def l2_penalty(theta: Iterable[torch.Tensor], lam: float) -> PenaltyTrace:
    """(λ/2)‖θ‖² over every tensor in θ (weights and biases alike, as torch's weight_decay)."""
    tensors = [t.detach().double() for t in theta]
    # ‖θ‖² = Σ_i θ_i²
    sq_norm = float(sum((t * t).sum() for t in tensors))
    # (λ/2)‖θ‖²
    penalty = lam / 2 * sq_norm
    return PenaltyTrace(float(lam), sq_norm, penalty, sum(t.numel() for t in tensors))


def model_penalty(model: nn.Module, lam: float) -> PenaltyTrace:
    """l2_penalty of all of a model's parameters."""
    return l2_penalty(model.parameters(), lam)


def adam_l2_gap(lam: float, lr: float = 1e-3, steps: int = 5, n: int = 64, seed: int = 0) -> float:
    """max |θ_A − θ_B| after `steps` Adam steps (float64) on the same gradients g_t of a loss:
    A: torch.optim.Adam(weight_decay=λ) given g_t;  B: Adam(weight_decay=0) given the gradient of
    ⟨g_t, θ⟩ + (λ/2)‖θ‖², i.e. g_t + λθ. Zero (to rounding) when weight_decay is L2 in the gradient."""
    gen = torch.Generator().manual_seed(int(seed))
    theta0 = torch.randn(n, generator=gen, dtype=torch.float64)
    grads = [torch.randn(n, generator=gen, dtype=torch.float64) for _ in range(steps)]
    a, b = nn.Parameter(theta0.clone()), nn.Parameter(theta0.clone())
    opt_a = torch.optim.Adam([a], lr=lr, weight_decay=lam)
    opt_b = torch.optim.Adam([b], lr=lr, weight_decay=0.0)
    for g in grads:
        opt_a.zero_grad()
        a.grad = g.clone()
        opt_a.step()
        opt_b.zero_grad()
        # L_total = ⟨g, θ⟩ + (λ/2)‖θ‖²
        loss = (g * b).sum() + lam / 2 * (b * b).sum()
        loss.backward()
        opt_b.step()
    return float((a - b).detach().abs().max())
