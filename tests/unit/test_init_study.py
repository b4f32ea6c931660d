"""engine.ops.init_study: the from-scratch initialisations equal torch's (same std, same draws),
and the variance recursion Var[z_l] = n_in Var[W] E[a_{l−1}²] holds within sampling error."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn as nn

from engine.ops import init_study as ini


@pytest.mark.parametrize("name", ["linear", "tanh", "relu"])
def test_gains_are_torchs(name):
    assert ini.gain(name) == nn.init.calculate_gain(name)


@pytest.mark.parametrize("n_in,n_out", [(256, 256), (784, 100), (30, 7)])
def test_std_formulas_are_torchs(n_in, n_out):
    w = torch.empty(n_out, n_in)
    fan_in, fan_out = nn.init._calculate_fan_in_and_fan_out(w)
    assert (fan_in, fan_out) == (n_in, n_out)
    # torch's own formulas: xavier_normal_ (gain 1), kaiming_normal_ (fan_in, relu)
    assert ini.init_std("xavier", n_in, n_out) == 1.0 * math.sqrt(2.0 / float(fan_in + fan_out))
    assert ini.init_std("kaiming", n_in, n_out) == nn.init.calculate_gain("relu") / math.sqrt(fan_in)
    assert ini.init_std("small", n_in, n_out) == 0.01 and ini.init_std("large", n_in, n_out) == 0.2


@pytest.mark.parametrize("seed,n_in,n_out", [(0, 64, 64), (1, 300, 50), (2, 20, 200)])
def test_weights_are_the_draws_torch_makes(seed, n_in, n_out):
    """Same generator state → the same weights as nn.init.xavier_normal_ / kaiming_normal_, bit for bit."""
    for scheme, torch_init in [("xavier", lambda w, g: nn.init.xavier_normal_(w, generator=g)),
                               ("kaiming", lambda w, g: nn.init.kaiming_normal_(w, nonlinearity="relu", generator=g))]:
        ours = ini.init_weight(scheme, n_in, n_out, torch.Generator().manual_seed(seed))
        theirs = torch_init(torch.empty(n_out, n_in, dtype=torch.float64), torch.Generator().manual_seed(seed))
        assert torch.equal(ours, theirs)
        # and their spread is the std, within sampling error (n_in·n_out draws)
        s = ini.init_std(scheme, n_in, n_out)
        assert float(ours.std()) == pytest.approx(s, rel=5 / math.sqrt(n_in * n_out))


@pytest.mark.parametrize("activation", ini.ACTIVATIONS)
@pytest.mark.parametrize("scheme", ini.SCHEMES)
def test_one_step_recursion_holds_at_every_layer(scheme, activation):
    tr = ini.forward_signal(scheme, activation, depth=12, width=128, batch=64, seed=3)
    ratio = tr.var_z / tr.predicted_var_z
    # Var[z_l] over 64·128 values against n_in Var[W] E[a²]: W's own sampling error is ~√(2/n_in) ≈ 13 %
    assert torch.all((ratio > 0.7) & (ratio < 1.3)), ratio
    assert tr.gain_per_layer == pytest.approx(128 * ini.init_std(scheme, 128, 128) ** 2)


def test_vanishing_kept_and_exploding_signals():
    d = 20
    relu = ini.study("relu", d, 256, seed=0)
    tanh = ini.study("tanh", d, 256, seed=0)
    # Kaiming keeps ReLU's signal: Var[z_l] ≈ Var[z_1] (n Var[W]/2 = 1)
    assert 0.3 < float(relu["kaiming"].var_z[-1] / relu["kaiming"].var_z[0]) < 3
    # Xavier halves it each layer under ReLU: ≈ 2^−19 after 20 layers
    assert float(relu["xavier"].var_z[-1] / relu["xavier"].var_z[0]) == pytest.approx(2.0 ** -(d - 1), rel=0.8)
    # 0.01 vanishes (n Var[W] = 0.0256), 0.2 explodes under ReLU (×5.12 per layer) and saturates tanh
    assert float(relu["small"].var_z[-1]) < 1e-30 and float(tanh["small"].var_z[-1]) < 1e-30
    assert float(relu["large"].var_z[-1]) > 1e12
    assert float(tanh["large"].saturated[-1]) > 0.2 and float(tanh["xavier"].saturated[-1]) < 0.01


def test_a_shorter_network_is_the_first_layers_of_a_longer_one():
    long = ini.forward_signal("kaiming", "tanh", depth=10, width=32, seed=5)
    short = ini.forward_signal("kaiming", "tanh", depth=4, width=32, seed=5)
    assert torch.equal(long.first(4).var_z, short.var_z) and torch.equal(long.first(4).std_a, short.std_a)


def test_unknown_names_are_refused():
    with pytest.raises(ValueError):
        ini.init_std("orthogonal", 4, 4)
    with pytest.raises(ValueError):
        ini.forward_signal("xavier", "sigmoid", 2, 4)


@pytest.mark.parametrize("n_in,n_out,seed", [(16, 16, 0), (50, 20, 4)])
def test_torch_init_gap_is_zero(n_in, n_out, seed):
    assert ini.torch_init_gap(n_in, n_out, seed) == 0.0
