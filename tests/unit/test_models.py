"""engine.models.cnn: the article's Keras CNN in torch, its summary and its trace."""

from __future__ import annotations

import copy
import math

import pytest
import torch
import torch.nn.functional as F

from engine.models.cnn import (
    LAYERS,
    SeedCNN,
    checkpoint_meta,
    conv_cell_parts,
    count_parameters,
    dense_unit,
    digit_batch,
    first_layer,
    keras_flatten,
    load_default,
    load_network,
    pool_window,
    scratch_delta,
    seeded,
    strongest,
    summary,
    trace,
)


@pytest.fixture(scope="module")
def model() -> SeedCNN:
    torch.manual_seed(0)
    return SeedCNN().eval()


@pytest.fixture(scope="module")
def x() -> torch.Tensor:
    return torch.rand(3, 1, 28, 28, generator=torch.Generator().manual_seed(1))


def test_parameter_count(model):
    assert count_parameters(model) == 93_322


def test_per_layer_parameter_counts(model):
    counts = [sum(p.numel() for p in layer.parameters())
              for layer in (model.conv1, model.conv2, model.conv3, model.fc1, model.fc2)]
    assert counts == [320, 18_496, 36_928, 36_928, 650]


def test_keras_initialisers(model):
    for layer in (model.conv1, model.conv2, model.conv3, model.fc1, model.fc2):
        assert bool((layer.bias == 0).all())  # Keras: zero biases
        fan_out, fan_in = layer.weight.shape[0], layer.weight[0].numel()
        receptive = layer.weight[0, 0].numel()
        limit = math.sqrt(6 / (fan_in + fan_out * receptive))  # glorot_uniform
        assert float(layer.weight.detach().abs().max()) <= limit + 1e-6


@pytest.mark.parametrize("N", [1, 2, 5])
def test_forward_shape(model, N):
    with torch.no_grad():
        assert model(torch.zeros(N, 1, 28, 28)).shape == (N, 10)


def _evaluate_formula(formula: str) -> int:
    """'3·3·32·64 + 64' → 18496, by splitting on '+' and '·' (no eval)."""
    total = 0
    for term in formula.split("+"):
        product = 1
        for factor in term.split("·"):
            product *= int(factor.strip().replace(",", ""))
        total += product
    return total


def test_summary_rows(model):
    rows = summary(model)
    assert [r.name for r in rows] == ["conv1", "pool1", "conv2", "pool2", "conv3", "flatten", "fc1", "fc2"]
    assert [r.kind for r in rows] == ["Conv2D", "MaxPooling2D", "Conv2D", "MaxPooling2D", "Conv2D",
                                      "Flatten", "Dense", "Dense"]
    assert [r.output_shape for r in rows] == [(32, 26, 26), (32, 13, 13), (64, 11, 11), (64, 5, 5),
                                              (64, 3, 3), (576,), (64,), (10,)]
    modules = {"conv1": model.conv1, "conv2": model.conv2, "conv3": model.conv3,
               "fc1": model.fc1, "fc2": model.fc2}
    for r in rows:
        expected = sum(p.numel() for p in modules[r.name].parameters()) if r.name in modules else 0
        assert r.params == expected, r.name
        assert _evaluate_formula(r.params_formula) == r.params, (r.name, r.params_formula)
    assert sum(r.params for r in rows) == count_parameters(model)


def test_summary_formula_text(model):
    formulas = {r.name: r.params_formula for r in summary(model)}
    assert formulas["conv2"] == "3·3·32·64 + 64"
    assert formulas["fc1"] == "576·64 + 64"


def test_summary_mult_adds(model):
    rows = {r.name: r.mult_adds for r in summary(model)}
    # MACs = H_out·W_out·C_out·k·k·C_in for a conv, n_in·n_out for a dense layer
    assert rows["conv1"] == 26 * 26 * 32 * 3 * 3 * 1
    assert rows["conv2"] == 11 * 11 * 64 * 3 * 3 * 32
    assert rows["conv3"] == 3 * 3 * 64 * 3 * 3 * 64
    assert rows["fc1"] == 576 * 64
    assert rows["fc2"] == 64 * 10
    assert sum(rows.values()) == 2_794_240


