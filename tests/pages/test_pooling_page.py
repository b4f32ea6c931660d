"""The pooling page under AppTest: its controls and its numbers against torch (in English), a
Chinese smoke test, and the Chinese text's spacing."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from streamlit.testing.v1 import AppTest

from engine.models.cnn import load_default
from engine.ops.pooling import EDGE_KERNELS, STAGES, feature_map, translation_demo
from tests.pages.apptest import open_page, plotly_array

CELL = re.compile(r"\\mathrm\{out\}\[(\d+),(\d+)\]")
RESULT = re.compile(r"&= (-?\d+\.\d+) \\end\{aligned\}")


def _page(lang: str = "en") -> AppTest:
    return open_page("views/pooling.py", lang)


def _texts(at: AppTest) -> list[str]:
    parts = []
    for kind in ("title", "header", "subheader", "markdown", "caption", "latex", "info", "warning",
                 "success", "error"):
        parts += [str(e.value) for e in getattr(at, kind)]
    parts += [s.label for s in at.slider] + [m.label for m in at.get("metric")]
    parts += [str(c) for df in at.dataframe for c in df.value.columns]
    for chart in at.get("plotly_chart"):
        spec = json.loads(chart.proto.spec)
        parts.append(str((spec["layout"].get("title") or {}).get("text", "")))
        parts += [a.get("text", "") for a in spec["layout"].get("annotations", [])]
    return parts


def _chart(at: AppTest, title_start: str) -> dict:
    for chart in at.get("plotly_chart"):
        spec = json.loads(chart.proto.spec)
        if str((spec["layout"].get("title") or {}).get("text", "")).startswith(title_start):
            return spec
    raise AssertionError(f"no chart titled {title_start!r}")


_array = plotly_array


def _digit(at: AppTest) -> torch.Tensor:
    return torch.as_tensor(np.asarray(at.session_state["nml_digit"]["image"]), dtype=torch.float64)


def _kernel() -> tuple[torch.Tensor, float]:
    """The page's default filter: conv1 filter 0 of the checkpoint, else Sobel x."""
    model = load_default()
    if model is None:
        return EDGE_KERNELS["sobel_x"], 0.0
    return model.conv1.weight.detach()[0, 0], float(model.conv1.bias.detach()[0])


def _size_latex(at: AppTest) -> str:
    return next(e.value for e in at.latex if "left\\lfloor" in e.value and "=" in e.value.split("+ 1")[-1])


def _cell_latex(at: AppTest) -> str:
    return next(e.value for e in at.latex if "aligned" in e.value)


def test_page_runs_without_missing_text():
    at = _page()
    texts = _texts(at)
    assert not [s for s in texts if "⟦" in s]
    assert at.title[0].value == "Pooling: keep the strongest response, shrink the map"
    # every control the page promises is there, and the size formula uses the live numbers
    keys = {s.key for s in at.slider}
    assert {"pool_size", "pool_stride", "pool_i", "pool_j", "pool_dx", "pool_dy"} <= keys
    assert r"\frac{28 - 2}{2}" in _size_latex(at) and _size_latex(at).endswith("= 14\n$$")
    assert len(at.get("page_link")) == 2


@pytest.mark.parametrize("k, s, gt, floor", [
    # 28 − 3 = 25 = 8·3 + 1: one row and column left over
    (3, 3, None, "the last row and the last column of the 28×28 map"),
    # stride 3 > window 2 skips one; 26 = 8·3 + 2 leaves two over
    (2, 3, "one row and one column are never looked at", "the last 2 rows and the last 2 columns"),
    # stride 4 > window 2 skips two; 26 = 6·4 + 2 leaves two over
    (2, 4, "2 rows and 2 columns are never looked at", "the last 2 rows and the last 2 columns"),
])
def test_skipped_and_dropped_rows_are_counted_in_proper_english(k, s, gt, floor):
    at = _page()
    at.slider(key="pool_size").set_value(k).run()
    at.slider(key="pool_stride").set_value(s).run()
    assert not at.exception
    texts = _texts(at)
    assert not [t for t in texts if "(s)" in t]
    if gt:
        assert any(gt in i.value for i in at.info)
    assert any(floor in c.value for c in at.caption)


CJK = "[\u3400-\u4dbf\u4e00-\u9fff]"


