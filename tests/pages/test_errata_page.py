"""The formula errata page under AppTest (English; one Chinese smoke test): every erratum's numbers recomputed here
independently with torch (attention both ways, PE sin vs cos, convolution and pooling with and
without a window, 32 maps vs their sum, the FFN's outer activation, the encoder's output shape, the
attention flow), the LSTM ablations, the checks against PyTorch, the seed control, and the links."""

from __future__ import annotations

import ast
import json
import math
import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from streamlit.testing.v1 import AppTest

import lessons
from tests.pages.apptest import ROOT, open_page, plotly_array

PAGE = "views/errata/page.py"
TOPICS = ("attention", "positional", "conv", "kernels", "pooling", "lstm", "ffn", "encoder", "flow")
CJK = re.compile(r"[\u4e00-\u9fff]")


def _page(lang: str = "en") -> AppTest:
    return open_page(PAGE, lang)


@pytest.fixture(scope="module")
def en() -> AppTest:
    return _page("en")


def _charts(at: AppTest) -> dict[str, dict]:
    """Figures by title."""
    out = {}
    for chart in at.get("plotly_chart"):
        spec = json.loads(chart.proto.spec)
        out[(spec["layout"].get("title") or {}).get("text", "")] = spec
    return out


def _z(spec: dict) -> np.ndarray:
    return plotly_array(spec["data"][0]["z"])


def _chart(at: AppTest, start: str) -> dict:
    return next(spec for title, spec in _charts(at).items() if title.startswith(start))


def _texts(at: AppTest) -> list[str]:
    parts = []
    for kind in ("title", "header", "subheader", "markdown", "caption", "latex", "info", "warning", "success",
                 "error"):
        parts += [str(e.value) for e in getattr(at, kind)]
    parts += [m.label for m in at.get("metric")] + [w.label for w in at.number_input]
    parts += [str(c) for df in at.dataframe for c in df.value.columns]
    parts += [str(v) for df in at.dataframe for v in df.value.to_numpy().ravel()]
    parts += list(_charts(at))
    return parts


def _gen(seed: int, salt: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed * 101 + salt)


def _qkv(seed: int):
    g = _gen(seed, 1)
    return tuple(torch.randn(4, 4, generator=g, dtype=torch.float64) for _ in range(3))


def _table(at: AppTest, column: str):
    return next(df.value for df in at.dataframe if column in df.value.columns)


def _every_erratum_framed(at: AppTest) -> list[str]:
    """The nine numbered frames, each with its wrong (✗) and right (✓) form, the glance table, the
    one torch check; returns the numbered subheaders."""
    assert not [s for s in _texts(at) if "⟦" in s]
    numbered = [s.value for s in at.subheader if re.match(r"\d\. ", s.value)]
    assert [int(s.split(".")[0]) for s in numbered] == list(range(1, 10))
    assert len(_table(at, "#")) == 9  # the glance table: one row per erratum
    # each erratum: the wrong and the right form typeset, marked ✗ and ✓
    assert sum("✗" in m.value for m in at.markdown) == 9 and sum("✓" in m.value for m in at.markdown) == 9
    assert not at.error and not at.warning and len(at.success) == 1
    return numbered


def test_page_runs_with_every_erratum(en):
    _every_erratum_framed(en)
    assert en.title[0].value == "Formula errata: wrong forms that circulate, computed"


def test_chinese_smoke():
    """Chinese: every frame, titled in Chinese, and the Chinese example sentences (7 and 3 tokens)
    through the encoder."""
    zh = _page("zh")
    numbered = _every_erratum_framed(zh)
    assert zh.title[0].value == "公式勘误：流传的错误写法，算给你看"
    assert all(CJK.search(s) for s in numbered)
    table = _table(zh, "编码器输出")
    assert list(table["编码器输出"]) == ["7 × 16", "3 × 16"]
    assert _z(_chart(zh, "编码器输出 Y")).shape == (7, 16)


def test_attention_both_ways_equals_torch(en):
    Q, K, V = _qkv(0)
    right = F.scaled_dot_product_attention(Q, K, V)
    wrong = torch.softmax(Q @ K.T, dim=-1) @ V / 4
    np.testing.assert_allclose(_z(_chart(en, "softmax(QKᵀ/√dₖ)·V")), right.numpy(), atol=1e-12)
    np.testing.assert_allclose(_z(_chart(en, "(1/4)·softmax(QKᵀ)·V")), wrong.numpy(), atol=1e-12)
    delta = float((right - wrong).abs().max())
    block = next(e.value for e in en.latex if r"\max|\Delta|" in e.value)
    assert f"{delta:.4f}" in block and delta > 0.1
    # not a constant factor: right ÷ wrong varies
    ratio = (right / wrong).flatten()
    assert f"from {float(ratio.min()):.3f} to {float(ratio.max()):.3f}" in " ".join(c.value for c in en.caption)


