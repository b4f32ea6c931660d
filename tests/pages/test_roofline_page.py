"""The "Where the time goes" page under AppTest: the counted table follows N, the check against
torch's count, bad values through session state, a measurement's result drawn (injected into the
session, never the full run), a started and stopped measurement leaving the page working, and one
Chinese smoke test."""

from __future__ import annotations

import json

import lessons
from tests.figures.test_roofline_figures import sample_measurement
from tests.pages.apptest import open_page, plotly_array

PAGE = "views/roofline/page.py"


def k(key: str, lang: str = "en", **fmt) -> str:
    return lessons.text("roofline", key, lang, **fmt)


def _text(at) -> str:
    elements = [*at.title, *at.header, *at.subheader, *at.markdown, *at.latex, *at.caption,
                *at.success, *at.warning, *at.info, *at.error]
    parts = [str(e.value) for e in elements]
    parts += [f"{m.label} {m.value}" for m in at.metric]
    parts += [str(json.loads(c.proto.spec)["layout"].get("title", {}).get("text", "")) for c in at.get("plotly_chart")]
    return "\n".join(parts)


def _column(at, index: int, key: str) -> list[str]:
    frame = at.dataframe[index].value
    return [str(v) for v in frame[k(key)]]


def test_the_counted_table_follows_the_batch_size():
    at = open_page(PAGE)
    assert at.title[0].value == k("title") and "⟦" not in _text(at)
    assert _column(at, 0, "col_params")[-1] == "93,322"
    assert at.info[0].value == k("not_measured")  # nothing measured: the page says so, no chart
    assert not at.get("plotly_chart")
    assert at.metric[0].value == "0.00e+00" and at.success  # our counts equal torch's
    at.number_input(key="roof_N").set_value(1).run()
    i_fwd = dict(zip(_column(at, 0, "col_layer"), _column(at, 0, "col_I_fwd")))
    assert i_fwd["fc1 + ReLU"] == "0.491" and i_fwd["conv2 + ReLU"] == "35.2"
    at.number_input(key="roof_N").set_value(1024).run()
    i_fwd = dict(zip(_column(at, 0, "col_layer"), _column(at, 0, "col_I_fwd")))
    assert i_fwd["fc1 + ReLU"] == "27.3"  # the weights are read once for 1024 images
    assert _column(at, 0, "col_macs_fwd")[-1] == f"{1024 * 2_794_240:,}"
    at.selectbox(key="roof_layer").set_value("pool1").run()
    assert any(r"I_{\text{pool1}}" in e.value for e in at.latex)
    assert not at.exception


def test_bad_values_in_session_state_get_a_translated_message_and_the_page_goes_on():
    at = open_page(PAGE, roof_N=5000, roof_threads=10_000, roof_layer="conv9")
    errors = [e.value for e in at.error]
    name_N = k("name_roof_batch")
    assert lessons.text("common", "err_limit", "en", name=name_N, low=1, high=1024, value=5000) in errors
    assert any(k("name_roof_threads") in e and "10000" in e for e in errors)
    assert any("conv9" in e for e in errors)
    assert at.number_input(key="roof_N").value == 128 and at.dataframe  # defaults back, the table drawn


def test_a_measurement_is_drawn_roofline_throughput_and_no_gpu():
    m = sample_measurement(N=16)
    at = open_page(PAGE, roof_result=m)
    text = _text(at)
    assert "⟦" not in text and not at.exception
    assert k("no_gpu") in [i.value for i in at.info]
    assert "50.0 GFLOP/s" in text and "10.0 GB/s" in text and "5 FLOP/B" in text
    charts = {json.loads(c.proto.spec)["layout"]["title"]["text"]: json.loads(c.proto.spec)
              for c in at.get("plotly_chart")}
    roof = charts[k("roofline_title")]
    forward = next(t for t in roof["data"] if t["name"] == k("pass_forward"))
    assert forward["text"] == ["conv1", "pool1", "conv2", "pool2", "conv3", "fc1", "fc2"]
    assert plotly_array(forward["y"])[2] * 1e9 == next(l.rate for l in m.layers if l.name == "conv2")
    assert k("batch_title") in charts and k("threads_title", B=32) in charts
    # the measured table: 14 passes, pooling's backward has no FLOP rate
    frame = at.dataframe[1].value
    assert len(frame) == 14 and frame[k("col_gflops")].tolist().count("–") == 2
    assert set(frame[k("col_share")]) - {"–"} == {"50%"}


def test_a_gpu_gets_its_badge_and_its_row():
    at = open_page(PAGE, roof_result=sample_measurement(gpu=True))
    assert not at.exception and k("no_gpu") not in [i.value for i in at.info]
    sweep = at.dataframe[2].value
    assert list(sweep[k("col_gpu_samples", name="Test GPU")]) == ["100", "800", "3,200"]


def test_a_stopped_measurement_leaves_the_page_and_the_last_result():
    at = open_page(PAGE, roof_result=sample_measurement())
    at.button(key="roof_measure__start").click().run()
    assert not at.exception
    at.button(key="roof_measure__stop").click().run()
    assert not at.exception
    stopped = [i.value for i in at.info]
    assert any(v.startswith("Stopped after") for v in stopped), stopped
    assert at.get("plotly_chart")  # the earlier result is still drawn


def test_chinese_smoke():
    at = open_page(PAGE, "zh", roof_result=sample_measurement(gpu=True))
    text = _text(at)
    assert at.title[0].value == "时间花在哪里"
    assert "⟦" not in text and not at.exception
    for english in ("Where the time goes", "memory-bound", "samples/s against", "Measure this machine",
                    "The counting model", "batch size"):
        assert english not in text, english
