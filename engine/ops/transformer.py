"""The Transformer block from its parts: multi-head attention, a position-wise feed-forward
network, residual connections and LayerNorm.

An encoder block maps (B, T, E) to (B, T, E): one output vector per input position, never one
vector for the whole sequence. Each of its two sub-layers F (self-attention, then the FFN) is
wrapped in a residual connection and a LayerNorm, in one of two orders:
  post-LN (norm_first=False, the 2017 paper):  y = LN(x + F(x))
  pre-LN  (norm_first=True, most modern models): y = x + F(LN(x))
A decoder block adds causal self-attention (position t sees positions ≤ t only) and
cross-attention, whose queries come from the decoder and keys and values from the encoder's
output ("memory").

The block's parts live beside it: the FFN and its activations in engine.ops.ffn, LayerNorm in
engine.ops.layer_norm, multi-head attention in engine.ops.attention. The block's input is
X = E + PE (block_input): seeded per-token embeddings (engine.data.tokens.embed, not trained)
plus the sinusoidal position table (engine.ops.positional.sinusoidal); equal tokens get equal
rows of E, but PE makes their rows of X differ.

Layouts follow torch (batch_first, nn.Linear weights (out, in)), so every function compares
with nn.LayerNorm, nn.TransformerEncoderLayer and nn.TransformerDecoderLayer in one line.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import torch
from torch import nn

from engine.data.tokens import embed
from engine.limits import check
from engine.ops.attention import MultiHeadTrace, causal_mask, multi_head_attention
from engine.ops.ffn import FFNTrace, OuterActivationTrace, activation_fn, ffn, ffn_outer_activation
from engine.ops.layer_norm import LayerNormTrace, layer_norm
from engine.ops.positional import sinusoidal

# ----- the block's input -------------------------------------------------------------------


@dataclass(frozen=True)
class BlockInput:
    """X = E + PE for a sentence of T tokens; every field (T, d_model), float64."""

    embedding: torch.Tensor  # E: row t is the seeded vector of token t
    position: torch.Tensor  # PE: sinusoidal table, rows 0 … T − 1
    X: torch.Tensor  # E + PE


def block_input(tokens: list[str], d_model: int, seed: int) -> BlockInput:
    """The sentence as the block sees it: seeded token embeddings plus sinusoidal PE."""
    E = embed(tokens, d_model, seed)
    PE = sinusoidal(len(tokens), d_model)
    # X = E + PE
    X = E + PE
    return BlockInput(E, PE, X)


# ----- parameters and configuration ---------------------------------------------------------


@dataclass(frozen=True)
class AttentionParams:
    """nn.MultiheadAttention's: in_proj (3E, E) stacks W_Q, W_K, W_V; out_proj (E, E)."""

    in_proj_weight: torch.Tensor
    in_proj_bias: torch.Tensor | None
    out_proj_weight: torch.Tensor
    out_proj_bias: torch.Tensor | None


@dataclass(frozen=True)
class FFNParams:
    W_1: torch.Tensor  # (d_ff, E), torch's linear1.weight
    b_1: torch.Tensor | None
    W_2: torch.Tensor  # (E, d_ff), torch's linear2.weight
    b_2: torch.Tensor | None


@dataclass(frozen=True)
class NormParams:
    weight: torch.Tensor | None  # γ, (E,)
    bias: torch.Tensor | None  # β, (E,)


@dataclass(frozen=True)
class EncoderParams:
    self_attn: AttentionParams
    ffn: FFNParams
    norm1: NormParams
    norm2: NormParams


@dataclass(frozen=True)
class DecoderParams:
    self_attn: AttentionParams
    cross_attn: AttentionParams  # torch's multihead_attn
    ffn: FFNParams
    norm1: NormParams
    norm2: NormParams
    norm3: NormParams


@dataclass(frozen=True)
class BlockConfig:
    """One block's sizes and choices, with the paper's symbols: d_model = E, h heads, d_ff."""

    d_model: int = 16
    h: int = 4
    d_ff: int = 32
    activation: str = "relu"
    norm_first: bool = False
    eps: float = 1e-5

    def __post_init__(self):
        check("d_model", self.d_model)
        check("num_heads", self.h)
        check("d_ff", self.d_ff)
        activation_fn(self.activation)
        if self.d_model % self.h:
            raise ValueError(f"E={self.d_model} is not divisible by h={self.h}: each head needs "
                             f"d_k = E/h dimensions")

    @property
    def d_k(self) -> int:
        return self.d_model // self.h


