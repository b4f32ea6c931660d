"""The training-knobs page under AppTest (sections 1–4; the regularisation section has its own
test): every section renders with its checks against torch, the controls change the numbers and the
figures, bad values sent through session state get a translated message, and one Chinese smoke test.

The batch-size study is computed once per server on 512 digits (seconds); here a small study of the
same engine function on 128 digits is put in the page's once-per-server store first."""

from __future__ import annotations

import json
import re
from functools import cache

import pytest
import torch
from streamlit.testing.v1 import AppTest

import lessons
from engine.data.digits import embedded_mnist
from engine.models.cnn import load_network
from engine.ops.grad_noise import batch_noise_study
from tests.pages.apptest import open_page, plotly_array
from views.knobs.store import Timed, store

PAGE = "views/knobs/page.py"
SMALL_B = (1, 4, 16, 64)


@cache
def small_study():
    split = embedded_mnist()
    x, y = torch.from_numpy(split.x_train[:128]).unsqueeze(1), torch.from_numpy(split.y_train[:128])
    return batch_noise_study(load_network().model, x, y, SMALL_B, passes=4)


@pytest.fixture(autouse=True)
def seeded_study():
    store()["noise"] = Timed(small_study(), 0.5)  # another test may have cleared the caches


def k(key: str, lang: str = "en", **fmt) -> str:
    return lessons.text("knobs", key, lang, **fmt)


def texts(at: AppTest) -> str:
    parts = [str(e.value) for e in [*at.title, *at.header, *at.subheader, *at.markdown, *at.latex, *at.caption,
                                    *at.error, *at.success]]
    return "\n".join(parts)


def chart(at: AppTest, title: str) -> dict:
    for c in at.get("plotly_chart"):
        spec = json.loads(c.proto.spec)
        if (spec["layout"].get("title") or {}).get("text") == title:
            return spec
    raise AssertionError(f"no chart {title!r}")


def checks(at: AppTest) -> dict[str, float]:
    return {m.label: float(m.value) for m in at.metric if m.label.startswith("max |Δ|")}


def test_every_section_renders_with_its_checks():
    at = open_page(PAGE)
    heads = [h.value for h in at.header]
    for key in ("batch_header", "init_header", "pre_header", "norm_header", "next_header"):
        assert k(key) in heads
    assert not at.error and "⟦" not in texts(at)
    found = checks(at)
    for ref in ("noise_check_ref", "init_check_ref", "pre_check_ref", "norm_check_ref"):
        label = lessons.text("common", "max_abs_diff", "en", ref=k(ref))
        assert found[label] <= 1e-10, (label, found[label])
    assert "N = 128" in texts(at)  # the seeded study, not the server's own


def test_batch_size_control_writes_out_the_law():
    at = open_page(PAGE)
    study = small_study()
    at.select_slider(key="knobs_B").set_value(4).run()
    latex = "\n".join(str(e.value) for e in at.latex)
    assert r"\frac{128-4}{4\cdot127}" in latex and f"= {float(study.predicted[1]):.4g}" in latex
    spec = chart(at, k("noise_title"))
    law, measured = spec["data"]
    assert list(measured["x"]) == list(SMALL_B)
    assert plotly_array(measured["y"]) == pytest.approx(study.measured.numpy())


def test_initialisation_controls_change_the_curves():
    at = open_page(PAGE)
    at.button_group(key="knobs_act").set_value("relu").run()
    at.select_slider(key="knobs_width").set_value(64).run()
    at.slider(key="knobs_depth").set_value(10).run()
    assert not at.exception and not at.error
    spec = chart(at, k("var_title"))
    curves = {d["name"]: plotly_array(d["y"]) for d in spec["data"]}
    small, xavier, kaiming, large = (curves[k(f"scheme_{s}")] for s in ("small", "xavier", "kaiming", "large"))
    assert len(kaiming) == 10 and 0.2 < kaiming[-1] / kaiming[0] < 5  # ReLU + Kaiming: kept
    assert xavier[-1] / xavier[0] < 0.01  # ReLU + Xavier: halved per layer
    assert small[-1] < 1e-15 and large[-1] > large[0] * 3
    table = at.dataframe[0].value
    assert list(table.iloc[:, 0]) == [k(f"scheme_{s}") for s in ("small", "xavier", "kaiming", "large")]


def test_preprocessing_on_held_out_digits_shows_the_accuracy():
    at = open_page(PAGE)
    at.button_group(key="knobs_pre_source").set_value("batch").run()
    frame = next(d.value for d in at.dataframe if k("col_input") in d.value.columns)
    assert k("col_acc", n=64) in frame.columns
    assert frame[k("col_range")].iloc[0] == "0 … 255" and frame[k("col_range")].iloc[1] == "0 … 1"
    stds = [float(v) for v in frame[k("col_std")]]
    assert stds[0] > 100 * stds[1]  # raw pixels: z₁ about 255 times wider
    for v in ("raw", "scaled", "standardised"):
        bars = chart(at, k(f"pre_{v}"))["data"][0]
        assert plotly_array(bars["y"]).sum() == 64 * 32 * 26 * 26  # every z₁ of the 64 digits


def test_normalisation_mode_moves_the_outline_and_only_batchnorm_depends_on_the_batch():
    at = open_page(PAGE)
    widths = {}
    for mode in ("batch", "layer", "position"):
        at.button_group(key="knobs_norm_mode").set_value(mode).run()
        rect = chart(at, k("norm_pic_title"))["layout"]["shapes"][0]
        widths[mode] = rect["x1"] - rect["x0"]
        assert k(f"norm_stat_{mode}", n=0, c=0, h=5, w=5, count="", N=32, C=64, H=11, W=11).split("**")[1] in texts(at)
    assert widths == {"batch": 8 * 122 - 1, "layer": 121, "position": 1}
    gaps = {m: re.search(r"\*\*(.+)\*\*", t).group(1) for m in ("batch", "layer", "position")
            for t in texts(at).splitlines() if t.startswith(k(f"mode_{m}") + ":")}
    assert float(gaps["batch"]) > 0.01 and float(gaps["layer"]) == 0 and float(gaps["position"]) == 0


def test_bad_values_in_session_state_get_a_translated_message_and_the_page_goes_on():
    at = open_page(PAGE, knobs_width=100_000, knobs_depth=99, knobs_norm_mode="group", knobs_B=3)
    assert not at.exception
    errors = [e.value for e in at.error]
    width = lessons.text("common", "err_limit", "en", name=k("name_init_width"), low=8, high=256, value=100000)
    assert width in errors
    assert any(k("name_init_depth") in e and "99" in e for e in errors)
    assert any(e.startswith("“group”") for e in errors) and any(e.startswith("“3”") for e in errors)
    assert k("next_header") in [h.value for h in at.header]  # the page went on
    assert at.slider(key="knobs_depth").value == 20


def test_chinese_smoke():
    at = open_page(PAGE, "zh")
    assert not at.exception and not at.error
    text = texts(at)
    assert "⟦" not in text
    assert [h.value for h in at.header][:4] == [k(key, "zh") for key in ("batch_header", "init_header",
                                                                          "pre_header", "norm_header")]
    # no English prose of this page left in: its lesson paragraphs are the Chinese ones
    for name in ("intuition", "batch", "init", "pre", "norm", "next"):
        assert lessons.section("knobs", name, "zh") in text
        assert lessons.section("knobs", name, "en") not in text
