"""The ops SmolLM2 is built of, each against torch in float64 on several shapes and seeds:
RMSNorm (engine/ops/rms_norm.py), grouped-query attention (engine/ops/gqa.py), SwiGLU
(engine/ops/ffn.py), and the fact the replay relies on: llama.cpp's row permutation of W_q, W_k
turns Hugging Face's rotate-half RoPE into the adjacent-pair RoPE of engine/ops/positional.py,
leaving every score q·k unchanged."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from engine.models.smollm_lens import hf_rows
from engine.ops.attention import causal_mask
from engine.ops.ffn import silu, swiglu
from engine.ops.gqa import group_size, grouped_query_attention, kv_heads, sharing
from engine.ops.positional import frequencies, rope
from engine.ops.rms_norm import rms_norm

f64 = torch.float64


def randn(*shape, seed):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=f64)


# ----- RMSNorm -------------------------------------------------------------------------------


@pytest.mark.parametrize("shape,seed", [((1,), 0), ((5, 3), 1), ((2, 7, 16), 2), ((4, 576), 3)])
def test_rms_norm_equals_torch(shape, seed):
    x, g = randn(*shape, seed=seed) * 3, randn(shape[-1], seed=seed + 10)
    eps = 1e-5
    ours = rms_norm(x, g, eps)
    torch.testing.assert_close(ours.output, F.rms_norm(x, (shape[-1],), g, eps), rtol=0, atol=1e-12)
    layer = nn.RMSNorm(shape[-1], eps=eps, dtype=f64)
    with torch.no_grad():
        layer.weight.copy_(g)
        torch.testing.assert_close(ours.output, layer(x), rtol=0, atol=1e-12)
    # without the gain the rows have root mean square √(ms/(ms + ε)) ≈ 1
    rms = ours.normalized.pow(2).mean(-1).sqrt()
    torch.testing.assert_close(rms, (ours.ms / (ours.ms + eps)).sqrt()[..., 0], rtol=0, atol=1e-12)


def test_rms_norm_ignores_scale_and_refuses_bad_input():
    x, g = randn(3, 8, seed=4), randn(8, seed=5)
    # RMSNorm(c·x) = RMSNorm(x) for c > 0, up to ε
    torch.testing.assert_close(rms_norm(1e3 * x, g, 1e-12).output, rms_norm(x, g, 1e-12).output)
    with pytest.raises(ValueError):
        rms_norm(x, randn(7, seed=0))
    with pytest.raises(ValueError):
        rms_norm(x, g, eps=0)


# ----- grouped-query attention ----------------------------------------------------------------


def test_sharing_of_smollm():
    assert group_size(9, 3) == 3
    assert kv_heads(9, 3).tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    assert sharing(9, 3) == [[0, 1, 2], [3, 4, 5], [6, 7, 8]]
    with pytest.raises(ValueError):
        group_size(9, 2)


@pytest.mark.parametrize("H,H_kv,T,d,seed", [(9, 3, 7, 64, 0), (4, 2, 5, 8, 1), (6, 1, 3, 4, 2),
                                             (3, 3, 11, 16, 3)])
def test_gqa_equals_torch(H, H_kv, T, d, seed):
    Q, K, V = randn(H, T, d, seed=seed), randn(H_kv, T, d, seed=seed + 1), randn(H_kv, T, d, seed=seed + 2)
    trace = grouped_query_attention(Q, K, V)
    ref = F.scaled_dot_product_attention(Q[None], K[None], V[None], is_causal=True, enable_gqa=True)[0]
    torch.testing.assert_close(trace.output, ref, rtol=0, atol=1e-12)
    r = H // H_kv
    K_rep, V_rep = K.repeat_interleave(r, dim=0), V.repeat_interleave(r, dim=0)
    ref2 = F.scaled_dot_product_attention(Q, K_rep, V_rep, attn_mask=causal_mask(T))
    torch.testing.assert_close(trace.output, ref2, rtol=0, atol=1e-12)
    # causal: zero above the diagonal, rows sum to 1
    assert float(trace.weights.triu(1).abs().max()) == 0
    torch.testing.assert_close(trace.weights.sum(-1), torch.ones(H, T, dtype=f64))
    # query heads of one group read the same key head
    assert torch.equal(trace.K_used[r - 1], K[0])


# ----- SwiGLU ----------------------------------------------------------------------------------


@pytest.mark.parametrize("T,E,d_ff,seed", [(1, 4, 8, 0), (5, 16, 24, 1), (3, 576, 1536, 2)])
def test_swiglu_equals_torch(T, E, d_ff, seed):
    x = randn(T, E, seed=seed)
    W_gate, W_up, W_down = randn(d_ff, E, seed=seed + 1), randn(d_ff, E, seed=seed + 2), randn(E, d_ff, seed=seed + 3)
    ours = swiglu(x, W_gate, W_up, W_down)
    ref = F.linear(F.silu(F.linear(x, W_gate)) * F.linear(x, W_up), W_down)
    torch.testing.assert_close(ours.output, ref, rtol=1e-12, atol=1e-9)
    torch.testing.assert_close(silu(x), F.silu(x), rtol=0, atol=1e-14)
    with pytest.raises(ValueError):
        swiglu(x, W_gate, W_up, W_down.T)


# ----- RoPE: llama.cpp's row order against Hugging Face's rotate-half -------------------------


def _rotate_half_rope(x, base):
    """Hugging Face's Llama RoPE on x (T, 64): dims i and i + 32 turned together by m·θ_i."""
    T, d = x.shape
    theta = frequencies(d, base)
    # (T, d/2) angles, repeated for both halves, as transformers' cat((freqs, freqs))
    phi = torch.arange(T, dtype=f64)[:, None] * theta[None, :]
    cos, sin = torch.cat([phi.cos()] * 2, -1), torch.cat([phi.sin()] * 2, -1)
    x1, x2 = x[:, : d // 2], x[:, d // 2:]
    return x * cos + torch.cat([-x2, x1], -1) * sin


@pytest.mark.parametrize("T,seed", [(1, 0), (9, 1), (40, 2)])
def test_gguf_row_order_makes_adjacent_rope_equal_rotate_half(T, seed):
    d, base = 64, 100000.0
    q_hf, k_hf = randn(T, d, seed=seed), randn(T, d, seed=seed + 1)
    # llama.cpp's order: GGUF row hf_rows[r] holds HF row r
    P = hf_rows(1, d)
    q_gg, k_gg = torch.empty_like(q_hf), torch.empty_like(k_hf)
    q_gg[:, P], k_gg[:, P] = q_hf, k_hf
    hf_q, hf_k = _rotate_half_rope(q_hf, base), _rotate_half_rope(k_hf, base)
    ours_q, ours_k = rope(q_gg, base), rope(k_gg, base)
    # the same rotated vectors, only in another order …
    torch.testing.assert_close(ours_q[:, P], hf_q, rtol=0, atol=1e-12)
    # … so every score q_m·k_n is the same
    torch.testing.assert_close(ours_q @ ours_k.T, hf_q @ hf_k.T, rtol=0, atol=1e-12)
    # without the permutation the adjacent-pair RoPE gives other scores
    if T > 1:
        assert float((rope(q_hf, base) @ rope(k_hf, base).T - hf_q @ hf_k.T).abs().max()) > 1e-3


def test_hf_rows_is_a_permutation_within_each_head():
    P = hf_rows(3, 64)
    assert sorted(P.tolist()) == list(range(192))
    assert P[:4].tolist() == [0, 2, 4, 6] and P[32:34].tolist() == [1, 3]
    assert (P // 64).tolist() == [h for h in range(3) for _ in range(64)]
