"""The 4-bit file page under AppTest: renders, the block follows the controls, the numbers are the
file's, bad choices get a translated message, and a Chinese smoke test."""

from __future__ import annotations

import json

import numpy as np
import pytest
from gguf.quants import dequantize
from streamlit.testing.v1 import AppTest

import lessons
from tests.pages.apptest import open_page, plotly_array
from views.real_gguf.parts import _open

PAGE = "views/real_gguf/page.py"


@pytest.fixture(scope="module", autouse=True)
def _file_opened():
    """The page's cached reader opened before the first AppTest run (its 30 s timeout is for the page)."""
    _open()


def _app(lang: str = "en") -> AppTest:
    return open_page(PAGE, lang)


def _msg(key: str, lang: str = "en", **fmt) -> str:
    return lessons.text("gguf", key, lang, **fmt)


def _text(at: AppTest) -> str:
    return "\n".join(str(e.value) for e in [*at.title, *at.header, *at.subheader, *at.markdown, *at.latex,
                                           *at.caption, *at.info, *at.warning, *at.error])


def _weights(at: AppTest) -> np.ndarray:
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    return plotly_array(spec["data"][1]["y"])


def test_page_shows_the_stored_block_and_its_weights():
    at = _app()
    assert at.title[0].value == _msg("title") and "⟦" not in _text(at)
    tensors = _open().tensors  # the page's own cached reader: the file is opened once
    t = tensors["blk.0.attn_q.weight"]
    ref = dequantize(np.asarray(t.data), t.tensor_type)  # (576, 576)
    assert np.allclose(_weights(at), ref[0, :32], rtol=0, atol=0)
    raw = np.asarray(t.data).reshape(-1, 20)[0]
    text = _text(at)
    assert " ".join(f"{b:02X}" for b in raw[4:20]) in text  # the 16 bytes of q, as stored
    assert at.metric[0].value == "0.00e+00"  # our decode of the tensor = gguf's
    assert "134,515,008" in text

    at.selectbox(key="gguf_kind").set_value("ffn_down").run()
    at.slider(key="gguf_layer").set_value(7).run()
    at.number_input(key="gguf_block").set_value(100).run()  # row 2, columns 128 … 159
    assert not at.exception
    t = tensors["blk.7.ffn_down.weight"]
    assert np.allclose(_weights(at), dequantize(np.asarray(t.data), t.tensor_type)[2, 128:160], rtol=0, atol=0)

    at.selectbox(key="gguf_kind").set_value("token_embd").run()  # Q8_0: token 504's block 3
    at.number_input(key="gguf_block").set_value(504 * 18 + 3).run()
    assert not at.exception and any(_msg("embd_note", row=504) == c.value for c in at.caption)


def test_a_block_index_outside_the_tensor_is_refused_with_a_message():
    at = _app()
    at.number_input(key="gguf_block").set_value(10_368).run()  # attn_q has 576 × 18 = 10,368 blocks
    assert not at.exception
    assert at.error[0].value == _msg("err_bad_block", index=10_368, last=10_367)
    at.number_input(key="gguf_block").set_value(5).run()
    assert not at.error and at.get("plotly_chart")


def test_chinese_smoke():
    at = _app("zh")
    assert at.title[0].value == _msg("title", "zh")
    text = _text(at)
    assert "⟦" not in text and lessons.section("gguf", "honest", "en")[:40] not in text
    assert lessons.section("gguf", "honest", "zh")[:20] in text
