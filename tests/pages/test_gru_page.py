"""The GRU page under AppTest: both languages, the text control, the written-out unit, the
torch check and the parameter counts."""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest
import torch
from streamlit.testing.v1 import AppTest
from torch import nn

from engine.data.corpus import VOCAB, encode
from engine.ops.recurrent import gru
from tests.pages.apptest import open_page, plotly_array

PAGE = "views/gru.py"
D = len(VOCAB)


def _page(lang: str = "en") -> AppTest:
    return open_page("views/gru.py", lang)


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


def _charts(at: AppTest) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def _heatmap(at: AppTest, index: int) -> np.ndarray:
    return _array(_charts(at)[index]["data"][0]["z"])


def _weights(H: int, seed: int) -> dict[str, torch.Tensor]:
    """The page's weights, drawn independently here: U(−1/√H, 1/√H) from torch.Generator(seed)."""
    gen = torch.Generator().manual_seed(seed)
    k = 1 / math.sqrt(H)
    shapes = {"weight_ih": (3 * H, D), "weight_hh": (3 * H, H), "bias_ih": (3 * H,), "bias_hh": (3 * H,)}
    return {n: k * (2 * torch.rand(s, generator=gen, dtype=torch.float64) - 1) for n, s in shapes.items()}


def _trace(text: str, H: int, seed: int):
    W = _weights(H, seed)
    x = torch.nn.functional.one_hot(encode(text), D).double()[:, None, :]
    return gru(x, W["weight_ih"], W["weight_hh"], W["bias_ih"], W["bias_hh"])


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_page_runs_in_both_languages_without_missing_text(lang):
    at = _page(lang)
    texts = _texts(at)
    assert not [s for s in texts if "⟦" in s]
    assert at.title[0].value == ("GRU: two gates decide what to forget and what to keep" if lang == "en"
                                 else "GRU：两个门决定忘掉什么、保留什么")
    # four gate heatmaps + the two variants side by side
    assert len(at.get("plotly_chart")) == 6
    assert {"gru_t", "gru_j", "gru_H"} <= {s.key for s in at.slider}
    assert not at.error and not at.warning


def test_heatmaps_are_the_engine_trace_with_characters_as_labels():
    at = _page()
    text = at.text_input(key="gru_text").value
    trace = _trace(text, 8, 0)
    for index, kind in enumerate("rznh"):
        z = _heatmap(at, index)
        # the figure is (units, time): the trace's (T, H) transposed
        np.testing.assert_allclose(z, getattr(trace, kind)[:, 0].numpy().T, atol=1e-12)
    ticks = _charts(at)[0]["layout"]["xaxis"]["ticktext"]
    assert "".join(ticks).replace("␣", " ") == text


def test_typing_text_changes_the_heatmaps():
    at = _page()
    before = _heatmap(at, 3)
    at.text_input(key="gru_text").input("hello world").run()
    assert not at.exception
    after = _heatmap(at, 3)
    assert after.shape == (8, 11) and before.shape == (8, 12)
    np.testing.assert_allclose(after, _trace("hello world", 8, 0).h[:, 0].numpy().T, atol=1e-12)
    # hidden size and seed change them too
    at.slider(key="gru_H").set_value(4).run()
    assert _heatmap(at, 3).shape == (4, 11)
    at.number_input(key="gru_seed").set_value(7).run()
    np.testing.assert_allclose(_heatmap(at, 3), _trace("hello world", 4, 7).h[:, 0].numpy().T, atol=1e-12)


def test_empty_text_gives_a_friendly_message():
    lang = "en"
    at = _page(lang)
    at.text_input(key="gru_text").input("").run()
    assert not at.exception and not at.error
    assert len(at.info) == 1
    assert ("empty" if lang == "en" else "空") in at.info[0].value
    assert not at.get("plotly_chart")


def test_long_text_is_truncated_with_a_message():
    lang = "en"
    at = _page(lang)
    long = "the quick brown fox jumps over the lazy dog " * 3
    at.text_input(key="gru_text").input(long).run()
    assert not at.exception and not at.error
    assert len(at.warning) == 1 and "40" in at.warning[0].value and str(len(long)) in at.warning[0].value
    assert _heatmap(at, 0).shape == (8, 40)
    assert not [s for s in _texts(at) if "⟦" in s]


