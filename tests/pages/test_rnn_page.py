"""The RNN page under AppTest: both languages, the text input, the written-out unit, the
readout, the gradient curve under the ρ slider, and the check against nn.RNN."""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from streamlit.testing.v1 import AppTest

import lessons
from engine.data.corpus import VOCAB, encode
from engine.limits import BOUNDS
from engine.ops.recurrent import rnn
from tests.pages.apptest import open_page, plotly_array

PAGE = "views/rnn.py"
UNIT = re.compile(r"h_\{(\d+)\}\[(\d+)\] &= \\tanh\\big\(")
RESULT = re.compile(r"= (-?\d+\.\d+)\\end\{aligned\}")


def _page(lang: str = "en") -> AppTest:
    return open_page("views/rnn.py", lang)


def _texts(at: AppTest) -> list[str]:
    parts = []
    for kind in ("title", "header", "subheader", "markdown", "caption", "latex", "info", "warning",
                 "success", "error"):
        parts += [str(e.value) for e in getattr(at, kind)]
    parts += [s.label for s in at.slider] + [m.label for m in at.get("metric")]
    parts += [w.label for w in at.text_input] + [w.label for w in at.number_input]
    parts += [str(c) for df in at.dataframe for c in df.value.columns]
    for chart in at.get("plotly_chart"):
        spec = json.loads(chart.proto.spec)
        parts.append(str((spec["layout"].get("title") or {}).get("text", "")))
    return parts


_array = plotly_array


def _chart(at: AppTest, trace_type: str) -> dict:
    for chart in at.get("plotly_chart"):
        spec = json.loads(chart.proto.spec)
        if spec["data"][0]["type"] == trace_type:
            return spec
    raise AssertionError(f"no {trace_type} chart")


def _heatmap(at: AppTest) -> dict:
    return _chart(at, "heatmap")


def _grad_curve(at: AppTest) -> np.ndarray:
    return _array(_chart(at, "scatter")["data"][0]["y"])


def _set_text(at: AppTest, text: str) -> AppTest:
    at.text_input(key="rnn_text").set_value(text).run()
    assert not at.exception
    return at


def _weights(H: int, seed: int) -> dict[str, torch.Tensor]:
    """The page's recipe, independently: torch-like uniform(−1/√H, 1/√H) from a seeded generator."""
    gen = torch.Generator().manual_seed(seed)
    k = 1 / math.sqrt(H)
    V = len(VOCAB)
    shapes = dict(W_ih=(H, V), W_hh=(H, H), b_ih=(H,), b_hh=(H,))
    return {n: (2 * torch.rand(*s, generator=gen, dtype=torch.float64) - 1) * k for n, s in shapes.items()}


def _trace_h(text: str, H: int = 8, seed: int = 0) -> torch.Tensor:
    W = _weights(H, seed)
    x = F.one_hot(encode(text), len(VOCAB)).double()[:, None, :]
    return rnn(x, W["W_ih"], W["W_hh"], W["b_ih"], W["b_hh"]).h[:, 0]


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_page_renders_in_both_languages(lang):
    at = _page(lang)
    assert at.title[0].value == lessons.text("rnn", "title", lang)
    texts = _texts(at)
    bad = [s for s in texts if "⟦" in s]
    assert not bad, bad
    if lang == "zh":
        assert any(re.search(r"[\u4e00-\u9fff]", s) for s in texts)


def test_heatmap_is_the_trace_and_follows_the_text():
    at = _page()
    spec = _heatmap(at)
    z = _array(spec["data"][0]["z"])
    # (H, T): one row per unit, one column per character of "hello world"
    assert z.shape == (8, 11)
    np.testing.assert_allclose(z, _trace_h("hello world").T.numpy(), atol=1e-9)
    assert spec["layout"]["xaxis"]["ticktext"][5] == "␣"

    _set_text(at, "to be or not")
    spec = _heatmap(at)
    z2 = _array(spec["data"][0]["z"])
    assert z2.shape == (8, 12)
    np.testing.assert_allclose(z2, _trace_h("to be or not").T.numpy(), atol=1e-9)
    assert spec["layout"]["xaxis"]["ticktext"][:2] == ["t", "o"]


