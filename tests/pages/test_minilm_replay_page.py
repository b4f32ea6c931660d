"""'Our engine replays the real model' under AppTest: the replay table agrees with transformers
(float32 and float64), the formulas carry MiniLM's real sizes and the learner's token count, one
query's scores follow the layer/head/query picks, the parameter count, bad input with translated
messages, and one Chinese smoke test."""

from __future__ import annotations

import json
import re

import pytest
from streamlit.testing.v1 import AppTest

import lessons
from engine.models import minilm_text as MT
from tests.pages.apptest import open_page, plotly_array

PAGE = "views/real_replay/page.py"


def _app(lang: str = "en", **state) -> AppTest:
    return open_page(PAGE, lang, **state)


def _ok(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def _text(at: AppTest) -> str:
    elements = [*at.title, *at.header, *at.markdown, *at.latex, *at.caption, *at.success, *at.warning,
                *at.info, *at.error]
    parts = [str(e.value) for e in elements] + [f"{m.label} {m.value}" for m in at.metric]
    parts += [s.label for s in at.selectbox] + [s.label for s in at.text_input]
    return "\n".join(parts)


def _gaps(at: AppTest):
    """The replay table (the dataframe with five columns) as floats; '—' (no attention) → None."""
    frame = next(d.value for d in at.dataframe if d.value.shape[1] == 5)
    return [[None if v == "—" else float(v) for v in row[1:]] for row in frame.itertuples(index=False)]


def _tex(at: AppTest, start: str) -> str:
    return next(str(l.value) for l in at.latex if start in str(l.value))


def _heatmap(at: AppTest):
    for chart in at.get("plotly_chart"):
        spec = json.loads(chart.proto.spec)
        if spec["data"] and spec["data"][0]["type"] == "heatmap":
            return plotly_array(spec["data"][0]["z"])
    raise AssertionError("no heat map")


def test_the_replay_agrees_with_transformers_in_both_dtypes():
    at = _app()
    text = _text(at)
    assert "⟦" not in text
    rows = _gaps(at)
    assert len(rows) == 7 and rows[0][1] is None and rows[0][3] is None
    assert all(r[0] <= 1e-4 and r[2] <= 1e-10 for r in rows)
    assert all(r[1] <= 1e-4 and r[3] <= 1e-10 for r in rows[1:])
    assert len(at.success) >= 3 and not at.error  # two verdicts and the torch check
    # the formulas with the real sizes, and the learner's token count
    assert r"\sqrt{32}" in text and r"30522\times 384" in text and r"1536\times 384" in text
    T = len(at.dataframe[0].value.columns)
    assert f"T &= {T}:" in text and rf"{T}\times 1536" in text
    params = at.dataframe[-1].value
    assert "22,713,216" in text and list(params.iloc[0, 1:]) == ["30522·384", "11,720,448"]


def test_a_pair_and_a_new_sentence():
    at = _app()
    at.text_input(key="rp_text").set_value("Where is the station?").run()
    at.text_input(key="rp_pair").set_value("Two streets away.").run()
    _ok(at)
    tokens = at.dataframe[0].value
    pieces = list(tokens.iloc[0])
    assert pieces == ["[CLS]", "where", "is", "the", "station", "?", "[SEP]", "two", "streets", "away", ".", "[SEP]"]
    assert list(tokens.iloc[2]) == ["0"] * 7 + ["1"] * 5
    assert "where is the station? two streets away." in _text(at)
    assert all(r[0] <= 1e-4 and r[2] <= 1e-10 for r in _gaps(at))


def test_the_query_written_out_follows_the_picks():
    at = _app()
    first = _tex(at, r"q_{1}\cdot k_{0}")
    heat = _heatmap(at)
    at.selectbox(key="rp_layer").set_value(5).run()
    at.selectbox(key="rp_head").set_value(9).run()
    at.selectbox(key="rp_query").set_value(3).run()
    _ok(at)
    tex = _tex(at, r"q_{3}\cdot k_{0}")
    assert tex != first
    heat2 = _heatmap(at)
    assert heat2.shape == heat.shape and (abs(heat2 - heat) > 1e-3).any()
    # the written weights a_{3,j} are the heat map's row 3, and every row sums to 1
    written = [float(v) for v in re.findall(r"a_\{3,\d+\} = ([0-9.]+)", tex)]
    assert len(written) == 4
    assert written == pytest.approx(list(heat2[3, :4]), abs=1e-4)
    assert heat2.sum(1) == pytest.approx([1.0] * heat2.shape[0], abs=1e-5)
    assert "s_{3,0}" in tex and r"\sqrt{32}" in tex
    # the same token through the embeddings (its id from the token table) and through layer 5
    token_id = at.dataframe[0].value.iloc[1, 3]
    assert rf"W_{{\text{{word}}}}[{token_id}] &= (" in _tex(at, r"\varepsilon = 10^{-12}")
    block = _tex(at, "Z^{(5)}_{3}")
    assert "h^{(4)}_{3}" in block and "h^{(5)}_{3}" in block and "/1536" in block


def test_bad_input_gets_translated_messages():
    at = _app()
    at.text_input(key="rp_text").set_value("   ").run()
    _ok(at)
    assert at.error[0].value == lessons.text("minilm_replay", "err_empty_text", "en")
    # zero-width and control characters: taken out, named, and the page goes on
    at.text_input(key="rp_text").set_value("zero\u200bwidth\x07 words").run()
    _ok(at)
    assert "U+0007, U+200B" in at.warning[0].value and not at.error
    assert "“zerowidth words”" in at.caption[0].value  # what the model read, back as text
    # too long: cut to the token bound with a message
    at.text_input(key="rp_text").set_value("word " * 150).run()
    _ok(at)
    assert len(at.dataframe[0].value.columns) == MT.MAX_TOKENS
    assert any(f"only the first {MT.MAX_TOKENS}" in w.value for w in at.warning)
    # a second sentence with nothing visible is ignored, said so
    at.text_input(key="rp_text").set_value("Hello there.").run()
    at.text_input(key="rp_pair").set_value("\u200b\u200c").run()
    _ok(at)
    assert at.info[0].value == lessons.text("minilm_replay", "pair_ignored", "en")


def test_chinese_smoke():
    at = _app("zh")
    text = _text(at)
    assert at.title[0].value == "用我们自己的引擎重放真实模型"
    assert "⟦" not in text and not at.error
    # the prose is the Chinese lesson's, and no English lesson section leaks in
    for section in ("intuition", "replay", "query", "check"):
        assert lessons.section("minilm_replay", section, "zh") in text
        assert lessons.section("minilm_replay", section, "en") not in text
    assert "第 1 层" in "\n".join(map(str, _gaps_frame(at).iloc[:, 0]))
    at.text_input(key="rp_text").set_value("你好\u200b世界").run()
    _ok(at)
    assert "分词前去掉了看不见的字符" in at.warning[0].value


def _gaps_frame(at: AppTest):
    return next(d.value for d in at.dataframe if d.value.shape[1] == 5)
