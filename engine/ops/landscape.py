"""The real loss surface: the shipped CNN's held-out loss on a plane through its trained weights.

Li et al. (2018), "Visualizing the loss landscape of neural nets": draw two random directions δ
and η in weight space, each filter-normalised — every filter (an output channel of a convolution,
a row of a dense layer) of the direction is rescaled to the norm of the same filter of θ*; the
directions are zero on the biases — and evaluate f(a, b) = L(θ* + a δ + b η) on a grid.
The trajectories then run on a bicubic (Catmull–Rom) interpolant of that grid: a smooth f whose
gradient torch.autograd can take in microseconds instead of a forward and backward pass.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from engine.data.digits import embedded_mnist
from engine.models.cnn import keras_flatten, load_network
from engine.ops.optim import Box, OptimError
from engine.ops.surfaces import Surface, SurfaceGrid

GRID_N, SPAN, DIGITS, SEED = 21, 1.0, 256, 0
GRID_MAX, DIGITS_MAX = 41, 1000


@dataclass(frozen=True)
class Landscape:
    """loss[j, i] = L(θ* + a_i δ + b_j η) on `digits` held-out digits (rows b, columns a)."""

    a: torch.Tensor  # (n,) float64
    b: torch.Tensor  # (n,)
    loss: torch.Tensor  # (n, n) float64
    digits: int
    seed: int
    trained: bool  # the shipped checkpoint (False: the seed-0 untrained model stood in)


def filter_normalised(params: dict[str, torch.Tensor], generator: torch.Generator) -> dict[str, torch.Tensor]:
    """A Gaussian direction d with ‖d_filter‖ = ‖θ*_filter‖ for every filter; zero on biases (1-D)."""
    d = {}
    for name, theta in params.items():
        if theta.dim() <= 1:  # a bias: the direction leaves it where it is
            d[name] = torch.zeros_like(theta)
            continue
        r = torch.randn(theta.shape, generator=generator, dtype=theta.dtype)
        # d_filter ← d_filter · ‖θ*_filter‖ / ‖d_filter‖   (a filter = one slice along the output axis)
        norm_theta = theta.flatten(1).norm(dim=1)
        norm_d = r.flatten(1).norm(dim=1)
        d[name] = r * (norm_theta / norm_d).view(-1, *([1] * (theta.dim() - 1)))
    return d


def logits(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """SeedCNN's forward with each max-pool before its ReLU: the same numbers, since ReLU is
    monotone (max(relu(z)) = relu(max(z))), at a quarter of the ReLUs — half the time here."""
    z = F.relu(F.max_pool2d(model.conv1(x), 2))  # (N, 32, 13, 13)
    z = F.relu(F.max_pool2d(model.conv2(z), 2))  # (N, 64, 5, 5)
    z = F.relu(model.conv3(z))  # (N, 64, 3, 3)
    z = F.relu(model.fc1(keras_flatten(z)))  # (N, 64)
    return model.fc2(z)  # (N, 10)


def plane_loss(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, a: torch.Tensor, b: torch.Tensor,
               seed: int = SEED, progress: Callable[[int, int], None] | None = None) -> Landscape:
    """L(θ* + a δ + b η) (mean cross-entropy on x, y) at every (a_i, b_j); `progress(done, total)`
    is called after each row of the grid. `model` is left as it was (a copy is walked)."""
    theta = {k: v.detach().clone() for k, v in model.named_parameters()}
    gen = torch.Generator().manual_seed(seed)
    delta, eta = filter_normalised(theta, gen), filter_normalised(theta, gen)
    # a private copy in channels-last layout (≈ 1.5× faster convolutions); its weights are overwritten
    # in place at each point, which keeps oneDNN's fast path (a fresh tensor per call does not)
    walker = copy.deepcopy(model).eval().to(memory_format=torch.channels_last)
    weights = dict(walker.named_parameters())
    x = x.contiguous(memory_format=torch.channels_last)
    loss = torch.empty(len(b), len(a), dtype=torch.float64)
    with torch.no_grad():
        for j, bj in enumerate(b.tolist()):
            for i, ai in enumerate(a.tolist()):
                for k, w in weights.items():
                    # θ = θ* + a δ + b η
                    w.copy_(theta[k] + ai * delta[k] + bj * eta[k])
                loss[j, i] = float(F.cross_entropy(logits(walker, x), y))
            if progress is not None:
                progress(j + 1, len(b))
    return Landscape(a.double(), b.double(), loss, int(x.shape[0]), seed, True)


def cnn_landscape(n: int = GRID_N, span: float = SPAN, digits: int = DIGITS, seed: int = SEED,
                  progress: Callable[[int, int], None] | None = None) -> Landscape:
    """The shipped CNN's plane: an n × n grid over [−span, span]² on the first `digits` held-out
    digits of the embedded MNIST split, float32 on the CPU."""
    if not (isinstance(n, int) and 3 <= n <= GRID_MAX and isinstance(digits, int) and 1 <= digits <= DIGITS_MAX):
        raise OptimError("bad_grid", f"a plane has 3 … {GRID_MAX} points per axis and 1 … {DIGITS_MAX} digits",
                         n=n, digits=digits)
    net = load_network()
    model = net.model.to("cpu").float().eval()
    split = embedded_mnist()
    x = torch.from_numpy(split.x_test[:digits]).unsqueeze(1)  # (N, 1, 28, 28)
    y = torch.from_numpy(split.y_test[:digits])
    axis = torch.linspace(-span, span, n, dtype=torch.float32)
    land = plane_loss(model, x, y, axis, axis, seed, progress)
    return Landscape(land.a, land.b, land.loss, land.digits, seed, net.trained)


# ----- a smooth f over the grid, for the optimisers -------------------------------------------------------

def _catmull_rom(t: torch.Tensor) -> torch.Tensor:
    """The four cubic-convolution weights (a = −½) of the samples at −1, 0, 1, 2, for 0 ≤ t ≤ 1: (..., 4)."""
    t2, t3 = t * t, t * t * t
    return torch.stack([(-t3 + 2 * t2 - t) / 2, (3 * t3 - 5 * t2 + 2) / 2,
                        (-3 * t3 + 4 * t2 + t) / 2, (t3 - t2) / 2], dim=-1)


def _catmull_rom_slope(t: torch.Tensor) -> torch.Tensor:
    """d/dt of the four weights above."""
    t2 = t * t
    return torch.stack([(-3 * t2 + 4 * t - 1) / 2, (9 * t2 - 10 * t) / 2,
                        (-9 * t2 + 8 * t + 1) / 2, (3 * t2 - 2 * t) / 2], dim=-1)


@dataclass(frozen=True)
class Bicubic:
    """The bicubic Catmull–Rom interpolant of a grid (C¹, equal to the grid at its nodes), with its
    gradient written out. L is the grid extended by one node on each side (linearly)."""

    L: torch.Tensor  # (n_b + 2, n_a + 2)
    a0: float
    b0: float
    ha: float
    hb: float

    def _cell(self, p: torch.Tensor):
        u, v = (p[..., 0] - self.a0) / self.ha, (p[..., 1] - self.b0) / self.hb
        i = u.detach().floor().clamp(0, self.L.shape[1] - 4).long()
        j = v.detach().floor().clamp(0, self.L.shape[0] - 4).long()
        k = torch.arange(4)
        # nodes j−1 … j+2 and i−1 … i+2 of the original grid: (..., 4, 4)
        patch = self.L[(j[..., None] + k)[..., :, None], (i[..., None] + k)[..., None, :]]
        return u - i, v - j, patch

    def f(self, p: torch.Tensor) -> torch.Tensor:
        """f at p (..., 2) = (a, b)."""
        tu, tv, patch = self._cell(p)
        # f = Σ_r Σ_c w_r(t_v) w_c(t_u) L[j−1+r, i−1+c]
        return torch.einsum("...r,...rc,...c->...", _catmull_rom(tv), patch, _catmull_rom(tu))

    def grad(self, p: torch.Tensor) -> torch.Tensor:
        """∇f at p: (∂f/∂a, ∂f/∂b), the weights' slopes divided by the grid steps."""
        if p.dim() == 1:  # one point, as an optimiser asks: the same sums in Python floats, ~50× faster
            return torch.tensor(self._point_grad(*p.tolist()), dtype=torch.float64)
        tu, tv, patch = self._cell(p)
        wu, wv = _catmull_rom(tu), _catmull_rom(tv)
        # ∂f/∂a = Σ_r Σ_c w_r(t_v) w'_c(t_u) L[…] / h_a,  ∂f/∂b = Σ_r Σ_c w'_r(t_v) w_c(t_u) L[…] / h_b
        da = torch.einsum("...r,...rc,...c->...", wv, patch, _catmull_rom_slope(tu)) / self.ha
        db = torch.einsum("...r,...rc,...c->...", _catmull_rom_slope(tv), patch, wu) / self.hb
        return torch.stack([da, db], dim=-1)


    def _point_grad(self, a: float, b: float) -> tuple[float, float]:
        u, v = (a - self.a0) / self.ha, (b - self.b0) / self.hb
        i = min(max(math.floor(u), 0), self.L.shape[1] - 4)
        j = min(max(math.floor(v), 0), self.L.shape[0] - 4)
        tu, tv = u - i, v - j
        wu, wv = _weights(tu), _weights(tv)
        su, sv = _slopes(tu), _slopes(tv)
        rows = self.L[j : j + 4, i : i + 4].tolist()
        # ∂f/∂a = Σ_r Σ_c w_r(t_v) w'_c(t_u) L[…] / h_a,  ∂f/∂b = Σ_r Σ_c w'_r(t_v) w_c(t_u) L[…] / h_b
        da = sum(wv[r] * su[c] * rows[r][c] for r in range(4) for c in range(4)) / self.ha
        db = sum(sv[r] * wu[c] * rows[r][c] for r in range(4) for c in range(4)) / self.hb
        return da, db