def test_trace_equals_model(model, x):
    tr = trace(model, x)
    with torch.no_grad():
        logits = model(x)
    assert torch.allclose(tr.logits, logits, atol=1e-6)
    assert tr.x is x


def test_trace_float64_matches_model_to_1e6(x):
    torch.manual_seed(3)
    m = SeedCNN().double().eval()
    x64 = x.double()
    with torch.no_grad():
        assert float((trace(m, x64).logits - m(x64)).abs().max()) < 1e-6


def test_trace_invariants(model, x):
    tr = trace(model, x)
    N = x.shape[0]
    shapes = {"z1": (N, 32, 26, 26), "p1": (N, 32, 13, 13), "z2": (N, 64, 11, 11), "p2": (N, 64, 5, 5),
              "z3": (N, 64, 3, 3), "flat": (N, 576), "z4": (N, 64), "logits": (N, 10), "probs": (N, 10)}
    for name, shape in shapes.items():
        assert tuple(getattr(tr, name).shape) == shape, name
    # a = ReLU(z) at every stage
    for z, a in ((tr.z1, tr.a1), (tr.z2, tr.a2), (tr.z3, tr.a3), (tr.z4, tr.a4)):
        assert torch.equal(a, F.relu(z))
    # pooling and flatten link the stages
    assert torch.equal(tr.p1, F.max_pool2d(tr.a1, 2))
    assert torch.equal(tr.p2, F.max_pool2d(tr.a2, 2))
    assert torch.equal(tr.flat, keras_flatten(tr.a3))
    # each layer's pre-activation is that layer applied to the previous stage
    with torch.no_grad():
        assert torch.allclose(tr.z1, model.conv1(tr.x), atol=1e-6)
        assert torch.allclose(tr.z2, model.conv2(tr.p1), atol=1e-6)
        assert torch.allclose(tr.z3, model.conv3(tr.p2), atol=1e-6)
        assert torch.allclose(tr.z4, model.fc1(tr.flat), atol=1e-6)
        assert torch.allclose(tr.logits, model.fc2(tr.a4), atol=1e-6)
    # softmax: probabilities in (0, 1) that sum to 1 and rank like the logits
    assert torch.allclose(tr.probs.sum(-1), torch.ones(N), atol=1e-6)
    assert bool(((tr.probs > 0) & (tr.probs < 1)).all())
    assert torch.equal(tr.probs.argmax(-1), tr.logits.argmax(-1))


def test_trace_is_frozen(model, x):
    tr = trace(model, x)
    with pytest.raises(AttributeError):
        tr.logits = None  # type: ignore[misc]


def test_trace_keeps_no_grad(model, x):
    assert not trace(model, x).logits.requires_grad


def test_keras_flatten_is_channels_last():
    a = torch.arange(2 * 3 * 2 * 4, dtype=torch.float32).reshape(2, 3, 2, 4)  # (N, C, H, W)
    flat = keras_flatten(a)
    assert flat.shape == (2, 24)
    # (N, C, H, W) → (N, H, W, C) → (N, H·W·C)
    manual = torch.stack([torch.stack([a[n, c, h, w] for h in range(2) for w in range(4) for c in range(3)])
                          for n in range(2)])
    assert torch.equal(flat, manual)
    assert torch.equal(flat, a.permute(0, 2, 3, 1).reshape(2, -1))
    # and it is not torch's channels-first flatten
    assert not torch.equal(flat, a.flatten(1))


def test_checkpoint_round_trip(tmp_path):
    torch.manual_seed(4)
    m = SeedCNN()
    path = tmp_path / "cnn.pt"
    torch.save({"model": m.state_dict(), "meta": {"accuracy": 0.99, "seed": 4}}, path)
    loaded = load_default(path)
    assert loaded is not None and not loaded.training
    x = torch.rand(2, 1, 28, 28)
    with torch.no_grad():
        assert torch.equal(loaded(x), m.eval()(x))
    assert checkpoint_meta(path) == {"accuracy": 0.99, "seed": 4}


