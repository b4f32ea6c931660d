"""Two-dimensional loss surfaces for the optimisers: an ill-conditioned quadratic, Rosenbrock's
valley, a saddle and Himmelblau's four minima, each with its analytic gradient, a default start,
a plot window and a grid evaluator for contours.

Every f takes points of shape (..., 2) (one point or a whole grid) and returns f at each.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from engine.ops.optim import Box, OptimError

SURFACES = ("quadratic", "rosenbrock", "saddle", "himmelblau")
KAPPA_MIN, KAPPA_MAX = 1.0, 1000.0
GRID_MAX = 401  # grid points per axis a contour may ask for


@dataclass(frozen=True)
class Surface:
    """A 2-D loss surface: f and its gradient, where to start, which lr suits it, where to look."""

    name: str
    f: Callable[[torch.Tensor], torch.Tensor]
    grad: Callable[[torch.Tensor], torch.Tensor] | None  # the analytic ∇f (None: autograd differentiates f)
    start: tuple[float, float]
    lr: float  # a learning rate at which the race is worth watching
    window: Box  # the plot window; a start must lie inside it
    minima: tuple  # ((x, y), …) the global minima, for the plot
    log_contours: bool  # f spans decades: draw contours of log10(1 + f)
    kappa: float | None = None


@dataclass(frozen=True)
class SurfaceGrid:
    """f on a regular grid: Z[j, i] = f(xs[i], ys[j]) (rows are y, as a contour plot wants)."""

    xs: torch.Tensor
    ys: torch.Tensor
    Z: torch.Tensor


def _xy(p: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return p[..., 0], p[..., 1]


def _field(pair: Callable) -> Callable[[torch.Tensor], torch.Tensor]:
    """∇f from `pair(x, y) → (∂f/∂x, ∂f/∂y)`, written once for floats and tensors alike. One point
    (what an optimiser asks for) goes through Python floats: the same operations in the same
    order, so the same numbers, ~10× faster than a handful of tiny tensor operations."""

    def grad(p: torch.Tensor) -> torch.Tensor:
        if p.dim() == 1:
            return torch.tensor(pair(*p.tolist()), dtype=torch.float64)
        return torch.stack(pair(p[..., 0], p[..., 1]), dim=-1)

    return grad


def quadratic(kappa: float = 10.0) -> Surface:
    """f = ½ (x² + κ y²): curvature 1 along x and κ along y, condition number κ."""
    kappa = check_kappa(kappa)

    def f(p):
        x, y = _xy(p)
        # f = ½ (x² + κ y²)
        return 0.5 * (x * x + kappa * y * y)

    def grad(x, y):
        # ∇f = (x, κ y)
        return x, kappa * y

    return Surface("quadratic", f, _field(grad), (-2.5, 1.5), 0.1, Box(-3.0, 3.0, -2.0, 2.0), ((0.0, 0.0),),
                   False, kappa)


def rosenbrock(a: float = 1.0, b: float = 100.0) -> Surface:
    """f = (a − x)² + b (y − x²)²: a curved, flat-bottomed valley; the minimum is (a, a²)."""

    def f(p):
        x, y = _xy(p)
        # f = (a − x)² + b (y − x²)²
        return (a - x) ** 2 + b * (y - x * x) ** 2

    def grad(x, y):
        r = y - x * x
        # ∂f/∂x = −2 (a − x) − 4 b x (y − x²),  ∂f/∂y = 2 b (y − x²)
        return -2 * (a - x) - 4 * b * x * r, 2 * b * r

    return Surface("rosenbrock", f, _field(grad), (-1.5, 2.0), 2e-3, Box(-2.0, 2.0, -1.0, 3.0), ((a, a * a),), True)


def saddle() -> Surface:
    """f = x² − y²: a minimum along x, a maximum along y; the origin is a saddle, not a minimum."""

    def f(p):
        x, y = _xy(p)
        # f = x² − y²
        return x * x - y * y

    def grad(x, y):
        # ∇f = (2x, −2y)
        return 2 * x, -2 * y

    return Surface("saddle", f, _field(grad), (-1.8, 0.01), 0.05, Box(-2.0, 2.0, -2.0, 2.0), (), False)


HIMMELBLAU_MINIMA = ((3.0, 2.0), (-2.805118, 3.131312), (-3.779310, -3.283186), (3.584428, -1.848126))


def himmelblau() -> Surface:
    """f = (x² + y − 11)² + (x + y² − 7)²: four minima (f = 0), one maximum near (−0.27, −0.92)."""

    def f(p):
        x, y = _xy(p)
        # f = (x² + y − 11)² + (x + y² − 7)²
        return (x * x + y - 11) ** 2 + (x + y * y - 7) ** 2

    def grad(x, y):
        u, w = x * x + y - 11, x + y * y - 7
        # ∂f/∂x = 4 x u + 2 w,  ∂f/∂y = 2 u + 4 y w
        return 4 * x * u + 2 * w, 2 * u + 4 * y * w

    return Surface("himmelblau", f, _field(grad), (-0.3, -0.9), 0.01, Box(-5.0, 5.0, -5.0, 5.0),
                   HIMMELBLAU_MINIMA, True)


def check_kappa(kappa) -> float:
    if not (isinstance(kappa, int | float) and KAPPA_MIN <= kappa <= KAPPA_MAX):
        raise OptimError("bad_kappa", f"κ must be between {KAPPA_MIN:g} and {KAPPA_MAX:g} (got {kappa!r})",
                         value=kappa, low=KAPPA_MIN, high=KAPPA_MAX)
    return float(kappa)


def surface(name: str, kappa: float = 10.0) -> Surface:
    """A surface by name (κ is the quadratic's condition number; the others ignore it)."""
    makers = {"quadratic": lambda: quadratic(kappa), "rosenbrock": rosenbrock, "saddle": saddle,
              "himmelblau": himmelblau}
    if name not in makers:
        raise OptimError("unknown_surface", f"unknown surface {name!r}; choose one of {', '.join(SURFACES)}",
                         surface=name, known=", ".join(SURFACES))
    return makers[name]()


def check_start(s: Surface, start) -> tuple[float, float]:
    """The start as two floats, or OptimError("off_window") when it is not a finite point in the window."""
    try:
        x, y = float(start[0]), float(start[1])
    except (TypeError, ValueError, IndexError) as e:
        raise OptimError("bad_start", f"a start is two numbers (got {start!r})", start=repr(start)) from e
    w = s.window
    if not (math.isfinite(x) and math.isfinite(y) and w.contains(x, y)):
        raise OptimError("off_window", f"the start ({x:g}, {y:g}) lies outside the window "
                         f"x ∈ [{w.x_lo:g}, {w.x_hi:g}], y ∈ [{w.y_lo:g}, {w.y_hi:g}]",
                         x=x, y=y, x_lo=w.x_lo, x_hi=w.x_hi, y_lo=w.y_lo, y_hi=w.y_hi)
    return x, y


def grid(s: Surface, n: int = 161) -> SurfaceGrid:
    """f on an n × n grid over the surface's window (n bounded by GRID_MAX)."""
    if isinstance(n, bool) or not isinstance(n, int) or not 2 <= n <= GRID_MAX:
        raise OptimError("bad_grid", f"a grid has 2 … {GRID_MAX} points per axis (got {n!r})", n=n)
    w = s.window
    xs = torch.linspace(w.x_lo, w.x_hi, n, dtype=torch.float64)
    ys = torch.linspace(w.y_lo, w.y_hi, n, dtype=torch.float64)
    Y, X = torch.meshgrid(ys, xs, indexing="ij")  # (n, n): rows y, columns x
    with torch.no_grad():
        Z = s.f(torch.stack([X, Y], dim=-1))
    return SurfaceGrid(xs, ys, Z)
