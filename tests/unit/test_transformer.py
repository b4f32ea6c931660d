"""engine.ops.transformer with its parts (engine.ops.layer_norm, engine.ops.ffn): LayerNorm, the FFN
and whole encoder/decoder blocks equal torch's (float64, eval mode, dropout 0) for both LayerNorm
placements, with and without masks; the traces obey the block's equations; params round-trip through
torch layers; bad inputs raise clear errors."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import engine.ops.transformer as tf
from engine.limits import BOUNDS, LimitError
from engine.ops import ffn as ff
from engine.ops import layer_norm as ln_ops
from engine.ops.attention import causal_mask, padding_mask

TOL = 1e-6
f64 = torch.float64


def randn(*shape, seed):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=f64)


def randomise(layer: nn.Module, seed: int) -> nn.Module:
    """Every parameter random (torch zeros the attention biases and sets γ = 1, β = 0 at init,
    which would hide a mistake in their use)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in layer.parameters():
            p.copy_(torch.randn(p.shape, generator=gen, dtype=f64) / math.sqrt(p.shape[-1]))
    return layer


# ----- LayerNorm ----------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(1,), (5,), (3, 4), (2, 7, 16), (2, 3, 4, 9)])
@pytest.mark.parametrize("eps", [1e-5, 1e-2])
def test_layer_norm_equals_torch(shape, eps):
    E = shape[-1]
    seed = sum(shape)
    x = randn(*shape, seed=seed) * 3 + 1
    ln = nn.LayerNorm(E, eps=eps, dtype=f64)
    randomise(ln, seed)
    t = ln_ops.layer_norm(x, ln.weight.detach(), ln.bias.detach(), eps)
    assert (t.output - ln(x).detach()).abs().max() < TOL
    assert t.mean.shape == shape[:-1] and t.var.shape == shape[:-1]
    assert torch.allclose(t.var, x.var(dim=-1, unbiased=False), atol=1e-12)  # biased, as torch


@pytest.mark.parametrize("seed", range(3))
def test_layer_norm_normalises_each_position(seed):
    x = randn(4, 6, 10, seed=seed) * 5 - 2
    t = ln_ops.layer_norm(x, eps=0.0)
    assert t.normalized.mean(-1).abs().max() < 1e-12
    assert (t.normalized.var(-1, unbiased=False) - 1).abs().max() < 1e-12
    # with ε > 0 the variance is σ²/(σ² + ε): just below 1
    t = ln_ops.layer_norm(x, eps=1e-5)
    assert torch.allclose(t.normalized.var(-1, unbiased=False), t.var / (t.var + 1e-5), atol=1e-12)
    assert torch.equal(t.output, t.normalized)  # no γ, β: output is x̂


# ----- FFN ----------------------------------------------------------------------------------


@pytest.mark.parametrize("activation", ["relu", "gelu"])
@pytest.mark.parametrize("shape,d_ff", [((1, 4), 1), ((3, 8), 32), ((2, 5, 16), 64), ((1, 1, 3), 7)])
def test_ffn_equals_torch(activation, shape, d_ff):
    E = shape[-1]
    torch.manual_seed(sum(shape) + d_ff)
    lin1, lin2 = nn.Linear(E, d_ff, dtype=f64), nn.Linear(d_ff, E, dtype=f64)
    x = randn(*shape, seed=d_ff)
    act = {"relu": F.relu, "gelu": F.gelu}[activation]
    expected = lin2(act(lin1(x))).detach()
    t = ff.ffn(x, lin1.weight.detach(), lin1.bias.detach(), lin2.weight.detach(), lin2.bias.detach(), activation)
    assert (t.output - expected).abs().max() < TOL
    assert (t.hidden - lin1(x).detach()).abs().max() < TOL
    assert t.hidden.shape == (*shape[:-1], d_ff)


def test_activations_equal_torch():
    a = torch.linspace(-6, 6, 1001, dtype=f64)
    assert (ff.gelu(a) - F.gelu(a)).abs().max() < 1e-12
    assert torch.equal(ff.relu(a), F.relu(a))


def test_ffn_has_no_outer_activation():
    # errata: FFN(X) = act(W₂·act(W₁X+b₁)) + b₂ is wrong; with ReLU the real FFN can be negative
    x = randn(20, 8, seed=1)
    t = ff.ffn(x, randn(16, 8, seed=2), randn(16, seed=3), randn(8, 16, seed=4), None, "relu")
    assert (t.output < 0).any()
    assert (t.activated >= 0).all() and torch.equal(t.activated, t.hidden.clamp_min(0))


# ----- encoder block ------------------------------------------------------------------------

