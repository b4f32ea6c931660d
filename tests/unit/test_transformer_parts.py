"""The block's parts beside the block: the block input X = E + PE (engine.ops.transformer), the FFN
erratum, an extra outer activation (engine.ops.ffn), against torch's layers and functions in float64,
per-position moments (engine.ops.layer_norm), and the lesson's runs (run_encoder, run_decoder)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from engine.data.tokens import TokenError, token_vector, tokenize
from engine.limits import LimitError
from engine.ops.ffn import ffn_outer_activation
from engine.ops.layer_norm import layer_norm, position_moments
from engine.ops.transformer import BlockConfig, block_input, run_decoder, run_encoder

TOL = 1e-10
f64 = torch.float64


def randn(*shape, seed):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=f64)


def torch_ffn(E: int, d_ff: int, activation: str, seed: int) -> nn.Sequential:
    """nn.Linear → act → nn.Linear, float64, every weight and bias random."""
    act = nn.ReLU() if activation == "relu" else nn.GELU()
    net = nn.Sequential(nn.Linear(E, d_ff, dtype=f64), act, nn.Linear(d_ff, E, dtype=f64))
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=gen, dtype=f64))
    return net


def weights(net: nn.Sequential):
    return (net[0].weight.detach(), net[0].bias.detach(), net[2].weight.detach(), net[2].bias.detach())


SHAPES = [(1, 1, 1, 1), (1, 5, 8, 32), (2, 7, 16, 64), (3, 4, 6, 3)]  # (B, T, E, d_ff)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("activation", ["relu", "gelu"])
def test_right_and_wrong_ffn_equal_torch(shape, activation):
    B, T, E, d_ff = shape
    seed = sum(shape) + (activation == "gelu")
    net = torch_ffn(E, d_ff, activation, seed)
    x = randn(B, T, E, seed=seed)
    tr = ffn_outer_activation(x, *weights(net), activation=activation)
    with torch.no_grad():
        right = net(x)
        act = F.relu if activation == "relu" else F.gelu
        inner = act(net[0](x))
        wrong = act(F.linear(inner, net[2].weight)) + net[2].bias
    assert (tr.right.output - right).abs().max() < TOL
    assert (tr.projected - F.linear(inner, net[2].weight)).abs().max() < TOL
    assert (tr.wrong - wrong).abs().max() < TOL
    assert tr.wrong.shape == tr.right.output.shape == x.shape


@pytest.mark.parametrize("seed", range(4))
def test_relu_outside_kills_negative_outputs(seed):
    net = torch_ffn(12, 48, "relu", seed)
    x = randn(1, 9, 12, seed=seed + 10)
    tr = ffn_outer_activation(x, *weights(net), activation="relu")
    b_2 = net[2].bias.detach()
    # the wrong output never falls below b_2 …
    assert (tr.wrong - b_2).min() >= 0
    # … it equals b_2 exactly where p < 0, and the right output where p ≥ 0
    assert torch.equal(tr.wrong[tr.negative], b_2.expand_as(tr.wrong)[tr.negative])
    keep = ~tr.negative
    assert (tr.wrong[keep] - tr.right.output[keep]).abs().max() < TOL
    # right − wrong = min(p, 0): the gap is the size of the most negative entry of p
    assert (tr.delta - tr.projected.clamp(max=0)).abs().max() < TOL
    assert math.isclose(float(tr.delta.abs().max()), float(-tr.projected.min()), rel_tol=1e-12)
    # with random weights there are negative entries, so the two forms really differ
    assert tr.negative.any() and tr.delta.abs().max() > 0.1


def test_forms_agree_only_without_negative_projections():
    # W_2 ≥ 0 and ReLU inside: p = W_2·ReLU(·) ≥ 0, so the outer ReLU changes nothing
    net = torch_ffn(4, 8, "relu", 0)
    W_1, b_1, W_2, b_2 = weights(net)
    tr = ffn_outer_activation(randn(2, 3, 4, seed=1), W_1, b_1, W_2.abs(), b_2, "relu")
    assert not tr.negative.any()
    assert torch.equal(tr.wrong, tr.right.output)


def test_missing_b2_is_zero():
    net = torch_ffn(5, 7, "gelu", 3)
    W_1, b_1, W_2, _ = weights(net)
    x = randn(2, 5, seed=4)
    tr = ffn_outer_activation(x, W_1, b_1, W_2, None, "gelu")
    assert torch.equal(tr.right.output, tr.projected)
    assert (tr.wrong - F.gelu(tr.projected)).abs().max() < TOL


def test_bad_arguments_are_refused():
    net = torch_ffn(4, 8, "relu", 0)
    W_1, b_1, W_2, b_2 = weights(net)
    x = randn(3, 4, seed=0)
    with pytest.raises(ValueError, match="activation"):
        ffn_outer_activation(x, W_1, b_1, W_2, b_2, "tanh")
    with pytest.raises(ValueError, match="W_1"):
        ffn_outer_activation(randn(3, 5, seed=0), W_1, b_1, W_2, b_2)


# ----- the block input --------------------------------------------------------------------


@pytest.mark.parametrize("text, d", [("The cat sat on the mat .", 16), ("猫坐在垫子上。", 8), ("one", 5)])
@pytest.mark.parametrize("seed", [0, 7])
def test_block_input_is_embedding_plus_sinusoidal_pe(text, d, seed):
    tokens = tokenize(text)
    inp = block_input(tokens, d, seed)
    T = len(tokens)
    assert inp.X.shape == inp.embedding.shape == inp.position.shape == (T, d)
    for t, tok in enumerate(tokens):
        assert torch.equal(inp.embedding[t], token_vector(tok, d, seed))
    # PE[pos, 2i] = sin(pos/10000^{2i/d}), PE[pos, 2i+1] = cos(…): an independent loop
    pe = np.zeros((T, d))
    for pos in range(T):
        for j in range(d):
            angle = pos / 10000 ** ((j - j % 2) / d)
            pe[pos, j] = math.sin(angle) if j % 2 == 0 else math.cos(angle)
    np.testing.assert_allclose(inp.position.numpy(), pe, atol=1e-12)
    np.testing.assert_allclose(inp.X.numpy(), inp.embedding.numpy() + pe, atol=1e-12)


def test_repeated_token_same_embedding_different_input():
    tokens = tokenize("the cat saw the dog")
    inp = block_input(tokens, 8, 0)
    assert torch.equal(inp.embedding[0], inp.embedding[3])
    assert (inp.X[0] - inp.X[3]).abs().max() > 0.1


def test_block_input_bounds():
    with pytest.raises(LimitError):
        block_input(["a"], 0, 0)
    with pytest.raises(LimitError):
        block_input(["a"] * 129, 8, 0)
    with pytest.raises(TokenError):
        tokenize("   ")


# ----- moments ----------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(1, 1), (5, 16), (2, 3, 7)])
def test_position_moments_equal_numpy(shape):
    x = randn(*shape, seed=sum(shape)) * 3 + 2
    mean, var = position_moments(x)
    a = x.numpy()
    np.testing.assert_allclose(mean.numpy(), a.mean(-1), atol=1e-12)
    np.testing.assert_allclose(var.numpy(), a.var(-1), atol=1e-12)


def test_layer_norm_invariant_checked_by_moments():
    x = randn(6, 32, seed=3) * 4 - 1
    eps = 1e-5
    ln = layer_norm(x, eps=eps)
    mean, var = position_moments(ln.normalized)
    assert mean.abs().max() < 1e-12
    # variance σ²/(σ² + ε): 1 up to ε/σ²
    assert torch.allclose(var, ln.var / (ln.var + eps), atol=1e-12)
    assert (var - 1).abs().max() < 1e-4


def test_outer_activation_summaries():
    net = torch_ffn(6, 24, "relu", 5)
    tr = ffn_outer_activation(randn(2, 4, 6, seed=5), *weights(net), activation="relu")
    assert tr.n_negative == int((tr.projected < 0).sum()) > 0
    assert tr.max_delta == pytest.approx(float(-tr.projected.min()), rel=1e-12)
    assert tr.floor >= 0 and torch.equal(tr.b_2, net[2].bias.detach())


# ----- the lesson's runs ------------------------------------------------------------------


@pytest.mark.parametrize("norm_first", [False, True])
def test_run_encoder_and_decoder_match_torch(norm_first):
    config = BlockConfig(d_model=8, h=2, d_ff=16, norm_first=norm_first)
    enc = run_encoder(tokenize("the cat sat on the mat"), config, 3)
    assert enc.X.shape == (1, 6, 8) and torch.equal(enc.X[0], block_input(tokenize("the cat sat on the mat"), 8, 3).X)
    assert enc.trace.output.shape == (1, 6, 8) and enc.torch_gap() < 1e-10
    # the two placements: same weights, other order, different numbers
    assert (enc.pre, enc.post) == ((enc.trace, enc.other) if norm_first else (enc.other, enc.trace))
    assert enc.order_gap == float((enc.post.output - enc.pre.output).abs().max()) > 1e-3
    s2 = enc.trace.feed_forward
    assert torch.equal(enc.ffn_input, s2.norm.output if norm_first else s2.x)
    assert (enc.outer_activation().right.output - enc.trace.ffn.output).abs().max() < TOL
    dec = run_decoder(tokenize("a dog ran"), enc, 4)
    assert dec.trace.output.shape == (1, 3, 8) and dec.torch_gap() < 1e-10
    assert dec.causal_leak == 0.0
    # the "one vector" memory: S = 1, so every cross-attention weight is 1
    assert dec.one_vector.cross_weights.shape == (1, 2, 3, 1)
    assert torch.allclose(dec.one_vector.cross_weights, torch.ones(1, dtype=f64))


def test_one_vector_range_is_all_ones():
    config = BlockConfig(d_model=8, h=2, d_ff=16)
    enc = run_encoder(tokenize("a b c d"), config, 0)
    lo, hi = run_decoder(tokenize("x y"), enc, 1).one_vector_range
    assert lo == pytest.approx(1.0, abs=1e-12) and hi == pytest.approx(1.0, abs=1e-12)
