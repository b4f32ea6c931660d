"""Grouped-query attention (Ainslie et al., 2023), as SmolLM2 and Llama use it: H query heads
share H_kv < H key/value heads, in groups of r = H / H_kv consecutive query heads.

Query head h reads key/value head ⌊h / r⌋ (SmolLM2: H = 9, H_kv = 3, r = 3, so heads 0–2 share
KV head 0, 3–5 KV head 1, 6–8 KV head 2). Each head is ordinary scaled dot-product attention
(engine.ops.attention.scaled_dot_product); only K and V are stored r times fewer, which shrinks
the key/value cache of a generating model by r.

Equal to torch.nn.functional.scaled_dot_product_attention(Q, K, V, enable_gqa=True) and to
repeating each K/V head r times (torch.repeat_interleave(K, r, dim=-3)) before plain attention.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from engine.ops.attention import AttentionTrace, causal_mask, scaled_dot_product


def group_size(H: int, H_kv: int) -> int:
    """r = H / H_kv: how many query heads share one key/value head (H must be a multiple of H_kv)."""
    if H < 1 or H_kv < 1 or H % H_kv:
        raise ValueError(f"the query heads H={H} must be a positive multiple of the key/value "
                         f"heads H_kv={H_kv}")
    # r = H / H_kv
    return H // H_kv


def kv_heads(H: int, H_kv: int) -> torch.Tensor:
    """(H,) long: the key/value head each query head reads, g(h) = ⌊h / r⌋."""
    r = group_size(H, H_kv)
    h = torch.arange(H)
    # g(h) = ⌊h / r⌋
    return h // r


def sharing(H: int, H_kv: int) -> list[list[int]]:
    """For each key/value head, the query heads that read it: [[0, 1, 2], [3, 4, 5], …]."""
    g = kv_heads(H, H_kv).tolist()
    return [[h for h in range(H) if g[h] == j] for j in range(H_kv)]


@dataclass(frozen=True)
class GQATrace:
    """All query heads at once: Q (..., H, T, d), the shared K, V (..., H_kv, S, d)."""

    kv_head: torch.Tensor  # (H,) g(h) = ⌊h / r⌋
    K_used: torch.Tensor  # (..., H, S, d): the key head each query head reads
    V_used: torch.Tensor  # (..., H, S, d_v)
    heads: AttentionTrace  # .weights (..., H, T, S), .output (..., H, T, d_v)

    @property
    def weights(self) -> torch.Tensor:
        return self.heads.weights

    @property
    def output(self) -> torch.Tensor:
        return self.heads.output


def grouped_query_attention(Q: torch.Tensor, K: torch.Tensor, V: torch.Tensor,
                            causal: bool = True) -> GQATrace:
    """softmax(Q_h K_g(h)ᵀ / √d) V_g(h) for every query head h, g(h) = ⌊h / r⌋; causal by default."""
    for name, X in (("Q", Q), ("K", K), ("V", V)):
        if not torch.is_tensor(X) or X.dim() < 3:
            raise ValueError(f"{name} must be a tensor of shape (..., heads, n, d)")
    H, H_kv = Q.shape[-3], K.shape[-3]
    if V.shape[-3] != H_kv:
        raise ValueError(f"K and V need the same number of heads; got {H_kv} and {V.shape[-3]}")
    g = kv_heads(H, H_kv).to(Q.device)
    # K_used[h] = K[g(h)]: (..., H_kv, S, d) → (..., H, S, d)
    K_used = K.index_select(-3, g)
    V_used = V.index_select(-3, g)
    mask = causal_mask(Q.shape[-2], K.shape[-2]).to(Q.device) if causal else None
    heads = scaled_dot_product(Q, K_used, V_used, mask=mask)
    return GQATrace(g, K_used, V_used, heads)
