"""The Convolution page under AppTest: both languages, every tab, and the controls change what
is shown — with the numbers on screen checked against torch's F.conv2d on the same digit."""

from __future__ import annotations

import base64
import json
import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from google.protobuf import text_format
from streamlit.testing.v1 import AppTest

from engine.models.cnn import CHECKPOINT
from engine.ops.conv import KERNEL_PRESETS, preset
from figures import conv as cf
from tests.pages.apptest import open_page

PRESET = "conv_kernel_preset"
TAB_KEYS = ("tab_many", "tab_flip", "tab_relu")


def _page(lang: str = "en", **state) -> AppTest:
    # the digit source too (the canvas can't be driven in AppTest)
    at = open_page("views/conv.py", lang, digit_source="dataset", **state)
    _ok(at)
    return at


def _ok(at: AppTest) -> None:
    assert not at.exception, [e.message for e in at.exception]


def _all_text(at: AppTest) -> str:
    """Every element's content (text, labels, options, figure JSON), unescaped."""
    out: list[str] = []

    def walk(node) -> None:
        proto = getattr(node, "proto", None)
        if proto is not None:
            out.append(text_format.MessageToString(proto, as_utf8=True))
        for child in getattr(node, "children", {}).values():
            walk(child)

    walk(at.main)
    walk(at.sidebar)
    return "\n".join(out)


def _open_tab(at: AppTest, index: int) -> AppTest:
    at.session_state["conv_tab"] = at.tabs[index].label
    at.run()
    _ok(at)
    return at


def _chart(at: AppTest, key: str) -> dict:
    charts = [c for c in at.get("plotly_chart") if c.proto.id.endswith(f"-{key}")]
    assert len(charts) == 1, f"no chart {key}"
    return json.loads(charts[0].proto.spec)


def _z(at: AppTest, key: str) -> np.ndarray:
    z = _chart(at, key)["data"][0]["z"]
    if isinstance(z, dict):  # plotly's typed-array encoding
        shape = tuple(int(n) for n in str(z["shape"]).split(","))
        return np.frombuffer(base64.b64decode(z["bdata"]), dtype=z["dtype"]).reshape(shape)
    return np.asarray(z, dtype=np.float64)


def _latex(at: AppTest, needle: str) -> str:
    found = [el.value for el in at.latex if needle in el.value]
    assert found, f"no LaTeX with {needle!r}"
    return found[0]


def _cell_latex(at: AppTest) -> str:
    return _latex(at, r"\color")


def _last_number(s: str) -> float:
    return float(re.findall(r"-?\d+(?:\.\d+)?", s)[-1])


def _digit(at: AppTest) -> torch.Tensor:
    return torch.from_numpy(np.asarray(at.session_state["nml_digit"]["image"], dtype=np.float64))


def _torch_map(at: AppTest, w: torch.Tensor, b: float = 0.0, s: int = 1, p: int = 0) -> np.ndarray:
    x = _digit(at)[None, None]
    out = F.conv2d(x, w.double()[None, None], torch.tensor([b], dtype=torch.float64), stride=s, padding=p)
    return out[0, 0].numpy()


# ----- both languages, every tab ----------------------------------------------------------------


@pytest.mark.parametrize("lang,title", [("en", "Convolution"), ("zh", "卷积")])
def test_page_renders_every_tab_in_both_languages(lang, title):
    at = _page(lang)
    assert title in at.title[0].value
    assert len(at.tabs) == 3
    for index in range(3):
        _open_tab(at, index)
        text = _all_text(at)
        assert "⟦" not in text and "\\u27e6" not in text, f"missing string in tab {index}"
    if lang == "zh":
        assert "特征图" in _all_text(at)


