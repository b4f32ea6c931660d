"""The LSTM page under AppTest: both languages, heatmaps equal to the engine on the trained
weights, the written-out unit, the unit search, predictions, sampling, ablations, the mistakes,
and bad input (empty, unknown characters, too long)."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from streamlit.testing.v1 import AppTest

import lessons
from engine.data.corpus import VOCAB, encode
from engine.limits import BOUNDS
from engine.models import char_rnn
from engine.ops import lstm_units as lstm_probe
from tests.pages.apptest import open_page, plotly_array

PAGE = "views/lstm/page.py"
V = len(VOCAB)
KINDS = ("i", "f", "g", "o", "c", "h")


def _page(lang: str = "en", **state) -> AppTest:
    return open_page(PAGE, lang, **state)


def _texts(at: AppTest) -> list[str]:
    parts = []
    for kind in ("title", "header", "subheader", "markdown", "caption", "latex", "info", "warning",
                 "success", "error"):
        parts += [str(e.value) for e in getattr(at, kind)]
    parts += [s.label for s in at.slider] + [m.label for m in at.get("metric")]
    parts += [w.label for w in at.text_area] + [w.label for w in at.radio] + [w.label for w in at.selectbox]
    parts += [str(c) for df in at.dataframe for c in df.value.columns]
    for chart in at.get("plotly_chart"):
        spec = json.loads(chart.proto.spec)
        parts.append(str((spec["layout"].get("title") or {}).get("text", "")))
    return parts


def _chart(at: AppTest, key_suffix: str) -> dict:
    for chart in at.get("plotly_chart"):
        if chart.proto.id and key_suffix in chart.proto.id:
            return json.loads(chart.proto.spec)
    raise AssertionError(f"no chart with key {key_suffix}")


def _trained_trace(text: str, ablation=lstm_probe.INTACT):
    model = char_rnn.load_default()
    config = model.config
    W = {k: v.double() for k, v in char_rnn.cell_weights(model).items()}
    x = F.one_hot(encode(text), config.V).double()[:, None]
    return lstm_probe.run(x, W, ablation)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_page_runs_in_both_languages_without_missing_text(lang):
    at = _page(lang)
    texts = _texts(at)
    assert not [s for s in texts if "⟦" in s]
    assert at.title[0].value == lessons.text("lstm", "title", lang)
    keys = {c.proto.id for c in at.get("plotly_chart")}
    for kind in KINDS:
        assert any(f"lstm_fig_{kind}" in k for k in keys), kind
    assert any("lstm_grad" in k for k in keys) and any("lstm_fig_no_cell" in k for k in keys)
    assert not at.error and not at.warning
    # the torch check passed
    assert at.success


def test_heatmaps_are_the_engine_trace_on_the_trained_weights():
    at = _page()
    text = at.text_area(key="lstm_text").value
    trace = _trained_trace(text)
    for kind in KINDS:
        z = plotly_array(_chart(at, f"lstm_fig_{kind}")["data"][0]["z"])
        # (H, T): one row per unit
        np.testing.assert_allclose(z, getattr(trace, kind)[:, 0].numpy().T, atol=1e-6, err_msg=kind)
    assert all(0 < v < 1 for v in trace.f.flatten().tolist()[:50])


def test_typed_text_drives_the_heatmaps_and_the_equations():
    at = _page()
    at.text_area(key="lstm_text").set_value("to be, or not").run()
    assert not at.exception
    trace = _trained_trace("to be, or not")
    z = plotly_array(_chart(at, "lstm_fig_c")["data"][0]["z"])
    assert z.shape == (128, 13)
    np.testing.assert_allclose(z, trace.c[:, 0].numpy().T, atol=1e-6)
    at.slider(key="lstm_t").set_value(4).run()
    at.slider(key="lstm_j").set_value(7).run()
    latex = " ".join(str(e.value) for e in at.latex)
    # step 4 reads "b"; the written-out c and h of unit 7 carry the trace's numbers
    assert "c_{4}[7]" in latex and f"{float(trace.c[3, 0, 7]):.4f}" in latex
    assert "h_{4}[7]" in latex and f"{float(trace.h[3, 0, 7]):.4f}" in latex
    assert f"= {float(trace.f[3, 0, 7]):.4f}" in latex


def test_unit_search_reports_the_computed_best_unit():
    at = _page()
    table = next(df.value for df in at.dataframe if "Pearson r" in df.value.columns)
    passage = char_rnn.held_out_text(2000)
    model = char_rnn.load_default()
    config = model.config
    W = {k: v.double() for k, v in char_rnn.cell_weights(model).items()}
    c = lstm_probe.run_long(F.one_hot(encode(passage), config.V).double()[:, None], W).c[:, 0]
    r = lstm_probe.unit_correlations(c, lstm_probe.text_property(passage, "line_position"))
    best = lstm_probe.best_units(r, 5)
    assert list(table["unit j"]) == best
    assert abs(float(table["Pearson r"].iloc[0])) > 0.7
    assert at.get("html"), "the coloured text is drawn"


def test_a_property_the_text_lacks_gets_a_clear_message():
    at = _page()
    at.selectbox(key="lstm_prop").set_value("quotes").run()
    assert not at.exception
    assert lessons.text("lstm", "err_constant_property", "en") in [i.value for i in at.info]
    # on the learner's text (which has quotes) the search works
    at.radio(key="lstm_where").set_value("yours").run()
    assert not at.exception
    assert any("Pearson r" in df.value.columns for df in at.dataframe)


def test_predictions_table_and_loss():
    at = _page()
    at.text_area(key="lstm_text").set_value("the king").run()
    table = next(df.value for df in at.dataframe if "top 5 guesses" in df.value.columns)
    assert len(table) == 8
    assert list(table["comes next"])[:3] == ["h", "e", "␣"]
    probs = char_rnn.next_char_probs(char_rnn.load_default(), "the king")
    p_h = float(probs[0, VOCAB.index("h")])
    assert table["p(next)"].iloc[0] == f"{100 * p_h:.1f}%"
    metric = next(m for m in at.get("metric") if m.label == "cross-entropy (nats/char)")
    ids = encode("the king")
    expected = float(-torch.log(probs[torch.arange(7), ids[1:]]).mean())
    assert float(metric.value) == pytest.approx(expected, abs=2e-3)


def test_sampling_writes_seeded_text():
    at = _page()
    at.slider(key="lstm_n").set_value(60).run()
    at.button(key="lstm_sample_button").click().run()
    assert not at.exception
    text = at.text_area(key="lstm_text").value
    expected = char_rnn.sample(char_rnn.load_default(), text, 60, 0.8, 0)
    # st.code drops leading blank lines
    assert expected.strip() in [c.value.strip() for c in at.code]


def test_ablations_change_the_states_and_the_loss():
    lang = "en"
    at = _page(lang)
    assert lessons.text("lstm", "ablate_none", lang) in [i.value for i in at.info]
    at.radio(key="lstm_force_f").set_value("0").run()
    assert not at.exception
    text = at.text_area(key="lstm_text").value
    ablated = _trained_trace(text, lstm_probe.Ablation(force_f=0.0))
    z = plotly_array(_chart(at, "lstm_fig_c_ablated")["data"][0]["z"])
    np.testing.assert_allclose(z, ablated.c[:, 0].numpy().T, atol=1e-6)
    # the ablation's metric is the one with a delta (the predictions section has the same label)
    loss = next(m for m in at.get("metric") if m.label == lessons.text("lstm", "metric_loss", lang) and m.delta)
    # the model needs its cell state: forgetting everything at every step costs loss
    assert float(loss.delta.split()[0]) > 0
    at.radio(key="lstm_force_f").set_value("none").run()
    at.checkbox(key="lstm_no_o").check().run()
    assert not at.exception
    assert lessons.text("lstm", "ablate_none", lang) not in [i.value for i in at.info]
    assert any("lstm_fig_h_ablated" in c.proto.id for c in at.get("plotly_chart"))


def test_gradient_flow_compares_rnn_and_lstm():
    at = _page()
    spec = _chart(at, "lstm_grad")
    names = [d["name"] for d in spec["data"]]
    assert len(names) == 4
    first = {d["name"]: d["y"][0] if d["x"][0] == 1 else 0.0 for d in spec["data"]}
    rnn = first[lessons.text("lstm", "grad_rnn", "en")]
    lstm_c = first[lessons.text("lstm", "grad_lstm_c", "en")]
    # the same text, the same H: the trained LSTM's cell path keeps far more of the gradient
    assert lstm_c > 1e6 * rnn


def test_mistakes_are_computed_both_ways():
    at = _page()
    table = next(df.value for df in at.dataframe if "cell" in df.value.columns)
    losses = [float(v) for v in table["cross-entropy (nats/char)"]]
    assert losses[0] < losses[1] and losses[0] < losses[2]
    caption = next(c.value for c in at.caption if "|i_t - f_t|" in c.value)
    assert re.search(r"and 0\.\d{3} with the shared one", caption)


def test_random_weights_side_by_side_option():
    at = _page()
    trained_c = plotly_array(_chart(at, "lstm_fig_c")["data"][0]["z"])
    at.radio(key="lstm_weights").set_value("random").run()
    assert not at.exception
    random_c = plotly_array(_chart(at, "lstm_fig_c")["data"][0]["z"])
    assert random_c.shape == trained_c.shape and not np.allclose(random_c, trained_c)
    assert at.success, "nn.LSTM agrees on the random weights too"
    at.number_input(key="lstm_seed").set_value(3).run()
    assert not np.allclose(plotly_array(_chart(at, "lstm_fig_c")["data"][0]["z"]), random_c)


def test_empty_text_asks_for_input():
    lang = "en"
    at = _page(lang)
    at.text_area(key="lstm_text").set_value("").run()
    assert not at.exception
    assert lessons.text("lstm", "empty", lang) in [i.value for i in at.info]
    assert not at.get("plotly_chart")


def test_unknown_characters_are_named_and_read_as_unk():
    at = _page()
    at.text_area(key="lstm_text").set_value("héllo 42 猫").run()
    assert not at.exception
    info = " ".join(i.value for i in at.info)
    for ch in ("é", "4", "2", "猫"):
        assert f"`{ch}`" in info
    ticks = _chart(at, "lstm_fig_h")["layout"]["xaxis"]["ticktext"]
    assert ticks[1] == "¿"


def test_hostile_and_huge_text_is_bounded_on_the_server():
    at = _page()
    at.text_area(key="lstm_text").set_value("<script>alert(1)</script>" * 40).run()
    assert not at.exception
    # the text area's max_chars is enforced by the server, not only by the browser
    assert len(at.text_area(key="lstm_text").value) == BOUNDS["seq_len"].high
    z = plotly_array(_chart(at, "lstm_fig_h")["data"][0]["z"])
    assert z.shape[1] == BOUNDS["seq_len"].high
    # the coloured text escapes the characters: no live tag reaches the page
    at.radio(key="lstm_where").set_value("yours").run()
    at.selectbox(key="lstm_prop").set_value("vowel").run()
    html = " ".join(h.proto.body for h in at.get("html"))
    # one span per character: the escaped '<' is there, a live '<script' tag is not
    assert "<script" not in html and ">&lt;</span>" in html


def test_trained_and_random_side_by_side():
    at = _page()
    text = at.text_area(key="lstm_text").value
    trained_f = plotly_array(_chart(at, "lstm_side_trained")["data"][0]["z"])
    random_f = plotly_array(_chart(at, "lstm_side_random")["data"][0]["z"])
    np.testing.assert_allclose(trained_f, _trained_trace(text).f[:, 0].numpy().T, atol=1e-6)
    assert trained_f.shape == random_f.shape
    # the caption's shares are computed: trained gates are far more decisive than random ones
    caption = next(c.value for c in at.caption if "decisive" in c.value)
    trained_share, random_share = (int(n) for n in re.findall(r"(\d+) %", caption))
    assert trained_share > random_share + 10
