"""Loss functions at the output of a classifier: softmax, cross-entropy, squared error on the
probabilities, their gradients with respect to the logits, and two studies the loss page draws
(why squared error's gradient vanishes when the softmax saturates; where log(softmax(z))
underflows in float32 while log-sum-exp does not).

Symbols: z the logits (N, K) or (K,), p = softmax(z), y the true class indices, Y their one-hot
rows, L the loss (a mean over the batch). Every function is equal to its torch reference
(F.softmax, F.log_softmax, F.cross_entropy, F.mse_loss, torch.autograd): tests/unit/test_loss.py.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from engine.limits import LimitError

# the names a LimitError carries (code "limit", translated by the page as err_limit with name_<name>)
LABEL, WRONG_CLASS = "label", "wrong_class"

# ----- the functions ---------------------------------------------------------------------------


def softmax(z: torch.Tensor) -> torch.Tensor:
    """p_k = e^{z_k − m} / Σ_j e^{z_j − m} over the last axis, m = max_j z_j (the same p, no overflow)."""
    m = z.amax(dim=-1, keepdim=True)
    e = torch.exp(z - m)
    # p_k = e_k / Σ_j e_j
    return e / e.sum(dim=-1, keepdim=True)


def log_softmax(z: torch.Tensor) -> torch.Tensor:
    """log p_k by log-sum-exp: never the log of a probability that has underflowed to 0."""
    m = z.amax(dim=-1, keepdim=True)
    # log p_k = z_k − (m + log Σ_j exp(z_j − m))
    return z - (m + torch.log(torch.exp(z - m).sum(dim=-1, keepdim=True)))


def check_labels(y: torch.Tensor, K: int) -> torch.Tensor:
    """The labels as int64 indices in 0 … K−1, or LimitError('label', …) naming the first bad one."""
    y = torch.as_tensor(y)
    if y.is_floating_point() or y.is_complex() or y.dtype == torch.bool:
        raise LimitError(LABEL, str(y.dtype), 0, K - 1)
    y = y.long()
    bad = (y < 0) | (y >= K)
    if bad.any():
        raise LimitError(LABEL, int(y[bad][0]), 0, K - 1)
    return y


def one_hot(y: torch.Tensor, K: int, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """Y_nk = 1 if k = y_n else 0: (N,) → (N, K)."""
    y = check_labels(y, K)
    Y = torch.zeros(*y.shape, K, dtype=dtype, device=y.device)
    return Y.scatter_(-1, y.unsqueeze(-1), 1.0)


def cross_entropy(z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy over the batch from logits z (N, K) and labels y (N,), like F.cross_entropy."""
    y = check_labels(y, z.shape[-1])
    log_p = log_softmax(z)
    # L = −(1/N) Σ_n log p_{n, y_n}
    return -log_p.gather(-1, y.unsqueeze(-1)).mean()


