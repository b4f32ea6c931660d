"""The article's CNN page under AppTest: both languages, the prediction follows the digit,
the probabilities, the layer control, the torch check, and a missing checkpoint."""

from __future__ import annotations

import json

import pytest
import torch
from streamlit.testing.v1 import AppTest

import lessons
from engine.data.digits import embedded_mnist
from engine.models.cnn import load_default
from figures import cnn as fc
from tests.pages.apptest import open_page, plotly_array


def _app(lang: str = "en") -> AppTest:
    return open_page("views/cnn.py", lang)


def _text(at: AppTest) -> str:
    elements = [*at.title, *at.header, *at.subheader, *at.markdown, *at.latex, *at.caption,
                *at.success, *at.warning, *at.info, *at.error]
    parts = [str(e.value) for e in elements]
    parts += [f"{m.label} {m.value}" for m in at.metric]
    parts += [s.label for s in at.selectbox] + [s.label for s in at.slider]
    parts += [str(_spec(c)["layout"].get("title", {}).get("text", "")) for c in at.get("plotly_chart")]
    return "\n".join(parts)


def _spec(chart) -> dict:
    return json.loads(chart.proto.spec)


_array = plotly_array


def _chart(at: AppTest, title_key: str, **fmt) -> dict:
    title = lessons.text("cnn", title_key, at.session_state["lang"], **fmt)
    for chart in at.get("plotly_chart"):
        spec = _spec(chart)
        if spec["layout"].get("title", {}).get("text") == title:
            return spec
    raise AssertionError(f"no chart titled {title!r}")


def _use_dataset(at: AppTest, index: int) -> None:
    at.button_group(key="digit_source").set_value("dataset").run()
    at.number_input(key="digit_index").set_value(index).run()
    assert not at.exception, [e.value for e in at.exception]


@pytest.mark.parametrize("lang,title", [("en", "The article's CNN, layer by layer"), ("zh", "文章中的 CNN：逐层拆解")])
def test_page_renders_in_both_languages_without_missing_strings(lang, title):
    at = _app(lang)
    assert at.title[0].value == title
    text = _text(at)
    assert "⟦" not in text
    assert "93,322" in text  # the total, computed from the model
    assert "3·3·32·64 + 64 = 18,496" in "\n".join(map(str, at.dataframe[0].value.iloc[:, 3]))


def test_prediction_follows_the_dataset_digit():
    split = embedded_mnist()
    model = load_default()
    with torch.no_grad():
        preds = model(torch.from_numpy(split.x_test[:40]).unsqueeze(1)).argmax(1).numpy()
    right = [i for i in range(40) if preds[i] == split.y_test[i]]
    # a few correctly classified digits with different labels
    chosen, labels = [], set()
    for i in right:
        if int(split.y_test[i]) not in labels:
            chosen.append(i)
            labels.add(int(split.y_test[i]))
        if len(chosen) == 4:
            break
    at = _app()
    seen = []
    for i in chosen:
        _use_dataset(at, i)
        assert at.metric[0].value == str(int(split.y_test[i]))
        seen.append(at.metric[0].value)
    assert len(set(seen)) == 4


def test_probabilities_sum_to_one_and_the_top_bar_is_the_prediction():
    at = _app()
    _use_dataset(at, 5)
    bars = _chart(at, "probs_title")["data"][0]
    p = _array(bars["y"])
    assert p.shape == (10,) and (p >= 0).all()
    assert p.sum() == pytest.approx(1.0, abs=1e-6)
    assert str(int(p.argmax())) == at.metric[0].value
    # the metric's delta is that probability, in percent
    assert f"{100 * p.max():.1f}" in str(at.metric[0].proto.delta)


def test_changing_the_layer_changes_the_feature_maps():
    at = _app()
    specs = {}
    for layer, shape in [("conv1", (26, 26)), ("pool1", (13, 13)), ("conv2", (11, 11)),
                         ("pool2", (5, 5)), ("conv3", (3, 3))]:
        at.selectbox(key="cnn_layer").set_value(layer).run()
        assert not at.exception, [e.value for e in at.exception]
        l = layer[-1]
        key = ("fig_z" if layer.startswith("conv") else "fig_pool_out")
        spec = _chart(at, key, l=l, src="x" if l == "1" else f"p{int(l) - 1}")
        z = _array(spec["data"][0]["z"])
        specs[layer] = z.tobytes()
        # 16 channels (0 … 15) in rows of 8 tiles (4 for the large conv1 maps), one-cell gaps
        # between tiles and a label band above each row of tiles
        ncols = 4 if layer == "conv1" else 8
        nrows = 16 // ncols
        band = fc.label_band(shape[1], ncols)
        assert z.shape == (nrows * (shape[0] + band), ncols * (shape[1] + 1) - 1)
    assert len(set(specs.values())) == 5


def test_channel_range_changes_the_number_of_tiles():
    at = _app()
    at.selectbox(key="cnn_layer").set_value("conv2").run()
    at.slider(key="cnn_channels_64").set_value((0, 63)).run()
    assert not at.exception
    z = _array(_chart(at, "fig_a", l="2")["data"][0]["z"])
    band = fc.label_band(11, 8)
    assert z.shape == (8 * (11 + band), 8 * 12 - 1)  # 64 maps of 11×11 in 8 rows of 8


def test_torch_check_is_below_1e_6():
    at = _app()
    delta = float(at.metric[1].value)
    assert 0 <= delta < 1e-6
    assert at.success


def test_missing_checkpoint_shows_how_to_create_it_and_still_works(monkeypatch, tmp_path):
    import engine.models.cnn

    monkeypatch.setattr(engine.models.cnn, "CHECKPOINT", tmp_path / "missing.pt")
    at = _app()
    warnings = "\n".join(w.value for w in at.warning)
    assert ".venv/bin/python scripts/train_default_cnn.py" in warnings
    assert at.metric[0].value in {str(k) for k in range(10)}
    assert "⟦" not in _text(at)
