"""Scaled dot-product attention and multi-head attention, from scratch.

Each query asks "which keys look like me?": its scores against every key (dot products) are
scaled by √d_k, turned into weights by a softmax over the keys, and the weights average the
values. Multi-head attention runs h such attentions side by side on E/h-dimensional slices of
learned projections and mixes their outputs with one more linear map.

Layouts follow torch so results compare with F.scaled_dot_product_attention and
nn.MultiheadAttention(batch_first=True) in one line. Masks here are bool with True = keep
(take part), as in F.scaled_dot_product_attention; nn.MultiheadAttention's bool masks mean the
opposite (True = blocked), so invert them when passing ours to torch.

A query whose every key is masked has no softmax (a sum over no keys): we refuse it with a
ValueError. torch answers such rows with zeros (F.scaled_dot_product_attention) or NaN
(nn.MultiheadAttention), so no choice would agree with both.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from engine.limits import check

# ----- traces -------------------------------------------------------------------------------


@dataclass(frozen=True)
class AttentionTrace:
    """Every stage of softmax(Q Kᵀ / (√d_k·τ)) V. Score-like fields are (..., T, S)."""

    scores: torch.Tensor  # Q Kᵀ
    scaled: torch.Tensor  # scores / divisor
    masked: torch.Tensor  # scaled, with −∞ where the mask says "drop"
    weights: torch.Tensor  # softmax over the keys (last axis); rows sum to 1
    output: torch.Tensor  # weights · V, (..., T, d_v)
    divisor: float  # √d_k·τ (or τ alone when scale=False)


@dataclass(frozen=True)
class MultiHeadTrace:
    """Every stage of multi-head attention; per-head tensors are (B, h, ·, d_k)."""

    q: torch.Tensor  # (B, h, T, d_k)
    k: torch.Tensor  # (B, h, S, d_k)
    v: torch.Tensor  # (B, h, S, d_k)
    heads: AttentionTrace  # all heads at once: .weights is (B, h, T, S), .output (B, h, T, d_k)
    concat: torch.Tensor  # heads side by side, (B, T, E)
    output: torch.Tensor  # concat · W_Oᵀ + b_O, (B, T, E)

    @property
    def weights(self) -> torch.Tensor:
        """(B, h, T, S): equals nn.MultiheadAttention's weights with average_attn_weights=False."""
        return self.heads.weights


# ----- masks --------------------------------------------------------------------------------


def causal_mask(T: int, S: int | None = None) -> torch.Tensor:
    """(T, S) bool, True on and below the diagonal: query i may look at keys j ≤ i.

    Aligned top-left like torch's is_causal=True (for T ≠ S too)."""
    S = T if S is None else S
    check("tokens", T)
    check("tokens", S)
    return torch.ones(T, S, dtype=torch.bool).tril()


def padding_mask(lengths: Sequence[int] | torch.Tensor, S: int) -> torch.Tensor:
    """(B, S) bool, True at the first lengths[b] positions of item b (real tokens), False at padding.

    To mask keys in scaled_dot_product, broadcast it over the queries: mask[:, None, :].
    multi_head_attention takes it as is, as key_padding_mask."""
    check("tokens", S)
    lengths = [int(n) for n in (lengths.tolist() if torch.is_tensor(lengths) else lengths)]
    check("batch", len(lengths))
    bad = [n for n in lengths if not 1 <= n <= S]
    if bad:
        raise ValueError(f"every length must be between 1 and S={S} (a length 0 would leave "
                         f"a query with no key to attend to); got {bad}")
    # keep[b, j] = j < lengths[b]
    return torch.arange(S)[None, :] < torch.tensor(lengths)[:, None]


# ----- checks -------------------------------------------------------------------------------


def _check_qkv(Q, K, V) -> None:
    for name, X in (("Q", Q), ("K", K), ("V", V)):
        if not torch.is_tensor(X) or not X.is_floating_point() or X.dim() < 2:
            raise ValueError(f"{name} must be a floating-point tensor of shape (..., n, d)")
    if Q.dtype != K.dtype or K.dtype != V.dtype:
        raise ValueError(f"Q, K, V must share one dtype; got {Q.dtype}, {K.dtype}, {V.dtype}")
    if not Q.shape[:-2] == K.shape[:-2] == V.shape[:-2]:
        raise ValueError(f"Q, K, V need the same leading (batch) shape; got {tuple(Q.shape)}, "
                         f"{tuple(K.shape)}, {tuple(V.shape)}")
    if Q.shape[-1] != K.shape[-1]:
        raise ValueError(f"Q and K need the same d_k (last axis) to be compared; got "
                         f"{Q.shape[-1]} and {K.shape[-1]}")
    if K.shape[-2] != V.shape[-2]:
        raise ValueError(f"K and V need one row per key (same S); got {K.shape[-2]} and {V.shape[-2]}")
    check("tokens", Q.shape[-2])
    check("tokens", K.shape[-2])
    check("d_model", Q.shape[-1])
    check("d_model", V.shape[-1])


