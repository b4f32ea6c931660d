"""The attention page under AppTest, in English (one Chinese smoke test, and the language switch):
every stage's heatmap equal to attention computed here from the page's seeded inputs (drawn
independently), the written-out formulas, the scale / mask / temperature switches, Q, K, V typed
by hand, the √d_k chart's sentence, the wrong identity, the torch check, and bad input (empty, too
long, one token, bad cells)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from streamlit.testing.v1 import AppTest

from engine.data.tokens import embed, tokenize
from engine.ops.attention import softmax_stats
from tests.pages.apptest import open_page, plotly_array

PAGE = "views/attention/page.py"
EN = "the cat sat on the mat because it was tired"
ZH = "猫坐在垫子上，它累了。"
HAND = {"Q": [[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]], "K": [[2.0, 0.0], [0.0, 1.0], [1.0, 1.0]],
        "V": [[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]}


def _page(lang: str = "en", **state) -> AppTest:
    return open_page(PAGE, lang, **state)


def _ok(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


@pytest.fixture(scope="module")
def default_page() -> AppTest:
    """The page as it opens in English; tests that only read it share it."""
    return _page()


def _texts(at: AppTest) -> list[str]:
    parts = []
    for kind in ("title", "header", "subheader", "markdown", "caption", "latex", "info", "warning",
                 "success", "error"):
        parts += [str(e.value) for e in getattr(at, kind)]
    parts += [w.label for w in [*at.slider, *at.toggle, *at.text_input, *at.number_input, *at.selectbox]]
    parts += [m.label for m in at.get("metric")]
    for chart in at.get("plotly_chart"):
        spec = json.loads(chart.proto.spec)
        parts.append(str((spec["layout"].get("title") or {}).get("text", "")))
        parts += [str(a.get("title", {}).get("text", "")) for k, a in spec["layout"].items() if k.startswith("xaxis")]
    return parts


def _chart(at: AppTest, key: str) -> dict:
    charts = [c for c in at.get("plotly_chart") if c.proto.id.endswith(f"-{key}")]
    assert len(charts) == 1, (key, [c.proto.id for c in at.get("plotly_chart")])
    return json.loads(charts[0].proto.spec)


def _z(at: AppTest, key: str) -> np.ndarray:
    return plotly_array(_chart(at, key)["data"][0]["z"])


def _keys(at: AppTest) -> set[str]:
    return {c.proto.id.rsplit("-", 1)[-1] for c in at.get("plotly_chart")}


def _latex(at: AppTest, needle: str) -> str:
    found = [e.value for e in at.latex if needle in e.value]
    assert len(found) == 1, (needle, [e.value[:80] for e in at.latex])
    return found[0]


# ----- the computation, independently of the page --------------------------------------------


def _qkv(text: str, d_model: int = 8, d_k: int = 4, seed: int = 0):
    """The page's inputs drawn here: seeded token vectors, and W_Q, W_K, W_V ~ U(±√(3/d_model))
    drawn in that order from torch.Generator(seed)."""
    X = embed(tokenize(text)[:12], d_model, seed)
    gen = torch.Generator().manual_seed(seed)
    b = math.sqrt(3 / d_model)
    W = [(2 * torch.rand(d_model, d_k, generator=gen, dtype=torch.float64) - 1) * b for _ in range(3)]
    return X @ W[0], X @ W[1], X @ W[2]


def _attention(Q, K, V, *, scale=True, tau=1.0, causal=False):
    """Every stage written with plain torch ops: S, S', weights, output."""
    S = Q @ K.T
    S1 = S / ((math.sqrt(Q.shape[1]) if scale else 1.0) * tau)
    logits = S1.masked_fill(torch.ones_like(S1, dtype=torch.bool).triu(1), -math.inf) if causal else S1
    A = torch.softmax(logits, dim=-1)
    return S.numpy(), S1.numpy(), A.numpy(), (A @ V).numpy()


def _hand():
    return tuple(torch.tensor(HAND[n], dtype=torch.float64) for n in "QKV")


# ----- the page as it opens; one Chinese smoke test ----------------------------------------------

ALL_FIGURES = {"att_fig_X", "att_fig_Q", "att_fig_K", "att_fig_V", "att_fig_scores", "att_fig_scaled", "att_fig_weights",
               "att_fig_output", "att_fig_entropy", "att_fig_max", "att_fig_correct", "att_fig_wrong"}


