"""A tiny Transformer encoder for the toy sequence tasks (engine.data.seq_tasks), and its attention maps.

    X⁰ = E[x] + PE                      token embedding plus positions, (B, T, d_model)
    Xˡ = EncoderLayer(Xˡ⁻¹), l = 1…N    torch's nn.TransformerEncoderLayer (pre-LN, no dropout)
    z  = LayerNorm(Xᴺ) W_outᵀ + b_out   one prediction per position, (B, T, V)

Training uses torch's modules for speed. The attention weights a page draws are computed from
the modules' own weights by the from-scratch engine.ops.attention.multi_head_attention, which
returns every head's (T, T) map; attention_maps checks nothing is lost by doing so (it feeds
each layer exactly the input the layer's self-attention sees).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn

from engine.limits import check
from engine.ops.attention import multi_head_attention
from engine.ops.positional import sinusoidal

POSITIONS = ("sinusoidal", "learned")


@dataclass(frozen=True)
class TinyTransformerConfig:
    """d_model features, h heads (d_k = d_model / h), N encoder layers, d_ff hidden FFN units."""

    d_model: int = 32
    h: int = 4
    N: int = 2
    d_ff: int = 64
    positions: str = "sinusoidal"

    def __post_init__(self):
        check("d_model", self.d_model)
        check("num_heads", self.h)
        check("layers", self.N)
        check("d_ff", self.d_ff)
        if self.d_model % self.h:
            raise ValueError(f"d_model={self.d_model} is not divisible by h={self.h}: each head needs "
                             f"d_k = d_model / h features")
        if self.positions not in POSITIONS:
            raise ValueError(f"positions must be one of {POSITIONS}, got {self.positions!r}")


def param_count(config: TinyTransformerConfig, V: int, T: int) -> int:
    """Learnable numbers of TinyTransformer(config, V, T), without building it.

    Per layer: attention 4d² + 4d (W_Q, W_K, W_V, W_O and biases), FFN 2·d·d_ff + d_ff + d,
    two LayerNorms 4d. Plus the token table V·d, a learned position table T·d, the final
    LayerNorm 2d and the output layer d·V + V.
    """
    d, d_ff, N = config.d_model, config.d_ff, config.N
    # layer = 4d² + 4d + 2·d·d_ff + d_ff + d + 4d
    layer = 4 * d * d + 4 * d + 2 * d * d_ff + d_ff + d + 4 * d
    positions = T * d if config.positions == "learned" else 0
    # P = V·d + positions + N·layer + 2d + d·V + V
    return V * d + positions + N * layer + 2 * d + d * V + V


class TinyTransformer(nn.Module):
    """ids (B, T) → logits (B, T, V): an encoder that predicts one token per position."""

    def __init__(self, config: TinyTransformerConfig, V: int, T: int):
        super().__init__()
        check("max_len", T)
        self.config, self.V, self.T = config, V, T
        d = config.d_model
        self.embed = nn.Embedding(V, d)
        if config.positions == "learned":
            self.pos = nn.Parameter(torch.randn(T, d) * 0.02)
        else:
            self.register_buffer("pos", sinusoidal(T, d).float(), persistent=False)
        self.layers = nn.ModuleList(
            nn.TransformerEncoderLayer(d, config.h, config.d_ff, dropout=0.0, batch_first=True,
                                       norm_first=True)
            for _ in range(config.N))
        self.norm = nn.LayerNorm(d)
        self.head = nn.Linear(d, V)

    def inputs(self, ids: torch.Tensor) -> torch.Tensor:
        """X⁰ = E[x] + PE, (B, T, d_model)."""
        T = ids.shape[1]
        # X⁰ = E[x] + PE
        return self.embed(ids) + self.pos[:T]

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        X = self.inputs(ids)
        for layer in self.layers:
            X = layer(X)
        # z = LayerNorm(Xᴺ) W_outᵀ + b_out
        return self.head(self.norm(X))


@torch.no_grad()
def attention_maps(model: TinyTransformer, ids: torch.Tensor) -> torch.Tensor:
    """Every head's attention weights on `ids` (B, T): (N, B, h, T, T); rows sum to 1.

    Layer l's self-attention sees LayerNorm₁(Xˡ⁻¹) (pre-LN), so that is what goes into the
    from-scratch multi_head_attention with the layer's own W_Q, W_K, W_V, W_O."""
    X = model.inputs(ids)
    maps = []
    for layer in model.layers:
        attn = layer.self_attn
        A_in = layer.norm1(X) if layer.norm_first else X
        trace = multi_head_attention(A_in, A_in, A_in, attn.num_heads, attn.in_proj_weight,
                                     attn.in_proj_bias, attn.out_proj.weight, attn.out_proj.bias)
        maps.append(trace.weights)  # (B, h, T, T)
        X = layer(X)
    return torch.stack(maps)  # (N, B, h, T, T)


def anti_diagonal_mass(weights: torch.Tensor) -> torch.Tensor:
    """Mean weight that query i puts on key T−1−i, over the queries: (..., T, T) → (...).

    1 for a head that attends exactly to the mirror position (what reversing needs), 1/T for
    uniform attention."""
    # m = (1/T) Σ_i w[i, T−1−i]: flip the key axis, then the main diagonal holds w[i, T−1−i]
    return weights.flip(-1).diagonal(dim1=-2, dim2=-1).mean(-1)