def test_only_the_open_tab_is_computed():
    at = _page()
    keys = lambda: {c.proto.id.rsplit("-", 1)[-1] for c in at.get("plotly_chart")}  # noqa: E731
    assert {"conv_maps", "conv_kernels"} <= keys() and "conv_xcorr" not in keys()
    _open_tab(at, 1)
    assert {"conv_xcorr", "conv_trueconv"} <= keys() and "conv_maps" not in keys()
    _open_tab(at, 2)
    assert {"conv_relu_before", "conv_relu_after"} <= keys()


# ----- kernel presets, stride, padding ----------------------------------------------------------


def test_every_preset_gives_its_own_feature_map_equal_to_torch():
    at = _page()
    options = list(KERNEL_PRESETS)
    maps = {}
    for name in options:
        at.selectbox(key=PRESET).set_value(name).run()
        _ok(at)
        maps[name] = _z(at, "conv_fmap")
        np.testing.assert_allclose(maps[name], _torch_map(at, preset(name)), atol=1e-12)
    for a in options:
        for b in options:
            if a < b:
                assert not np.allclose(maps[a], maps[b]), f"{a} and {b} drew the same map"


def test_default_preset_is_sobel_x_and_cell_starts_on_the_strongest_response():
    at = _page()
    assert at.selectbox(key=PRESET).value == "sobel_x"
    z = _z(at, "conv_fmap")
    i, j = at.slider(key="conv_i").value, at.slider(key="conv_j").value
    assert abs(z[i, j]) == np.abs(z).max()


@pytest.mark.parametrize("s,p,n_out", [(1, 0, 26), (2, 0, 13), (3, 2, 10), (4, 3, 8), (1, 1, 28)])
def test_stride_and_padding_fill_the_output_size_formula(s, p, n_out):
    at = _page()
    at.slider(key="conv_stride").set_value(s).run()
    at.slider(key="conv_padding").set_value(p).run()
    _ok(at)
    latex = _latex(at, r"H_{\text{out}} &=")
    assert rf"\frac{{28 + 2\cdot {p} - 3}}{{{s}}}" in latex
    assert latex.count(f"= {n_out}") == 2  # H and W
    assert _z(at, "conv_fmap").shape == (n_out, n_out)
    assert f"**{n_out}×{n_out}**" in "\n".join(m.value for m in at.markdown)
    assert at.slider(key="conv_i").max == n_out - 1


def test_stride_two_gives_13():
    at = _page()
    assert "= 26" in _latex(at, r"H_{\text{out}} &=")
    at.slider(key="conv_stride").set_value(2).run()
    assert "= 12 + 1 = 13" in _latex(at, r"H_{\text{out}} &=")


def test_chosen_cell_stays_inside_a_shrinking_map():
    at = _page()
    at.slider(key="conv_i").set_value(25).run()
    at.slider(key="conv_j").set_value(24).run()
    at.slider(key="conv_stride").set_value(4).run()
    _ok(at)
    assert at.slider(key="conv_i").value == 6 and at.slider(key="conv_j").value == 6
    assert r"\text{out}[6,6]" in _cell_latex(at)


# ----- one output cell --------------------------------------------------------------------------


@pytest.mark.parametrize("name,s,p,b,i,j", [("sobel_x", 1, 0, 0.0, 10, 12), ("blur", 2, 1, 0.5, 4, 9),
                                             ("sharpen", 3, 2, -1.2, 5, 3), ("edges", 1, 3, 0.0, 0, 0)])