@pytest.mark.parametrize("k, s", [(2, 2), (3, 3), (2, 3)])
def test_chinese_text_has_no_stray_spaces_or_missing_ones(k, s):
    """No space between two Chinese characters (a line break inside a paragraph makes one), and a
    space between Chinese and an inline number or Latin word ("卷积核 0 计算", not "卷积核 0计算")."""
    at = _page("zh")
    at.slider(key="pool_size").set_value(k).run()
    at.slider(key="pool_stride").set_value(s).run()
    assert not at.exception
    texts = [t for t in _texts(at) if re.search(CJK, t)]
    # inline code, latex and markdown links are not prose
    prose = [re.sub(r"`[^`]*`|\$[^$]*\$|\]\([^)]*\)", "", t) for t in texts]
    assert not [t for t in prose if re.search(CJK + " +" + CJK, t)]
    assert not [t for t in prose if re.search(CJK + "[A-Za-z0-9]|[A-Za-z0-9]" + CJK, t)]


def test_chinese_smoke_with_the_feature_map_source():
    at = _page("zh")
    at.button_group(key="pool_source").set_value("feature").run()
    at.button_group(key="pool_mode").set_value("avg").run()
    assert not at.exception
    assert at.title[0].value == "池化：保留最强的响应，缩小特征图"
    assert not [s for s in _texts(at) if "⟦" in s]
    assert r"\frac{26 - 2}{2}" in _size_latex(at)


def test_falls_back_to_a_sobel_kernel_without_the_checkpoint(monkeypatch, tmp_path):
    import engine.models.cnn

    monkeypatch.setattr(engine.models.cnn, "CHECKPOINT", tmp_path / "absent.pt")
    monkeypatch.setattr(engine.models.cnn, "load_default", lambda *a, **k: None)
    at = _page()
    assert not at.exception
    assert "pool_filter" not in {s.key for s in at.slider}
    assert any("Sobel edge kernel" in c.value for c in at.caption)
    at.button_group(key="pool_source").set_value("feature").run()
    at.button_group(key="pool_edge").set_value("sobel_y").run()
    assert not at.exception
    x = feature_map(_digit(at), EDGE_KERNELS["sobel_y"].to(torch.float64), 0.0)
    z = _array(_chart(at, "Output")["data"][0]["z"])
    np.testing.assert_allclose(z, F.max_pool2d(x[None, None], 2, 2)[0, 0].numpy(), atol=1e-5)


def test_window_size_changes_size_stride_and_figures():
    at = _page()
    before = _chart(at, "Output")
    assert before["layout"]["title"]["text"].endswith("14×14")
    at.slider(key="pool_size").set_value(3).run()
    assert not at.exception
    # changing the window resets the stride to it: ⌊(28 − 3)/3⌋ + 1 = 9
    assert at.slider(key="pool_stride").value == 3
    assert r"\frac{28 - 3}{3}" in _size_latex(at) and "= 9\n$$" in _size_latex(at)
    after = _chart(at, "Output")
    assert after["layout"]["title"]["text"].endswith("9×9")
    assert _array(after["data"][0]["z"]).shape == (9, 9)
    assert any("9×9" in m.value for m in at.markdown)
    # the stride can then be changed on its own: ⌊(28 − 3)/1⌋ + 1 = 26
    at.slider(key="pool_stride").set_value(1).run()
    assert "= 26\n$$" in _size_latex(at)
    assert any("overlap" in i.value for i in at.info)


def test_mode_switch_changes_output_and_formula():
    at = _page()
    z_max = _array(_chart(at, "Output")["data"][0]["z"])
    assert r"\max(" in _cell_latex(at)
    at.button_group(key="pool_mode").set_value("avg").run()
    assert not at.exception
    z_avg = _array(_chart(at, "Output")["data"][0]["z"])
    assert z_avg.shape == z_max.shape and not np.allclose(z_avg, z_max)
    assert r"\tfrac{1}{4}" in _cell_latex(at)
    # average pooling has no argmax: the input figure carries no markers
    assert [d["type"] for d in _chart(at, "Input")["data"]] == ["heatmap"]
    x = _digit(at)
    np.testing.assert_allclose(z_avg, F.avg_pool2d(x[None, None], 2, 2)[0, 0].numpy(), atol=1e-6)


@pytest.mark.parametrize("k,s,source", [(2, 2, "digit"), (3, 2, "digit"), (4, 1, "digit"),
                                        (2, 2, "feature"), (3, 3, "feature")])
