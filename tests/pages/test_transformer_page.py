"""The Transformer-block page under AppTest, through the app (English; one Chinese smoke test, and
the language-switch test of the example sentences): every stage's
heatmap equal to the engine computed here, the LayerNorm formula's live numbers, the invariant
table, the FFN erratum, pre-/post-LN, the decoder's causal and cross attention, the "one vector"
erratum, the torch checks, and bad input (empty, blank, too long, one token, heads that do not
divide d_model)."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch
from streamlit.testing.v1 import AppTest

from engine.data.tokens import embed, tokenize
from engine.ops.positional import sinusoidal
from engine.ops.transformer import BlockConfig, decoder_block, encoder_block, seeded_block_params
from tests.pages.apptest import open_page, plotly_array

PAGE = "views/transformer/page.py"
SOURCE = {"en": "The cat sat on the mat.", "zh": "猫坐在垫子上。"}
TARGET = {"en": "Le chat est assis sur le tapis.", "zh": "The cat sat on the mat."}


def _page(lang: str = "en", **state) -> AppTest:
    return open_page(PAGE, lang, **state)


@pytest.fixture(scope="module")
def page_en() -> AppTest:
    return _page("en")


def _texts(at: AppTest) -> list[str]:
    parts = []
    for kind in ("title", "header", "subheader", "markdown", "caption", "latex", "info", "warning",
                 "success", "error"):
        parts += [str(e.value) for e in getattr(at, kind)]
    parts += [s.label for s in at.slider] + [r.label for r in at.radio] + [m.label for m in at.get("metric")]
    parts += [w.label for w in at.text_input] + [w.label for w in at.number_input]
    parts += [str(c) for df in at.dataframe for c in df.value.columns]
    parts += [str(v) for df in at.dataframe for v in df.value.to_numpy().ravel()]
    for spec in _specs(at).values():
        parts.append(str((spec["layout"].get("title") or {}).get("text", "")))
    return parts


def _specs(at: AppTest) -> dict[str, dict]:
    """Plotly specs by the key the page gave each chart (the element id ends with it)."""
    return {c.proto.id.rsplit("-", 1)[-1]: json.loads(c.proto.spec) for c in at.get("plotly_chart")}


def _z(at: AppTest, key: str) -> np.ndarray:
    return plotly_array(_specs(at)[key]["data"][0]["z"])


def _ticks(at: AppTest, key: str, axis: str) -> list[str]:
    return list(_specs(at)[key]["layout"][axis]["ticktext"])


def _block(text: str, d: int = 16, h: int = 4, d_ff: int = 64, activation: str = "relu",
           norm_first: bool = False, seed: int = 0):
    """The page's encoder computed here from the engine's parts: X = embed + sinusoidal PE."""
    tokens = tokenize(text)
    X = (embed(tokens, d, seed) + sinusoidal(len(tokens), d))[None]
    cfg = BlockConfig(d, h, d_ff, activation, norm_first)
    params = seeded_block_params(cfg, seed)
    return tokens, X, params, encoder_block(X, params, h, norm_first, activation)


def _metric(at: AppTest, label_start: str) -> str:
    return next(m.value for m in at.get("metric") if m.label.startswith(label_start))


# ----- the default page, and Chinese --------------------------------------------------------


def _default_render(at: AppTest, lang: str) -> None:
    assert not [s for s in _texts(at) if "⟦" in s]
    assert at.text_input(key="tf_src").value == SOURCE[lang]
    assert at.text_input(key="tf_tgt").value == TARGET[lang]
    # X, 4 heads, A, R1, Z, hidden, F, R2, Y, FFN right/wrong, post/pre, causal, cross, decoder out, Y
    assert len(at.get("plotly_chart")) == 20
    assert not at.error and not at.warning and not at.info
    # both torch checks pass
    assert len(at.success) == 2
    assert _ticks(at, "tf_fig_X", "yaxis") == tokenize(SOURCE[lang])


def test_page_runs_without_missing_text(page_en):
    _default_render(page_en, "en")
    assert page_en.title[0].value == "The Transformer block, stage by stage"


def test_chinese_smoke():
    """Chinese: the default page whole, then the friendly messages for an empty sentence, an empty
    target and heads that do not divide d_model, each in Chinese."""
    at = _page("zh")
    _default_render(at, "zh")
    assert at.title[0].value == "Transformer 模块，一步一步看"
    at.text_input(key="tf_src").set_value("").run()
    assert not at.exception and not at.error and len(at.info) == 1 and "空" in at.info[0].value
    at.text_input(key="tf_src").set_value(SOURCE["zh"]).run()
    at.text_input(key="tf_tgt").set_value(" ").run()
    assert not at.exception and len(at.info) == 1 and "目标" in at.info[0].value
    assert len(at.success) == 1 and not [s for s in _texts(at) if "⟦" in s]
    at.slider(key="tf_d").set_value(20).run()
    at.slider(key="tf_h").set_value(8).run()
    assert not at.exception and len(at.error) == 1
    assert r"$d_{\text{model}} = 20$" in at.error[0].value and not at.success


# ----- every stage equals the engine ---------------------------------------------------------


def test_stage_heatmaps_are_the_engine_trace(page_en):
    at = page_en
    tokens, X, params, enc = _block(SOURCE["en"])
    s1, s2 = enc.self_attn, enc.feed_forward
    expected = {
        "tf_fig_X": X[0], "tf_fig_A": s1.inner.output[0], "tf_fig_R1": s1.residual[0],
        "tf_fig_norm1": s1.output[0], "tf_fig_hidden": enc.ffn.activated[0], "tf_fig_F": enc.ffn.output[0],
        "tf_fig_R2": s2.residual[0], "tf_fig_norm2": enc.output[0], "tf_fig_Y": enc.output[0],
    }
    for key, value in expected.items():
        np.testing.assert_allclose(_z(at, key), value.numpy(), atol=1e-12, err_msg=key)
    for i in range(4):
        w = _z(at, f"tf_fig_head_{i}")
        np.testing.assert_allclose(w, enc.weights[0, i].numpy(), atol=1e-12)
        np.testing.assert_allclose(w.sum(axis=1), 1.0, atol=1e-12)
    # token axes: positions numeric, token texts as ticks ("the" twice stays two rows)
    spec = _specs(at)["tf_fig_R1"]
    assert spec["layout"]["yaxis"]["tickvals"] == list(range(len(tokens)))
    assert spec["layout"]["yaxis"]["ticktext"] == tokens
    assert _ticks(at, "tf_fig_head_0", "xaxis") == tokens
    # the output is one row per token: T × d, not one vector
    assert _z(at, "tf_fig_Y").shape == (7, 16)
    # the picked cell (p = 1, k = 0) is outlined
    box = spec["layout"]["shapes"][0]
    assert (box["x0"], box["y0"]) == (-0.5, 0.5)


def test_layer_norm_formula_has_the_live_numbers():
    at = _page()
    tokens, X, params, enc = _block(SOURCE["en"])
    for p, k in ((1, 0), (4, 11)):
        if (p, k) != (1, 0):
            at.slider(key="tf_pos").set_value(p).run()
            at.slider(key="tf_k").set_value(k).run()
            assert not at.exception
        latex = [e.value for e in at.latex if r"\mu &=" in e.value]
        assert len(latex) == 2
        # LN₁ normalises R₁ = X + A: its row p, with numpy statistics
        for which, (x, y) in enumerate(((enc.self_attn.residual, enc.self_attn.output),
                                        (enc.feed_forward.residual, enc.output))):
            row = x[0, p].numpy()
            mu, var = row.mean(), row.var()
            x_hat = (row[k] - mu) / np.sqrt(var + 1e-5)
            text = latex[which]
            assert f"= {mu:.4f}" in text and f"= {var:.4f}" in text
            assert f"= {x_hat:.4f}" in text and f"= {float(y[0, p, k]):.4f}" in text
            assert f"y_{{{k}}}" in text and r"\tfrac{1}{16}" in text
        residual = next(e.value for e in at.latex if "R_1[" in e.value)
        assert f"R_1[{p},{k}]" in residual and f"{float(enc.self_attn.residual[0, p, k]):.4f}" in residual


def test_invariant_table_shows_mean_0_variance_1(page_en):
    at = page_en
    _, _, _, enc = _block(SOURCE["en"])
    for index, sub in enumerate((enc.self_attn, enc.feed_forward)):
        df = at.dataframe[index].value
        assert len(df) == 7
        mean_hat = df.iloc[:, 3].astype(float).to_numpy()
        var_hat = df.iloc[:, 4].astype(float).to_numpy()
        assert np.abs(mean_hat).max() < 1e-12
        np.testing.assert_allclose(var_hat, 1.0, atol=1e-4)
        assert (var_hat < 1).all()  # σ²/(σ² + ε), just below 1
        # μ and σ² of the LayerNorm's input, per position
        row_stats = sub.residual[0].numpy()
        np.testing.assert_allclose(df["μ"].astype(float), row_stats.mean(-1), atol=1e-4)
        np.testing.assert_allclose(df["σ²"].astype(float), row_stats.var(-1), atol=1e-4)


def test_ffn_erratum_is_computed_on_the_block_input(page_en):
    at = page_en
    _, _, params, enc = _block(SOURCE["en"])
    P, z = params.ffn, enc.feed_forward.x
    right = torch.relu(z @ P.W_1.T + P.b_1) @ P.W_2.T + P.b_2
    inner = torch.relu(z @ P.W_1.T + P.b_1) @ P.W_2.T
    wrong = torch.relu(inner) + P.b_2
    np.testing.assert_allclose(_z(at, "tf_fig_ffn_right"), right[0].numpy(), atol=1e-12)
    np.testing.assert_allclose(_z(at, "tf_fig_ffn_wrong"), wrong[0].numpy(), atol=1e-12)
    assert _metric(at, "max |right") == f"{float((right - wrong).abs().max()):.4f}"
    assert _metric(at, "negative entries") == f"{int((inner < 0).sum())} / {inner[0].numel()}"
    assert _metric(at, "min of") == "0.0000"  # ReLU outside: never below b₂
    assert float(_metric(at, "max |right")) > 0.05


def test_post_and_pre_ln_are_both_computed(page_en):
    at = page_en
    *_, post = _block(SOURCE["en"])
    *_, pre = _block(SOURCE["en"], norm_first=True)
    np.testing.assert_allclose(_z(at, "tf_fig_post"), post.output[0].numpy(), atol=1e-12)
    np.testing.assert_allclose(_z(at, "tf_fig_pre"), pre.output[0].numpy(), atol=1e-12)
    assert _metric(at, r"$\max\,|Y_{\text{post}}") == f"{float((post.output - pre.output).abs().max()):.4f}"
    df = at.dataframe[2].value
    np.testing.assert_allclose(df.iloc[:, 2].astype(float), 1.0, atol=1e-4)  # post-LN variance
    np.testing.assert_allclose(df.iloc[:, 4].astype(float), pre.output[0].numpy().var(-1), atol=1e-4)
    formulas = " ".join(e.value for e in at.latex)
    assert r"\mathrm{LN}\big(x + \mathrm{Sublayer}(x)\big)" in formulas
    assert r"x + \mathrm{Sublayer}\big(\mathrm{LN}(x)\big)" in formulas


def test_decoder_causal_and_cross_attention(page_en):
    at = page_en
    src, _, _, enc = _block(SOURCE["en"])
    tgt = tokenize(TARGET["en"])
    cfg = BlockConfig(16, 4, 64)
    D = seeded_block_params(cfg, 1, decoder=True)
    X_tgt = (embed(tgt, 16, 0) + sinusoidal(len(tgt), 16))[None]
    dec = decoder_block(X_tgt, enc.output, D, 4)
    causal = _z(at, "tf_fig_causal")
    np.testing.assert_allclose(causal, dec.self_weights[0, 0].numpy(), atol=1e-12)
    assert np.triu(causal, 1).max() == 0.0 and causal[0, 0] == 1.0
    cross = _z(at, "tf_fig_cross")
    assert cross.shape == (len(tgt), len(src))
    np.testing.assert_allclose(cross, dec.cross_weights[0, 0].numpy(), atol=1e-12)
    assert _ticks(at, "tf_fig_cross", "yaxis") == tgt and _ticks(at, "tf_fig_cross", "xaxis") == src
    np.testing.assert_allclose(_z(at, "tf_fig_dec_out"), dec.output[0].numpy(), atol=1e-12)
    assert any(m.value.startswith("✓") and "4 heads" in m.value for m in at.markdown)
    # the "one fixed vector" erratum: one-vector memory gives weights of exactly 1
    assert any("equals 1: the smallest is 1.000000, the largest 1.000000" in m.value for m in at.markdown)
    shapes = at.dataframe[3].value
    assert list(shapes.iloc[:, 2]) == ["7 × 16", "4 × 7 × 7", "7 × 64", "7 × 16", "4 × 8 × 7", "16"]


def test_torch_checks_pass(page_en):
    at = page_en
    assert len(at.success) == 2
    for ref in ("nn.TransformerEncoderLayer", "nn.TransformerDecoderLayer"):
        assert float(_metric(at, f"max |Δ| vs {ref}")) < 1e-12


# ----- controls -----------------------------------------------------------------------------


def test_controls_change_the_block():
    at = _page()
    at.slider(key="tf_d").set_value(24).run()
    at.slider(key="tf_h").set_value(3).run()
    at.slider(key="tf_dff").set_value(32).run()
    at.radio(key="tf_act").set_value("gelu").run()
    at.number_input(key="tf_seed").set_value(5).run()
    assert not at.exception and not at.error
    tokens, X, params, enc = _block(SOURCE["en"], d=24, h=3, d_ff=32, activation="gelu", seed=5)
    assert sum(k.startswith("tf_fig_head_") for k in _specs(at)) == 3
    np.testing.assert_allclose(_z(at, "tf_fig_X"), X[0].numpy(), atol=1e-12)
    np.testing.assert_allclose(_z(at, "tf_fig_hidden"), enc.ffn.activated[0].numpy(), atol=1e-12)
    np.testing.assert_allclose(_z(at, "tf_fig_Y"), enc.output[0].numpy(), atol=1e-12)
    assert r"d_k &= d/h = 24/3 = 8" in " ".join(e.value for e in at.latex)
    assert r"\mathrm{GELU}(a)" in " ".join(e.value for e in at.latex)
    # GELU outside squashes instead of zeroing: the floor is just below 0
    assert -0.17 <= float(_metric(at, "min of")) < 0
    assert len(at.success) == 2
    # pre-LN: the stages reorder (LayerNorm first) and the output is the residual stream
    at.radio(key="tf_norm").set_value(True).run()
    assert not at.exception
    *_, pre = _block(SOURCE["en"], d=24, h=3, d_ff=32, activation="gelu", norm_first=True, seed=5)
    np.testing.assert_allclose(_z(at, "tf_fig_norm1"), pre.self_attn.norm.output[0].numpy(), atol=1e-12)
    np.testing.assert_allclose(_z(at, "tf_fig_Y"), pre.output[0].numpy(), atol=1e-12)
    subheaders = [s.value for s in at.subheader]
    assert subheaders[1].startswith("1. LayerNorm") and subheaders[2].startswith("2. Multi-head")
    assert len(at.success) == 2
    # decoder head picker
    at.slider(key="tf_head").set_value(3).run()
    tgt = tokenize(TARGET["en"])
    cfg = BlockConfig(24, 3, 32, "gelu", True)
    X_tgt = (embed(tgt, 24, 5) + sinusoidal(len(tgt), 24))[None]
    dec = decoder_block(X_tgt, pre.output, seeded_block_params(cfg, 6, decoder=True), 3, True, "gelu")
    np.testing.assert_allclose(_z(at, "tf_fig_cross"), dec.cross_weights[0, 2].numpy(), atol=1e-12)


# ----- bad input ----------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["", "   \n "])
def test_empty_source_gives_a_friendly_message(text):
    at = _page("en", tf_src=text)
    assert not at.exception and not at.error
    assert len(at.info) == 1
    assert "empty" in at.info[0].value
    assert not at.get("plotly_chart")


def test_empty_target_keeps_the_encoder():
    at = _page("en", tf_tgt=" ")
    assert not at.exception and not at.error
    assert len(at.info) == 1 and "target" in at.info[0].value
    specs = _specs(at)
    assert "tf_fig_Y" in specs and "tf_fig_causal" not in specs
    assert len(at.success) == 1  # the encoder's torch check
    assert not [s for s in _texts(at) if "⟦" in s]


def test_long_sentence_is_cut_with_a_warning():
    long = " ".join(f"w{i}" for i in range(20))
    at = _page("en", tf_src=long)
    assert not at.exception and not at.error
    assert len(at.warning) == 1 and "20" in at.warning[0].value and "12" in at.warning[0].value
    assert _z(at, "tf_fig_X").shape == (12, 16)
    assert _ticks(at, "tf_fig_X", "yaxis") == [f"w{i}" for i in range(12)]
    assert len(at.success) == 2


def test_text_past_the_engine_bound_is_cut_too():
    # 400 tokens: engine.data.tokens refuses more than 128, the page keeps a prefix and says how many
    at = _page("en", tf_src="ab " * 400, tf_tgt="猫" * 300)
    assert not at.exception and not at.error
    assert len(at.warning) == 2
    assert "400" in at.warning[0].value and "300" in at.warning[1].value
    assert _z(at, "tf_fig_X").shape == (12, 16) and _z(at, "tf_fig_causal").shape == (12, 12)
    assert len(at.success) == 2


def test_heads_that_do_not_divide_d_model():
    at = _page("en", tf_d=20, tf_h=8)
    assert not at.exception
    assert len(at.error) == 1
    message = at.error[0].value
    assert "20" in message and "8" in message and r"$d_{\text{model}} = 20$" in message
    assert not at.get("plotly_chart") and not at.success


def test_one_token_works():
    at = _page("en", tf_src="Hello", tf_tgt="Bonjour")
    assert not at.exception and not at.error and not at.warning
    for i in range(4):
        assert _z(at, f"tf_fig_head_{i}").tolist() == [[1.0]]
    assert _z(at, "tf_fig_causal").tolist() == [[1.0]] and _z(at, "tf_fig_cross").tolist() == [[1.0]]
    assert at.slider(key="tf_pos").disabled
    latex = [e.value for e in at.latex if r"\mu &=" in e.value]
    assert len(latex) == 2
    assert len(at.success) == 2


def test_hostile_text_is_just_tokens():
    at = _page("en", tf_src="<script>alert(1)</script> {x} $\\frac$", tf_tgt="\u202e\u200b ok")
    assert not at.exception and not at.error
    ticks = _ticks(at, "tf_fig_X", "yaxis")
    assert "script" in ticks and "<" in ticks
    assert _ticks(at, "tf_fig_causal", "yaxis") == ["ok"]
    assert len(at.success) == 2
    assert re.match(r"\d+ tokens", at.caption[0].value)


def test_the_example_sentences_follow_the_language_and_typed_ones_stay():
    at = _page("en")
    assert at.text_input(key="tf_src").value == SOURCE["en"]
    at.session_state["lang"] = "zh"
    at.run()
    # the boxes still held the English examples: they now hold the Chinese ones
    assert at.text_input(key="tf_src").value == SOURCE["zh"]
    assert at.text_input(key="tf_tgt").value == TARGET["zh"]
    assert _ticks(at, "tf_fig_X", "yaxis") == tokenize(SOURCE["zh"])
    at.session_state["lang"] = "en"
    at.run()
    assert at.text_input(key="tf_src").value == SOURCE["en"]
    assert at.text_input(key="tf_tgt").value == TARGET["en"]
    # a sentence the learner typed is theirs: a language switch keeps it
    at.text_input(key="tf_src").input("my own words").run()
    at.session_state["lang"] = "zh"
    at.run()
    assert at.text_input(key="tf_src").value == "my own words"
    assert at.text_input(key="tf_tgt").value == TARGET["zh"]
    assert not at.exception


def test_heads_caption_reads_the_computed_weights(page_en):
    *_, enc = _block(SOURCE["en"])
    top = float(enc.weights[0].max())
    T = len(tokenize(SOURCE["en"]))
    caption = next(c.value for c in page_en.caption if "uniform row" in c.value)
    assert f"{top:.2f}" in caption and f"1/{T} = {1 / T:.2f}" in caption
    assert "nearly uniform" not in caption


def test_a_mean_that_rounds_to_zero_is_written_in_scientific_form():
    # seed 48, post-LN: LayerNorm 2's input at position 1 has μ ≈ 3.6e-4, "0.000" to 3 decimals
    at = _page("en", tf_seed=48)
    *_, enc = _block(SOURCE["en"], seed=48)
    mu = float(enc.feed_forward.norm.mean[0, 1])
    assert 0 < abs(mu) < 5e-4
    latex = [e.value for e in at.latex if r"\mu &=" in e.value][1]
    mantissa, exponent = f"{mu:.1e}".split("e")
    assert rf"- {mantissa}\times 10^{{{int(exponent)}}}}}" in latex or rf"- ({mantissa}\times 10^{{{int(exponent)}}})}}" in latex
    assert "0.000}" not in latex and "(-0.000)" not in latex