# (B, T, E, h, d_ff)
ENC_SHAPES = [(1, 1, 4, 1, 8), (2, 5, 8, 2, 16), (3, 7, 12, 3, 20), (1, 9, 16, 4, 64)]


def torch_encoder(E, h, d_ff, norm_first, activation, seed):
    layer = nn.TransformerEncoderLayer(E, h, d_ff, dropout=0.0, activation=activation, batch_first=True,
                                       norm_first=norm_first, dtype=f64)
    return randomise(layer, seed).eval()


@pytest.mark.parametrize("shape", ENC_SHAPES)
@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
@pytest.mark.parametrize("masks", ["none", "src_mask", "padding", "both"])
def test_encoder_block_equals_torch(shape, norm_first, activation, masks):
    B, T, E, h, d_ff = shape
    seed = sum(shape) + 7 * norm_first
    layer = torch_encoder(E, h, d_ff, norm_first, activation, seed)
    x = randn(B, T, E, seed=seed)
    mask = causal_mask(T) if masks in ("src_mask", "both") else None
    kpm = padding_mask([max(1, T - 2 * b) for b in range(B)], T) if masks in ("padding", "both") else None
    expected = layer(x, src_mask=None if mask is None else ~mask,
                     src_key_padding_mask=None if kpm is None else ~kpm).detach()
    t = tf.encoder_block(x, tf.encoder_params(layer), h, norm_first, activation, mask=mask, key_padding_mask=kpm)
    assert t.output.shape == (B, T, E)  # one vector per position, not one per sequence
    assert (t.output - expected).abs().max() < TOL


def test_encoder_block_equals_torch_under_no_grad():
    # with grad disabled torch may take its fused "fast path"; the results must still agree
    layer = torch_encoder(8, 2, 16, False, "relu", seed=1)
    x = randn(2, 4, 8, seed=1)
    kpm = padding_mask([4, 2], 4)
    with torch.no_grad():
        expected = layer(x, src_key_padding_mask=~kpm)
    t = tf.encoder_block(x, tf.encoder_params(layer), 2, key_padding_mask=kpm)
    assert (t.output[0] - expected[0]).abs().max() < TOL
    assert (t.output[1, :2] - expected[1, :2]).abs().max() < TOL


@pytest.mark.parametrize("norm_first", [False, True])
def test_encoder_trace_stages(norm_first):
    cfg = tf.BlockConfig(d_model=8, h=2, d_ff=12, norm_first=norm_first)
    P = tf.seeded_block_params(cfg, seed=3)
    x = randn(2, 5, 8, seed=3)
    t = tf.encoder_block(x, P, cfg.h, norm_first)
    s1, s2 = t.self_attn, t.feed_forward
    assert torch.equal(s1.x, x) and torch.equal(s2.x, s1.output) and torch.equal(t.output, s2.output)
    if norm_first:
        # y = x + F(LN(x)): the norm sees the input, the residual is the output
        assert torch.allclose(s1.norm.output, ln_ops.layer_norm(x, eps=1e-5).output, atol=1e-12)
        assert torch.equal(s1.residual, x + t.attention.output) and torch.equal(s1.output, s1.residual)
    else:
        # y = LN(x + F(x))
        assert torch.equal(s1.residual, x + t.attention.output)
        assert torch.allclose(s1.output, ln_ops.layer_norm(s1.residual, eps=1e-5).output, atol=1e-12)
        assert t.output.mean(-1).abs().max() < 1e-12  # post-LN output, γ = 1, β = 0: mean 0
    assert t.weights.shape == (2, 2, 5, 5) and (t.weights.sum(-1) - 1).abs().max() < 1e-12
    assert t.ffn.output.shape == (2, 5, 8)


def test_encoder_block_is_permutation_equivariant():
    # no positional encoding: shuffling the tokens shuffles the outputs, nothing more
    cfg = tf.BlockConfig(d_model=8, h=2, d_ff=16)
    P = tf.seeded_block_params(cfg, seed=5)
    x = randn(1, 6, 8, seed=5)
    perm = torch.tensor([3, 0, 5, 1, 4, 2])
    out = tf.encoder_block(x, P, 2).output
    assert (tf.encoder_block(x[:, perm], P, 2).output - out[:, perm]).abs().max() < 1e-12


def test_encoder_one_token():
    layer = torch_encoder(4, 2, 8, True, "gelu", seed=2)
    x = randn(3, 1, 4, seed=2)
    t = tf.encoder_block(x, tf.encoder_params(layer), 2, True, "gelu")
    assert (t.output - layer(x).detach()).abs().max() < TOL
    assert (t.weights == 1).all()


# ----- decoder block ------------------------------------------------------------------------

