"""engine.ops.prune against torch.nn.utils.prune (several shapes, seeds and amounts, float64, with
torch's count rounding), and engine.models.cnn_prune / cnn_slim on SeedCNN: masks applied, the
smaller network of a structured prune equal to the masked model, and the counts."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn
import torch.nn.utils.prune as tp

from engine.limits import LimitError
from engine.models.cnn import seeded
from engine.models.cnn_prune import METHODS, SHRUNK, WEIGHTS, apply_masks, masked_model, prune_masks
from engine.models.cnn_slim import SlimCNN, counts, shrink
from engine.models.prune_study import torch_gap
from engine.ops.prune import (
    channel_norms,
    global_unstructured,
    kept_channels,
    l1_unstructured,
    ln_structured,
    n_pruned,
)

f64 = torch.float64
SHAPES = [(7,), (5, 9), (16, 8, 3, 3), (64, 576), (32, 1, 3, 3)]
AMOUNTS = [0.0, 0.1, 0.25, 0.5, 0.55, 0.9, 0.95, 1.0]


def randn(*shape, seed):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=f64)


def holder(W: torch.Tensor) -> nn.Module:
    m = nn.Module()
    m.weight = nn.Parameter(W.clone())
    return m


@pytest.mark.parametrize("s,n", [(0.5, 5), (0.5, 7), (0.25, 10), (0.05, 32), (0.15, 10), (0.95, 64)])
def test_count_rounds_like_torch(s, n):
    # torch: round(amount · n), Python's round (halves to even: 0.5·5 = 2.5 → 2)
    assert n_pruned(s, n) == tp._compute_nparams_toprune(s, n) == round(s * n)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("s", AMOUNTS)
def test_l1_unstructured_equals_torch(shape, seed, s):
    W = randn(*shape, seed=seed)
    ours = l1_unstructured(W, s)
    m = holder(W)
    tp.l1_unstructured(m, "weight", amount=s)
    assert torch.equal(ours.M, m.weight_mask)
    assert ours.k == round(s * W.numel()) == int((ours.M == 0).sum())
    # every pruned |W| ≤ τ < every kept |W|
    if 0 < ours.k < W.numel():
        assert W.abs()[ours.M == 0].max() == ours.tau < W.abs()[ours.M == 1].min()


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("s", AMOUNTS)
def test_global_unstructured_equals_torch(seed, s):
    Ws = [randn(*shape, seed=seed + i) * (i + 1) for i, shape in enumerate(SHAPES[1:])]  # different scales
    ours = global_unstructured(Ws, s)
    mods = [holder(W) for W in Ws]
    tp.global_unstructured([(m, "weight") for m in mods], pruning_method=tp.L1Unstructured, amount=s)
    for mask, m in zip(ours, mods, strict=True):
        assert torch.equal(mask.M, m.weight_mask)
    n = sum(W.numel() for W in Ws)
    assert sum(mask.k for mask in ours) == round(s * n)
    assert len({mask.tau for mask in ours}) == 1  # one threshold for all layers


@pytest.mark.parametrize("shape", [s for s in SHAPES if len(s) > 1])
@pytest.mark.parametrize("seed", [0, 3])
@pytest.mark.parametrize("s", AMOUNTS[:-1])
def test_ln_structured_equals_torch(shape, seed, s):
    W = randn(*shape, seed=seed)
    ours = ln_structured(W, s)
    m = holder(W)
    tp.ln_structured(m, "weight", amount=s, n=1, dim=0)
    assert torch.equal(ours.M, m.weight_mask)
    assert ours.k == round(s * shape[0])
    kept = kept_channels(ours)
    assert len(kept) == shape[0] - ours.k
    # whole channels: each output channel is all kept or all pruned, the kept have the larger norms
    rows = ours.M.reshape(shape[0], -1)
    assert torch.equal(rows.amin(dim=1), rows.amax(dim=1))
    if 0 < ours.k < shape[0]:
        norms = channel_norms(W)
        assert norms[rows[:, 0] == 0].max() == ours.tau < norms[kept].min()


def test_ties_prune_the_lower_index_first_and_bad_amounts_are_refused():
    W = torch.tensor([1.0, -1.0, 1.0, 2.0])
    assert l1_unstructured(W, 0.5).M.tolist() == [0.0, 0.0, 1.0, 1.0]
    with pytest.raises(ValueError):
        l1_unstructured(W, 1.5)


@pytest.fixture(scope="module")
def model64():
    return seeded(3).double()


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("s", [0.3, 0.85])
def test_seedcnn_masks_equal_torch_and_apply(model64, method, s):
    assert torch_gap(model64, method, s) == 0.0
    pruning = prune_masks(model64, method, s)
    assert [lm.name for lm in pruning.layers] == list(SHRUNK if method == "channels" else WEIGHTS)
    pruned = apply_masks(model64, pruning)
    for lm in pruning.layers:
        W0, W1 = getattr(model64, lm.name).weight, getattr(pruned, lm.name).weight
        assert torch.equal(W1, W0 * lm.mask.M)
        assert torch.equal(getattr(pruned, lm.name).bias, getattr(model64, lm.name).bias)  # biases stay
    assert torch.equal(pruned.fc2.weight, model64.fc2.weight) == (method == "channels")


@pytest.mark.parametrize("s", [0.0, 0.3, 0.5, 0.95])
@pytest.mark.parametrize("seed", [0, 1])
def test_structured_prune_builds_a_smaller_network_with_the_same_logits(s, seed):
    model = seeded(seed).double()
    with torch.no_grad():  # positive biases: removed channels then output non-zero constants
        for name in SHRUNK:
            getattr(model, name).bias.copy_(randn(getattr(model, name).bias.shape[0], seed=seed).abs() * 0.1)
    pruning = prune_masks(model, "channels", s)
    masked = apply_masks(model, pruning)
    slim = shrink(masked, pruning)
    x = torch.rand(6, 1, 28, 28, dtype=f64, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        assert (slim(x) - masked(x)).abs().max() < 1e-10
    c = [32 - n_pruned(s, 32), 64 - n_pruned(s, 64), 64 - n_pruned(s, 64), 64 - n_pruned(s, 64)]
    assert (slim.conv1.out_channels, slim.conv2.in_channels) == (c[0], c[0])
    assert (slim.conv2.out_channels, slim.conv3.in_channels, slim.conv3.out_channels) == (c[1], c[1], c[2])
    assert tuple(slim.fc1.weight.shape) == (c[3], 9 * c[2])  # the channels-last flatten of c3 channels
    # params and MACs of the smaller network, layer by layer
    ref = SlimCNN(*c)
    assert counts(slim).params == sum(p.numel() for p in ref.parameters())
    # MACs = 26²·9·c1 + 11²·9·c1·c2 + 3²·9·c2·c3 + 9·c3·h + h·10
    macs = 26 * 26 * 9 * c[0] + 11 * 11 * 9 * c[0] * c[1] + 9 * 9 * c[1] * c[2] + 9 * c[2] * c[3] + c[3] * 10
    assert counts(slim).macs == macs
    if s > 0:
        assert counts(slim).macs < counts(masked).macs == counts(model).macs


def test_unstructured_prune_only_zeroes(model64):
    dense = counts(model64)
    assert dense.params == 93_322 and dense.macs == 2_794_240
    pruning = prune_masks(model64, "global", 0.7)
    pruned = counts(apply_masks(model64, pruning))
    assert pruned.params == dense.params and pruned.macs == dense.macs  # same shapes, same dense work
    zeroed = sum(lm.mask.k for lm in pruning.layers)
    assert zeroed == round(0.7 * sum(getattr(model64, n).weight.numel() for n in WEIGHTS))
    assert pruned.nonzero == dense.nonzero - zeroed
    assert pruned.macs_nonzero < 0.5 * dense.macs


@pytest.mark.parametrize("s", [-0.1, 0.96, float("nan")])
def test_sparsity_outside_its_range_is_refused(model64, s):
    with pytest.raises(LimitError) as e:
        prune_masks(model64, "layer", s)
    assert e.value.code == "limit" and e.value.params["name"] == "sparsity"


def test_masked_model_keeps_pruned_weights_at_zero_through_adam_steps():
    model = masked_model(seeded(0), "layer", 0.6)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2, weight_decay=1e-3)
    x, y = torch.rand(8, 1, 28, 28), torch.arange(8)
    before = {n: getattr(model, n).weight.detach().clone() for n in WEIGHTS}
    for _ in range(3):
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
        for n in WEIGHTS:
            M = getattr(model, f"mask_{n}")
            W = getattr(model, n).weight
            assert (W[M == 0] == 0).all()
    assert not torch.equal(before["fc1"], model.fc1.weight)  # the kept weights do train
    assert set(model.state_dict()) == set(seeded(0).state_dict())  # masks are not saved