def test_page_runs_without_missing_text(default_page):
    at = default_page
    assert not [s for s in _texts(at) if "⟦" in s]
    assert at.title[0].value == "Attention: every token asks, every token answers"
    assert at.text_input(key="att_text").value == EN
    assert not at.error and not at.warning
    # X, Q, K, V; four stages (no mask figure while the mask is off); two √d_k charts; two erratum sides
    assert _keys(at) == ALL_FIGURES


def test_chinese_smoke():
    at = _page("zh")
    assert not [s for s in _texts(at) if "⟦" in s]
    assert at.title[0].value == "注意力：每个词元都在提问，也都在回答"
    assert at.text_input(key="att_text").value == ZH
    assert not at.error and not at.warning and _keys(at) == ALL_FIGURES
    # Chinese splits into characters: the map's axes are the characters
    assert _chart(at, "att_fig_weights")["layout"]["xaxis"]["ticktext"] == list(ZH)[:11]
    assert "保留" in at.latex[1].value and "kept" not in at.latex[1].value
    captions = [c.value for c in at.caption if "“" in c.value]
    assert len(captions) == 1 and "只出现一次" in captions[0] and "每一处" not in captions[0]
    # the messages for bad input speak Chinese too
    at.text_input(key="att_text").input("   ").run()
    _ok(at)
    assert len(at.info) == 1 and "空" in at.info[0].value and not at.get("plotly_chart")


# ----- heatmaps and formulas equal the computation -----------------------------------------------


def test_every_stage_equals_attention_computed_here(default_page):
    at = default_page
    Q, K, V = _qkv(EN)
    S, S1, A, O = _attention(Q, K, V)
    np.testing.assert_allclose(_z(at, "att_fig_Q"), Q.numpy(), atol=1e-12)
    np.testing.assert_allclose(_z(at, "att_fig_V"), V.numpy(), atol=1e-12)
    np.testing.assert_allclose(_z(at, "att_fig_scores"), S, atol=1e-12)
    np.testing.assert_allclose(_z(at, "att_fig_scaled"), S1, atol=1e-12)
    np.testing.assert_allclose(_z(at, "att_fig_weights"), A, atol=1e-12)
    np.testing.assert_allclose(_z(at, "att_fig_output"), O, atol=1e-12)
    np.testing.assert_allclose(_z(at, "att_fig_weights").sum(1), 1.0, atol=1e-12)
    # rows are queries, columns keys, both labelled by token at numeric positions (the repeated "the")
    spec = _chart(at, "att_fig_scores")
    tokens = tokenize(EN)
    assert spec["layout"]["xaxis"]["ticktext"] == tokens and spec["layout"]["yaxis"]["ticktext"] == tokens
    assert spec["layout"]["xaxis"]["tickvals"] == list(range(10))
    # the embedding note names the repeated token and both positions
    assert any("“the” is token 1, 5" in c.value for c in at.caption)


def test_formulas_carry_the_live_numbers(default_page):
    at = default_page
    Q, K, V = _qkv(EN)
    S, S1, A, O = _attention(Q, K, V)
    i, j = 9, 0  # defaults: the last query, the first key
    dot = _latex(at, r"S_{10,1} &= \textstyle\sum_{d=1}^{4} Q_{10,d}\,K_{1,d}")
    assert f"= {S[i, j]:.4f}" in dot
    # the four products, term by term: |Q_id| after its sign, then K_jd (in parentheses, with no dot,
    # when negative)
    for d in range(4):
        q, k = float(Q[i, d]), float(K[j, d])
        term = f"{abs(q):.2f}" + (f"({k:.2f})" if k < 0 else "{\\cdot}" + f"{k:.2f}")
        assert term in dot
        assert ("- " + term in dot or dot.count("&= -" + term)) if q < 0 else ("- " + term not in dot)
    scaled = _latex(at, r"S'_{10,1} &=")
    assert r"\sqrt{4}" in scaled and "2.0000" in scaled and f"= {S1[i, j]:.4f}" in scaled
    soft = _latex(at, r"a_{10,1} &= \frac")
    exps = np.exp(S1[i])
    assert f"= {A[i, j]:.4f}" in soft and f"{exps.sum():.3f}" in soft
    for s, e in zip(S1[i], exps):
        assert f"e^{{{s:.2f}}} = {e:.3f}" in soft
    out = _latex(at, r"o_{10,1} &=")
    assert f"&= {O[i, 0]:.4f}" in out and f"o_{{10}} &= ({O[i, 0]:.3f}" in out