def test_unknown_characters_are_shown_and_mapped():
    at = _page()
    at.text_input(key="gru_text").input("café 42 猫").run()
    assert not at.exception
    note = " ".join(i.value for i in at.info)
    for ch in "é42猫":
        assert f"`{ch}`" in note
    assert "¿" in note
    ticks = _charts(at)[0]["layout"]["xaxis"]["ticktext"]
    assert ticks == ["c", "a", "f", "¿", "␣", "¿", "¿", "␣", "¿"]


@pytest.mark.parametrize("step, j, H", [(1, 0, 8), (5, 3, 8), (12, 7, 8), (9, 15, 16), (3, 1, 2)])
def test_written_out_unit_equals_the_trace(step, j, H):
    at = _page()
    if H != 8:
        at.slider(key="gru_H").set_value(H).run()
    at.slider(key="gru_t").set_value(step).run()
    at.slider(key="gru_j").set_value(j).run()
    assert not at.exception
    trace = _trace("to be or not", H, 0)
    latex = {name: next(e.value for e in at.latex if f"{name}_{{{step}}}[{j}] &=" in e.value)
             for name in "rznh"}
    for name, value in latex.items():
        shown = float(re.search(r"= (-?\d+\.\d{4}) \\end\{aligned\}", value).group(1))
        assert shown == pytest.approx(float(getattr(trace, name)[step - 1, 0, j]), abs=5e-5 + 1e-12)
    # one-hot input: the input term is one column, named by the character's id
    k = int(encode("to be or not")[step - 1])
    assert f"W_{{ir}}[{j},{k}]" in latex["r"]
    # recurrent sums: at most 8 products, then \dots
    assert (r"\dots" in latex["r"]) == (H > 8)
    assert latex["r"].count(r"\cdot") >= min(H, 8)


def test_torch_check_and_variants():
    at = _page()
    metrics = {m.label: float(m.value) for m in at.get("metric")}
    torch_metric = next(v for k, v in metrics.items() if "nn.GRU" in k)
    assert torch_metric < 1e-6
    assert at.success
    # torch's reset vs the textbook's differ on real weights
    gap = next(v for k, v in metrics.items() if "textbook" in k)
    assert gap > 1e-3
    np.testing.assert_allclose(_heatmap(at, 4), _trace("to be or not", 8, 0).h[:, 0].numpy().T, atol=1e-12)
    assert not np.allclose(_heatmap(at, 4), _heatmap(at, 5))


@pytest.mark.parametrize("H", [2, 8, 16])
def test_parameter_counts_equal_torch(H):
    at = _page()
    at.slider(key="gru_H").set_value(H).run()
    frame = next(df.value for df in at.dataframe if "G" in df.value.columns)
    ours, theirs = frame.iloc[:, 2].tolist(), frame.iloc[:, 3].tolist()
    expected = [sum(p.numel() for p in m(D, H).parameters()) for m in (nn.RNN, nn.GRU, nn.LSTM)]
    assert ours == expected and theirs == expected
    latex = next(e.value for e in at.latex if "params" in e.value)
    block = H * D + H * H + 2 * H
    for G, n in zip((1, 3, 4), expected):
        assert rf"&= {G}\cdot({H}\cdot{D} + {H}\cdot{H} + 2\cdot{H}) = {G}\cdot{block}" in latex
        assert f"{n:,}".replace(",", "{,}") in latex


def test_variants_agree_where_the_page_says_they_do():
    at = _page()
    frame = next(df.value for df in at.dataframe if "G" not in df.value.columns)
    t1, every = ([float(v) for v in frame.iloc[:, c]] for c in (1, 2))
    yours, no_bhn, open_r = zip(t1, every)
    # the learner's weights: different from the first step on
    assert yours[0] > 1e-3 and yours[1] > 1e-3
    # b_hn = 0: equal at t = 1 (from h_0 = 0), not later
    assert no_bhn[0] < 1e-15 and no_bhn[1] > 1e-3
    # reset gate open: equal at every step
    assert open_r[1] < 1e-12