def test_shown_window_max_equals_torch(k, s, source):
    at = _page()
    at.button_group(key="pool_source").set_value(source).run()
    at.slider(key="pool_size").set_value(k).run()
    at.slider(key="pool_stride").set_value(s).run()
    assert not at.exception
    x = _digit(at)
    if source == "feature":
        w, b = _kernel()
        x = feature_map(x, w.to(torch.float64), b)
    ref, idx = F.max_pool2d(x[None, None], k, s, return_indices=True)
    ref, idx = ref[0, 0], idx[0, 0]
    latex = _cell_latex(at)
    i, j = map(int, CELL.search(latex).groups())
    shown = float(RESULT.search(latex).group(1))
    assert abs(shown - float(ref[i, j])) <= 0.005 + 1e-9
    # the listed window values are the real window, and their max is the shown value
    listed = [float(v) for v in re.findall(r"-?\d+\.\d\d", latex.split(r"\max(")[1].split(r"\,)")[0])]
    window = x[i * s : i * s + k, j * s : j * s + k].flatten().tolist()
    assert listed == pytest.approx(window, abs=0.005 + 1e-9)
    # the whole pooled map drawn equals torch's, and the red markers are torch's indices
    z = _array(_chart(at, "Output")["data"][0]["z"])
    np.testing.assert_allclose(z, ref.numpy(), atol=1e-6)
    marked = set()
    for trace in _chart(at, "Input")["data"][1:]:
        marked |= {(int(r), int(c)) for r, c in zip(_array(trace["y"]), _array(trace["x"]))}
    W = x.shape[1]
    assert marked == {(int(v) // W, int(v) % W) for v in idx.flatten()}


def test_picked_cell_follows_the_sliders():
    at = _page()
    at.slider(key="pool_i").set_value(3).run()
    at.slider(key="pool_j").set_value(10).run()
    latex = _cell_latex(at)
    assert CELL.search(latex).groups() == ("3", "10")
    x = _digit(at)
    assert float(RESULT.search(latex).group(1)) == pytest.approx(
        float(F.max_pool2d(x[None, None], 2, 2)[0, 0, 3, 10]), abs=0.005 + 1e-9)
    spec = _chart(at, "Output")
    box = spec["layout"]["shapes"][0]
    assert (box["x0"], box["y0"]) == (9.5, 2.5)
    # a manual pick stays put on other changes (the shift demo) instead of jumping back
    at.slider(key="pool_dx").set_value(-1).run()
    assert CELL.search(_cell_latex(at)).groups() == ("3", "10")
    # a new window size gives new cells: the page picks a telling one again
    at.slider(key="pool_size").set_value(3).run()
    i, j = map(int, CELL.search(_cell_latex(at)).groups())
    assert 0 <= i < 9 and 0 <= j < 9


def _table_rows(at: AppTest) -> list[list[str]]:
    frame = at.dataframe[0].value
    return [[str(v) for v in row] for row in frame.itertuples(index=False)]


@pytest.mark.parametrize("dx,dy,k,s", [(1, 0, 2, 2), (-2, 1, 3, 2), (2, 0, 2, 2), (0, 0, 2, 2)])
def test_translation_table_matches_the_engine(dx, dy, k, s):
    at = _page()
    at.slider(key="pool_size").set_value(k).run()
    at.slider(key="pool_stride").set_value(s).run()
    at.slider(key="pool_dx").set_value(dx).run()
    at.slider(key="pool_dy").set_value(dy).run()
    assert not at.exception
    w, b = _kernel()
    demo = translation_demo(_digit(at).float(), w, b, dy, dx, k, s)
    rows = _table_rows(at)
    assert len(rows) == len(STAGES)
    for row, name in zip(rows, STAGES):
        c = demo.change[name]
        assert row[1] == f"{c.shape[0]}×{c.shape[1]}"
        assert row[2] == f"{c.changed} / {c.active}"
        assert row[3] == f"{100 * c.changed_fraction:.1f} %"
        assert row[4] == f"{c.mean_abs_delta:.4f}"
        assert row[5] == f"{100 * c.relative_change:.1f} %"
    text = " ".join(m.value for m in at.markdown)
    if (dx, dy) == (0, 0):
        assert "With no shift every map is identical" in text
        assert all(row[2].startswith("0 /") for row in rows)
        return
    conv, p1 = (100 * demo.change[n].relative_change for n in ("conv", "pool1"))
    # the verdict is worded from the numbers, whichever way they go
    word = ("pooling **reduced**" if p1 < 0.9 * conv else "did **not** help" if p1 > 1.1 * conv
            else "changed little")
    assert word in text and f"{conv:.1f} %" in text and f"{p1:.1f} %" in text
    if dx % s == 0 and dy % s == 0:
        assert any("exactly the original pooled map moved" in w.value for w in at.warning)
    # side-by-side maps: original | shifted | |Δ| for each stage, in one trace each
    z = _array(_chart(at, "conv + ReLU")["data"][0]["z"])
    np.testing.assert_allclose(z[:, :26], demo.original["conv"].numpy(), atol=1e-6)


def test_torch_checks_pass_on_the_current_input():
    at = _page()
    at.slider(key="pool_size").set_value(3).run()
    at.slider(key="pool_stride").set_value(2).run()
    metrics = at.get("metric")
    assert len(metrics) == 3
    assert all(float(m.value) <= 1e-6 for m in metrics)
    assert len(at.success) == 3 and not at.error
