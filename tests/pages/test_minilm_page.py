"""The MiniLM encoder page under AppTest, in English (one Chinese smoke test): the real WordPiece
pieces, the 6 × 12 model view and its picked head, the head view equal to transformers' weights,
the summary tables equal to engine.ops.head_stats on those weights, the cosine matrix of the
learner's sentences, the torch checks, and bad input (empty, zero-width, too long, Chinese, too
many lines)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

import engine.models.minilm_hf as mh
from engine.ops import head_stats as hs
from tests.pages.apptest import open_page, plotly_array

PAGE = "views/real_encoder/page.py"
EN = "The cat sat on the mat because it was unbelievably tired."


def _page(lang: str = "en", **state) -> AppTest:
    return open_page(PAGE, lang, **state)


def _ok(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


@pytest.fixture(scope="module", autouse=True)
def ref():
    """The page's own cached model, loaded before the first AppTest run (so that run's 30 s timeout
    measures the page, not a cold load) and used as the reference here: one load per process."""
    from widgets.real_models import minilm_reference

    return minilm_reference()


@pytest.fixture(scope="module")
def default_page(ref) -> AppTest:
    return _page()


def _chart(at: AppTest, key: str) -> dict:
    charts = [c for c in at.get("plotly_chart") if c.proto.id.endswith(f"-{key}") or key in c.proto.id]
    assert len(charts) == 1, (key, [c.proto.id for c in at.get("plotly_chart")])
    return json.loads(charts[0].proto.spec)


def _texts(at: AppTest) -> list[str]:
    parts = []
    for kind in ("title", "header", "subheader", "markdown", "caption", "latex", "info", "warning",
                 "success", "error"):
        parts += [str(e.value) for e in getattr(at, kind)]
    parts += [w.label for w in [*at.slider, *at.toggle, *at.text_input, *at.text_area]]
    parts += [m.label for m in at.get("metric")]
    parts += [str(c) for df in at.dataframe for c in df.value.columns]
    for chart in at.get("plotly_chart"):
        parts.append(str((json.loads(chart.proto.spec)["layout"].get("title") or {}).get("text", "")))
    return parts


def test_default_page_shows_pieces_views_and_checks(default_page, ref):
    at = default_page
    _ok(at)
    assert not at.error and not at.warning
    pieces = ref.tokenizer.convert_ids_to_tokens(ref.tokenizer(EN)["input_ids"])
    assert at.code[0].value == "  ".join(pieces) and "##bel" in pieces
    assert not [s for s in _texts(at) if "⟦" in s]
    # the model view: 72 clickable tiles, the picked one (layer 1, head 1) outlined
    grid = _chart(at, "enc_grid")
    assert len(grid["data"][1]["customdata"]) == 72 and grid["data"][1]["customdata"][13] == [1, 1]
    assert grid["layout"]["shapes"][0]["x0"] < 0 and grid["layout"]["shapes"][0]["y0"] < 0
    # the torch checks pass; the next pages are linked
    assert len(at.get("metric")) == 2 and len(at.success) >= 2
    links = [p.proto.label for p in at.get("page_link")]
    assert links == ["Attention: one head, stage by stage", "Multi-head attention: why 12 heads",
                     "Our engine replays MiniLM"]


def test_head_view_and_summaries_are_the_models_weights(ref):
    at = _page()
    at.slider(key="enc_layer").set_value(3).run()
    at.slider(key="enc_head").set_value(5).run()
    _ok(at)
    assert "layer 3, head 5" in at.header[4].value
    tr = mh.run(ref, EN)
    z = plotly_array(_chart(at, "enc_head_view")["data"][0]["z"])
    np.testing.assert_allclose(z, tr.attentions[2, 4].double().numpy(), atol=1e-6)
    stats = hs.head_stats(tr.attentions, [0], [tr.tokens.T - 1])
    for name in hs.SUMMARIES:
        fig = _chart(at, f"enc_sum_{name}")
        np.testing.assert_allclose(plotly_array(fig["data"][0]["z"]), stats.get(name).double().numpy(), atol=1e-6)
        box = fig["layout"]["shapes"][0]  # the picked head outlined: column 4, row 2
        assert (box["x0"], box["y0"]) == (3.5, 1.5)
    table = at.dataframe[1].value
    prev = hs.strongest_head(stats.prev)
    assert f"L{prev.layer + 1} H{prev.head + 1}" in table.iloc[:, 1].tolist()
    grid = _chart(at, "enc_grid")
    assert grid["layout"]["shapes"][0]["x0"] > grid["layout"]["shapes"][0]["y0"] > 0  # head 5 right of layer 3


def test_pair_and_similarity(ref):
    at = _page()
    at.toggle(key="enc_pair").set_value(True).run()
    _ok(at)
    pieces = at.code[0].value.split("  ")
    assert pieces.count("[SEP]") == 2 and pieces[0] == "[CLS]"
    types = at.dataframe[0].value.iloc[:, 3].tolist()
    assert types[0] == 0 and types[-1] == 1 and sorted(set(types)) == [0, 1]
    cos = plotly_array(_chart(at, "enc_sim")["data"][0]["z"])
    lines = at.text_area(key="enc_sentences").value.splitlines()
    sim = mh.compare(ref, "\n".join(lines))
    np.testing.assert_allclose(cos, sim.cos.numpy(), atol=1e-9)
    np.testing.assert_allclose(np.diag(cos), 1.0, atol=1e-12)
    assert "1 and 2" in at.success[0].value  # food and bread are the closest pair of the example


def test_bad_input_gets_messages_and_the_page_keeps_working():
    at = _page()
    at.text_input(key="enc_text_a").input("\u200b  ").run()
    _ok(at)
    assert len(at.info) == 1 and "empty" in at.info[0].value and not at.get("plotly_chart")
    at.text_input(key="enc_text_a").input("hello\u200bworld\x07").run()
    _ok(at)
    assert "2 control or zero-width" in at.info[0].value and at.code[0].value == "[CLS]  hello  ##world  [SEP]"
    at.text_input(key="enc_text_a").input("word " * 80).run()
    _ok(at)
    assert any("82 tokens" in w.value and "first 64" in w.value for w in at.warning)
    assert len(at.code[0].value.split("  ")) == 64
    at.text_input(key="enc_text_a").input("我爱北京天安门").run()
    _ok(at)
    note = " ".join(i.value for i in at.info)
    assert "7 CJK" in note and "[UNK]" in note and "爱" in note
    at.text_area(key="enc_sentences").input("\n".join(f"line {i}" for i in range(10))).run()
    _ok(at)
    assert any("2 more line" in w.value for w in at.warning)
    at.text_area(key="enc_sentences").input(" \n\n").run()
    _ok(at)
    assert any("empty" in i.value for i in at.info) and len(at.get("metric")) == 1


def test_chinese_smoke():
    at = _page("zh")
    _ok(at)
    assert at.title[0].value == "句子编码器的注意力（MiniLM）"
    assert not [s for s in _texts(at) if "⟦" in s]
    assert not at.error and not at.warning
    assert at.header[3].value == "模型视图：全部 72 个头"
    cjk = lambda text: any("\u4e00" <= c <= "\u9fff" for c in text)  # noqa: E731
    assert all(cjk(h.value) for h in [*at.header, *at.subheader]) and all(cjk(str(c)) for c in at.dataframe[1].value.columns)
    unk = at.dataframe[-1].value.iloc[:, 2].tolist()  # three English lines, then two Chinese ones
    assert unk[:3] == [0, 0, 0] and min(unk[3:]) > 0
    assert [m.label for m in at.get("metric")][0].startswith("与 模型说明的池化公式")
    # the default sentences include a Chinese line: the vocabulary note speaks Chinese with live numbers
    at.text_input(key="enc_text_a").input("一个男人在吃东西。").run()
    _ok(at)
    assert any("中日韩" in i.value and "[UNK]" in i.value for i in at.info)


def test_a_click_on_a_tile_names_its_layer_and_head():
    from views.real_encoder.parts import pick_of

    assert pick_of([{"curve_number": 1, "point_index": 17, "customdata": [1, 5]}]) == (1, 5)
    assert pick_of([{"curve_number": 1, "point_index": 71}]) == (5, 11)
    assert pick_of([{"curve_number": 0, "point_index": 3}]) is None  # the heatmap itself
    assert pick_of([{"curve_number": 1, "point_index": 72}]) is None and pick_of([]) is None
