"""Batch size: how far a mini-batch gradient falls from the full-batch gradient.

On a fixed set of N examples with per-example gradients g_i and full-batch gradient
g = (1/N) Σ_i g_i, a mini-batch of B examples drawn without replacement has gradient
g_B = (1/B) Σ_{i∈S} g_i, and (sampling without replacement from a finite population)

    E‖g_B − g‖² = (N − B) / (B (N − 1)) · tr Σ,    tr Σ = (1/N) Σ_i ‖g_i − g‖²,

which is ≈ tr Σ / B when B ≪ N: the 1/B law. `gradient_gram` gets the per-example gradients
(torch.func.vmap of grad) and their centred Gram matrix K_ij = (g_i − g)·(g_j − g), which gives
tr Σ = (1/N) Σ_i K_ii and, for any batch S, ‖g_B − g‖² = (1/B²) Σ_{i,j∈S} K_ij exactly — the
same number `spread` gets by a backward pass on the batch, so thousands of sampled batches cost
almost nothing once K is known.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.func import functional_call, grad, vmap

Loss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def flat_grad(model: nn.Module, x: torch.Tensor, y: torch.Tensor, loss: Loss = F.cross_entropy) -> torch.Tensor:
    """∇_θ L on the batch (x, y), L the mean loss over it, as one flat vector (P,)."""
    params = [p for p in model.parameters() if p.requires_grad]
    with torch.enable_grad():
        L = loss(model(x), y)
        grads = torch.autograd.grad(L, params)
    return torch.cat([g_.reshape(-1) for g_ in grads])


def per_example_grads(model: nn.Module, x: torch.Tensor, y: torch.Tensor, loss: Loss = F.cross_entropy) -> torch.Tensor:
    """g_i = ∇_θ L(f(x_i), y_i) for every example, one row each: (n, P) (torch.func.vmap of grad)."""
    params = {k: v.detach() for k, v in model.named_parameters()}

    def loss_one(p, xi, yi):
        # one example as a batch of one: (1, ...) in, the scalar loss out
        return loss(functional_call(model, p, (xi[None],)), yi[None])

    grads = vmap(grad(loss_one), in_dims=(None, 0, 0))(params, x, y)
    return torch.cat([g_.reshape(x.shape[0], -1) for g_ in grads.values()], dim=1)


@dataclass(frozen=True)
class GradGram:
    """The centred per-example gradients' Gram matrix, K_ij = (g_i − g)·(g_j − g), and what it gives."""

    K: torch.Tensor  # (N, N) float64
    g: torch.Tensor  # (P,) full-batch gradient, (1/N) Σ_i g_i
    tr: float  # tr Σ = (1/N) Σ_i ‖g_i − g‖² = (1/N) Σ_i K_ii
    N: int


def gradient_gram(model: nn.Module, x: torch.Tensor, y: torch.Tensor, loss: Loss = F.cross_entropy,
                  chunk: int = 256, progress: Callable[[float], None] | None = None) -> GradGram:
    """Per-example gradients in chunks, then their centred Gram matrix (one matmul)."""
    N, parts = x.shape[0], []
    for start in range(0, N, chunk):
        parts.append(per_example_grads(model, x[start:start + chunk], y[start:start + chunk], loss))
        if progress is not None:
            progress(min(1.0, (start + chunk) / N))
    G = torch.cat(parts)  # (N, P)
    # g = (1/N) Σ_i g_i
    g = G.double().mean(0)
    G_c = G - g.to(G.dtype)  # (N, P) centred rows g_i − g
    # K_ij = (g_i − g)·(g_j − g)
    K = (G_c @ G_c.T).double()
    # tr Σ = (1/N) Σ_i ‖g_i − g‖²
    tr = float(K.diagonal().sum()) / N
    return GradGram(K, g, tr, N)