def test_positional_sine_and_cosine_differ(en):
    g = _gen(0, 2)
    pos, i = int(torch.randint(1, 50, (1,), generator=g)), int(torch.randint(1, 3, (1,), generator=g))
    theta = pos / 10000 ** (2 * i / 16)
    block = next(e.value for e in en.latex if r"\sin\theta - \cos\theta" in e.value)
    assert f"PE[{pos},{2 * i}] &= \\sin\\theta = {math.sin(theta):.4f}" in block
    assert f"PE[{pos},{2 * i + 1}] &= \\cos\\theta = {math.cos(theta):.4f}" in block
    spec = _chart(en, f"Pair i = {i}")
    np.testing.assert_allclose(plotly_array(spec["data"][0]["y"]) if isinstance(spec["data"][0]["y"], dict)
                               else np.asarray(spec["data"][0]["y"], dtype=float),
                               [math.sin(p / 10000 ** (2 * i / 16)) for p in range(50)], atol=1e-12)


def _toy(seed: int):
    g = _gen(seed, 3)
    x = torch.randint(0, 10, (6, 6), generator=g).double()
    w = torch.randint(-2, 3, (3, 3), generator=g).double()
    if float(w.sum()) == 0:
        w[1, 1] += 1
    return x, w


def test_convolution_and_pooling_with_and_without_a_window(en):
    x, w = _toy(0)
    right = F.conv2d(x[None, None], w[None, None], torch.tensor([1.0], dtype=torch.float64))[0, 0]
    np.testing.assert_allclose(_z(_chart(en, "input x")), x.numpy())
    np.testing.assert_allclose(_z(_chart(en, "right: 4×4")), right.numpy(), atol=1e-12)
    # the wrong form literally: every pixel times Σ w, plus b, at the input's size
    np.testing.assert_allclose(_z(_chart(en, "wrong: 6×6")), (w.sum() * x + 1).numpy(), atol=1e-12)
    cell = next(e.value for e in en.latex if r"\mathrm{out}[0,0] &=" in e.value and r"\cdot" in e.value)
    assert f"= {float(right[0, 0]):g} \\\\" in cell
    # pooling: 2×2 windows, stride 2; the wrong form returns x
    np.testing.assert_allclose(_z(_chart(en, "right: max over 2×2")), F.max_pool2d(x[None, None], 2)[0, 0].numpy())
    np.testing.assert_allclose(_z(_chart(en, "wrong: max(in<sub>ij</sub>)")), x.numpy())


def test_32_maps_are_torch_conv2d_and_the_wrong_form_is_their_sum(en):
    from engine.data.digits import embedded_mnist
    from engine.models.cnn import load_default

    model = load_default()
    if model is None:
        pytest.skip("no trained CNN checkpoint")
    W, b = model.conv1.weight.detach().double(), model.conv1.bias.detach().double()
    x = torch.from_numpy(np.asarray(embedded_mnist().x_test[0], dtype=np.float64))
    maps = F.conv2d(x[None, None], W, b)[0]
    summed = _z(_chart(en, "wrong: one sum"))
    np.testing.assert_allclose(summed, maps.sum(dim=0).numpy(), atol=1e-9)
    assert summed.shape == (26, 26) and maps.shape == (32, 26, 26)
    mosaic = _z(_chart(en, "right: 32 feature maps"))
    np.testing.assert_allclose(mosaic[:26, :26], maps[0].numpy(), atol=1e-9)
    np.testing.assert_allclose(mosaic[:26, 27:53], maps[1].numpy(), atol=1e-9)


def test_lstm_without_its_cell_state_predicts_worse(en):
    table = _table(en, "loss (nats per character)")
    loss = [float(v) for v in table["loss (nats per character)"]]
    acc = [float(v.rstrip(" %")) for v in table["next character right"]]
    # the trained LSTM beats both wrong forms
    assert loss[0] < loss[1] and loss[0] < loss[2]
    assert acc[0] > acc[1] and acc[0] > acc[2]
    spec = _chart(en, "Cell state of unit")
    right, wrong = (np.asarray(trace["y"], dtype=float) for trace in spec["data"])
    # without memory c_t = i_t ⊙ g_t stays in (−1, 1); the trained cell state leaves it
    assert np.abs(wrong).max() < 1 and np.abs(right).max() > 1


def test_ffn_outer_activation(en):
    from engine.ops.transformer import BlockConfig, seeded_block_params

    P = seeded_block_params(BlockConfig(d_model=8, h=2, d_ff=32), 0).ffn
    x = torch.randn(4, 8, generator=_gen(0, 6), dtype=torch.float64)
    inner = F.linear(F.relu(F.linear(x, P.W_1, P.b_1)), P.W_2)
    np.testing.assert_allclose(_z(_chart(en, "right: W₂·ReLU")), (inner + P.b_2).numpy(), atol=1e-12)
    np.testing.assert_allclose(_z(_chart(en, "wrong: ReLU(W₂")), (F.relu(inner) + P.b_2).numpy(), atol=1e-12)
    metrics = {m.label: m.value for m in en.get("metric")}
    assert metrics["entries of W₂·act(·) below 0"] == f"{int((inner < 0).sum())} / 32"
    assert float(metrics["min of wrong − b₂"]) >= 0