def _check_mask(mask, scores: torch.Tensor) -> torch.Tensor:
    """The mask broadcast to the scores' (..., T, S) on their device; it must be bool and leave
    every query a key."""
    if not torch.is_tensor(mask) or mask.dtype != torch.bool:
        raise ValueError("mask must be a bool tensor (True = keep)")
    full_shape = tuple(scores.shape)
    try:
        mask = torch.broadcast_to(mask.to(scores.device), full_shape)
    except RuntimeError:
        raise ValueError(f"mask of shape {tuple(mask.shape)} does not broadcast to "
                         f"(..., T, S) = {full_shape}") from None
    empty = (~mask.any(dim=-1)).nonzero()
    if len(empty):
        raise ValueError(f"query row {tuple(empty[0].tolist())} has every key masked: a softmax "
                         f"over no keys is undefined; keep at least one key per query")
    return mask


def _positive(value, name: str) -> float:
    value = float(value)
    if not 0 < value < math.inf:
        raise ValueError(f"{name} must be a finite number > 0, got {value}")
    return value


# ----- scaled dot-product attention ---------------------------------------------------------


def scaled_dot_product(Q, K, V, mask=None, scale: bool = True, temperature: float = 1.0) -> AttentionTrace:
    """softmax(Q Kᵀ / (√d_k·τ)) V for Q (..., T, d_k), K (..., S, d_k), V (..., S, d_v).

    mask: bool, broadcastable to (..., T, S), True = keep. scale=False drops the √d_k (τ stays).
    Equal to F.scaled_dot_product_attention(Q, K, V, attn_mask=mask, scale=1/divisor)."""
    _check_qkv(Q, K, V)
    tau = _positive(temperature, "temperature")
    d_k = Q.shape[-1]
    # S_ij = Σ_d Q_id K_jd
    scores = torch.einsum("...id,...jd->...ij", Q, K)
    divisor = (math.sqrt(d_k) if scale else 1.0) * tau
    # S'_ij = S_ij / (√d_k·τ)
    scaled = scores / divisor
    masked = scaled
    if mask is not None:
        keep = _check_mask(mask, scaled)
        # S'_ij = −∞ where the mask drops key j for query i, so exp(S'_ij) = 0
        masked = scaled.masked_fill(~keep, -math.inf)
    # A_ij = exp(S'_ij) / Σ_j' exp(S'_ij')
    weights = torch.softmax(masked, dim=-1)
    # O_iv = Σ_j A_ij V_jv
    output = torch.einsum("...ij,...jv->...iv", weights, V)
    return AttentionTrace(scores, scaled, masked, weights, output, divisor)


def scaled_dot_product_loops(Q, K, V, mask=None) -> tuple[torch.Tensor, torch.Tensor]:
    """The same for one sequence, one number at a time: Q (T, d_k), K (S, d_k), V (S, d_v),
    mask (T, S) or None → (weights (T, S), output (T, d_v)). Slow; for reading and testing."""
    if Q.dim() != 2:
        raise ValueError(f"the loop version takes one sequence: Q (T, d_k), got {tuple(Q.shape)}")
    _check_qkv(Q, K, V)
    (T, d_k), S = Q.shape, K.shape[0]
    A, O = Q.new_zeros(T, S), Q.new_zeros(T, V.shape[1])
    for i in range(T):
        keys = [j for j in range(S) if mask is None or bool(mask[i, j])]
        if not keys:
            raise ValueError(f"query row {i} has every key masked")
        # s_ij = Σ_d Q_id K_jd / √d_k
        s = {j: sum(float(Q[i, d] * K[j, d]) for d in range(d_k)) / math.sqrt(d_k) for j in keys}
        # subtracting the row's max changes no weight, and keeps exp() from overflowing
        top = max(s.values())
        Z = sum(math.exp(s_j - top) for s_j in s.values())
        for j in keys:
            # a_ij = exp(s_ij) / Σ_j' exp(s_ij')
            A[i, j] = math.exp(s[j] - top) / Z
            # o_i = Σ_j a_ij v_j
            O[i] += A[i, j] * V[j]
    return A, O


