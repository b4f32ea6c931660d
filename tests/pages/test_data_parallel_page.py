"""The data-parallel page under AppTest: the simulated workers follow N, K and the split; bad
values through session state get translated messages; a finished run is drawn (injected into the
session, never a real 2-process run); a started and stopped run leaves the page working; one
Chinese smoke test."""

from __future__ import annotations

import json

import lessons
from tests.figures.test_data_parallel_figures import sample_result
from tests.pages.apptest import open_page

PAGE = "views/data_parallel/page.py"


def k(key: str, lang: str = "en", **fmt) -> str:
    return lessons.text("data_parallel", key, lang, **fmt)


def _text(at) -> str:
    elements = [*at.title, *at.header, *at.subheader, *at.markdown, *at.latex, *at.caption,
                *at.success, *at.warning, *at.info, *at.error]
    parts = [str(e.value) for e in elements]
    parts += [f"{m.label} {m.value}" for m in at.metric]
    parts += [str(json.loads(c.proto.spec)["layout"].get("title", {}).get("text", "")) for c in at.get("plotly_chart")]
    return "\n".join(parts)


def _metric(at, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def test_the_simulated_workers_follow_the_batch_the_workers_and_the_split():
    at = open_page(PAGE, dp_B=10, dp_K=3)
    assert at.title[0].value == k("title") and "⟦" not in _text(at) and not at.exception
    assert at.info[0].value == k("not_run")  # no run yet: the page says so
    assert "n = 4 + 3 + 3" in _text(at)  # 10 digits over 3 workers, as equal as possible
    assert float(_metric(at, k("metric_right"))) <= 1e-12
    assert float(_metric(at, k("metric_wrong"))) > 1e-6  # unequal shards: the plain mean is wrong
    assert any(r"\tfrac{4}{10}" in e.value for e in at.latex)
    assert at.success  # the torch check passes
    at.slider(key="dp_K").set_value(5).run()  # 5 divides 10: both averages are right
    assert "n = 2 + 2 + 2 + 2 + 2" in _text(at) and float(_metric(at, k("metric_wrong"))) <= 1e-12
    at.radio(key="dp_split").set_value("uneven").run()
    frame = at.dataframe[0].value
    assert len(frame) == 10 and set(frame[k("col_ok")]) == {"✓"}
    assert float(_metric(at, k("metric_wrong"))) > 1e-6 and not at.exception


def test_bad_values_get_a_translated_message_and_the_page_goes_on():
    at = open_page(PAGE, dp_B=500, dp_split="random", dp_steps=0, dp_dtype="float16")
    errors = [e.value for e in at.error]
    assert lessons.text("common", "err_limit", "en", name=k("name_dp_batch"), low=1, high=128, value=500) in errors
    assert lessons.text("common", "err_limit", "en", name=k("name_ddp_steps"), low=1, high=50, value=0) in errors
    assert any("random" in e for e in errors) and any("float16" in e for e in errors)
    assert at.slider(key="dp_B").value == 32 and at.dataframe and not at.exception
    at = open_page(PAGE, dp_B=2, dp_K=4)  # more workers than digits: K = N, said so
    assert k("err_workers_over_batch", K=4, N=2) in [w.value for w in at.warning]
    assert "n = 1 + 1" in _text(at) and not at.exception


def test_a_finished_run_is_drawn():
    at = open_page(PAGE, dp_result=sample_result(steps=4, ddp_gap=0.0))
    text = _text(at)
    assert "⟦" not in text and not at.exception
    assert _metric(at, k("metric_identical")) == "✓"
    assert k("identical_ok", S=4, W=2) in [s.value for s in at.success]
    assert k("ddp_equal", gap="0.0e+00", n="32 + 32") in [s.value for s in at.success]
    steps = at.dataframe[1].value
    assert list(steps[k("col_step")]) == [1, 2, 3, 4]
    assert list(steps[k("col_compute")]) == ["10.0 / 12.0"] * 4
    charts = {json.loads(c.proto.spec)["layout"]["title"]["text"] for c in at.get("plotly_chart")}
    assert {k("phases_title"), k("tensors_title")} <= charts
    assert k("bucket_note", calls=10, per="4.00", P="93,322", one="0.50", ratio="8.0", reps=10) in text
    at = open_page(PAGE, dp_result=sample_result(n=(33, 32), ddp_gap=3e-4, identical=False))
    assert _metric(at, k("metric_identical")) == "✗" and k("identical_bad") in [e.value for e in at.error]
    assert k("ddp_unequal", gap="3.0e-04", n="33 + 32") in [s.value for s in at.success]


def test_a_stopped_run_leaves_the_page_and_the_last_result():
    at = open_page(PAGE, dp_result=sample_result())
    at.button(key="dp_run__start").click().run()
    assert not at.exception
    at.button(key="dp_run__stop").click().run()
    assert not at.exception
    assert any(i.value.startswith("Stopped after") for i in at.info)
    assert len(at.get("plotly_chart")) == 3  # the simulation's chart and the earlier run's two


def test_chinese_smoke():
    at = open_page(PAGE, "zh", dp_result=sample_result(ddp_gap=0.0))
    text = _text(at)
    assert at.title[0].value == "数据并行训练"
    assert "⟦" not in text and not at.exception
    for english in ("Data-parallel training", "workers", "Step by step", "Where the time", "the whole batch",
                    "ranks", "On several machines"):
        assert english not in text, english