def test_choosing_query_and_key_rewrites_the_formulas():
    at = _page()
    at.selectbox(key="att_i").set_value(1).run()
    at.selectbox(key="att_j").set_value(4).run()
    _ok(at)
    Q, K, V = _qkv(EN)
    S, S1, A, O = _attention(Q, K, V)
    assert f"= {S[1, 4]:.4f}" in _latex(at, r"S_{2,5} &=")
    assert f"= {A[1, 4]:.4f}" in _latex(at, r"a_{2,5} &= \frac")
    assert f"&= {O[1, 0]:.4f}" in _latex(at, r"o_{2,1} &=")
    # the outlined cell follows
    box = _chart(at, "att_fig_weights")["layout"]["shapes"][0]
    assert (box["x0"], box["y0"]) == (3.5, 0.5)


# ----- controls ------------------------------------------------------------------------------


def test_sizes_seed_and_sentence_change_the_result():
    at = _page()
    at.slider(key="att_d_model").set_value(16).run()
    at.slider(key="att_d_k").set_value(8).run()
    at.number_input(key="att_seed").set_value(3).run()
    _ok(at)
    Q, K, V = _qkv(EN, 16, 8, 3)
    S, S1, A, O = _attention(Q, K, V)
    assert _z(at, "att_fig_X").shape == (10, 16) and _z(at, "att_fig_Q").shape == (10, 8)
    np.testing.assert_allclose(_z(at, "att_fig_weights"), A, atol=1e-12)
    np.testing.assert_allclose(_z(at, "att_fig_output"), O, atol=1e-12)
    # d_k = 8: all eight products written out, √8 in the scale
    assert r"\sqrt{8}" in _latex(at, r"S'_{10,1} &=") and r"\dots" not in _latex(at, r"S_{10,1} &=")
    at.text_input(key="att_text").input("a b a").run()
    _ok(at)
    Q, K, V = _qkv("a b a", 16, 8, 3)
    np.testing.assert_allclose(_z(at, "att_fig_weights"), _attention(Q, K, V)[2], atol=1e-12)
    # the query and key pickers were clamped into the shorter sentence
    assert at.selectbox(key="att_i").value == 2


def test_scale_switch_and_temperature():
    at = _page()
    Q, K, V = _qkv(EN)
    at.toggle(key="att_scale").set_value(False).run()
    _ok(at)
    S, S1, A, _ = _attention(Q, K, V, scale=False)
    np.testing.assert_allclose(_z(at, "att_fig_scaled"), S, atol=1e-12)
    np.testing.assert_allclose(_z(at, "att_fig_weights"), A, atol=1e-12)
    assert r"S'_{10,1} &= S_{10,1}" in _latex(at, r"S'_{10,1} &=")
    at.toggle(key="att_scale").set_value(True).run()
    at.slider(key="att_tau").set_value(0.5).run()
    _ok(at)
    S, S1, A, _ = _attention(Q, K, V, tau=0.5)
    np.testing.assert_allclose(_z(at, "att_fig_scaled"), S1, atol=1e-12)
    np.testing.assert_allclose(_z(at, "att_fig_weights"), A, atol=1e-12)
    scaled = _latex(at, r"S'_{10,1} &=")
    assert r"\sqrt{d_k} \cdot \tau" in scaled and "1.0000" in scaled  # √4 · 0.5 = 1
    # a lower temperature sharpens every row
    assert _z(at, "att_fig_weights").max(1).mean() > _attention(Q, K, V)[2].max(1).mean()


def test_causal_mask_shows_masked_cells():
    at = _page()
    at.toggle(key="att_causal").set_value(True).run()
    _ok(at)
    Q, K, V = _qkv(EN)
    _, S1, A, O = _attention(Q, K, V, causal=True)
    above = np.triu(np.ones((10, 10), dtype=bool), 1)
    masked = _z(at, "att_fig_masked")
    assert np.isnan(masked[above]).all()
    np.testing.assert_allclose(masked[~above], S1[~above], atol=1e-12)
    weights = _z(at, "att_fig_weights")
    np.testing.assert_allclose(weights[~above], A[~above], atol=1e-12)
    np.testing.assert_allclose(_z(at, "att_fig_output"), O, atol=1e-12)
    # the grey layer over exactly the masked cells, marked −∞ on the scores and 0 on the weights
    grey = _chart(at, "att_fig_masked")["data"][1]
    assert (~np.isnan(plotly_array(grey["z"])) == above).all()
    assert grey["text"][0][1] == "−∞" and _chart(at, "att_fig_weights")["data"][1]["text"][0][1] == "0"
    # query 10 sees key 1; query 1 cannot see key 2
    assert r"(j = 1 \le i = 10)" in _latex(at, r"\tilde S_{10,1} = S'_{10,1}")
    at.selectbox(key="att_i").set_value(0).run()
    at.selectbox(key="att_j").set_value(1).run()
    assert r"(j = 2 > i = 1)" in _latex(at, r"\tilde S_{1,2} = -\infty")
    assert r"e^{-\infty} = 0" in _latex(at, r"a_{1,2} &= \frac")
    assert "= 0.0000" in _latex(at, r"a_{1,2} &= \frac")
    assert any("45 cells" in m.value for m in at.markdown)


