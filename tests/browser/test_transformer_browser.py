"""The Transformer-block page in a real browser, in English and in Chinese: type a source sentence,
see every stage's heatmap, every head's map and the decoder's cross-attention labelled by its
tokens; switch post-LN → pre-LN (the stages come in the other order, the side-by-side comparison
of the two placements does not change, both torch checks still pass); clean, with every formula
fitting its column."""

from __future__ import annotations

import pytest

import lessons
from engine.data.tokens import tokenize

# typed sentences and the tokens the page must show
SENTENCES = {
    "en": ("my dog ate the red apple .", ["my", "dog", "ate", "the", "red", "apple", "."]),
    "zh": ("我爱猫，猫爱鱼。", ["我", "爱", "猫", "，", "猫", "爱", "鱼", "。"]),
}
HEADS = 4  # the page's default h (views/transformer/ HEADS)
# the stage heatmaps, over the tokens (rows), in the order each placement computes them
STAGES = {
    "post": ["tf_fig_X", "tf_fig_A", "tf_fig_R1", "tf_fig_norm1", "tf_fig_hidden", "tf_fig_F", "tf_fig_R2",
             "tf_fig_norm2"],
    "pre": ["tf_fig_X", "tf_fig_norm1", "tf_fig_A", "tf_fig_R1", "tf_fig_norm2", "tf_fig_hidden", "tf_fig_F",
            "tf_fig_R2"],
}
TOKEN_ROWS = ["tf_fig_post", "tf_fig_pre", "tf_fig_ffn_right", "tf_fig_ffn_wrong", "tf_fig_Y"]
SECTIONS = ("flow_header", "invariant_header", "ffn_erratum_header", "order_header", "decoder_header",
            "encoder_erratum_header")


def s(key: str, lang: str, **kw) -> str:
    return lessons.text("transformer", key, lang, **kw)


def chart(lab, key: str) -> dict | None:
    """The plotly chart keyed `key`: its title, tick texts and data (None when not drawn)."""
    return lab.page.evaluate(
        """k => { const p = document.querySelector('.st-key-' + k + ' .js-plotly-plot');
                  if (!p) return null;
                  const L = p.layout;
                  return {title: (L.title && L.title.text) || '', x: L.xaxis.ticktext || null,
                          y: L.yaxis.ticktext || null, data: JSON.stringify(p.data)}; }""", key)


def stage_order(lab) -> list[str]:
    """The keys of the stage heatmaps, in the order they stand on the page."""
    return lab.page.evaluate(
        """keys => Array.from(document.querySelectorAll("[data-testid='stMain'] [class*='st-key-tf_fig_']"))
                        .map(e => Array.from(e.classList).find(c => c.startsWith('st-key-')).slice(7))
                        .filter(k => keys.includes(k))""", STAGES["post"])


def text_box(lab, label: str):
    box = lab.page.locator("[data-testid='stMain'] [data-testid='stTextInput']").filter(has_text=label)
    assert box.count() == 1, label
    return box.locator("input")


def assert_token_axes(lab, tokens: list[str], target: list[str], placement: str) -> None:
    for key in STAGES[placement] + TOKEN_ROWS + ["tf_fig_dec_out"]:
        c = chart(lab, key)
        assert c is not None, f"{key} is not drawn"
        assert c["y"] == (target if key == "tf_fig_dec_out" else tokens), (key, c["y"])
    for i in range(HEADS):
        c = chart(lab, f"tf_fig_head_{i}")
        assert c is not None and c["x"] == tokens and c["y"] == tokens, (i, c)
    assert chart(lab, f"tf_fig_head_{HEADS}") is None
    # the decoder: causal self-attention over the target, cross-attention target × source
    c = chart(lab, "tf_fig_causal")
    assert c["x"] == target and c["y"] == target, c
    c = chart(lab, "tf_fig_cross")
    assert c["x"] == tokens and c["y"] == target, c


