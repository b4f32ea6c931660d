"""The multi-head attention page under AppTest, in English (one Chinese smoke test, and the language
switch): every head's map and the
concatenation and output equal multi-head attention computed here (plain torch, from seeded
weights drawn independently), the shapes table, one head written out, the parameter count against
nn.MultiheadAttention, the torch check, and bad input (non-divisible heads, empty, too long, one
token)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from streamlit.testing.v1 import AppTest
from torch import nn

from engine.data.tokens import embed, tokenize
from tests.pages.apptest import open_page, plotly_array

PAGE = "views/multihead.py"
EN = "the cat sat on the mat"
ZH = "猫坐在垫子上。"


def _page(lang: str = "en", **state) -> AppTest:
    return open_page(PAGE, lang, **state)


def _ok(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


@pytest.fixture(scope="module")
def default_page() -> AppTest:
    return _page()


def _texts(at: AppTest) -> list[str]:
    parts = []
    for kind in ("title", "header", "subheader", "markdown", "caption", "latex", "info", "warning",
                 "success", "error"):
        parts += [str(e.value) for e in getattr(at, kind)]
    parts += [w.label for w in [*at.slider, *at.toggle, *at.text_input, *at.number_input, *at.selectbox]]
    parts += [m.label for m in at.get("metric")]
    parts += [str(c) for df in at.dataframe for c in df.value.columns]
    parts += [str(v) for df in at.dataframe for v in df.value.to_numpy().ravel()]
    for chart in at.get("plotly_chart"):
        parts.append(str((json.loads(chart.proto.spec)["layout"].get("title") or {}).get("text", "")))
    return parts


def _chart(at: AppTest, key: str) -> dict:
    charts = [c for c in at.get("plotly_chart") if c.proto.id.endswith(f"-{key}")]
    assert len(charts) == 1, (key, [c.proto.id for c in at.get("plotly_chart")])
    return json.loads(charts[0].proto.spec)


def _z(at: AppTest, key: str) -> np.ndarray:
    return plotly_array(_chart(at, key)["data"][0]["z"])


def _latex(at: AppTest, needle: str) -> str:
    found = [e.value for e in at.latex if needle in e.value]
    assert len(found) == 1, (needle, [e.value[:80] for e in at.latex])
    return found[0]


# ----- multi-head attention, independently of the page -------------------------------------------


def _weights(E: int, seed: int):
    """The page's layer drawn here: in_proj ~ U(±√(6/(E + 3E))), out_proj ~ U(±1/√E), in that order
    from torch.Generator(seed); both biases 0."""
    gen = torch.Generator().manual_seed(seed)
    W_in = (2 * torch.rand(3 * E, E, generator=gen, dtype=torch.float64) - 1) * math.sqrt(6 / (4 * E))
    W_out = (2 * torch.rand(E, E, generator=gen, dtype=torch.float64) - 1) / math.sqrt(E)
    return W_in, W_out


def _mha(text: str, E: int = 8, h: int = 2, seed: int = 0, causal: bool = False):
    """Per-head weights (h, T, T), per-head outputs (h, T, d_k), concat (T, E), output (T, E),
    written with plain torch ops, one head at a time."""
    X = embed(tokenize(text)[:12], E, seed)
    W_in, W_out = _weights(E, seed)
    Q, K, V = (X @ W.T for W in W_in.chunk(3))
    d_k, T = E // h, X.shape[0]
    A, heads = [], []
    for i in range(h):
        cols = slice(i * d_k, (i + 1) * d_k)
        S = Q[:, cols] @ K[:, cols].T / math.sqrt(d_k)
        if causal:
            S = S.masked_fill(torch.ones(T, T, dtype=torch.bool).triu(1), -math.inf)
        A.append(torch.softmax(S, -1))
        heads.append(A[-1] @ V[:, cols])
    concat = torch.cat(heads, dim=1)
    return torch.stack(A).numpy(), torch.stack(heads).numpy(), concat.numpy(), (concat @ W_out.T).numpy(), W_out


# ----- the page as it opens; one Chinese smoke test ----------------------------------------------

FIGURES = {"mh_fig_head_0", "mh_fig_head_1", "mh_fig_one_head", "mh_fig_concat", "mh_fig_W_O", "mh_fig_out"}


def test_page_runs_without_missing_text(default_page):
    at = default_page
    assert not [s for s in _texts(at) if "⟦" in s]
    assert at.title[0].value == "Multi-head attention: several attentions side by side"
    assert at.text_input(key="mh_text").value == EN
    assert not at.error and not at.warning
    assert {c.proto.id.rsplit("-", 1)[-1] for c in at.get("plotly_chart")} == FIGURES


def test_chinese_smoke():
    at = _page("zh")
    assert not [s for s in _texts(at) if "⟦" in s]
    assert at.title[0].value == "多头注意力：多个注意力并排运行"
    assert at.text_input(key="mh_text").value == ZH
    assert not at.error and not at.warning
    assert {c.proto.id.rsplit("-", 1)[-1] for c in at.get("plotly_chart")} == FIGURES
    assert _chart(at, "mh_fig_head_0")["layout"]["xaxis"]["ticktext"] == list(ZH)
    assert r"\text{参数量}" in _latex(at, "underbrace")
    assert [m.label for m in at.get("metric")] == ["与 nn.MultiheadAttention（输出） 的最大 |Δ|",
                                                   "与 nn.MultiheadAttention（每个头的权重） 的最大 |Δ|"]
    # the messages for bad input speak Chinese too: heads that do not divide E, then no sentence
    at.slider(key="mh_E").set_value(10).run()
    at.slider(key="mh_h").set_value(3).run()
    _ok(at)
    assert len(at.error) == 1 and "3 个头" in at.error[0].value and "1, 2, 5。" in at.error[0].value
    at.slider(key="mh_h").set_value(2).run()
    at.text_input(key="mh_text").input("  ").run()
    _ok(at)
    assert not at.error and len(at.info) == 1 and "空" in at.info[0].value and not at.get("plotly_chart")


# ----- the numbers ------------------------------------------------------------------------------


def test_heads_concat_and_output_equal_multi_head_attention_computed_here(default_page):
    at = default_page
    A, heads, concat, out, W_out = _mha(EN)
    for hd in range(2):
        np.testing.assert_allclose(_z(at, f"mh_fig_head_{hd}"), A[hd], atol=1e-12)
    np.testing.assert_allclose(_z(at, "mh_fig_concat"), concat, atol=1e-12)
    np.testing.assert_allclose(_z(at, "mh_fig_W_O"), W_out.numpy(), atol=1e-12)
    np.testing.assert_allclose(_z(at, "mh_fig_out"), out, atol=1e-12)
    assert not np.allclose(A[0], A[1])
    spec = _chart(at, "mh_fig_head_1")
    assert spec["layout"]["xaxis"]["ticktext"] == tokenize(EN) and spec["layout"]["xaxis"]["tickvals"] == list(range(6))
    # the head boundary drawn on Concat between columns 4 and 5 (d_k = 4)
    lines = [s for s in _chart(at, "mh_fig_concat")["layout"]["shapes"] if s["type"] == "line"]
    assert [line["x0"] for line in lines] == [3.5]


def test_shapes_table_follows_the_computation(default_page):
    frame = next(df.value for df in default_page.dataframe if len(df.value) == 7)
    assert frame.iloc[:, 2].tolist() == ["(B, T, E)", "(B, T, E)", "(B, h, T, d_k)", "(B, h, T, T)",
                                         "(B, h, T, d_k)", "(B, T, E)", "(B, T, E)"]
    assert frame.iloc[:, 3].tolist() == ["(1, 6, 8)", "(1, 6, 8)", "(1, 2, 6, 4)", "(1, 2, 6, 6)", "(1, 2, 6, 4)",
                                         "(1, 6, 8)", "(1, 6, 8)"]


def test_one_head_written_out(default_page):
    at = default_page
    A, heads, concat, out, W_out = _mha(EN)
    X = embed(tokenize(EN), 8, 0)
    W_in, _ = _weights(8, 0)
    Q, K, _ = (X @ W.T for W in W_in.chunk(3))
    i, j = 5, 0  # the last query, the first key, head 1
    score = float(Q[i, :4] @ K[j, :4])
    dot = _latex(at, r"S^{(1)}_{6,1} &= \textstyle\sum_{d=1}^{4} q^{(1)}_{6,d}\,k^{(1)}_{1,d}")
    assert f"= {score:.4f}" in dot
    assert f"= {score / 2:.4f}" in _latex(at, r"S'_{6,1} &=")
    assert f"= {A[0, i, j]:.4f}" in _latex(at, r"a_{6,1} &= \frac")
    assert f"&= {heads[0, i, 0]:.4f}" in _latex(at, r"o^{(1)}_{6,1} &=")
    # the first output number of token 6: Concat row 6 against row 1 of W_O, plus b_O = 0
    y = _latex(at, r"Y_{6,1} &=")
    assert r"(W_O)_{1,d} + (b_O)_{1}" in y and f"&= {out[i, 0]:.4f}" in y and r"\dots" not in y


def test_choosing_head_query_key_and_sizes():
    at = _page()
    at.slider(key="mh_E").set_value(12).run()
    at.slider(key="mh_h").set_value(3).run()
    at.number_input(key="mh_seed").set_value(5).run()
    _ok(at)
    A, heads, concat, out, _ = _mha(EN, 12, 3, 5)
    for hd in range(3):
        np.testing.assert_allclose(_z(at, f"mh_fig_head_{hd}"), A[hd], atol=1e-12)
    np.testing.assert_allclose(_z(at, "mh_fig_out"), out, atol=1e-12)
    at.selectbox(key="mh_head").set_value(2).run()
    at.selectbox(key="mh_i").set_value(1).run()
    at.selectbox(key="mh_j").set_value(3).run()
    _ok(at)
    assert f"= {A[2, 1, 3]:.4f}" in _latex(at, r"a_{2,4} &= \frac")
    assert r"\sqrt{4}" in _latex(at, r"S'_{2,4} &=")
    np.testing.assert_allclose(_z(at, "mh_fig_one_head"), A[2], atol=1e-12)
    # fewer heads: the chosen head is clamped into range
    at.slider(key="mh_h").set_value(2).run()
    _ok(at)
    assert at.selectbox(key="mh_head").value == 1


def test_causal_mask_in_every_head():
    at = _page(mh_causal=True)
    A, heads, concat, out, _ = _mha(EN, causal=True)
    above = np.triu(np.ones((6, 6), dtype=bool), 1)
    for hd in range(2):
        z = _z(at, f"mh_fig_head_{hd}")
        assert np.isnan(z[above]).all()
        np.testing.assert_allclose(z[~above], A[hd][~above], atol=1e-12)
    np.testing.assert_allclose(_z(at, "mh_fig_out"), out, atol=1e-12)
    assert len(at.success) == 2


# ----- parameters and torch ----------------------------------------------------------------------


@pytest.mark.parametrize("E, h", [(8, 2), (12, 3), (32, 8)])
def test_parameter_count_equals_torch(E, h):
    at = _page(mh_E=E, mh_h=h)
    total = sum(p.numel() for p in nn.MultiheadAttention(E, h).parameters())
    assert total == 4 * E * E + 4 * E
    latex = _latex(at, "underbrace")
    assert rf"4\cdot {E}^2 + 4\cdot {E} = {4 * E * E} + {4 * E} = " in latex
    assert f"{total:,}".replace(",", "{,}") in latex
    frame = next(df.value for df in at.dataframe if len(df.value) == 4)
    assert frame.iloc[:, 3].tolist() == frame.iloc[:, 4].tolist() == [3 * E * E, 3 * E, E * E, E]
    assert frame.iloc[:, 0].tolist() == ["in_proj_weight", "in_proj_bias", "out_proj.weight", "out_proj.bias"]
    assert any(f"**{total:,}**" in m.value and "equal" in m.value for m in at.markdown)


def test_torch_check_passes_for_output_and_weights(default_page):
    metrics = {m.label: float(m.value) for m in default_page.get("metric")}
    assert metrics["max |Δ| vs nn.MultiheadAttention (output)"] < 1e-6
    assert metrics["max |Δ| vs nn.MultiheadAttention (per-head weights)"] < 1e-6
    assert len(default_page.success) == 2


# ----- bad input ----------------------------------------------------------------------------------


def test_heads_that_do_not_divide_E():
    at = _page(mh_E=10, mh_h=3)
    assert len(at.error) == 1
    message = at.error[0].value
    # the h this page offers (up to 8) that divide 10
    assert "E = 10" in message and "1, 2, 5." in message and "3 heads" in message
    assert not at.get("plotly_chart")
    at.slider(key="mh_h").set_value(5).run()
    _ok(at)
    assert not at.error and len(at.get("plotly_chart")) == 5 + 4


def test_empty_sentence_gives_a_friendly_message():
    at = _page(mh_text="  ")
    assert not at.error and len(at.info) == 1 and "empty" in at.info[0].value
    assert not at.get("plotly_chart")


def test_long_sentence_is_cut_with_a_note():
    at = _page(mh_text="猫" * 40)
    assert len(at.warning) == 1 and "40" in at.warning[0].value and "12" in at.warning[0].value
    assert _z(at, "mh_fig_head_0").shape == (12, 12)
    assert len(at.success) == 2


def test_one_token():
    at = _page(mh_text="hello", mh_h=4)
    assert not at.error and not at.warning
    for hd in range(4):
        np.testing.assert_array_equal(_z(at, f"mh_fig_head_{hd}"), [[1.0]])
    A, heads, concat, out, _ = _mha("hello", 8, 4)
    np.testing.assert_allclose(_z(at, "mh_fig_out"), out, atol=1e-12)
    assert len(at.success) == 2


# ----- state across runs ------------------------------------------------------------------------


def test_language_switch_swaps_the_example_but_keeps_a_typed_sentence():
    at = _page()
    at.session_state["lang"] = "zh"
    at.run()
    _ok(at)
    assert at.text_input(key="mh_text").value == ZH
    assert _chart(at, "mh_fig_head_0")["layout"]["xaxis"]["ticktext"] == list(ZH)
    at.text_input(key="mh_text").input("a b c").run()
    at.session_state["lang"] = "en"
    at.run()
    _ok(at)
    assert at.text_input(key="mh_text").value == "a b c"


def test_picks_survive_a_heads_count_that_does_not_divide():
    at = _page()
    at.selectbox(key="mh_head").set_value(1).run()
    at.selectbox(key="mh_i").set_value(2).run()
    at.selectbox(key="mh_j").set_value(4).run()
    at.slider(key="mh_h").set_value(3).run()  # 8 / 3: the page stops above the pickers
    assert len(at.error) == 1 and not at.selectbox
    at.slider(key="mh_h").set_value(2).run()
    _ok(at)
    assert [at.selectbox(key=k).value for k in ("mh_head", "mh_i", "mh_j")] == [1, 2, 4]
    A = _mha(EN)[0]
    assert f"= {A[1, 2, 4]:.4f}" in _latex(at, r"a_{3,5} &= \frac")