def spread_from_gram(K: torch.Tensor, batches: torch.Tensor) -> torch.Tensor:
    """‖g_B − g‖² for each batch (row of indices, (M, B)) from the Gram matrix: (M,) float64."""
    B = batches.shape[1]
    step = max(1, 2**20 // B**2)  # batches per gather: at most ~1M entries of K at once
    out = []
    for S in batches.split(step):
        block = K[S[:, :, None], S[:, None, :]]  # (m, B, B)
        # ‖g_B − g‖² = ‖(1/B) Σ_{i∈S} (g_i − g)‖² = (1/B²) Σ_{i∈S} Σ_{j∈S} K_ij
        out.append(block.sum(dim=(1, 2)) / B**2)
    return torch.cat(out)


def law(N: int, B: int, tr: float) -> float:
    """E‖g_B − g‖² for a batch of B drawn without replacement from N."""
    if not 1 <= B <= N or N < 2:
        raise ValueError(f"need 1 ≤ B ≤ N and N ≥ 2, got B={B}, N={N}")
    # E‖g_B − g‖² = (N − B)/(B (N − 1)) · tr Σ
    return (N - B) / (B * (N - 1)) * tr


def sample_batches(N: int, B: int, M: int, seed: int) -> torch.Tensor:
    """M batches of B distinct indices out of N: (M, B). As a shuffling data loader does, they are
    cut from successive shuffles of the N examples (⌊N/B⌋ batches per shuffle), so each batch is a
    uniformly random set of B examples and each shuffle uses every example once."""
    gen = torch.Generator().manual_seed(seed)
    per_pass = N // B
    passes = -(-M // per_pass)  # ⌈M / per_pass⌉
    rows = [torch.randperm(N, generator=gen)[: per_pass * B].reshape(per_pass, B) for _ in range(passes)]
    return torch.cat(rows)[:M]


def spread(model: nn.Module, x: torch.Tensor, y: torch.Tensor, g: torch.Tensor, batches: torch.Tensor,
           loss: Loss = F.cross_entropy) -> torch.Tensor:
    """‖g_B − g‖² for each batch (a row of indices): (M,) float64."""
    out = []
    for S in batches:
        g_B = flat_grad(model, x[S], y[S], loss)
        # ‖g_B − g‖²
        out.append(float(((g_B - g).double() ** 2).sum()))
    return torch.tensor(out, dtype=torch.float64)


@dataclass(frozen=True)
class GradNoiseStudy:
    """Measured E‖g_B − g‖² (mean over M batches) against the law, for each batch size."""

    batch_sizes: tuple[int, ...]
    measured: torch.Tensor  # (len(B),) mean of ‖g_B − g‖² over the M batches
    spread_sd: torch.Tensor  # (len(B),) standard deviation of ‖g_B − g‖² over those batches
    predicted: torch.Tensor  # (len(B),) (N − B)/(B (N − 1)) · tr Σ
    tr_sigma: float
    g_norm: float  # ‖g‖
    N: int
    M: tuple[int, ...]  # batches measured at each size: passes · ⌊N/B⌋
    slope: float  # least-squares slope of log(measured) against log B
    law_slope: float  # the same fit through the law's values (−1 for a pure 1/B)
    top_share: float  # the share of N·tr Σ carried by the 1 % of examples with the largest ‖g_i − g‖²

    def ratio(self) -> torch.Tensor:
        """measured / predicted: ≈ 1 within sampling error."""
        return self.measured / self.predicted


def top_share(K: torch.Tensor, fraction: float = 0.01) -> float:
    """Σ of the largest ⌈fraction·N⌉ of ‖g_i − g‖² = K_ii over Σ_i K_ii: how uneven the examples are."""
    d = K.diagonal().sort(descending=True).values
    k = max(1, math.ceil(fraction * d.numel()))
    return float(d[:k].sum() / d.sum()) if float(d.sum()) > 0 else 0.0


def loglog_slope(B: Sequence[int], v: torch.Tensor) -> float:
    """Slope of the least-squares line through (log B, log v)."""
    u, w = torch.log(torch.tensor(B, dtype=torch.float64)), torch.log(v.double())
    # slope = Σ (u − ū)(w − w̄) / Σ (u − ū)²
    return float(((u - u.mean()) * (w - w.mean())).sum() / ((u - u.mean()) ** 2).sum())


def batch_noise_study(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_sizes: Sequence[int],
                      passes: int = 16, seed: int = 0, loss: Loss = F.cross_entropy,
                      progress: Callable[[float], None] | None = None) -> GradNoiseStudy:
    """The whole study: the per-example gradients' Gram matrix (tr Σ and g), then for each size B
    the M = passes·⌊N/B⌋ batches of `passes` shuffles of the N examples, each batch's ‖g_B − g‖² read off the Gram matrix (the same number
    `spread` gets by a backward pass on the batch, at a fraction of the cost).

    `progress(f)` (optional) is told the fraction done, f in [0, 1].
    """
    N = x.shape[0]
    tell = progress or (lambda f: None)
    gram = gradient_gram(model, x, y, loss, progress=lambda f: tell(0.9 * f))
    mean, sd, Ms = [], [], tuple(passes * (N // B) for B in batch_sizes)
    for i, (B, M) in enumerate(zip(batch_sizes, Ms, strict=True)):
        s = spread_from_gram(gram.K, sample_batches(N, B, M, seed + i))
        mean.append(float(s.mean()))
        sd.append(float(s.std()) if M > 1 else 0.0)
        tell(0.9 + 0.1 * (i + 1) / len(batch_sizes))
    measured = torch.tensor(mean, dtype=torch.float64)
    predicted = torch.tensor([law(N, B, gram.tr) for B in batch_sizes], dtype=torch.float64)
    return GradNoiseStudy(tuple(batch_sizes), measured, torch.tensor(sd, dtype=torch.float64), predicted,
                          gram.tr, math.sqrt(float((gram.g ** 2).sum())), N, Ms,
                          loglog_slope(batch_sizes, measured), loglog_slope(batch_sizes, predicted),
                          top_share(gram.K))


def gram_gap(model: nn.Module, x: torch.Tensor, y: torch.Tensor, B: int = 8, M: int = 4, seed: int = 0,
             loss: Loss = F.cross_entropy) -> float:
    """max |Δ| between ‖g_B − g‖² read off the Gram matrix (vmap per-example gradients) and the
    same spread from torch.autograd's gradient of each batch's mean loss (pass a float64 model)."""
    gram = gradient_gram(model, x, y, loss)
    batches = sample_batches(x.shape[0], B, M, seed)
    direct = spread(model, x, y, gram.g.to(x.dtype), batches, loss)
    return float((spread_from_gram(gram.K, batches) - direct).abs().max())