# English here; every page in Chinese is walked (and its formulas measured) by test_language.py
@pytest.mark.parametrize("lang", ["en"])
def test_transformer_page_follows_the_sentence_and_the_layernorm_placement(lab, cjk, lang):
    lab.open("transformer")
    if lang == "zh":
        lab.set_language(lessons.LANGS["zh"])
        assert cjk.search(lab.h1())
    assert lab.h1() == s("title", lang)

    text, tokens = SENTENCES[lang]
    source = text_box(lab, s("source_label", lang))
    lab.type_into(source, text)
    assert source.input_value() == text
    lab.assert_clean()
    target = tokenize(text_box(lab, s("target_label", lang)).input_value())
    assert_token_axes(lab, tokens, target, "post")
    assert stage_order(lab) == STAGES["post"]
    # nn.TransformerEncoderLayer and nn.TransformerDecoderLayer agree with the page's block
    assert lab.page.locator("[data-testid='stAlertContentSuccess']").count() == 2
    lab.assert_formulas_fit()
    lab.shot(f"transformer-browser-{lang}")
    for key in SECTIONS:
        lab.scroll_to_heading(s(key, lang))
        lab.shot(f"transformer-browser-{lang}-{key.removesuffix('_header')}", full=False)

    # post-LN → pre-LN: the stages reorder; the comparison of both placements stays the same
    compared = [chart(lab, key)["data"] for key in ("tf_fig_post", "tf_fig_pre")]
    stage_X = chart(lab, "tf_fig_X")["data"]
    attention = chart(lab, "tf_fig_A")["data"]
    radio = lab.page.locator("[data-testid='stMain'] [data-testid='stRadio']").filter(has_text=s("norm_label", lang))
    assert radio.count() == 1
    radio.scroll_into_view_if_needed()
    with lab.rerun():
        radio.get_by_text(s("pre_ln", lang), exact=True).click()
    assert radio.locator("input[type='radio']").nth(1).is_checked()
    lab.assert_clean()
    assert stage_order(lab) == STAGES["pre"]
    assert_token_axes(lab, tokens, target, "pre")
    assert [chart(lab, key)["data"] for key in ("tf_fig_post", "tf_fig_pre")] == compared
    assert chart(lab, "tf_fig_X")["data"] == stage_X  # the input does not depend on the placement
    assert chart(lab, "tf_fig_A")["data"] != attention  # attention now reads LN₁(X), not X
    assert lab.page.locator("[data-testid='stAlertContentSuccess']").count() == 2
    lab.assert_formulas_fit()
    lab.scroll_to_heading(s("flow_header", lang))
    lab.shot(f"transformer-browser-{lang}-pre-ln")


def test_switching_to_chinese_offers_the_chinese_examples(lab, cjk):
    """Both sentence boxes held the English examples: after the switch they hold the Chinese ones
    (not "Le chat est assis…"); the LayerNorm radio stays on one row, single characters stand
    upright under the per-head maps, and a stage's chart starts at the top of its column."""
    lab.open("transformer")
    assert text_box(lab, s("target_label", "en")).input_value() == s("target_default", "en")
    lab.set_language(lessons.LANGS["zh"])
    assert cjk.search(lab.h1())
    source, target = text_box(lab, s("source_label", "zh")), text_box(lab, s("target_label", "zh"))
    assert source.input_value() == s("source_default", "zh")
    assert target.input_value() == s("target_default", "zh")
    zh_tokens = tokenize(s("source_default", "zh"))
    assert chart(lab, "tf_fig_X")["y"] == zh_tokens
    assert chart(lab, "tf_fig_causal")["x"] == tokenize(s("target_default", "zh"))
    lab.assert_clean()
    radio = lab.page.locator("[data-testid='stMain'] [data-testid='stRadio']").filter(has_text=s("norm_label", "zh"))
    tops = radio.locator("label").evaluate_all(
        "ls => ls.filter(l => l.querySelector('input')).map(l => Math.round(l.getBoundingClientRect().top))")
    assert len(tops) == 2 and abs(tops[0] - tops[1]) < 4, tops
    angle = lab.page.evaluate(
        "() => document.querySelector('.st-key-tf_fig_head_0 .js-plotly-plot').layout.xaxis.tickangle")
    assert angle == 0
    gap = lab.page.evaluate(
        """() => { const chart = document.querySelector('.st-key-tf_fig_norm1');
                   const column = chart.closest("[data-testid='stColumn']");
                   return chart.getBoundingClientRect().top - column.getBoundingClientRect().top; }""")
    assert gap < 40, gap
    lab.scroll_to_heading(s("flow_header", "zh"))
    lab.shot("transformer-browser-zh-switched", full=False)