# ----- by hand ----------------------------------------------------------------------------------


def test_q_k_v_typed_by_hand():
    at = _page()
    at.toggle(key="att_by_hand").set_value(True).run()
    _ok(at)
    assert [e.key for e in at.data_editor] == ["att_hand_Q", "att_hand_K", "att_hand_V"]
    Q, K, V = _hand()
    S, S1, A, O = _attention(Q, K, V)
    np.testing.assert_allclose(_z(at, "att_fig_scores"), S, atol=1e-12)
    np.testing.assert_allclose(_z(at, "att_fig_output"), O, atol=1e-12)
    # query 3 = (1, 1) against key 1 = (2, 0): 1·2 + 1·0 = 2
    assert r"&= 1.00{\cdot}2.00 + 1.00{\cdot}0.00 \\ &= 2.0000" in _latex(at, r"S_{3,1} &=")
    # edit one cell: K[2, 1] = 3
    at.session_state["att_hand_K"] = {"edited_rows": {1: {"d=2": 3.0}}, "added_rows": [], "deleted_rows": []}
    at.run()
    _ok(at)
    K2 = K.clone()
    K2[1, 1] = 3.0
    np.testing.assert_allclose(_z(at, "att_fig_weights"), _attention(Q, K2, V)[2], atol=1e-12)
    assert not at.warning


@pytest.mark.parametrize("value, words", [(99.0, "between −10 and 10"), (None, "empty or not a number")])
def test_bad_cells_are_refused_on_the_server(value, words):
    at = _page(att_by_hand=True)
    at.session_state["att_hand_Q"] = {"edited_rows": {0: {"d=1": value}}, "added_rows": [], "deleted_rows": []}
    at.run()
    _ok(at)
    assert len(at.warning) == 1 and words in at.warning[0].value
    # the page carries on with the default Q
    np.testing.assert_allclose(_z(at, "att_fig_scores"), _attention(*_hand())[0], atol=1e-12)
    assert not [s for s in _texts(at) if "⟦" in s]


# ----- why the scale, the erratum, the torch check ----------------------------------------------


def test_scale_chart_and_its_sentence_come_from_softmax_stats(default_page):
    at = default_page
    stats = softmax_stats((1, 2, 4, 8, 16, 32, 64, 128, 256), n_keys=16, seed=0, samples=2000)
    entropy, top = _chart(at, "att_fig_entropy"), _chart(at, "att_fig_max")
    np.testing.assert_allclose(plotly_array(entropy["data"][0]["y"]), stats.entropy_unscaled.numpy(), atol=1e-12)
    np.testing.assert_allclose(plotly_array(entropy["data"][1]["y"]), stats.entropy_scaled.numpy(), atol=1e-12)
    np.testing.assert_allclose(plotly_array(top["data"][0]["y"]), stats.max_weight_unscaled.numpy(), atol=1e-12)
    sentence = next(m.value for m in at.markdown if "random queries" in m.value)
    assert f"**{float(stats.max_weight_unscaled[-1]):.2f}**" in sentence
    assert f"**{float(stats.max_weight_scaled[-1]):.2f}**" in sentence
    assert f"{float(stats.logit_std_unscaled[-1]):.1f}" in sentence
    # unscaled, the softmax is nearly one-hot at d_k = 256; scaled, far from it
    assert stats.max_weight_unscaled[-1] > 0.8 > 0.4 > stats.max_weight_scaled[-1]