# ----- torch's layers ↔ params --------------------------------------------------------------

# our fields → torch's parameter names, per part
_TORCH_NAMES = {
    AttentionParams: {"in_proj_weight": "in_proj_weight", "in_proj_bias": "in_proj_bias",
                      "out_proj_weight": "out_proj.weight", "out_proj_bias": "out_proj.bias"},
    FFNParams: {"W_1": "linear1.weight", "b_1": "linear1.bias", "W_2": "linear2.weight", "b_2": "linear2.bias"},
    NormParams: {"weight": "weight", "bias": "bias"},
}
# block field → (its part's class, torch's submodule prefix; the FFN's linears sit on the layer)
_PARTS = {"self_attn": (AttentionParams, "self_attn."), "cross_attn": (AttentionParams, "multihead_attn."),
          "ffn": (FFNParams, ""), "norm1": (NormParams, "norm1."), "norm2": (NormParams, "norm2."),
          "norm3": (NormParams, "norm3.")}


def _torch_names(block_cls):
    """(field, part class, our name, torch's full parameter name) for every tensor of a block."""
    for f in fields(block_cls):
        part_cls, prefix = _PARTS[f.name]
        for ours, theirs in _TORCH_NAMES[part_cls].items():
            yield f.name, part_cls, ours, prefix + theirs


def _torch_tensor(layer: nn.Module, name: str) -> torch.Tensor | None:
    """layer's parameter `name` ("self_attn.out_proj.bias"), or None where torch keeps none."""
    module_name, _, attr = name.rpartition(".")
    return getattr(layer.get_submodule(module_name), attr)


def _from_torch(block_cls, layer: nn.Module):
    values: dict[str, dict] = {f.name: {} for f in fields(block_cls)}
    for field, _, ours, theirs in _torch_names(block_cls):
        p = _torch_tensor(layer, theirs)
        values[field][ours] = None if p is None else p.detach().clone()
    return block_cls(**{field: _PARTS[field][0](**v) for field, v in values.items()})


def encoder_params(layer: nn.TransformerEncoderLayer) -> EncoderParams:
    """The weights of a torch encoder layer, as detached copies."""
    return _from_torch(EncoderParams, layer)


def decoder_params(layer: nn.TransformerDecoderLayer) -> DecoderParams:
    """The weights of a torch decoder layer, as detached copies."""
    return _from_torch(DecoderParams, layer)


def copy_into(layer: nn.Module, params) -> nn.Module:
    """Copy EncoderParams / DecoderParams into a torch layer of the same sizes; returns the layer."""
    with torch.no_grad():
        for field, _, ours, theirs in _torch_names(type(params)):
            value = getattr(getattr(params, field), ours)
            target = _torch_tensor(layer, theirs)
            if (target is None) != (value is None):
                raise ValueError(f"{theirs}: one side has it and the other has none (bias=False?)")
            if value is not None:
                target.copy_(value)
    return layer


def torch_encoder_layer(config: BlockConfig, params: EncoderParams) -> nn.TransformerEncoderLayer:
    """nn.TransformerEncoderLayer(batch_first=True, dropout=0) in eval mode holding `params`
    (float64): the reference a page checks encoder_block against. Built without drawing from
    the global random generator (on the meta device, then filled)."""
    layer = nn.TransformerEncoderLayer(
        config.d_model, config.h, config.d_ff, dropout=0.0, activation=config.activation,
        layer_norm_eps=config.eps, batch_first=True, norm_first=config.norm_first,
        dtype=torch.float64, device="meta")
    layer = layer.to_empty(device=params.self_attn.in_proj_weight.device)
    return copy_into(layer, params).eval()


def torch_decoder_layer(config: BlockConfig, params: DecoderParams) -> nn.TransformerDecoderLayer:
    """nn.TransformerDecoderLayer(batch_first=True, dropout=0) in eval mode holding `params`."""
    layer = nn.TransformerDecoderLayer(
        config.d_model, config.h, config.d_ff, dropout=0.0, activation=config.activation,
        layer_norm_eps=config.eps, batch_first=True, norm_first=config.norm_first,
        dtype=torch.float64, device="meta")
    layer = layer.to_empty(device=params.self_attn.in_proj_weight.device)
    return copy_into(layer, params).eval()