# (B, T, S, E, h, d_ff)
DEC_SHAPES = [(1, 1, 1, 4, 2, 8), (2, 5, 7, 8, 2, 16), (3, 6, 3, 12, 4, 24)]


@pytest.mark.parametrize("shape", DEC_SHAPES)
@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
@pytest.mark.parametrize("padding", [False, True])
def test_decoder_block_equals_torch(shape, norm_first, activation, padding):
    B, T, S, E, h, d_ff = shape
    seed = sum(shape) + 3 * norm_first
    layer = nn.TransformerDecoderLayer(E, h, d_ff, dropout=0.0, activation=activation, batch_first=True,
                                       norm_first=norm_first, dtype=f64)
    layer = randomise(layer, seed).eval()
    x, memory = randn(B, T, E, seed=seed), randn(B, S, E, seed=seed + 1)
    tgt_kpm = padding_mask([max(1, T - b) for b in range(B)], T) if padding else None
    mem_kpm = padding_mask([max(1, S - 2 * b) for b in range(B)], S) if padding else None
    # torch's bool masks: True = blocked; here the future (bool, like the padding masks)
    future = torch.ones(T, T, dtype=torch.bool).triu(1)
    expected = layer(x, memory, tgt_mask=future, tgt_is_causal=True,
                     tgt_key_padding_mask=None if tgt_kpm is None else ~tgt_kpm,
                     memory_key_padding_mask=None if mem_kpm is None else ~mem_kpm).detach()
    t = tf.decoder_block(x, memory, tf.decoder_params(layer), h, norm_first, activation,
                         key_padding_mask=tgt_kpm, memory_key_padding_mask=mem_kpm)
    assert (t.output - expected).abs().max() < TOL
    assert t.cross_weights.shape == (B, h, T, S) and t.self_weights.shape == (B, h, T, T)
    assert (t.self_weights[..., future] == 0).all()
    if mem_kpm is not None:
        dropped = ~mem_kpm[:, None, None, :].expand(B, h, T, S)
        assert (t.cross_weights[dropped] == 0).all() and (t.cross_weights[~dropped] > 0).all()


def test_decoder_future_tokens_do_not_matter():
    # causal self-attention: changing token t+1… leaves outputs 0…t unchanged
    cfg = tf.BlockConfig(d_model=8, h=2, d_ff=16)
    P = tf.seeded_block_params(cfg, seed=1, decoder=True)
    x, memory = randn(1, 6, 8, seed=1), randn(1, 4, 8, seed=2)
    out = tf.decoder_block(x, memory, P, 2).output
    x2 = x.clone()
    x2[:, 4:] += 10
    out2 = tf.decoder_block(x2, memory, P, 2).output
    assert torch.equal(out2[:, :4], out[:, :4]) and (out2[:, 4:] - out[:, 4:]).abs().max() > 1e-3
    # without the causal mask the future leaks back
    assert (tf.decoder_block(x2, memory, P, 2, causal=False).output[:, :4]
            - tf.decoder_block(x, memory, P, 2, causal=False).output[:, :4]).abs().max() > 1e-3


# ----- params, config, seeded init ----------------------------------------------------------


def test_params_round_trip_through_torch():
    cfg = tf.BlockConfig(d_model=8, h=2, d_ff=12, activation="gelu", norm_first=True)
    for decoder in (False, True):
        P = tf.seeded_block_params(cfg, seed=4, decoder=decoder)
        layer = (tf.torch_decoder_layer if decoder else tf.torch_encoder_layer)(cfg, P)
        assert not layer.training
        back = (tf.decoder_params if decoder else tf.encoder_params)(layer)
        for field, _, ours, _ in tf._torch_names(type(P)):
            assert torch.equal(getattr(getattr(back, field), ours), getattr(getattr(P, field), ours))


@pytest.mark.parametrize("norm_first", [False, True])
def test_seeded_params_run_like_torch(norm_first):
    cfg = tf.BlockConfig(d_model=12, h=3, d_ff=24, activation="gelu", norm_first=norm_first)
    x, memory = randn(2, 5, 12, seed=0), randn(2, 3, 12, seed=1)
    P = tf.seeded_block_params(cfg, seed=9)
    ref = tf.torch_encoder_layer(cfg, P)(x).detach()
    assert (tf.encoder_block(x, P, cfg.h, norm_first, "gelu").output - ref).abs().max() < TOL
    D = tf.seeded_block_params(cfg, seed=9, decoder=True)
    ref = tf.torch_decoder_layer(cfg, D)(x, memory, tgt_mask=nn.Transformer.generate_square_subsequent_mask(5, dtype=f64),
                                         tgt_is_causal=True).detach()
    assert (tf.decoder_block(x, memory, D, cfg.h, norm_first, "gelu").output - ref).abs().max() < TOL


