"""Data parallelism: why averaging the gradients of K shards gives the whole batch's gradient.

A batch of N examples has the mean loss L = (1/N) Σ_i ℓ_i. Split it into K shards S_k of n_k
examples (Σ_k n_k = N); shard k's mean loss is L_k = (1/n_k) Σ_{i∈S_k} ℓ_i. Then

    L = Σ_k (n_k/N) L_k        and, the gradient being linear,        ∇L = Σ_k (n_k/N) ∇L_k.

With equal shards (n_k = N/K) every weight is 1/K: ∇L = (1/K) Σ_k ∇L_k, the mean an all-reduce
computes. With unequal shards the plain mean (1/K) Σ_k ∇L_k is wrong: it gives each example of a
small shard more weight than an example of a large one.

Here each worker is simulated: its shard's gradient is computed on its own (autograd on a float64
copy of the model), then averaged both ways and compared with the full batch's gradient.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from engine.limits import CodedError, check

SPLITS = ("even", "uneven")


def shard_sizes(N: int, K: int, split: str = "even") -> tuple[int, ...]:
    """n_1 … n_K with Σ n_k = N, every n_k ≥ 1.

    "even": as equal as possible (the first N mod K shards one larger: equal when K divides N);
    "uneven": n_k ∝ k (shard K about K times shard 1), so the plain mean is visibly wrong.
    """
    if split not in SPLITS:
        raise CodedError("bad_split", f"split must be one of {SPLITS}, got {split!r}", split=split)
    if K > N:
        raise CodedError("workers_over_batch", f"{K} workers need at least {K} examples (got {N}).", K=K, N=N)
    if split == "even":
        # n_k = ⌊N/K⌋ + [k ≤ N mod K]
        return tuple(N // K + (1 if k < N % K else 0) for k in range(K))
    T = K * (K + 1) // 2
    n = [max(1, N * k // T) for k in range(1, K + 1)]
    while sum(n) > N:  # the floors of 1 pushed the total over: take from the largest shard
        n[n.index(max(n))] -= 1
    n[-1] += N - sum(n)  # what the floors left over goes to the largest shard
    return tuple(n)


def shard_gradient(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
    """∇L_k: the gradient of the shard's MEAN cross-entropy, one tensor per parameter name."""
    names, params = zip(*[(n, p) for n, p in model.named_parameters() if p.requires_grad], strict=True)
    with torch.enable_grad():
        # L_k = (1/n_k) Σ_{i∈S_k} ℓ_i
        L_k = F.cross_entropy(model(x), y)
        grads = torch.autograd.grad(L_k, params)
    return {n: g.detach() for n, g in zip(names, grads, strict=True)}


def weighted_mean(g: list[dict[str, torch.Tensor]], w: list[float]) -> dict[str, torch.Tensor]:
    """Σ_k w_k g_k, parameter by parameter."""
    out = {}
    for name in g[0]:
        # ḡ = Σ_k w_k g_k
        out[name] = sum(w_k * g_k[name] for w_k, g_k in zip(w, g, strict=True))
    return out


@dataclass(frozen=True)
class ParamRow:
    """One parameter tensor: how far each average falls from the full-batch gradient."""

    name: str  # conv1.weight, …
    shape: tuple[int, ...]
    delta_weighted: float  # max |Σ_k (n_k/N) g_k − ∇L|: the right all-reduce
    delta_plain: float  # max |(1/K) Σ_k g_k − ∇L|: the wrong one when shards are unequal
    scale: float  # max |∇L|, for scale


@dataclass(frozen=True)
class DataParallelTrace:
    """K simulated workers on one batch: the shards, their gradients and both averages."""

    N: int
    K: int
    n: tuple[int, ...]  # shard sizes n_k
    w: tuple[float, ...]  # the right weights n_k/N
    g_k: tuple[dict[str, torch.Tensor], ...]  # each shard's gradient ∇L_k
    g_full: dict[str, torch.Tensor]  # ∇L on the whole batch
    g_weighted: dict[str, torch.Tensor]  # Σ_k (n_k/N) ∇L_k
    g_plain: dict[str, torch.Tensor]  # (1/K) Σ_k ∇L_k
    rows: tuple[ParamRow, ...]

    @property
    def delta_weighted(self) -> float:
        return max(r.delta_weighted for r in self.rows)

    @property
    def delta_plain(self) -> float:
        return max(r.delta_plain for r in self.rows)

    @property
    def equal_shards(self) -> bool:
        return len(set(self.n)) == 1


def simulate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, K: int, split: str = "even") -> DataParallelTrace:
    """K workers, each on its shard of (x, y) in order; the all-reduce mean against ∇L."""
    N = x.shape[0]
    check("dp_workers", K)
    n = shard_sizes(N, K, split)
    starts = [sum(n[:k]) for k in range(K)]
    g_k = [shard_gradient(model, x[s:s + n_k], y[s:s + n_k]) for s, n_k in zip(starts, n, strict=True)]
    g_full = shard_gradient(model, x, y)
    # w_k = n_k/N
    w = [n_k / N for n_k in n]
    g_weighted = weighted_mean(g_k, w)
    g_plain = weighted_mean(g_k, [1 / K] * K)
    rows = tuple(ParamRow(name, tuple(g.shape), _max_abs(g_weighted[name] - g), _max_abs(g_plain[name] - g),
                          _max_abs(g)) for name, g in g_full.items())
    return DataParallelTrace(N, K, n, tuple(w), tuple(g_k), g_full, g_weighted, g_plain, rows)


def _max_abs(t: torch.Tensor) -> float:
    return float(t.abs().max())


@dataclass(frozen=True)
class EntryTerms:
    """One coordinate θ_j of one parameter, written out: ∂L/∂θ_j = Σ_k (n_k/N) ∂L_k/∂θ_j."""

    name: str
    index: tuple[int, ...]
    n: tuple[int, ...]
    N: int
    g_k: tuple[float, ...]  # ∂L_k/∂θ_j for every shard
    weighted: float  # Σ_k (n_k/N) g_k
    plain: float  # (1/K) Σ_k g_k
    full: float  # ∂L/∂θ_j on the whole batch


def entry(tr: DataParallelTrace, name: str, index: tuple[int, ...] | None = None) -> EntryTerms:
    """The terms of one coordinate; by default the one where the plain mean is furthest off."""
    if name not in tr.g_full:
        raise KeyError(f"no parameter {name!r}")
    if index is None:
        gap = (tr.g_plain[name] - tr.g_full[name]).abs()
        index = tuple(int(i) for i in torch.unravel_index(gap.argmax(), gap.shape))
    g_k = tuple(float(g[name][index]) for g in tr.g_k)
    return EntryTerms(name, index, tr.n, tr.N, g_k, float(tr.g_weighted[name][index]),
                      float(tr.g_plain[name][index]), float(tr.g_full[name][index]))


def batch(x_train, y_train, B: int, dtype: torch.dtype = torch.float64) -> tuple[torch.Tensor, torch.Tensor]:
    """The first B training digits as the model reads them: x (B, 1, 28, 28), y (B,)."""
    check("dp_batch", B)
    x = torch.as_tensor(x_train[:B], dtype=dtype)[:, None]  # (B, 1, 28, 28)
    return x, torch.as_tensor(y_train[:B], dtype=torch.long)