# ----- seeded parameters --------------------------------------------------------------------


def _uniform(gen, shape, bound: float) -> torch.Tensor:
    # U(−b, b) = (2·U(0, 1) − 1)·b
    return (2 * torch.rand(*shape, generator=gen, dtype=torch.float64) - 1) * bound


def _seeded_attention(gen, E: int) -> AttentionParams:
    # xavier_uniform on the stacked (3E, E) matrix: b = √(6 / (fan_in + fan_out)) = √(6 / (E + 3E))
    W_in = _uniform(gen, (3 * E, E), math.sqrt(6.0 / (E + 3 * E)))
    # nn.Linear's default (kaiming_uniform, a=√5): b = 1/√fan_in
    W_out = _uniform(gen, (E, E), 1.0 / math.sqrt(E))
    zeros = torch.zeros(3 * E, dtype=torch.float64)
    return AttentionParams(W_in, zeros, W_out, zeros[:E].clone())


def _seeded_ffn(gen, E: int, d_ff: int) -> FFNParams:
    W_1, b_1 = _uniform(gen, (d_ff, E), 1 / math.sqrt(E)), _uniform(gen, (d_ff,), 1 / math.sqrt(E))
    W_2, b_2 = _uniform(gen, (E, d_ff), 1 / math.sqrt(d_ff)), _uniform(gen, (E,), 1 / math.sqrt(d_ff))
    return FFNParams(W_1, b_1, W_2, b_2)


def seeded_block_params(config: BlockConfig, seed: int, decoder: bool = False):
    """float64 EncoderParams (or DecoderParams) drawn as torch initialises its layers:
    in_proj xavier-uniform, attention biases 0, out_proj and both linears U(±1/√fan_in)
    (weights and biases), LayerNorm γ = 1, β = 0. Same distributions as torch, not torch's
    numbers: drawn from a private generator seeded with `seed`, in field order."""
    gen = torch.Generator().manual_seed(int(seed))
    E = config.d_model
    self_attn = _seeded_attention(gen, E)
    cross_attn = _seeded_attention(gen, E) if decoder else None
    ffn_params = _seeded_ffn(gen, E, config.d_ff)

    def norm():
        return NormParams(torch.ones(E, dtype=torch.float64), torch.zeros(E, dtype=torch.float64))

    if decoder:
        return DecoderParams(self_attn, cross_attn, ffn_params, norm(), norm(), norm())
    return EncoderParams(self_attn, ffn_params, norm(), norm())


# ----- blocks -------------------------------------------------------------------------------


@dataclass(frozen=True)
class SublayerTrace:
    """One residual sub-layer F with its LayerNorm.
    post-LN: residual = x + F(x), output = LN(residual); pre-LN: residual = output = x + F(LN(x))."""

    x: torch.Tensor  # the sub-layer's input, (B, T, E)
    inner: MultiHeadTrace | FFNTrace  # F's own trace; F's output is inner.output
    residual: torch.Tensor  # the residual sum
    norm: LayerNormTrace  # post-LN: LN of the residual sum; pre-LN: LN of x
    output: torch.Tensor


def _sublayer(x, F, norm: NormParams, norm_first: bool, eps: float) -> SublayerTrace:
    if norm_first:
        n = layer_norm(x, norm.weight, norm.bias, eps)
        inner = F(n.output)
        # y = x + F(LN(x))
        residual = x + inner.output
        return SublayerTrace(x, inner, residual, n, residual)
    inner = F(x)
    # y = LN(x + F(x))
    residual = x + inner.output
    n = layer_norm(residual, norm.weight, norm.bias, eps)
    return SublayerTrace(x, inner, residual, n, n.output)


def _attend(p: AttentionParams, num_heads, kv=None, mask=None, key_padding_mask=None):
    """F for an attention sub-layer: self-attention when kv is None, else cross-attention on kv."""
    def F(x):
        source = x if kv is None else kv
        return multi_head_attention(x, source, source, num_heads, p.in_proj_weight, p.in_proj_bias,
                                    p.out_proj_weight, p.out_proj_bias, mask=mask,
                                    key_padding_mask=key_padding_mask)
    return F