def test_encoder_outputs_one_vector_per_token(en):
    table = _table(en, "encoder output")
    assert list(table["encoder output"]) == ["6 × 16", "3 × 16"]
    assert all(float(d) > 0.1 for d in table.iloc[:, 3])  # no two output rows equal
    assert _z(_chart(en, "Encoder output Y")).shape == (6, 16)


def test_attention_flow(en):
    """The chart's faults, on the page's own Q, K, V (6 × 64): its weights softmax(QKᵀ) without
    ÷√d_k on the left, attention's on the right; V replaced moves no weight; the saturation table."""
    g = _gen(0, 9)
    Q, K, V, V2 = (torch.randn(6, 64, generator=g, dtype=torch.float64) for _ in range(4))
    right = torch.softmax(Q @ K.T / 8, dim=-1)
    np.testing.assert_allclose(_z(_chart(en, "right: A = softmax")), right.numpy(), atol=1e-12)
    np.testing.assert_allclose(_z(_chart(en, "the chart: A′ = softmax(QKᵀ)")),
                               torch.softmax(Q @ K.T, dim=-1).numpy(), atol=1e-12)
    metrics = {m.label: m.value for m in en.get("metric")}
    assert float(metrics["weights after V is replaced by another V: max |ΔA|"]) == 0
    moved = (F.scaled_dot_product_attention(Q, K, V2) - F.scaled_dot_product_attention(Q, K, V)).abs().max()
    assert float(metrics["the output after the same change: max |ΔY|"]) == pytest.approx(float(moved), abs=1e-3)
    table = _table(en, "Property")
    scaled, unscaled = table["with ÷√dₖ (right)"].astype(float), table["without (the chart)"].astype(float)
    assert unscaled[0] == pytest.approx(8 * scaled[0], rel=1e-3)  # the spread, √64 times wider
    assert unscaled[1] > scaled[1] and unscaled[2] < scaled[2] and unscaled[3] < scaled[3]
    assert scaled[1] == pytest.approx(float(right.max(dim=-1).values.mean()), abs=1e-3)


def test_right_forms_equal_pytorch(en):
    checks = _table(en, "PyTorch reference")
    assert len(checks) == 7
    assert all(float(v) < 1e-9 for v in checks["max |Δ|"])
    assert "PyTorch" in en.success[0].value


def test_seed_redraws_the_inputs():
    at = _page()
    before = _z(_chart(at, "softmax(QKᵀ/√dₖ)·V"))
    at.number_input(key="er_seed").set_value(7).run()
    assert not at.exception
    Q, K, V = _qkv(7)
    after = _z(_chart(at, "softmax(QKᵀ/√dₖ)·V"))
    np.testing.assert_allclose(after, F.scaled_dot_product_attention(Q, K, V).numpy(), atol=1e-12)
    assert not np.allclose(before, after)
    x, w = _toy(7)
    np.testing.assert_allclose(_z(_chart(at, "input x")), x.numpy())
    assert "#7" in " ".join(c.value for c in at.caption)  # another digit
    assert len(at.success) == 1
    # a seed past the widget's bound is refused (the widget falls back to its default)
    at.number_input(key="er_seed").set_value(10**6).run()
    assert not at.exception and not at.error and 0 <= at.number_input(key="er_seed").value <= 9999
    assert len(at.success) == 1


def test_every_erratum_links_to_its_lesson(en):
    links = [c.value[2:] for c in en.caption if c.value.startswith("→ ")] + [p.proto.label for p in en.get("page_link")]
    assert len(links) == 10  # nine lessons and the playground
    # the linked pages exist (the page's package: page.py and its parts)
    source = "\n".join(f.read_text(encoding="utf-8") for f in sorted((ROOT / PAGE).parent.glob("*.py")))
    pages = {node.value for node in ast.walk(ast.parse(source))
             if isinstance(node, ast.Constant) and isinstance(node.value, str) and re.fullmatch(r"views/[\w/]+\.py", node.value)}
    assert {"views/attention/page.py", "views/positional/page.py", "views/conv.py", "views/pooling.py", "views/lstm/page.py",
            "views/transformer/page.py", "views/playground/page.py"} <= pages
    assert all((ROOT / p).exists() for p in pages)


@pytest.mark.parametrize("wrong, right", [("fig_att_wrong", "fig_att_right"), ("fig_summed", "fig_maps"),
                                          ("fig_ffn_wrong", "fig_ffn_right"), ("fig_flow_wrong", "fig_flow_right")])
def test_each_forms_figure_sits_under_its_own_heading(en, wrong, right):
    """Every erratum shows "✗ wrong" on the left and "✓ right" on the right: a pair of figures comes
    in the same order (document order is left column first)."""
    titles = list(_charts(en))

    def position(key: str) -> int:
        # the title's template with each {number} left open
        pattern = re.sub(r"\\\{\w+\\\}", ".*", re.escape(lessons.text("errata", key, "en")))
        return next(i for i, title in enumerate(titles) if re.fullmatch(pattern, title))

    assert position(wrong) < position(right), titles