def _weights(t: float) -> tuple[float, ...]:
    t2, t3 = t * t, t * t * t
    return ((-t3 + 2 * t2 - t) / 2, (3 * t3 - 5 * t2 + 2) / 2, (-3 * t3 + 4 * t2 + t) / 2, (t3 - t2) / 2)


def _slopes(t: float) -> tuple[float, ...]:
    t2 = t * t
    return ((-3 * t2 + 4 * t - 1) / 2, (9 * t2 - 10 * t) / 2, (-9 * t2 + 8 * t + 1) / 2, (3 * t2 - 2 * t) / 2)


def bicubic(land: Landscape) -> Bicubic:
    """The plane's interpolant; its f and grad take points (..., 2) = (a, b)."""
    L = land.loss
    # linear extension: L_{−1} = 2 L_0 − L_1 on every side
    L = torch.cat([2 * L[:1] - L[1:2], L, 2 * L[-1:] - L[-2:-1]], dim=0)
    L = torch.cat([2 * L[:, :1] - L[:, 1:2], L, 2 * L[:, -1:] - L[:, -2:-1]], dim=1)
    return Bicubic(L, float(land.a[0]), float(land.b[0]), float(land.a[1] - land.a[0]), float(land.b[1] - land.b[0]))


def interpolant(land: Landscape) -> Callable[[torch.Tensor], torch.Tensor]:
    """f(p) for points p = (a, b): the bicubic Catmull–Rom interpolant of land.loss."""
    return bicubic(land).f


def window(land: Landscape) -> Box:
    return Box(float(land.a[0]), float(land.a[-1]), float(land.b[0]), float(land.b[-1]))


def as_surface(land: Landscape) -> Surface:
    """The plane as a Surface for the optimisers: f the interpolant and its gradient, its window
    the grid, a start in a corner of the basin, and θ* (a, b) = (0, 0) marked."""
    w, B = window(land), bicubic(land)
    start = (0.7 * w.x_lo, 0.7 * w.y_hi)
    return Surface("cnn", B.f, B.grad, start, 0.01, w, ((0.0, 0.0),), True)


def as_grid(land: Landscape) -> SurfaceGrid:
    """The computed grid itself, for the contours (no interpolation)."""
    return SurfaceGrid(land.a, land.b, land.loss)