def test_written_out_sum_equals_torch_at_the_chosen_cell(name, s, p, b, i, j):
    at = _page()
    at.selectbox(key=PRESET).set_value(name).run()
    at.slider(key="conv_stride").set_value(s).run()
    at.slider(key="conv_padding").set_value(p).run()
    at.number_input(key="conv_bias").set_value(b).run()
    at.slider(key="conv_i").set_value(i).run()
    at.slider(key="conv_j").set_value(j).run()
    _ok(at)
    latex = _cell_latex(at)
    assert rf"\text{{out}}[{i},{j}]" in latex and rf"x[{i}\cdot {s}+m" in latex
    ref = _torch_map(at, preset(name), b, s, p)[i, j]
    assert _last_number(latex) == pytest.approx(float(ref), abs=1e-4)
    # the patch on screen is the window of the padded digit at (i·s, j·s)
    x_pad = np.pad(_digit(at).numpy(), p)
    np.testing.assert_array_equal(_z(at, "conv_patch"), x_pad[i * s : i * s + 3, j * s : j * s + 3])
    np.testing.assert_allclose(_z(at, "conv_products"), _z(at, "conv_patch") * preset(name).double().numpy())
    assert _z(at, "conv_field").shape == (28 + 2 * p, 28 + 2 * p)


# ----- the editable grid ------------------------------------------------------------------------


def _edit(at: AppTest, key: str, m: int, n: int, value) -> AppTest:
    at.session_state[key] = {"edited_rows": {m: {f"n={n}": value}}, "added_rows": [], "deleted_rows": []}
    at.run()
    _ok(at)
    return at


def test_editing_a_cell_changes_the_kernel_everywhere():
    at = _page()
    at.selectbox(key=PRESET).set_value("identity").run()
    before = _z(at, "conv_fmap").copy()
    _edit(at, "conv_grid_identity_3", 1, 2, 2.5)
    assert not at.warning
    w = preset("identity")
    w[1, 2] = 2.5
    np.testing.assert_allclose(_z(at, "conv_fmap"), _torch_map(at, w), atol=1e-12)
    assert not np.allclose(before, _z(at, "conv_fmap"))
    assert "(2.5)" in _cell_latex(at)
    np.testing.assert_array_equal(_z(at, "conv_kernel"), w.double().numpy())


@pytest.mark.parametrize("value,lang,words", [
    (1e9, "en", "too large"),
    (None, "en", "empty or not a number"),
    ("abc", "en", "empty or not a number"),
    (-101.0, "en", "too large"),
    # the translation of each error code
    (1e9, "zh", "太大"),
    ("abc", "zh", "不是数字"),
])
def test_bad_grid_values_give_a_friendly_message(value, lang, words):
    at = _page(lang)
    at.selectbox(key=PRESET).set_value("sobel_y").run()
    _edit(at, "conv_grid_sobel_y_3", 0, 1, value)
    warnings = [w.value for w in at.warning]
    assert any(words in w and "w[0, 1]" in w for w in warnings), warnings
    # the page carries on with the preset kernel
    np.testing.assert_allclose(_z(at, "conv_fmap"), _torch_map(at, preset("sobel_y")), atol=1e-12)
    assert "⟦" not in _all_text(at)


def test_custom_kernel_has_the_chosen_size():
    at = _page()
    at.selectbox(key=PRESET).set_value("custom").run()
    at.slider(key="conv_k").set_value(5).run()
    _ok(at)
    editor = at.data_editor[0]
    assert editor.key == "conv_grid_custom_5"
    assert editor.value.shape == (5, 5) and editor.value.to_numpy().sum() == 1
    assert "= 24" in _latex(at, r"H_{\text{out}} &=")
    _edit(at, "conv_grid_custom_5", 0, 4, -0.5)
    assert _cell_latex(at).count(r"\color") == 25
    w = torch.zeros(5, 5)
    w[2, 2], w[0, 4] = 1.0, -0.5
    np.testing.assert_allclose(_z(at, "conv_fmap"), _torch_map(at, w), atol=1e-12)


# ----- tabs -------------------------------------------------------------------------------------