# ----- multi-head attention -----------------------------------------------------------------


def split_heads(X: torch.Tensor, h: int) -> torch.Tensor:
    """(B, n, E) → (B, h, n, d_k): head i gets features i·d_k … (i+1)·d_k − 1."""
    B, n, E = X.shape
    # (B, n, E) → (B, n, h, d_k) → (B, h, n, d_k)
    return X.reshape(B, n, h, E // h).transpose(1, 2)


def _check_mha(query, key, value, h, in_proj_weight, out_proj_weight) -> tuple[int, int, int, int]:
    for name, X in (("query", query), ("key", key), ("value", value)):
        if not torch.is_tensor(X) or X.dim() != 3:
            raise ValueError(f"{name} must be a (B, n, E) tensor (batch_first)")
    (B, T, E), S = query.shape, key.shape[1]
    if key.shape[0] != B or value.shape[0] != B or key.shape[2] != E or value.shape[2] != E:
        raise ValueError(f"key and value must be (B, S, E) with B={B}, E={E}; got "
                         f"{tuple(key.shape)}, {tuple(value.shape)}")
    if value.shape[1] != S:
        raise ValueError(f"key and value need the same S; got {S} and {value.shape[1]}")
    check("batch", B)
    check("d_model", E)
    check("num_heads", h)
    if E % h:
        raise ValueError(f"E={E} is not divisible by h={h}: each head needs d_k = E/h dimensions")
    if tuple(in_proj_weight.shape) != (3 * E, E) or tuple(out_proj_weight.shape) != (E, E):
        raise ValueError(f"in_proj_weight must be (3E, E) = {(3 * E, E)} and out_proj_weight "
                         f"(E, E) = {(E, E)}; got {tuple(in_proj_weight.shape)}, {tuple(out_proj_weight.shape)}")
    return B, T, S, E


def _head_mask(mask, key_padding_mask, B, h, T, S):
    """One bool keep-mask that broadcasts to (B, h, T, S), or None (on the mask's device;
    scaled_dot_product moves it to the scores')."""
    keep = None
    if mask is not None:
        if not torch.is_tensor(mask) or mask.dtype != torch.bool or mask.dim() not in (2, 3, 4):
            raise ValueError("mask must be a bool (T, S), (B, T, S) or (B, h, T, S) tensor, True = keep")
        keep = mask
        if mask.dim() == 2:
            # (T, S) → (1, 1, T, S): the same mask for every item and head
            keep = mask[None, None]
        elif mask.dim() == 3:
            # (B, T, S) → (B, 1, T, S): the same mask for every head
            keep = mask[:, None]
    if key_padding_mask is not None:
        if (not torch.is_tensor(key_padding_mask) or key_padding_mask.dtype != torch.bool
                or tuple(key_padding_mask.shape) != (B, S)):
            raise ValueError(f"key_padding_mask must be a bool (B, S) = {(B, S)} tensor, True = real token")
        # (B, S) → (B, 1, 1, S): the same keys are kept for every head and query
        pad = key_padding_mask[:, None, None, :]
        keep = pad if keep is None else keep.to(pad.device) & pad
    return keep


def multi_head_attention(query, key, value, num_heads: int, in_proj_weight, in_proj_bias,
                         out_proj_weight, out_proj_bias, mask=None, key_padding_mask=None) -> MultiHeadTrace:
    """MultiHead(Q, K, V) = Concat(head_1 … head_h) W_Oᵀ + b_O, head_i = Attention(Q W_Qᵢᵀ, K W_Kᵢᵀ, V W_Vᵢᵀ).

    query (B, T, E), key and value (B, S, E); in_proj_weight (3E, E) stacks W_Q, W_K, W_V;
    biases may be None (zero). mask: bool keep-mask (T, S), (B, T, S) or (B, h, T, S);
    key_padding_mask: bool (B, S), True = real token. Equal to nn.MultiheadAttention(E, h,
    batch_first=True) given the inverted masks; .weights equals its average_attn_weights=False."""
    h = num_heads
    B, T, S, E = _check_mha(query, key, value, h, in_proj_weight, out_proj_weight)
    W_Q, W_K, W_V = in_proj_weight.chunk(3)
    b_Q, b_K, b_V = (query.new_zeros(3 * E) if in_proj_bias is None else in_proj_bias).chunk(3)
    b_O = query.new_zeros(E) if out_proj_bias is None else out_proj_bias
    # Q = X_q W_Qᵀ + b_Q (likewise K, V); all heads at once, (B, n, E)
    Q, K, V = query @ W_Q.T + b_Q, key @ W_K.T + b_K, value @ W_V.T + b_V
    q, k, v = split_heads(Q, h), split_heads(K, h), split_heads(V, h)
    heads = scaled_dot_product(q, k, v, mask=_head_mask(mask, key_padding_mask, B, h, T, S))
    # (B, h, T, d_k) → (B, T, h, d_k) → (B, T, E)
    concat = heads.output.transpose(1, 2).reshape(B, T, E)
    # O = Concat(head_1 … head_h) W_Oᵀ + b_O
    output = concat @ out_proj_weight.T + b_O
    return MultiHeadTrace(q=q, k=k, v=v, heads=heads, concat=concat, output=output)


# ----- why divide by √d_k -------------------------------------------------------------------


@dataclass(frozen=True)
class SoftmaxStats:
    """For each d_k: softmax statistics over n_keys random logits q·k_j, q and k_j ~ N(0, I).

    Unscaled logits have standard deviation √d_k, so the softmax saturates (low entropy, one
    weight near 1) as d_k grows; dividing by √d_k keeps the spread near 1 for every d_k."""

    d_k: tuple[int, ...]
    n_keys: int
    entropy_unscaled: torch.Tensor  # (len(d_k),) mean of −Σ_j a_j log a_j, in nats
    entropy_scaled: torch.Tensor
    max_weight_unscaled: torch.Tensor  # (len(d_k),) mean of max_j a_j
    max_weight_scaled: torch.Tensor
    logit_std_unscaled: torch.Tensor  # (len(d_k),) empirical std of q·k (≈ √d_k)
    logit_std_scaled: torch.Tensor  # of q·k / √d_k (≈ 1)

    @property
    def max_entropy(self) -> float:
        """log n_keys: the entropy of uniform weights, the most a softmax over n_keys can have."""
        return math.log(self.n_keys)


def _entropy_and_max(logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per row of logits (N, n): the entropy −Σ a log a and the largest weight of softmax(row)."""
    log_a = torch.log_softmax(logits, dim=-1)
    a = log_a.exp()
    # H(a) = −Σ_j a_j log a_j
    return -(a * log_a).sum(-1), a.max(-1).values


def _random_logits(d_k: int, n_keys: int, samples: int, gen) -> torch.Tensor:
    """(samples, n_keys) logits q·k_j with q, k_j ~ N(0, I_{d_k}); drawn in chunks to bound memory."""
    chunk = max(1, (1 << 21) // (n_keys * d_k))
    rows = []
    for start in range(0, samples, chunk):
        n = min(chunk, samples - start)
        q = torch.randn(n, d_k, generator=gen, dtype=torch.float64)
        k = torch.randn(n, n_keys, d_k, generator=gen, dtype=torch.float64)
        # z_j = Σ_d q_d k_jd
        rows.append(torch.einsum("nd,njd->nj", q, k))
    return torch.cat(rows)


def softmax_stats(d_k_values: Sequence[int], n_keys: int = 16, seed: int = 0,
                  samples: int = 2000) -> SoftmaxStats:
    """Mean entropy and mean largest weight of softmax(q·k_j) over n_keys keys, with and without
    the 1/√d_k scale, for each d_k in d_k_values (the same random logits serve both)."""
    d_k_values = tuple(int(d) for d in d_k_values)
    check("tokens", n_keys)
    check("samples", samples)
    for d_k in d_k_values:
        check("d_model", d_k)
    gen = torch.Generator().manual_seed(int(seed))
    cols = {name: [] for name in ("H_u", "H_s", "m_u", "m_s", "sd_u", "sd_s")}
    for d_k in d_k_values:
        z = _random_logits(d_k, n_keys, samples, gen)
        for tag, logits in (("u", z), ("s", z / math.sqrt(d_k))):
            H, top = _entropy_and_max(logits)
            cols[f"H_{tag}"].append(H.mean())
            cols[f"m_{tag}"].append(top.mean())
            cols[f"sd_{tag}"].append(logits.std())
    t = {name: torch.stack(v) if v else torch.zeros(0, dtype=torch.float64) for name, v in cols.items()}
    return SoftmaxStats(d_k_values, n_keys, t["H_u"], t["H_s"], t["m_u"], t["m_s"], t["sd_u"], t["sd_s"])