def cross_entropy_of_probs(p: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The article's `sparse_categorical_crossentropy` on softmax outputs: the log of p itself,
    −(1/N) Σ_n log p_{n, y_n}; +inf as soon as a p_{n, y_n} has underflowed to 0."""
    y = check_labels(y, p.shape[-1])
    # L = −(1/N) Σ_n log p_{n, y_n}
    return -torch.log(p.gather(-1, y.unsqueeze(-1))).mean()


def squared_error(p: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Squared error on the probabilities: L = (1/N) Σ_n Σ_k (p_nk − Y_nk)², i.e.
    F.mse_loss(p, Y, reduction="sum") / N (K times torch's default "mean" over all N·K entries)."""
    Y = one_hot(y, p.shape[-1], p.dtype)
    # L = (1/N) Σ_n Σ_k (p_nk − Y_nk)²
    return ((p - Y) ** 2).sum(dim=-1).mean()


def softmax_jacobian(p: torch.Tensor) -> torch.Tensor:
    """J = ∂p/∂z = diag(p) − p pᵀ for each row: (…, K) → (…, K, K); symmetric, so Jᵀ = J."""
    # J_kj = p_k (δ_kj − p_j)
    return torch.diag_embed(p) - p.unsqueeze(-1) * p.unsqueeze(-2)


def cross_entropy_grad(z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """∂L/∂z for the mean cross-entropy of softmax(z): (p − Y)/N, (N, K)."""
    p = softmax(z)
    Y = one_hot(y, z.shape[-1], z.dtype)
    # ∂L/∂z_nk = (p_nk − Y_nk) / N
    return (p - Y) / z.shape[0]


def squared_error_grad(z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """∂L/∂z for the squared error of p = softmax(z): Jᵀ · 2(p − Y) / N, one Jacobian per row."""
    p = softmax(z)
    Y = one_hot(y, z.shape[-1], z.dtype)
    J = softmax_jacobian(p)  # (N, K, K)
    # ∂L/∂z_n = J_nᵀ · 2(p_n − Y_n) / N
    return torch.einsum("nkj,nk->nj", J, 2 * (p - Y)) / z.shape[0]


# ----- one digit, written out ------------------------------------------------------------------


@dataclass(frozen=True)
class LossTrace:
    """Both losses of one example (no batch axis), every number the page writes out. float64."""

    z: torch.Tensor  # (K,) logits
    p: torch.Tensor  # (K,) softmax(z)
    log_p: torch.Tensor  # (K,) log-softmax(z)
    y: int  # the true class
    Y: torch.Tensor  # (K,) one-hot of y
    L_ce: float  # −log p_y
    L_se: float  # Σ_k (p_k − Y_k)²
    se_terms: torch.Tensor  # (K,) (p_k − Y_k)²
    J: torch.Tensor  # (K, K) softmax Jacobian diag(p) − p pᵀ
    grad_ce: torch.Tensor  # (K,) p − Y
    grad_se: torch.Tensor  # (K,) Jᵀ · 2(p − Y)

    @property
    def K(self) -> int:
        return self.z.shape[0]


def loss_trace(z: torch.Tensor, y: int) -> LossTrace:
    """Cross-entropy and squared error of one logit vector z (K,) for the true class y, in float64."""
    z64 = torch.as_tensor(z).detach().cpu().double().reshape(1, -1)
    y1 = check_labels(torch.tensor([y]), z64.shape[-1])
    p = softmax(z64)
    Y = one_hot(y1, z64.shape[-1])
    return LossTrace(
        z=z64[0], p=p[0], log_p=log_softmax(z64)[0], y=int(y1[0]), Y=Y[0],
        L_ce=float(cross_entropy(z64, y1)), L_se=float(squared_error(p, y1)),
        se_terms=((p - Y) ** 2)[0], J=softmax_jacobian(p)[0],
        grad_ce=cross_entropy_grad(z64, y1)[0], grad_se=squared_error_grad(z64, y1)[0],
    )


# ----- why squared error stops learning -----------------------------------------------------------


@dataclass(frozen=True)
class SaturationStudy:
    """Both gradients' norms as one wrong class's logit z_j is raised, the others held fixed."""

    y: int  # the true class
    j: int  # the wrong class whose logit grows
    z_j: torch.Tensor  # (S,) the values z_j takes
    margin: torch.Tensor  # (S,) z_j − z_y: > 0 once the network prefers the wrong class
    L_ce: torch.Tensor  # (S,)
    L_se: torch.Tensor  # (S,)
    norm_ce: torch.Tensor  # (S,) ‖p − Y‖
    norm_se: torch.Tensor  # (S,) ‖Jᵀ · 2(p − Y)‖
    start: int  # the index of the learner's own logits (z_j unchanged)


def strongest_wrong(z: torch.Tensor, y: int) -> int:
    """The wrong class with the largest logit: the one a confident mistake would name."""
    z = torch.as_tensor(z).detach().double().clone().reshape(-1)
    z[y] = -math.inf
    return int(z.argmax())


def saturation_study(z: torch.Tensor, y: int, j: int | None = None, beyond: float = 15.0,
                     below: float = 10.0, points: int = 121) -> SaturationStudy:
    """Raise z_j from `below` under its own value (or under z_y, if lower) until z_j − z_y = `beyond`,
    computing both losses and both gradient norms at each of `points` values (float64)."""
    z0 = torch.as_tensor(z).detach().cpu().double().reshape(-1)
    y = int(check_labels(torch.tensor([y]), z0.shape[0])[0])
    j = strongest_wrong(z0, y) if j is None else int(check_labels(torch.tensor([j]), z0.shape[0])[0])
    if j == y:
        raise LimitError(WRONG_CLASS, j, 0, z0.shape[0] - 1)
    lo = min(float(z0[j]), float(z0[y])) - below
    hi = max(float(z0[j]), float(z0[y]) + beyond)
    grid = torch.linspace(lo, hi, points, dtype=torch.float64)
    grid, _ = torch.sort(torch.cat([grid, z0[j : j + 1]]))  # the learner's own point on the curve
    Z = z0.repeat(grid.shape[0], 1)
    Z[:, j] = grid
    Y = torch.full((grid.shape[0],), y)
    N = grid.shape[0]  # the gradients below are per example: undo the 1/N of the batch mean
    return SaturationStudy(
        y=y, j=j, z_j=grid, margin=grid - z0[y],
        L_ce=-log_softmax(Z)[:, y], L_se=((softmax(Z) - one_hot(Y, Z.shape[1])) ** 2).sum(-1),
        norm_ce=torch.linalg.vector_norm(N * cross_entropy_grad(Z, Y), dim=-1),
        norm_se=torch.linalg.vector_norm(N * squared_error_grad(Z, Y), dim=-1),
        start=int(torch.searchsorted(grid, z0[j])),
    )


# ----- log of a softmax against log-sum-exp, in float32 -------------------------------------------


@dataclass(frozen=True)
class UnderflowStudy:
    """The loss of the true class y as its logit falls `gap` below the largest other logit, three ways:
    the log of torch's float32 softmax (the article's loss on softmax outputs), F.cross_entropy in
    float32 (log-sum-exp), and log-sum-exp in float64 (the exact value)."""

    y: int
    gaps: torch.Tensor  # (G,) z_max − z_y, float64
    p_y32: torch.Tensor  # (G,) F.softmax(z, float32)[y]
    article32: torch.Tensor  # (G,) −log F.softmax(z, float32)[y]: +inf once p_y32 = 0
    lse32: torch.Tensor  # (G,) F.cross_entropy(z, y) in float32
    exact: torch.Tensor  # (G,) −log_softmax(z)[y] in float64
    break_gap: float  # the smallest gap (float32 logits) at which p_y32 = 0 exactly
    subnormal_gap: float  # the smallest gap at which p_y32 drops below float32's smallest normal number
    equal64: float  # |article − F.cross_entropy| in float64 at the learner's own logits


def logits_with_gap(z: torch.Tensor, y: int, gap: float, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """The logits z (K,) with z_y moved to `gap` below the largest other logit; (1, K) in dtype."""
    z = torch.as_tensor(z).detach().cpu().double().clone().reshape(-1)
    others = torch.cat([z[:y], z[y + 1 :]])
    # z_y = max_{k≠y} z_k − gap
    z[y] = others.max() - gap
    return z.to(dtype).unsqueeze(0)


def first_gap(z: torch.Tensor, y: int, hit, lo: float = 0.0, hi: float = 400.0, steps: int = 60) -> float:
    """Bisection for the smallest gap where hit(p_y) is true for float32 softmax (hit false at lo, true at hi)."""

    def p_y(gap: float) -> float:
        return float(F.softmax(logits_with_gap(z, y, gap, torch.float32), dim=-1)[0, y])

    if hit(p_y(lo)) or not hit(p_y(hi)):
        raise ValueError("the bisection needs hit false at lo and true at hi")
    for _ in range(steps):
        mid = (lo + hi) / 2
        lo, hi = (lo, mid) if hit(p_y(mid)) else (mid, hi)
    return hi


def underflow_study(z: torch.Tensor, y: int, gaps) -> UnderflowStudy:
    """Both float32 losses and the exact loss at each gap, where the float32 softmax breaks, and the
    float64 equality of the two ways at the learner's own logits z (K,)."""
    z = torch.as_tensor(z).detach().cpu().double().reshape(-1)
    y = int(check_labels(torch.tensor([y]), z.shape[0])[0])
    gaps = torch.as_tensor(gaps, dtype=torch.float64).reshape(-1)
    Z64 = torch.cat([logits_with_gap(z, y, float(g)) for g in gaps])  # (G, K)
    Z32, Y = Z64.float(), torch.full((gaps.shape[0],), y)
    p32 = F.softmax(Z32, dim=-1)
    tiny = torch.finfo(torch.float32).tiny
    z1, y1 = z.unsqueeze(0), torch.tensor([y])
    return UnderflowStudy(
        y=y, gaps=gaps, p_y32=p32[:, y],
        article32=-torch.log(p32[:, y]),
        lse32=F.cross_entropy(Z32, Y, reduction="none"),
        exact=-log_softmax(Z64)[:, y],
        break_gap=first_gap(z, y, lambda p: p == 0.0),
        subnormal_gap=first_gap(z, y, lambda p: p < tiny),
        equal64=abs(float(cross_entropy_of_probs(F.softmax(z1, -1), y1) - F.cross_entropy(z1, y1))),
    )


# ----- the check against torch ----------------------------------------------------------------------


@dataclass(frozen=True)
class TorchGaps:
    """max |Δ| of each from-scratch result against torch, in float64, on one batch."""

    softmax: float  # against F.softmax
    log_softmax: float  # against F.log_softmax
    cross_entropy: float  # against F.cross_entropy
    squared_error: float  # against F.mse_loss(reduction="sum") / N
    grad_ce: float  # against torch.autograd through F.cross_entropy
    grad_se: float  # against torch.autograd through F.mse_loss(F.softmax(z))

    @property
    def max(self) -> float:
        return max(self.softmax, self.log_softmax, self.cross_entropy, self.squared_error,
                   self.grad_ce, self.grad_se)


def torch_gaps(z: torch.Tensor, y: torch.Tensor) -> TorchGaps:
    """Every function of this module against torch on logits z (N, K) and labels y (N,), in float64."""
    z = torch.as_tensor(z).detach().cpu().double()
    y = check_labels(y, z.shape[-1])
    N, K = z.shape
    Y = F.one_hot(y, K).double()
    zc = z.clone().requires_grad_(True)
    (g_ce,) = torch.autograd.grad(F.cross_entropy(zc, y), zc)
    (g_se,) = torch.autograd.grad(F.mse_loss(F.softmax(zc, -1), Y, reduction="sum") / N, zc)

    def gap(a, b) -> float:
        return float((a - b).abs().max())

    return TorchGaps(
        softmax=gap(softmax(z), F.softmax(z, -1)),
        log_softmax=gap(log_softmax(z), F.log_softmax(z, -1)),
        cross_entropy=gap(cross_entropy(z, y), F.cross_entropy(z, y)),
        squared_error=gap(squared_error(softmax(z), y), F.mse_loss(F.softmax(z, -1), Y, reduction="sum") / N),
        grad_ce=gap(cross_entropy_grad(z, y), g_ce),
        grad_se=gap(squared_error_grad(z, y), g_se),
    )


# ----- everything the loss page shows for one digit and label ------------------------------------------


@dataclass(frozen=True)
class LossLesson:
    """The loss page's numbers for one logit vector z (K,) and true class y."""

    trace: LossTrace
    saturation: SaturationStudy  # the strongest wrong class's logit raised
    underflow: UnderflowStudy  # gaps 0 … 130 in steps of 0.5 (the curve)
    table: UnderflowStudy  # a few gaps a learner can read, two of them either side of the break
    gaps: TorchGaps  # the check against torch on (z, y)


def loss_lesson(z: torch.Tensor, y: int) -> LossLesson:
    """Both losses written out, the two studies and the torch check for logits z (K,) and label y."""
    z = torch.as_tensor(z).detach().cpu().double().reshape(-1)
    curve = underflow_study(z, y, torch.arange(0.0, 130.5, 0.5))
    brk, sub = curve.break_gap, curve.subnormal_gap
    readable = [10.0, 50.0, math.floor(sub) - 1.0, math.ceil(sub) + 1.0, 100.0,
                math.floor(brk * 100) / 100, math.ceil(brk * 100) / 100, 120.0]
    return LossLesson(
        trace=loss_trace(z, y), saturation=saturation_study(z, y), underflow=curve,
        table=underflow_study(z, y, sorted(set(readable))),
        gaps=torch_gaps(z.unsqueeze(0), torch.tensor([y])),
    )