def _feed_forward(p: FFNParams, activation: str):
    def F(x):
        return ffn(x, p.W_1, p.b_1, p.W_2, p.b_2, activation)
    return F


@dataclass(frozen=True)
class EncoderTrace:
    """Every stage of one encoder block; output is (B, T, E), one vector per position."""

    x: torch.Tensor
    self_attn: SublayerTrace  # .inner is the MultiHeadTrace
    feed_forward: SublayerTrace  # .inner is the FFNTrace
    output: torch.Tensor

    @property
    def attention(self) -> MultiHeadTrace:
        return self.self_attn.inner

    @property
    def ffn(self) -> FFNTrace:
        return self.feed_forward.inner

    @property
    def weights(self) -> torch.Tensor:
        """(B, h, T, T) self-attention weights."""
        return self.self_attn.inner.weights


def encoder_block(x, params: EncoderParams, num_heads: int, norm_first: bool = False,
                  activation: str = "relu", mask=None, key_padding_mask=None,
                  eps: float = 1e-5) -> EncoderTrace:
    """One encoder layer on x (B, T, E): self-attention sub-layer, then FFN sub-layer.

    mask: bool keep-mask (T, T) / (B, T, T) (e.g. causal_mask(T)); key_padding_mask: bool (B, T),
    True = real token. Equal to nn.TransformerEncoderLayer(E, h, d_ff, dropout=0.0,
    batch_first=True, norm_first=...) in eval mode given ~mask and ~key_padding_mask."""
    attn = _attend(params.self_attn, num_heads, mask=mask, key_padding_mask=key_padding_mask)
    s1 = _sublayer(x, attn, params.norm1, norm_first, eps)
    s2 = _sublayer(s1.output, _feed_forward(params.ffn, activation), params.norm2, norm_first, eps)
    return EncoderTrace(x, s1, s2, s2.output)


@dataclass(frozen=True)
class DecoderTrace:
    """Every stage of one decoder block on x (B, T, E) with memory (B, S, E)."""

    x: torch.Tensor
    memory: torch.Tensor
    self_attn: SublayerTrace  # causal; .inner.weights (B, h, T, T)
    cross_attn: SublayerTrace  # queries from the decoder, keys/values from memory; .inner.weights (B, h, T, S)
    feed_forward: SublayerTrace
    output: torch.Tensor

    @property
    def self_weights(self) -> torch.Tensor:
        return self.self_attn.inner.weights

    @property
    def cross_weights(self) -> torch.Tensor:
        return self.cross_attn.inner.weights


def decoder_block(x, memory, params: DecoderParams, num_heads: int, norm_first: bool = False,
                  activation: str = "relu", causal: bool = True, key_padding_mask=None,
                  memory_key_padding_mask=None, eps: float = 1e-5) -> DecoderTrace:
    """One decoder layer: (causal) self-attention, cross-attention on memory, FFN; each a
    residual sub-layer. Equal to nn.TransformerDecoderLayer(..., dropout=0.0, batch_first=True)
    in eval mode with a causal tgt_mask and tgt_is_causal=True (padding masks inverted)."""
    T = x.shape[-2]
    mask = causal_mask(T) if causal else None
    self_attn = _attend(params.self_attn, num_heads, mask=mask, key_padding_mask=key_padding_mask)
    s1 = _sublayer(x, self_attn, params.norm1, norm_first, eps)
    cross = _attend(params.cross_attn, num_heads, kv=memory, key_padding_mask=memory_key_padding_mask)
    s2 = _sublayer(s1.output, cross, params.norm2, norm_first, eps)
    s3 = _sublayer(s2.output, _feed_forward(params.ffn, activation), params.norm3, norm_first, eps)
    return DecoderTrace(x, memory, s1, s2, s3, s3.output)


# ----- a sentence through the blocks, as the lesson shows it ----------------------------------


