"""What the attention pages need around engine.ops.attention: seeded projections and multi-head
parameters (torch's initialisations, from a private generator), small Q/K/V grids typed by hand
and checked, one softmax row written out term by term, the parameter count of multi-head
attention, the circulating wrong identity softmax(QKᵀ/√d_k)V = (1/d_v)·softmax(QKᵀ)V
computed both ways, and torch's own layers (F.scaled_dot_product_attention, nn.MultiheadAttention
with these weights copied in) as the references the pages check against.

Everything is float64: the pages write these numbers into formulas and compare them with torch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from engine.data.tokens import TokenError, tokenize
from engine.limits import BOUNDS, CodedError, check
from engine.ops.attention import AttentionTrace, MultiHeadTrace, scaled_dot_product

MAX_ENTRY_ABS = 10.0  # |entry| of a Q, K or V typed by hand
TEMPERATURE_MIN, TEMPERATURE_MAX = 0.1, 5.0
SHIFT_ABOVE = 60.0  # a softmax row whose largest |logit| exceeds this is written as exp(s − max)


class LabError(CodedError):
    """Input a page can explain; `code` and `params` let it translate the message.

    codes: matrix_shape, matrix_empty (a blank or non-numeric cell), matrix_too_big,
    temperature, not_divisible (E not divisible by h)."""


# ----- inputs -------------------------------------------------------------------------------


def _entry(v, name: str, r: int, c: int) -> float:
    if isinstance(v, bool):
        raise LabError("matrix_empty", f"{name}[{r},{c}] is not a number", name=name, row=r + 1, col=c + 1)
    try:
        f = float(v)
    except (TypeError, ValueError):
        f = math.nan
    if math.isnan(f):
        raise LabError("matrix_empty", f"{name}[{r},{c}] is empty or not a number", name=name,
                       row=r + 1, col=c + 1)
    if not abs(f) <= MAX_ENTRY_ABS:  # also catches ±inf
        raise LabError("matrix_too_big", f"{name}[{r},{c}] = {f:g} exceeds ±{MAX_ENTRY_ABS:g}", name=name,
                       row=r + 1, col=c + 1, value=f"{f:g}", limit=f"{MAX_ENTRY_ABS:g}")
    return f


def matrix_from_grid(rows, name: str, shape: tuple[int, int] | None = None) -> torch.Tensor:
    """A grid of cells (lists, a numpy array, DataFrame values) → (n, d) float64 tensor.

    Every cell must be a finite number with |v| ≤ MAX_ENTRY_ABS; the grid must be rectangular,
    with n ≤ BOUNDS["tokens"] rows and d ≤ BOUNDS["d_model"] columns (exactly `shape` if given)."""
    rows = [list(r) for r in rows]
    n, d = len(rows), len(rows[0]) if rows else 0
    ok = (1 <= n <= BOUNDS["tokens"].high and 1 <= d <= BOUNDS["d_model"].high
          and all(len(r) == d for r in rows) and (shape is None or (n, d) == tuple(shape)))
    if not ok:
        want = "×".join(map(str, shape)) if shape else "n×d"
        raise LabError("matrix_shape", f"{name} must be a {want} grid of numbers", name=name, shape=want)
    return torch.tensor([[_entry(v, name, r, c) for c, v in enumerate(row)] for r, row in enumerate(rows)],
                        dtype=torch.float64)


def first_tokens(text: str, max_tokens: int) -> tuple[list[str], int]:
    """The first `max_tokens` tokens of a sentence and how many it has in all (a text past the
    engine's token bound still gives its first tokens). Raises TokenError("no_tokens") for blank text."""
    check("tokens", max_tokens)
    try:
        tokens = tokenize(text)
        return tokens[:max_tokens], len(tokens)
    except TokenError as e:
        if e.code != "too_many_tokens":
            raise
        n = e.params["n"]
    # every token takes at least one character, so the first BOUNDS["tokens"] characters (spaces
    # squeezed) hold at most that many tokens; when they hold more than max_tokens, the first
    # max_tokens of them end before the next one starts, inside the prefix: they are complete
    squeezed = " ".join(text.split())
    return tokenize(squeezed[: BOUNDS["tokens"].high])[:max_tokens], n


def check_temperature(tau) -> float:
    """τ as a float if TEMPERATURE_MIN ≤ τ ≤ TEMPERATURE_MAX, else LabError("temperature")."""
    try:
        f = float(tau)
    except (TypeError, ValueError):
        f = math.nan
    if not TEMPERATURE_MIN <= f <= TEMPERATURE_MAX:
        raise LabError("temperature", f"temperature must be between {TEMPERATURE_MIN} and {TEMPERATURE_MAX}",
                       low=TEMPERATURE_MIN, high=TEMPERATURE_MAX, value=str(tau))
    return f


# ----- seeded weights -----------------------------------------------------------------------


def _uniform(gen: torch.Generator, shape: tuple[int, ...], bound: float) -> torch.Tensor:
    # U(−b, b) = (2·U(0, 1) − 1)·b
    return (2 * torch.rand(*shape, generator=gen, dtype=torch.float64) - 1) * bound


@dataclass(frozen=True)
class Projections:
    """W_Q, W_K, W_V, each (d_model, d_k): Q = X W_Q maps a token's vector to its query."""

    W_Q: torch.Tensor
    W_K: torch.Tensor
    W_V: torch.Tensor

    def mha_params(self) -> MHAParams:
        """The same map as nn.MultiheadAttention's parameters (one head, d_k = d_model): in_proj
        stacks W_Qᵀ, W_Kᵀ, W_Vᵀ (torch computes X W_inᵀ), no biases, out_proj the identity."""
        d, d_k = self.W_Q.shape
        if d != d_k:
            raise ValueError(f"one head of nn.MultiheadAttention needs d_k = d_model; got {d_k} and {d}")
        zeros = self.W_Q.new_zeros(4 * d)
        eye = torch.eye(d, dtype=self.W_Q.dtype)
        # in_proj = [W_Qᵀ; W_Kᵀ; W_Vᵀ], (3d, d): torch's X W_inᵀ then equals [X W_Q, X W_K, X W_V]
        return MHAParams(torch.cat([self.W_Q.T, self.W_K.T, self.W_V.T]), zeros[: 3 * d], eye, zeros[3 * d:])


@dataclass(frozen=True)
class QKV:
    """A sequence's queries, keys and values, each (T, d_k)."""

    Q: torch.Tensor
    K: torch.Tensor
    V: torch.Tensor


def seeded_projections(d_model: int, d_k: int, seed: int) -> Projections:
    """W_Q, W_K, W_V with every entry ~ U(−√(3/d_model), √(3/d_model)), drawn in that order from a
    generator seeded with `seed`. That uniform has variance 1/d_model, so for x ~ N(0, I) every
    entry of q = x W_Q (and k, v) has variance 1: the assumption behind dividing by √d_k.
    (nn.Linear's default, U(±1/√d_model), is the same shape with a third of the variance.)"""
    check("d_model", d_model)
    check("d_model", d_k)
    gen = torch.Generator().manual_seed(int(seed))
    # b = √(3/d_model): Var U(−b, b) = b²/3 = 1/d_model
    b = projection_bound(d_model)
    return Projections(*(_uniform(gen, (d_model, d_k), b) for _ in range(3)))


def projection_bound(d_model: int) -> float:
    """b = √(3/d_model): seeded_projections draws every entry from U(−b, b)."""
    return math.sqrt(3 / d_model)


def project(X: torch.Tensor, P: Projections) -> QKV:
    """X (T, d_model) → Q, K, V, each (T, d_k)."""
    # Q = X W_Q, K = X W_K, V = X W_V: (T, d_model)·(d_model, d_k) → (T, d_k)
    return QKV(X @ P.W_Q, X @ P.W_K, X @ P.W_V)


@dataclass(frozen=True)
class MHAParams:
    """nn.MultiheadAttention's parameters: in_proj (3E, E) stacks W_Q, W_K, W_V; out_proj is W_O."""

    in_proj_weight: torch.Tensor  # (3E, E)
    in_proj_bias: torch.Tensor  # (3E,)
    out_proj_weight: torch.Tensor  # (E, E)
    out_proj_bias: torch.Tensor  # (E,)


def seeded_mha_params(E: int, seed: int) -> MHAParams:
    """As nn.MultiheadAttention initialises them: in_proj xavier-uniform on the (3E, E) matrix,
    out_proj U(±1/√E), both biases 0. Same distributions as torch, from a private generator."""
    check("d_model", E)
    gen = torch.Generator().manual_seed(int(seed))
    # xavier_uniform: b = √(6 / (fan_in + fan_out)) = √(6 / (E + 3E))
    W_in = _uniform(gen, (3 * E, E), math.sqrt(6.0 / (E + 3 * E)))
    # out_proj: nn.Linear's kaiming_uniform(a=√5), b = 1/√fan_in = 1/√E
    W_out = _uniform(gen, (E, E), 1 / math.sqrt(E))
    zeros = torch.zeros(4 * E, dtype=torch.float64)
    return MHAParams(W_in, zeros[: 3 * E].clone(), W_out, zeros[3 * E:].clone())


# ----- multi-head sizes ---------------------------------------------------------------------


def valid_heads(E: int, h_max: int | None = None) -> list[int]:
    """Every h ≤ h_max (default: the bound on heads) that divides E."""
    h_max = BOUNDS["num_heads"].high if h_max is None else h_max
    return [h for h in range(1, min(E, h_max) + 1) if E % h == 0]


def check_heads(E: int, h: int, h_max: int | None = None) -> int:
    """d_k = E / h, or LabError("not_divisible") naming E, h and the h ≤ h_max that would work."""
    check("d_model", E)
    check("num_heads", h)
    if E % h:
        valid = valid_heads(E, h_max)
        raise LabError("not_divisible", f"E = {E} cannot be split into {h} heads: each head needs "
                       f"d_k = E/h dimensions; h can be {valid}", E=E, h=h,
                       valid=", ".join(map(str, valid)))
    # d_k = E / h
    return E // h


def mha_param_count(E: int) -> int:
    """Parameters of nn.MultiheadAttention(E, h) with biases: in_proj 3E·E + 3E, out_proj E·E + E.
    h does not appear: the heads split E, they do not add weights."""
    check("d_model", E)
    # params = 4·E·E + 4·E
    return 4 * E * E + 4 * E


# ----- one softmax row, written out ---------------------------------------------------------


@dataclass(frozen=True)
class SoftmaxTerms:
    """a_j = e_j / Z with e_j = exp(s_j − m), Z = Σ_j e_j; m = 0 unless a logit is large."""

    logits: torch.Tensor  # (n,) s_j (−∞ for a masked key)
    shift: float  # m: 0, or max_j s_j when exp would be unreadable or overflow
    exps: torch.Tensor  # (n,) e_j (0 for a masked key)
    Z: float
    weights: torch.Tensor  # (n,)


def softmax_terms(logits: torch.Tensor) -> SoftmaxTerms:
    """softmax of one row, (n,) float, with its exponentials and their sum. −∞ entries are masked
    keys (weight 0); at least one entry must be finite."""
    s = torch.as_tensor(logits, dtype=torch.float64).reshape(-1)
    finite = s[torch.isfinite(s)]
    if finite.numel() == 0 or torch.isnan(s).any() or (s == math.inf).any():
        raise ValueError("a softmax row needs at least one finite logit and no NaN or +∞")
    top = float(finite.max())
    shift = top if float(finite.abs().max()) > SHIFT_ABOVE else 0.0
    # e_j = exp(s_j − m): the same m in every term cancels in a_j
    exps = torch.exp(s - shift)
    # Z = Σ_j e_j
    Z = float(exps.sum())
    # a_j = e_j / Z
    return SoftmaxTerms(s, shift, exps, Z, exps / Z)


# ----- the wrong identity ---------------------------------------------------------------------


@dataclass(frozen=True)
class WrongIdentity:
    """Both sides of softmax(QKᵀ/√d_k)V = (1/d_v)·softmax(QKᵀ)V (false) on the same inputs."""

    correct: torch.Tensor  # softmax(QKᵀ/√d_k) V, (T, d_v)
    wrong: torch.Tensor  # (1/d_v)·softmax(QKᵀ) V, (T, d_v)
    weights_scaled: torch.Tensor  # softmax(QKᵀ/√d_k), (T, S)
    weights_unscaled: torch.Tensor  # softmax(QKᵀ), (T, S)
    max_abs_delta: float


def wrong_identity(Q, K, V, mask=None) -> WrongIdentity:
    """The left side (scaled_dot_product) and the right side of the circulating identity,
    computed on the same Q, K, V (and mask), and their largest difference."""
    left = scaled_dot_product(Q, K, V, mask=mask)
    plain = scaled_dot_product(Q, K, V, mask=mask, scale=False)
    d_v = V.shape[-1]
    # right side = (1/d_v)·softmax(QKᵀ)V
    right = plain.output / d_v
    delta = float((left.output - right).abs().max())
    return WrongIdentity(left.output, right, left.weights, plain.weights, delta)


# ----- torch's own layers, the pages' references ------------------------------------------------


def sdpa_reference(qkv: QKV, divisor: float, mask: torch.Tensor | None = None) -> torch.Tensor:
    """F.scaled_dot_product_attention on the same Q, K, V (bool mask, True = keep) with the scale
    1/divisor: what scaled_dot_product(...).output must equal."""
    with torch.no_grad():
        return F.scaled_dot_product_attention(qkv.Q, qkv.K, qkv.V, attn_mask=mask, scale=1.0 / divisor)


def mha_reference(X: torch.Tensor, num_heads: int, p: MHAParams,
                  mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """nn.MultiheadAttention(E, h, batch_first=True) in float64 with p copied in, as self-attention
    on X (B, T, E) or (T, E): its output and per-head weights (B, h, T, T) or (h, T, T).
    mask is ours (True = keep); torch's bool mask means the opposite, so it is inverted here."""
    E = X.shape[-1]
    ref = nn.MultiheadAttention(E, num_heads, batch_first=True, dtype=torch.float64)
    with torch.no_grad():
        ref.in_proj_weight.copy_(p.in_proj_weight)
        ref.in_proj_bias.copy_(p.in_proj_bias)
        ref.out_proj.weight.copy_(p.out_proj_weight)
        ref.out_proj.bias.copy_(p.out_proj_bias)
        out, weights = ref(X, X, X, attn_mask=None if mask is None else ~mask, need_weights=True,
                           average_attn_weights=False)
    return out, weights


def sdpa_gap(qkv: QKV, trace: AttentionTrace, mask: torch.Tensor | None = None) -> float:
    """max |Δ| between trace.output (scaled_dot_product on qkv) and sdpa_reference with its divisor."""
    return float((trace.output - sdpa_reference(qkv, trace.divisor, mask)).abs().max())


@dataclass(frozen=True)
class TorchGaps:
    """max |Δ| of our multi-head output and per-head weights against nn.MultiheadAttention's."""

    output: float
    weights: float


def mha_gaps(X: torch.Tensor, num_heads: int, p: MHAParams, trace: MultiHeadTrace,
             mask: torch.Tensor | None = None) -> TorchGaps:
    """trace (multi_head_attention on X, X, X with p) against mha_reference on the same X, p, mask."""
    out, weights = mha_reference(X, num_heads, p, mask)
    return TorchGaps(float((trace.output - out).abs().max()), float((trace.weights - weights).abs().max()))


@dataclass(frozen=True)
class TorchParam:
    """One parameter of nn.MultiheadAttention as torch names it."""

    name: str
    shape: tuple[int, ...]
    numel: int


def torch_mha_params(E: int, num_heads: int) -> list[TorchParam]:
    """nn.MultiheadAttention(E, h)'s parameters, read from a fresh layer: to set against mha_param_count."""
    check("d_model", E)
    check("num_heads", num_heads)
    layer = nn.MultiheadAttention(E, num_heads, batch_first=True)
    return [TorchParam(name, tuple(p.shape), p.numel()) for name, p in layer.named_parameters()]