def test_checkpoint_plain_state_dict(tmp_path):
    m = SeedCNN()
    path = tmp_path / "plain.pt"
    torch.save(m.state_dict(), path)
    assert load_default(path) is not None
    assert checkpoint_meta(path) == {}


def test_checkpoint_missing(tmp_path):
    assert load_default(tmp_path / "nope.pt") is None
    assert checkpoint_meta(tmp_path / "nope.pt") == {}


def test_checkpoint_refuses_pickled_code(tmp_path):
    # weights_only=True: a checkpoint holding arbitrary objects is not unpickled
    path = tmp_path / "evil.pt"
    torch.save({"model": SeedCNN().state_dict(), "meta": {"obj": _Unsafe()}}, path)
    with pytest.raises(Exception, match="(?i)weights_only|unsupported|global"):
        checkpoint_meta(path)


class _Unsafe:
    pass


# ----- the page-facing records: Network, layers, written-out cells --------------------------------


def test_load_network_falls_back_to_the_seed_0_model_without_a_checkpoint(tmp_path):
    net = load_network(tmp_path / "absent.pt")
    assert not net.trained and net.meta == {}
    assert net.model64.conv1.weight.dtype == torch.float64
    assert torch.equal(net.model64.conv1.weight.float(), seeded(0).conv1.weight.detach())
    assert [r.name for r in net.rows][:2] == ["conv1", "pool1"]
    (tmp_path / "broken.pt").write_bytes(b"not a checkpoint")
    assert not load_network(tmp_path / "broken.pt").trained  # unreadable: fall back, never fail


def test_network_round_trips_a_saved_checkpoint(tmp_path, model):
    path = tmp_path / "cnn.pt"
    torch.save({"model": model.state_dict(), "meta": {"seed": 7}}, path)
    net = load_network(path)
    assert net.trained and net.meta == {"seed": 7}
    assert torch.equal(net.model64.fc2.bias.float(), model.fc2.bias.detach())
    layer = first_layer(path)
    assert layer.trained and torch.equal(layer.weight, model.conv1.weight.detach())
    assert not first_layer(tmp_path / "absent.pt").trained


def test_image_drops_the_batch_axis_and_layer_names_each_stage(model, x):
    tr = trace(model, x).image(1)
    assert tr.z1.shape == (32, 26, 26) and tr.z1.dtype == torch.float64 and tr.probs.shape == (10,)
    conv3, pool2 = tr.layer("conv3"), tr.layer("pool2")
    assert conv3.source is tr.p2 and conv3.before is tr.z3 and conv3.after is tr.a3
    assert (pool2.kind, pool2.index, pool2.before is tr.a2, pool2.after is tr.p2) == ("pool", 2, True, True)
    assert [tr.layer(n).name for n in LAYERS] == list(LAYERS)


def test_written_out_cells_equal_the_trace(model, x):
    model64 = copy.deepcopy(model).double()
    tr = trace(model64, x.double()).image(0)
    for name in ("conv1", "conv2"):
        layer = tr.layer(name)
        cell = strongest(layer.after)
        assert float(layer.after[cell.k, cell.i, cell.j]) == float(layer.after.max())
        parts = conv_cell_parts(model64, layer, cell.k, cell.i, cell.j)
        assert len(parts.cells) == layer.source.shape[0]
        assert sum(c.total for c in parts.cells) + parts.bias == pytest.approx(parts.z, abs=1e-9)
    pool = tr.layer("pool1")
    assert max(pool_window(pool, 3, 4, 5)) == float(pool.after[3, 4, 5])
    for layer_no, unit in ((4, 7), (5, 2)):
        d = dense_unit(model64, tr, layer_no, unit)
        assert d.dot + d.bias == pytest.approx(d.z, abs=1e-9)


def test_scratch_delta_on_a_digit_is_tiny(model):
    digit = torch.rand(28, 28, generator=torch.Generator().manual_seed(2)).numpy()
    assert scratch_delta(copy.deepcopy(model).double(), digit) < 1e-9
    assert digit_batch(digit).shape == (1, 1, 28, 28)