@dataclass(frozen=True)
class EncoderRun:
    """A sentence through one encoder block, in the chosen LayerNorm placement (trace) and in the
    other one with the same weights (other). X is the block input as a batch of one, (1, T, E)."""

    config: BlockConfig
    seed: int  # of the weights and the token embeddings
    params: EncoderParams
    input: BlockInput
    X: torch.Tensor
    trace: EncoderTrace
    other: EncoderTrace

    @property
    def post(self) -> EncoderTrace:
        return self.other if self.config.norm_first else self.trace

    @property
    def pre(self) -> EncoderTrace:
        return self.trace if self.config.norm_first else self.other

    @property
    def order_gap(self) -> float:
        """max |post-LN output − pre-LN output|: the placement changes the numbers."""
        return float((self.post.output - self.pre.output).abs().max())

    @property
    def ffn_input(self) -> torch.Tensor:
        """What the FFN received: Z (post-LN) or N₂ = LN₂(Z) (pre-LN), (1, T, E)."""
        s2 = self.trace.feed_forward
        return s2.norm.output if self.config.norm_first else s2.x

    def outer_activation(self) -> OuterActivationTrace:
        """The FFN erratum on the block's own FFN input and weights (engine.ops.ffn)."""
        P = self.params.ffn
        return ffn_outer_activation(self.ffn_input, P.W_1, P.b_1, P.W_2, P.b_2, self.config.activation)

    def torch_gap(self) -> float:
        """max |encoder_block − nn.TransformerEncoderLayer| on X, same weights."""
        with torch.no_grad():
            ref = torch_encoder_layer(self.config, self.params)(self.X)
        return float((self.trace.output - ref).abs().max())


def run_encoder(tokens: list[str], config: BlockConfig, seed: int) -> EncoderRun:
    """block_input(tokens) through an encoder block with seeded_block_params(config, seed)."""
    params = seeded_block_params(config, seed)
    inp = block_input(tokens, config.d_model, seed)
    # (T, d) → (1, T, d): a batch of one sentence, torch's batch_first layout
    X = inp.X[None]
    with torch.no_grad():
        trace = encoder_block(X, params, config.h, config.norm_first, config.activation, eps=config.eps)
        other = encoder_block(X, params, config.h, not config.norm_first, config.activation, eps=config.eps)
    return EncoderRun(config, int(seed), params, inp, X, trace, other)


@dataclass(frozen=True)
class DecoderRun:
    """A target sentence through a causal decoder block on an encoder's output (memory), and the
    "one fixed vector" erratum taken literally: the same decoder on memory cut to its last
    position (S = 1)."""

    config: BlockConfig
    params: DecoderParams
    X: torch.Tensor  # (1, T', E)
    trace: DecoderTrace
    one_vector: DecoderTrace

    @property
    def causal_leak(self) -> float:
        """The largest self-attention weight above the diagonal, over every head: exactly 0."""
        w = self.trace.self_weights[0]
        return float(w.triu(diagonal=1).abs().max()) if w.shape[-1] > 1 else 0.0

    @property
    def one_vector_range(self) -> tuple[float, float]:
        """(min, max) of the cross-attention weights on one memory vector: both 1, nothing to choose."""
        w = self.one_vector.cross_weights
        return float(w.min()), float(w.max())

    def torch_gap(self) -> float:
        """max |decoder_block − nn.TransformerDecoderLayer| with a causal tgt_mask, same weights."""
        T = self.X.shape[-2]
        with torch.no_grad():
            # torch's bool masks mean "blocked": the future, the opposite of our keep-mask
            ref = torch_decoder_layer(self.config, self.params)(self.X, self.trace.memory,
                                                                tgt_mask=~causal_mask(T), tgt_is_causal=True)
        return float((self.trace.output - ref).abs().max())


def run_decoder(tokens: list[str], encoder: EncoderRun, seed: int) -> DecoderRun:
    """block_input(tokens) (embeddings from encoder's seed) through a causal decoder block with
    seeded_block_params(config, seed, decoder=True) on encoder.trace.output."""
    config = encoder.config
    params = seeded_block_params(config, seed, decoder=True)
    # (T', d) → (1, T', d)
    X = block_input(tokens, config.d_model, encoder.seed).X[None]
    memory = encoder.trace.output

    def decode(mem):
        return decoder_block(X, mem, params, config.h, config.norm_first, config.activation, causal=True,
                             eps=config.eps)
    with torch.no_grad():
        return DecoderRun(config, params, X, decode(memory), decode(memory[:, -1:]))