def test_wrong_identity_is_shown_false(default_page):
    at = default_page
    Q, K, V = _qkv(EN)
    right = _attention(Q, K, V)[3]
    wrong = (torch.softmax(Q @ K.T, -1) @ V).numpy() / 4
    np.testing.assert_allclose(_z(at, "att_fig_correct"), right, atol=1e-12)
    np.testing.assert_allclose(_z(at, "att_fig_wrong"), wrong, atol=1e-12)
    metric = next(m for m in at.get("metric") if "two sides" in m.label)
    assert float(metric.value) == pytest.approx(np.abs(right - wrong).max(), rel=1e-2)
    assert float(metric.value) > 1e-2
    assert any("the identity is false" in m.value for m in at.markdown)


def test_torch_check_passes(default_page):
    at = default_page
    metric = next(m for m in at.get("metric") if "F.scaled_dot_product_attention" in m.label)
    assert float(metric.value) < 1e-6
    assert len(at.success) == 1


# ----- bad input --------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["", "   ", "\u200b"])
def test_empty_sentence_gives_a_friendly_message(text):
    at = _page(att_text=text)
    assert not at.error
    assert len(at.info) == 1 and "empty" in at.info[0].value
    assert not at.get("plotly_chart")


def test_long_sentence_is_cut_with_a_note():
    long = " ".join(f"w{k}" for k in range(300))
    at = _page(att_text=long)
    assert not at.error
    assert len(at.warning) == 1 and "300" in at.warning[0].value and "12" in at.warning[0].value
    assert _z(at, "att_fig_weights").shape == (12, 12)
    assert _chart(at, "att_fig_weights")["layout"]["xaxis"]["ticktext"] == [f"w{k}" for k in range(12)]
    assert at.success and not [s for s in _texts(at) if "⟦" in s]


def test_one_token_is_a_one_by_one_attention():
    at = _page(att_text="hello", att_d_k=1)
    assert not at.error and not at.warning
    np.testing.assert_array_equal(_z(at, "att_fig_weights"), [[1.0]])
    Q, K, V = _qkv("hello", 8, 1)
    np.testing.assert_allclose(_z(at, "att_fig_output"), V.numpy(), atol=1e-12)
    # one key and d_v = 1: the two sides of the wrong identity agree by accident, and the page says so
    assert any("happen to agree" in i.value for i in at.info)
    assert at.success
    at.toggle(key="att_causal").set_value(True).run()
    _ok(at)
    np.testing.assert_array_equal(_z(at, "att_fig_weights"), [[1.0]])


# ----- state across runs, captions and number formats -------------------------------------------


def test_language_switch_swaps_the_example_but_keeps_a_typed_sentence():
    at = _page()
    at.session_state["lang"] = "zh"
    at.run()
    _ok(at)
    assert at.text_input(key="att_text").value == ZH
    assert _chart(at, "att_fig_X")["layout"]["yaxis"]["ticktext"] == list(ZH)
    at.text_input(key="att_text").input("a b c").run()
    at.session_state["lang"] = "en"
    at.run()
    _ok(at)
    assert at.text_input(key="att_text").value == "a b c"
    # the sentence survives a detour through Q, K, V typed by hand
    at.toggle(key="att_by_hand").set_value(True).run()
    at.toggle(key="att_by_hand").set_value(False).run()
    _ok(at)
    assert at.text_input(key="att_text").value == "a b c"


def test_pickers_keep_their_position_and_name_the_new_tokens():
    at = _page(att_text="the dog chased the red ball .")
    assert at.selectbox(key="att_i").value == 6 and at.selectbox(key="att_i").options[6] == "7 · ."
    at.text_input(key="att_text").input("a b c d e f g").run()
    _ok(at)
    assert at.selectbox(key="att_i").value == 6 and at.selectbox(key="att_i").options[6] == "7 · g"
    assert at.selectbox(key="att_j").value == 0 and at.selectbox(key="att_j").options[0] == "1 · a"


@pytest.mark.parametrize("text, words", [("a b a", "is token 1, 3"), ("hello world", "appears once")])
def test_same_token_caption_speaks_of_copies_only_when_there_are_some(text, words):
    at = _page(att_text=text)
    captions = [c.value for c in at.caption if "“" in c.value]
    assert len(captions) == 1 and words in captions[0], captions
    if "once" in words:
        assert "copy" not in captions[0]


def test_erratum_metric_is_a_plain_decimal(default_page):
    metric = next(m for m in default_page.get("metric") if "two sides" in m.label)
    assert "e" not in metric.value and len(metric.value.split(".")[1]) == 4
    assert any(f"up to {metric.value}:" in m.value for m in default_page.markdown)