def test_many_kernels_give_many_maps_not_one_sum():
    at = _page()
    at.slider(key="conv_num_kernels").set_value(5).run()
    _ok(at)
    annotations = _chart(at, "conv_maps")["layout"]["annotations"]
    assert [a["text"] for a in annotations] == ["0", "1", "2", "3", "4"]
    latex = _latex(at, r"\operatorname{shape}(z)")
    assert r"\operatorname{shape}(z) &= (5, 26, 26)" in latex
    assert r"\Big(\sum_o z_o\Big) &= (26, 26)" in latex
    # the five numbers z_o[13, 13] are the five maps' centres, never printed as -0.000
    maps, band = _z(at, "conv_maps"), cf.label_band(5, 26)
    centres = []
    for o in range(5):
        row, col = cf.tile_origin(o, 5, 26, 26, band)
        centres.append(cf.fixed(maps[row + 13, col + 13]))
    assert r",\, ".join(centres) in latex
    assert "-0.000" not in latex
    kernels = _chart(at, "conv_kernels")
    assert [a["text"] for a in kernels["layout"]["annotations"]] == ["0", "1", "2", "3", "4"]
    text = "\n".join(e.value for e in [*at.info, *at.warning])
    if CHECKPOINT.exists():
        assert "learned filters" in text
    else:
        assert "random filters" in text


def test_flip_tab_uses_sobel_x_for_a_symmetric_kernel_and_maps_differ():
    at = _page()
    at.selectbox(key=PRESET).set_value("blur").run()
    _open_tab(at, 1)
    assert any("Sobel x" in e.value for e in at.info)  # blur is symmetric: demo switches to Sobel x
    xcorr, conv = _z(at, "conv_xcorr"), _z(at, "conv_trueconv")
    np.testing.assert_allclose(xcorr, _torch_map(at, preset("sobel_x")), atol=1e-12)
    # Sobel x rotated by 180° is −Sobel x: with b = 0 the true convolution is the negated map
    np.testing.assert_allclose(conv, -xcorr, atol=1e-12)
    at.selectbox(key=PRESET).set_value("sobel_y").run()
    _ok(at)
    assert not at.info
    np.testing.assert_allclose(_z(at, "conv_trueconv"),
                               _torch_map(at, torch.flip(preset("sobel_y"), dims=(0, 1))), atol=1e-12)


def test_relu_tab_counts_the_zeros():
    at = _page()
    at.number_input(key="conv_bias").set_value(-0.5).run()
    _open_tab(at, 2)
    z = _torch_map(at, preset("sobel_x"), -0.5)
    np.testing.assert_allclose(_z(at, "conv_relu_after"), np.maximum(z, 0), atol=1e-12)
    zeros = next(m for m in at.metric if "zero" in m.label)
    assert zeros.value == f"{(np.maximum(z, 0) == 0).mean():.1%}"


def test_switching_language_keeps_the_kernel_and_the_open_tab():
    at = _page()
    at.selectbox(key=PRESET).set_value("blur").run()
    _open_tab(at, 2)
    before = _z(at, "conv_relu_after").copy()
    at.session_state["lang"] = "zh"
    at.run()
    _ok(at)
    assert at.selectbox(key=PRESET).value == "blur"
    assert at.title[0].value.startswith("卷积")
    np.testing.assert_array_equal(_z(at, "conv_relu_after"), before)  # still the ReLU tab, same map
    assert "⟦" not in _all_text(at)


# ----- code, torch check, what next -------------------------------------------------------------


def test_torch_checks_pass_and_pooling_is_next():
    at = _page()
    at.slider(key="conv_stride").set_value(2).run()
    at.slider(key="conv_padding").set_value(1).run()
    _ok(at)
    deltas = [float(m.value) for m in at.metric if "F.conv2d" in m.label]
    assert len(deltas) == 2 and max(deltas) <= 1e-12
    assert len(at.success) == 2
    assert any(e.label == "Show the code" for e in at.expander)
    code = "\n".join(c.value for c in at.code)
    for fn in ("def conv2d(", "def conv2d_loops(", "def conv_cell("):
        assert fn in code
    # st.page_link("views/pooling.py") resolves to the page's url_path
    assert [el.proto.page for el in at.get("page_link")] == ["pooling"]
