"""Initialisation: how the scale of random weights carries a signal through a deep MLP.

For z_l = W_l a_{l−1} with independent zero-mean weights of variance Var[W] and n_in inputs,

    Var[z_l] = n_in · Var[W] · E[a_{l−1}²],

and E[a²] = Var[z]/2 for ReLU (half the symmetric z is cut), ≈ Var[z] for tanh near 0. So
the signal keeps its size only when n_in Var[W] is about 1 (tanh) or 2 (ReLU): Xavier (Glorot)
std = √(2/(n_in + n_out)) (= 1/√n for a square layer; nn.init.xavier_normal_ with its default
gain 1), Kaiming (He) std = √2/√n_in (nn.init.kaiming_normal_ with nonlinearity="relu", fan-in).
A fixed std (0.01, 0.2) is right for one width only: too small, the signal vanishes
geometrically; too large, it explodes (ReLU) or saturates (tanh). Float64 throughout, so a
vanishing signal is seen as a tiny number, not a float32 zero.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch

SCHEMES = ("small", "xavier", "kaiming", "large")
ACTIVATIONS = ("tanh", "relu")
FIXED_STD = {"small": 0.01, "large": 0.2}


def gain(nonlinearity: str) -> float:
    """The gain torch.nn.init.calculate_gain gives: linear 1, tanh 5/3, ReLU √2."""
    gains = {"linear": 1.0, "tanh": 5.0 / 3.0, "relu": math.sqrt(2.0)}
    if nonlinearity not in gains:
        raise ValueError(f"unknown nonlinearity {nonlinearity!r}")
    return gains[nonlinearity]


def init_std(scheme: str, n_in: int, n_out: int) -> float:
    """The std of the weights of an n_out × n_in layer under `scheme`."""
    if scheme == "xavier":
        # std = gain · √(2/(n_in + n_out)), gain = 1 (Glorot's, torch's default)
        return gain("linear") * math.sqrt(2.0 / (n_in + n_out))
    if scheme == "kaiming":
        # std = gain / √n_in, gain = √2 (He's, for ReLU)
        return gain("relu") / math.sqrt(n_in)
    if scheme in FIXED_STD:
        return FIXED_STD[scheme]
    raise ValueError(f"unknown scheme {scheme!r}")


def init_weight(scheme: str, n_in: int, n_out: int, generator: torch.Generator,
                dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """W (n_out, n_in) ~ N(0, std²), drawn as torch's init functions draw (normal_ with the generator)."""
    W = torch.empty(n_out, n_in, dtype=dtype)
    return W.normal_(0.0, init_std(scheme, n_in, n_out), generator=generator)


@dataclass(frozen=True)
class InitTrace:
    """The signal through `depth` layers, one value per layer l = 1 … depth."""

    scheme: str
    activation: str
    std_W: float  # the weights' std
    gain_per_layer: float  # n_in · Var[W]
    var_z: torch.Tensor  # (depth,) measured Var[z_l] over batch and units
    std_a: torch.Tensor  # (depth,) measured std of a_l = act(z_l)
    predicted_var_z: torch.Tensor  # (depth,) n_in Var[W] E[a_{l−1}²], from the measured previous layer
    saturated: torch.Tensor  # (depth,) tanh: fraction |a| > 0.99; ReLU: fraction a = 0

    def first(self, depth: int) -> InitTrace:
        """The first `depth` layers: what a network of that depth shows (its weights are drawn first)."""
        return replace(self, var_z=self.var_z[:depth], std_a=self.std_a[:depth],
                       predicted_var_z=self.predicted_var_z[:depth], saturated=self.saturated[:depth])


def _act(activation: str, z: torch.Tensor) -> torch.Tensor:
    if activation == "tanh":
        return torch.tanh(z)
    if activation == "relu":
        return torch.relu(z)
    raise ValueError(f"unknown activation {activation!r}")


def forward_signal(scheme: str, activation: str, depth: int, width: int, batch: int = 64, seed: int = 0) -> InitTrace:
    """Random inputs x ~ N(0, 1) of shape (batch, width) through `depth` bias-free layers of `width` units."""
    gen = torch.Generator().manual_seed(seed)
    a = torch.randn(batch, width, generator=gen, dtype=torch.float64)  # a_0 = x: (batch, width)
    var_z, std_a, pred, sat = [], [], [], []
    std_W = init_std(scheme, width, width)
    for _ in range(depth):
        W = init_weight(scheme, width, width, gen)
        # Var[z_l] = n_in · Var[W] · E[a_{l−1}²]
        pred.append(width * std_W**2 * float((a**2).mean()))
        # z_l = a_{l−1} W_lᵀ: (batch, n_in) @ (n_in, n_out)
        z = a @ W.T
        a = _act(activation, z)
        var_z.append(float(z.var(correction=0)))
        std_a.append(float(a.std(correction=0)))
        sat.append(float((a.abs() > 0.99).double().mean() if activation == "tanh" else (a == 0).double().mean()))
    f64 = lambda v: torch.tensor(v, dtype=torch.float64)  # noqa: E731
    return InitTrace(scheme, activation, std_W, width * std_W**2, f64(var_z), f64(std_a), f64(pred), f64(sat))


def study(activation: str, depth: int, width: int, batch: int = 64, seed: int = 0) -> dict[str, InitTrace]:
    """The four schemes on the same inputs (the same seed): scheme → trace."""
    return {s: forward_signal(s, activation, depth, width, batch, seed) for s in SCHEMES}


def torch_init_gap(n_in: int, n_out: int, seed: int = 0) -> float:
    """max |Δ| between our Xavier and Kaiming weights and nn.init.xavier_normal_ / kaiming_normal_
    (fan-in, ReLU) drawn from generators in the same state: 0 when the std and the draw agree."""
    def ours(scheme):
        return init_weight(scheme, n_in, n_out, torch.Generator().manual_seed(seed))

    def fresh():
        return torch.empty(n_out, n_in, dtype=torch.float64), torch.Generator().manual_seed(seed)

    w, g = fresh()
    xavier = (ours("xavier") - torch.nn.init.xavier_normal_(w, generator=g)).abs().max()
    w, g = fresh()
    kaiming = (ours("kaiming") - torch.nn.init.kaiming_normal_(w, nonlinearity="relu", generator=g)).abs().max()
    return float(max(xavier, kaiming))
