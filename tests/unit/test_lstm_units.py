"""engine.ops.lstm_units: ablations change exactly what they say, predictions equal the trained
model's, and the unit search computes Pearson's r (checked against numpy)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from engine.data.corpus import encode
from engine.models import char_rnn
from engine.ops import lstm_units as lstm_probe
from engine.ops.lstm_units import Ablation, ProbeError, ablated_weights, predict, run, run_long
from engine.ops.recurrent import lstm


def weights(D: int, H: int, seed: int) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    shapes = {"weight_ih": (4 * H, D), "weight_hh": (4 * H, H), "bias_ih": (4 * H,), "bias_hh": (4 * H,)}
    return {k: torch.randn(*s, generator=gen, dtype=torch.float64) * 0.6 for k, s in shapes.items()}


def inputs(T: int, B: int, D: int, seed: int) -> torch.Tensor:
    return torch.randn(T, B, D, generator=torch.Generator().manual_seed(seed + 100), dtype=torch.float64)


SHAPES = [(1, 1, 3, 2, 0), (7, 2, 5, 4, 1), (12, 3, 4, 6, 2)]


@pytest.mark.parametrize("T,B,D,H,seed", SHAPES)
def test_no_ablation_is_the_lstm_and_equals_torch(T, B, D, H, seed):
    W, x = weights(D, H, seed), inputs(T, B, D, seed)
    trace = run(x, W)
    ref = nn.LSTM(D, H).double()
    with torch.no_grad():
        for name, w in W.items():
            getattr(ref, f"{name}_l0").copy_(w)
        out, _ = ref(x)
    assert torch.allclose(trace.h, out, atol=1e-12)
    assert torch.equal(trace.c, lstm(x, *W.values()).c)


@pytest.mark.parametrize("T,B,D,H,seed", SHAPES)
def test_forget_gate_forced_open_adds_up_the_cell(T, B, D, H, seed):
    W, x = weights(D, H, seed), inputs(T, B, D, seed)
    trace = run(x, W, Ablation(force_f=1.0))
    assert torch.all(trace.f == 1)
    # c_t = c_{t−1} + i_t ⊙ g_t, so c_T = Σ_t i_t ⊙ g_t from c_0 = 0
    assert torch.allclose(trace.c, torch.cumsum(trace.i * trace.g, dim=0), atol=1e-12)


@pytest.mark.parametrize("T,B,D,H,seed", SHAPES)
def test_forget_gate_forced_shut_leaves_no_memory_in_the_cell(T, B, D, H, seed):
    W, x = weights(D, H, seed), inputs(T, B, D, seed)
    trace = run(x, W, Ablation(force_f=0.0))
    assert torch.allclose(trace.c, trace.i * trace.g, atol=1e-15)
    assert torch.allclose(trace.h, trace.o * torch.tanh(trace.i * trace.g), atol=1e-15)


@pytest.mark.parametrize("T,B,D,H,seed", SHAPES)
def test_without_output_gate_h_is_tanh_c(T, B, D, H, seed):
    W, x = weights(D, H, seed), inputs(T, B, D, seed)
    trace = run(x, W, Ablation(no_output_gate=True))
    assert torch.all(trace.o == 1)
    assert torch.allclose(trace.h, torch.tanh(trace.c), atol=1e-15)
    # the other gates still come from the weights: i equals the real LSTM's at the first step
    assert torch.allclose(trace.i[0], lstm(x, *W.values()).i[0], atol=1e-15)


def test_forget_bias_shifts_the_forget_pre_activation_and_copies_the_weights():
    W, x = weights(4, 3, 0), inputs(6, 2, 4, 0)
    before = {k: v.clone() for k, v in W.items()}
    edited = ablated_weights(W, Ablation(f_bias=2.5))
    assert all(torch.equal(W[k], before[k]) for k in W), "the originals must not change"
    delta = edited["bias_ih"] - W["bias_ih"]
    assert torch.allclose(delta[3:6], torch.full((3,), 2.5, dtype=torch.float64))
    assert torch.all(delta[:3] == 0) and torch.all(delta[6:] == 0)
    # at t = 1 (h_0 = 0) the shift is exactly δ in pre_f and nothing else
    a, b = run(x, W), run(x, W, Ablation(f_bias=2.5))
    assert torch.allclose(b.pre_f[0] - a.pre_f[0], torch.full_like(a.pre_f[0], 2.5), atol=1e-12)
    assert torch.allclose(b.pre_i[0], a.pre_i[0])


def test_higher_forget_bias_keeps_more_of_the_cell():
    W, x = weights(5, 4, 3), inputs(10, 2, 5, 3)
    f = [float(run(x, W, Ablation(f_bias=d)).f.mean()) for d in (-3.0, 0.0, 3.0)]
    assert f[0] < f[1] < f[2]


def test_shared_wx_makes_the_input_push_every_gate_alike():
    D, H = 5, 4
    W, x = weights(D, H, 1), inputs(8, 2, D, 1)
    edited = ablated_weights(W, Ablation(shared_wx=True))
    blocks = edited["weight_ih"].reshape(4, H, D)
    assert all(torch.equal(blocks[0], blocks[k]) for k in range(1, 4))
    assert torch.allclose(blocks[0], W["weight_ih"].reshape(4, H, D).mean(dim=0))
    trace = run(x, W, Ablation(shared_wx=True))
    b = edited["bias_ih"] + edited["bias_hh"]
    # at t = 1 (h_0 = 0), pre_i − pre_f = b_i − b_f whatever x_1 is
    assert torch.allclose(trace.pre_i[0] - trace.pre_f[0], (b[:H] - b[H:2 * H]).expand(2, H), atol=1e-12)
    right = run(x, W)
    assert not torch.allclose(right.pre_i[0] - right.pre_f[0], (b[:H] - b[H:2 * H]).expand(2, H), atol=1e-3)


def test_unknown_forced_gate_is_refused():
    W, x = weights(3, 2, 0), inputs(2, 1, 3, 0)
    with pytest.raises(ValueError, match="i, f, g, o"):
        lstm(x, *W.values(), force={"c": 0.0})


@pytest.mark.parametrize("chunk", [1, 3, 7])
def test_run_long_in_chunks_equals_one_run(chunk):
    W, x = weights(4, 3, 2), inputs(17, 2, 4, 2)
    whole, parts = run(x, W, Ablation(f_bias=1.0)), run_long(x, W, Ablation(f_bias=1.0), chunk=chunk)
    for name in ("i", "f", "g", "o", "c", "h", "pre_f"):
        assert torch.allclose(getattr(whole, name), getattr(parts, name), atol=1e-13), name


def test_run_long_goes_past_the_one_call_bound():
    W = weights(3, 2, 0)
    x = inputs(450, 1, 3, 0)
    trace = run_long(x, W)
    assert trace.h.shape == (450, 1, 2)
    with pytest.raises(ValueError):
        run(x, W)


# ----- predictions ---------------------------------------------------------------------------------


@pytest.mark.parametrize("T,H,V,seed", [(1, 3, 4, 0), (9, 5, 7, 1), (20, 8, 11, 2)])
def test_predict_equals_torch_cross_entropy(T, H, V, seed):
    gen = torch.Generator().manual_seed(seed)
    h = torch.randn(T, H, generator=gen, dtype=torch.float64)
    W_hy = torch.randn(V, H, generator=gen, dtype=torch.float64)
    b_y = torch.randn(V, generator=gen, dtype=torch.float64)
    ids = torch.randint(0, V, (T,), generator=gen)
    p = predict(h, W_hy, b_y, ids)
    logits = F.linear(h, W_hy, b_y)
    assert torch.allclose(p.logits, logits, atol=1e-12)
    assert torch.allclose(p.probs.sum(-1), torch.ones(T, dtype=torch.float64))
    assert torch.allclose(p.loss, F.cross_entropy(logits[:-1], ids[1:], reduction="none"), atol=1e-12)
    assert p.loss.shape == (T - 1,)
    if T == 1:
        assert np.isnan(p.mean_loss) and np.isnan(p.accuracy(ids))
    else:
        assert p.mean_loss == pytest.approx(float(F.cross_entropy(logits[:-1], ids[1:])))
        assert p.accuracy(ids) == pytest.approx(float((logits[:-1].argmax(-1) == ids[1:]).double().mean()))


def test_predict_on_the_engine_trace_equals_the_trained_model():
    model = char_rnn.load_default()
    config = model.config
    text = 'ROMEO:\nBut, soft! what light through yonder window breaks?'
    ids = encode(text)
    W = {k: v.double() for k, v in char_rnn.cell_weights(model).items()}
    head = {k: v.double() for k, v in char_rnn.head_weights(model).items()}
    x = F.one_hot(ids, config.V).double()[:, None]
    trace = run(x, W)
    p = predict(trace.h[:, 0], head["W_hy"], head["b_y"], ids)
    assert torch.allclose(p.probs, char_rnn.next_char_probs(model, text), atol=1e-5)
    # the shipped model has learned English: far better than the unigram's 3.3 nats per character
    assert p.mean_loss < 2.5


# ----- properties and the unit search --------------------------------------------------------------


def test_text_properties():
    text = 'ab "Cd"\ne '
    prop = {name: lstm_probe.text_property(text, name).tolist() for name in lstm_probe.PROPERTIES}
    assert prop["quotes"] == [0, 0, 0, 1, 1, 1, 0, 0, 0, 0]
    assert prop["line_position"] == [1, 2, 3, 4, 5, 6, 7, 0, 1, 2]
    assert prop["vowel"] == [1, 0, 0, 0, 0, 0, 0, 0, 1, 0]
    assert prop["uppercase"] == [0, 0, 0, 0, 1, 0, 0, 0, 0, 0]
    assert prop["space"] == [0, 0, 1, 0, 0, 0, 0, 0, 0, 1]
    with pytest.raises(ValueError, match="property"):
        lstm_probe.text_property(text, "__class__")


@pytest.mark.parametrize("T,H,seed", [(5, 1, 0), (30, 6, 1), (200, 16, 2)])
def test_unit_correlations_are_pearsons_r(T, H, seed):
    gen = torch.Generator().manual_seed(seed)
    values = torch.randn(T, H, generator=gen, dtype=torch.float64)
    prop = torch.randn(T, generator=gen, dtype=torch.float64)
    values[:, 0] = 3 * prop + 1  # a unit that tracks the property exactly
    r = lstm_probe.unit_correlations(values, prop)
    expected = [np.corrcoef(values[:, j].numpy(), prop.numpy())[0, 1] for j in range(H)]
    assert np.allclose(r.numpy(), expected, atol=1e-12)
    assert r[0] == pytest.approx(1.0)
    assert lstm_probe.best_units(r, 1) == [0]


def test_best_units_rank_by_absolute_r():
    r = torch.tensor([0.1, -0.9, 0.5, 0.0], dtype=torch.float64)
    assert lstm_probe.best_units(r, 3) == [1, 2, 0]


def test_constant_property_and_constant_units():
    values = torch.randn(6, 3, dtype=torch.float64)
    values[:, 1] = 0.25  # a unit that never changes
    r = lstm_probe.unit_correlations(values, torch.arange(6, dtype=torch.float64))
    assert r[1] == 0 and torch.isfinite(r).all()
    with pytest.raises(ProbeError) as e:
        lstm_probe.unit_correlations(values, torch.ones(6, dtype=torch.float64))
    assert e.value.code == "constant_property"
    with pytest.raises(ValueError):
        lstm_probe.unit_correlations(values, torch.ones(5, dtype=torch.float64))


def test_the_trained_model_has_a_line_position_unit_on_held_out_text():
    """The search is computed, not curated: on held-out Shakespeare some cell state follows the
    position in the line with |r| > 0.7 (verse lines are short; the model must know when to break)."""
    model = char_rnn.load_default()
    config = model.config
    text = char_rnn.held_out_text(1500)
    W = {k: v.double() for k, v in char_rnn.cell_weights(model).items()}
    x = F.one_hot(encode(text), config.V).double()[:, None]
    c = run_long(x, W).c[:, 0]
    r = lstm_probe.unit_correlations(c, lstm_probe.text_property(text, "line_position"))
    assert float(r.abs().max()) > 0.7


def test_held_out_text_lies_in_the_validation_split():
    from engine.data.corpus import shakespeare

    text = shakespeare()
    passage = char_rnn.held_out_text(800)
    assert len(passage) == 800
    first = text.rfind(passage)
    assert first >= len(text) - int(len(text) * char_rnn.HELD_OUT)
    with pytest.raises(Exception) as e:
        char_rnn.held_out_text(10**9)
    assert e.value.code == "passage_length"


# ----- the trained model, a text through it, and what the page compares ------------------------


@pytest.fixture(scope="module")
def trained():
    return lstm_probe.load_trained()


def test_load_trained_is_the_checkpoint_in_float64(trained):
    model = char_rnn.load_default()
    assert trained.weights.H == model.config.H and trained.meta.get("val_loss", 0) > 0
    for name, w in char_rnn.cell_weights(model).items():
        assert trained.weights.cell[name].dtype == torch.float64
        assert torch.equal(trained.weights.cell[name], w.double())
    assert torch.equal(trained.weights.head["W_hy"], char_rnn.head_weights(model)["W_hy"].double())


def test_trace_text_is_run_and_predict(trained):
    text = "ROMEO:\nBut, soft!"
    ids = encode(text)
    x = F.one_hot(ids, len(char_rnn.VOCAB)).double()[:, None]
    out = lstm_probe.trace_text(text, trained.weights, Ablation(force_f=0.0))
    assert torch.equal(out.ids, ids)
    ref = run(x, trained.weights.cell, Ablation(force_f=0.0))
    assert torch.allclose(out.trace.h, ref.h, atol=1e-12)
    head = trained.weights.head
    assert torch.allclose(out.pred.logits, predict(ref.h[:, 0], head["W_hy"], head["b_y"], ids).logits)
    values = lstm_probe.unit_values(text, trained.weights.cell, "c")
    assert torch.allclose(values, lstm_probe.trace_text(text, trained.weights).trace.c[:, 0], atol=1e-12)
    with pytest.raises(ValueError):
        lstm_probe.unit_values(text, trained.weights.cell, "f")


def test_gradient_comparison_names_and_the_cell_path(trained):
    norms = lstm_probe.gradient_comparison("to be, or not to be", trained.weights, 0)
    assert set(norms) == {"rnn", "lstm_random", "lstm", "lstm_c"}
    assert all(v.shape == (19,) for v in norms.values())
    # the trained LSTM's cell path keeps far more of the gradient than the RNN's
    assert norms["lstm_c"][0] > 100 * norms["rnn"][0]


def test_summaries_and_gaps():
    gates = torch.tensor([0.05, 0.5, 0.95, 0.2], dtype=torch.float64)
    assert lstm_probe.gate_summary(gates, "f") == pytest.approx(50.0)
    assert lstm_probe.gate_summary(torch.tensor([-1.0, 0.5]), "c") == pytest.approx(0.75)
    W, x = weights(5, 3, 0), inputs(6, 1, 5, 0)
    right, shut = run(x, W), run(x, W, Ablation(force_f=0.0))
    change = lstm_probe.state_change(right, shut)
    assert change.dc == pytest.approx(float((shut.c - right.c).abs().max())) and change.dh > 0
    shared = run(x, W, Ablation(shared_wx=True))
    gaps = lstm_probe.shared_wx_gaps(right, shared)
    assert gaps.gap == pytest.approx(float((right.i - right.f).abs().max()))
    assert gaps.gap_wrong == pytest.approx(float((shared.i - shared.f).abs().max()))
    entries = lstm_probe.input_weights(W, 2, 4)
    assert entries["g"] == float(W["weight_ih"][2 * 3 + 2, 4])
    wrong = lstm_probe.input_weights(ablated_weights(W, Ablation(shared_wx=True)), 2, 4)
    assert len(set(wrong.values())) == 1
    assert wrong["i"] == pytest.approx(sum(entries.values()) / 4)