def test_hidden_size_and_seed_change_the_state():
    at = _page()
    at.slider(key="rnn_hidden").set_value(4).run()
    z = _array(_heatmap(at)["data"][0]["z"])
    np.testing.assert_allclose(z, _trace_h("hello world", H=4).T.numpy(), atol=1e-9)
    at.number_input(key="rnn_seed").set_value(7).run()
    z7 = _array(_heatmap(at)["data"][0]["z"])
    np.testing.assert_allclose(z7, _trace_h("hello world", H=4, seed=7).T.numpy(), atol=1e-9)


def test_empty_text_gives_a_message():
    at = _set_text(_page(), "")
    assert lessons.text("rnn", "empty_text", "en") in [i.value for i in at.info]
    assert not at.get("plotly_chart")


def test_long_text_is_truncated_with_a_message():
    at = _set_text(_page(), "abcdefghij" * 6)
    warnings = [w.value for w in at.warning]
    assert lessons.text("rnn", "truncated", "en", n=60, shown=40) in warnings
    assert _array(_heatmap(at)["data"][0]["z"]).shape == (8, 40)


def test_text_over_the_server_bound_is_cut_to_it():
    # the widget's max_chars (= BOUNDS["seq_len"].high) is enforced by the server, not only the
    # browser; the page checks the bound again with engine.limits
    at = _page()
    at.text_input(key="rnn_text").set_value("a" * 250).run()
    assert not at.exception
    assert len(at.text_input(key="rnn_text").value) == BOUNDS["seq_len"].high
    warnings = [w.value for w in at.warning]
    assert lessons.text("rnn", "truncated", "en", n=BOUNDS["seq_len"].high, shown=40) in warnings


def test_unknown_characters_are_shown():
    at = _set_text(_page(), "héllo 42")
    warning = " ".join(w.value for w in at.warning)
    for ch in ("é", "4", "2", "¿"):
        assert ch in warning
    assert _heatmap(at)["layout"]["xaxis"]["ticktext"][1] == "¿"


@pytest.mark.parametrize("step,j,H", [(1, 0, 8), (5, 3, 8), (11, 13, 16)])
def test_written_out_unit_equals_the_trace(step, j, H):
    at = _page()
    at.slider(key="rnn_hidden").set_value(H).run()
    at.slider(key="rnn_t").set_value(step).run()
    at.slider(key="rnn_j").set_value(j).run()
    latex = next(str(e.value) for e in at.latex if "aligned" in str(e.value))
    assert UNIT.search(latex).groups() == (str(step), str(j))
    value = float(RESULT.search(latex.replace("\n", "")).group(1))
    expected = float(_trace_h("hello world", H=H)[step - 1, j])
    assert abs(value - expected) < 5e-5
    # x_t is one-hot: the first sum is one entry of W_ih, in column id(character)
    c = int(encode("hello world")[step - 1])
    assert f"W_{{ih}}[{j},{c}] = " in latex
    assert (r"\dots" in latex) == (H > 8)


def test_torch_check_passes():
    at = _page()
    metrics = at.get("metric")
    assert len(metrics) == 1
    assert float(metrics[0].value) < 1e-6


def test_readout_is_labelled_untrained_and_sums_to_probabilities():
    at = _page()
    assert lessons.text("rnn", "untrained", "en") in [w.value for w in at.warning]
    top = at.dataframe[1].value
    assert len(top) == 11
    first = [float(s.split()[-2]) for s in top.iloc[:, 3]]
    assert list(top.iloc[:, 2])[:2] == ["e", "l"]
    assert all(0 < p < 100 for p in first)


def test_rho_slider_changes_the_gradient_curve():
    at = _page()
    at.slider(key="rnn_rho").set_value(0.3).run()
    small = _grad_curve(at)
    assert small.shape == (11,)
    # ‖∂h_T/∂h_T‖ = ‖I‖ = √H; small ρ: decays toward t = 1, monotonically
    assert small[-1] == pytest.approx(math.sqrt(8))
    assert np.all(np.diff(small) > 0)
    assert small[0] < 1e-4 * small[-1]
    at.slider(key="rnn_rho").set_value(2.0).run()
    large = _grad_curve(at)
    assert large[0] > 100 * small[0]