def test_seeded_params_follow_torch_init():
    cfg = tf.BlockConfig(d_model=16, h=4, d_ff=64)
    state = torch.random.get_rng_state()
    P = tf.seeded_block_params(cfg, seed=0)
    assert torch.equal(state, torch.random.get_rng_state())  # private generator only
    E, d_ff = 16, 64
    a = P.self_attn
    assert a.in_proj_weight.shape == (3 * E, E) and a.in_proj_weight.dtype == f64
    assert a.in_proj_weight.abs().max() <= math.sqrt(6 / (4 * E))
    assert a.in_proj_weight.abs().max() > 0.9 * math.sqrt(6 / (4 * E))
    assert (a.in_proj_bias == 0).all() and (a.out_proj_bias == 0).all()
    assert a.out_proj_weight.abs().max() <= 1 / math.sqrt(E)
    assert P.ffn.W_1.shape == (d_ff, E) and P.ffn.W_1.abs().max() <= 1 / math.sqrt(E)
    assert P.ffn.W_2.shape == (E, d_ff) and P.ffn.b_2.abs().max() <= 1 / math.sqrt(d_ff)
    assert (P.norm1.weight == 1).all() and (P.norm2.bias == 0).all()
    same, other = tf.seeded_block_params(cfg, seed=0), tf.seeded_block_params(cfg, seed=1)
    assert torch.equal(same.ffn.W_1, P.ffn.W_1) and not torch.equal(other.ffn.W_1, P.ffn.W_1)


# ----- bad inputs ---------------------------------------------------------------------------


def test_config_errors():
    with pytest.raises(ValueError, match=r"E=10 is not divisible by h=3: each head needs d_k = E/h"):
        tf.BlockConfig(d_model=10, h=3)
    with pytest.raises(ValueError, match="activation must be one of"):
        tf.BlockConfig(activation="tanh")
    with pytest.raises(LimitError):
        tf.BlockConfig(d_model=BOUNDS["d_model"].high + 4, h=4)
    with pytest.raises(LimitError):
        tf.BlockConfig(d_ff=BOUNDS["d_ff"].high + 1)
    with pytest.raises(LimitError):
        tf.BlockConfig(d_model=64, h=BOUNDS["num_heads"].high * 2)
    assert tf.BlockConfig(d_model=12, h=3).d_k == 4


def test_block_input_errors():
    cfg = tf.BlockConfig(d_model=8, h=2, d_ff=16)
    P = tf.seeded_block_params(cfg, seed=0)
    x = randn(1, 3, 8, seed=0)
    with pytest.raises(ValueError, match="E=8 is not divisible by h=3"):
        tf.encoder_block(x, P, 3)
    with pytest.raises(ValueError, match="in_proj_weight must be"):
        tf.encoder_block(randn(1, 3, 6, seed=0), P, 2)
    with pytest.raises(ValueError, match="activation must be one of"):
        tf.encoder_block(x, P, 2, activation="swish")
    with pytest.raises(LimitError):
        tf.encoder_block(randn(1, BOUNDS["tokens"].high + 1, 8, seed=0), P, 2)


def test_ffn_and_layer_norm_errors():
    x = randn(3, 4, seed=0)
    with pytest.raises(ValueError, match=r"W_1 must be \(d_ff, E\)"):
        ff.ffn(x, randn(5, 3, seed=1), None, randn(4, 5, seed=2), None)
    with pytest.raises(LimitError):
        ff.ffn(x, randn(BOUNDS["d_ff"].high + 1, 4, seed=1), None, randn(4, BOUNDS["d_ff"].high + 1, seed=2), None)
    with pytest.raises(ValueError, match="LayerNorm weight must be"):
        ln_ops.layer_norm(x, torch.ones(5, dtype=f64))
    with pytest.raises(ValueError, match="eps"):
        ln_ops.layer_norm(x, eps=-1.0)


def test_copy_into_refuses_a_missing_bias():
    cfg = tf.BlockConfig(d_model=4, h=2, d_ff=8)
    layer = nn.TransformerEncoderLayer(4, 2, 8, dropout=0.0, batch_first=True, bias=False, dtype=f64)
    with pytest.raises(ValueError, match="bias=False"):
        tf.copy_into(layer, tf.seeded_block_params(cfg, seed=0))
    # without biases on either side the round trip works and the block still matches torch
    P = tf.encoder_params(randomise(layer, 0).eval())
    assert P.self_attn.in_proj_bias is None and P.norm1.bias is None
    x = randn(2, 3, 4, seed=0)
    assert (tf.encoder_block(x, P, 2).output - layer(x).detach()).abs().max() < TOL
