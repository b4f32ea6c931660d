"""engine.ops.recurrent_units: seeded char-model weights, a unit's terms at one step (they add up
to the trace's numbers), the readout, temperature, and the GRU's two reset placements."""

from __future__ import annotations

import math

import pytest
import torch

from engine.data.corpus import VOCAB, encode, one_hot
from engine.ops import recurrent as rec
from engine.ops.recurrent_units import (
    OPEN_RESET,
    at_temperature,
    gru_variants,
    predict,
    random_char_model,
    unit_step,
)

V = len(VOCAB)
CELLS = {"rnn": rec.rnn, "lstm": rec.lstm, "gru": rec.gru}
ACT = {"i": torch.sigmoid, "f": torch.sigmoid, "g": torch.tanh, "o": torch.sigmoid, "r": torch.sigmoid,
       "z": torch.sigmoid, "n": torch.tanh, "h": torch.tanh}


def _run(cell, text="to be, or not", H=5, seed=3):
    W = random_char_model(cell, V, H, seed)
    ids = encode(text)
    return W, ids, CELLS[cell](one_hot(ids, V), *(W.cell[k] for k in rec.WEIGHTS))


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_random_char_model_is_torch_init_and_the_cell_does_not_depend_on_the_head(cell):
    W = random_char_model(cell, V, 6, 11)
    G = rec.GATES[cell]
    assert W.H == 6 and W.cell["weight_ih"].shape == (G * 6, V) and W.head["W_hy"].shape == (V, 6)
    assert all(w.abs().max() <= 1 / math.sqrt(6) for w in (*W.cell.values(), *W.head.values()))
    alone = rec.seeded_uniform({"weight_ih": (G * 6, V), "weight_hh": (G * 6, 6), "bias_ih": (G * 6,),
                                "bias_hh": (G * 6,)}, 6, 11)
    for name in rec.WEIGHTS:
        assert torch.equal(W.cell[name], alone[name])
    with pytest.raises(ValueError):
        random_char_model("elman", V, 6, 0)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("step,j", [(0, 0), (4, 2), (12, 4)])
def test_unit_step_terms_add_up_to_the_trace(cell, step, j):
    W, ids, trace = _run(cell)
    k = int(ids[step])
    unit = unit_step(cell, W.cell, trace, k, step, j)
    for gate, g in unit.gates.items():
        assert g.recurrent == pytest.approx(float(g.w_h @ g.h_prev), abs=1e-12)
        if cell == "gru" and gate == "n":
            pre = g.w_x + g.b_i + unit.values["r"] * (g.recurrent + g.b_h)
        else:
            pre = g.w_x + g.b_i + g.recurrent + g.b_h
        assert g.pre == pytest.approx(pre, abs=1e-12)
        assert g.value == pytest.approx(float(ACT[gate](torch.tensor(g.pre, dtype=torch.float64))), abs=1e-12)
        assert g.value == pytest.approx(float(getattr(trace, gate)[step, 0, j]), abs=1e-12)
    h_prev = 0.0 if step == 0 else float(trace.h[step - 1, 0, j])
    assert unit.values["h_prev"] == h_prev
    if cell == "lstm":
        v = unit.values
        # c_t = f_t c_{t−1} + i_t g_t
        assert v["c"] == pytest.approx(v["f"] * v["c_prev"] + v["i"] * v["g"], abs=1e-12)


def test_predictions_top_next_probs_and_changes():
    W, ids, trace = _run("rnn")
    pred = predict(trace.h[:, 0], W.head["W_hy"], W.head["b_y"], ids)
    top = pred.top(3)
    assert len(top) == len(ids) and all(len(row) == 3 for row in top)
    for t, row in enumerate(top):
        assert row[0][0] == int(pred.probs[t].argmax()) and row[0][1] >= row[1][1] >= row[2][1]
    nxt = pred.next_probs(ids)
    assert len(nxt) == len(ids) - 1
    assert nxt[0] == pytest.approx(float(pred.probs[0, ids[1]]))
    # −log p_t[char_{t+1}] is the loss
    assert [-math.log(p) for p in nxt] == pytest.approx(pred.loss.tolist())
    assert pred.changed(pred) == 0


def test_at_temperature():
    logits = torch.tensor([2.0, 1.0, 0.0, -1.0], dtype=torch.float64)
    cold, hot = at_temperature(logits, 0.1, k=2), at_temperature(logits, 10.0, k=2)
    assert cold.probs.sum() == pytest.approx(1.0) and len(cold.top) == 2 and cold.top[0][0] == 0
    assert cold.entropy < hot.entropy < math.log(4)
    assert at_temperature(logits, 1.0).probs.tolist() == pytest.approx(torch.softmax(logits, 0).tolist())
    with pytest.raises(ValueError):
        at_temperature(logits, 0.0)


def test_gru_variants_agree_only_where_the_page_says():
    W = random_char_model("gru", V, 4, 5).cell
    x = one_hot(encode("hello world"), V)
    both = gru_variants(x, W)
    assert torch.equal(both.torch_trace.h, rec.gru(x, *(W[k] for k in rec.WEIGHTS)).h)
    assert torch.equal(both.textbook.h, rec.gru_textbook(x, *(W[k] for k in rec.WEIGHTS)).h)
    assert both.gaps["yours"].overall > 1e-3
    assert both.gaps["yours"].overall == pytest.approx(float((both.torch_trace.h - both.textbook.h).abs().max()))
    # from h_0 = 0 they differ by the b_hn term only; with b_hn = 0 not at all at t = 1
    assert both.gaps["no_bhn"].first < 1e-15 and both.gaps["no_bhn"].overall > 1e-3
    assert both.gaps["open_r"].overall < 1e-12
    assert both.b_hn_max == pytest.approx(float(W["bias_hh"][8:].abs().max()))
    assert OPEN_RESET > 10
    # the weights given are left as they were
    assert torch.equal(W["bias_hh"], random_char_model("gru", V, 4, 5).cell["bias_hh"])
