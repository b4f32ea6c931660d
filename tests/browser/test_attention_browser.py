"""The attention page in a real browser, in English and in Chinese: type a sentence, see every
stage's heatmap labelled by its tokens, switch √d_k off and on (S′ = S, then S′ = S/√d_k, read from
the heatmaps' numbers), switch the causal mask on (the mask stage appears, the weights above the
diagonal are gone); clean, with every formula fitting its column."""

from __future__ import annotations

import math

import pytest

import lessons

# typed sentences and the tokens the page must show (words ≤ 8 letters: no label is shortened)
SENTENCES = {
    "en": ("the dog chased the red ball .", ["the", "dog", "chased", "the", "red", "ball", "."]),
    "zh": ("小狗追着红球跑。", ["小", "狗", "追", "着", "红", "球", "跑", "。"]),
}
DEFAULT_TOKENS = {
    "en": "the cat sat on the mat because it was tired".split(),
    "zh": list("猫坐在垫子上，它累了。"),
}
D_K = 4  # the page's default d_k (views/attention/page.py D_K)
# heatmaps over the tokens: (chart key, token axes)
TOKEN_CHARTS = {"att_fig_X": "y", "att_fig_Q": "y", "att_fig_K": "y", "att_fig_V": "y",
                "att_fig_scores": "xy", "att_fig_scaled": "xy", "att_fig_weights": "xy", "att_fig_output": "y",
                "att_fig_correct": "y", "att_fig_wrong": "y"}
SECTIONS = ("inputs_header", "pipeline_header", "stage_weights", "why_scale_header", "erratum_header")


def s(key: str, lang: str, **kw) -> str:
    return lessons.text("attention", key, lang, **kw)


def plain(text: str) -> str:
    """The words of a label or heading before its first formula: KaTeX renders $…$ as its own
    text, so a locator finds the label by these words."""
    return text.split("$")[0].strip()


def chart(lab, key: str) -> dict | None:
    """The plotly chart keyed `key`: its title, tick texts and z values (None when not drawn)."""
    return lab.page.evaluate(
        """k => { const p = document.querySelector('.st-key-' + k + ' .js-plotly-plot');
                  if (!p) return null;
                  const L = p.layout;
                  // z as plotly.js decoded it (the figure may ship it as a base64 typed array)
                  const z = Array.from(p._fullData[0].z, row => Array.from(row));
                  return {title: (L.title && L.title.text) || '', x: L.xaxis.ticktext || null,
                          y: L.yaxis.ticktext || null, z: z}; }""", key)


def assert_token_axes(lab, tokens: list[str], charts: dict[str, str] = TOKEN_CHARTS) -> None:
    for key, axes in charts.items():
        c = chart(lab, key)
        assert c is not None, f"{key} is not drawn"
        for axis in axes:
            assert c[axis] == tokens, (key, axis, c[axis])


def toggle(lab, label: str, on: bool) -> None:
    """Click the switch labelled `label` (st.toggle) and wait for the rerun; check its new state."""
    switch = lab.page.locator("[data-testid='stMain'] [data-testid='stCheckbox']").filter(has_text=label)
    assert switch.count() == 1, label
    box = switch.locator("input[role='switch']")
    assert box.is_checked() != on, f"{label!r} is already {'on' if on else 'off'}"
    switch.scroll_into_view_if_needed()
    with lab.rerun():
        switch.locator("label").first.click()
    assert box.is_checked() == on, label


def ratio(scores, scaled) -> float:
    """S / S′ over every cell (all the same when S′ = S / c)."""
    pairs = [(a, b) for ra, rb in zip(scores, scaled) for a, b in zip(ra, rb) if abs(b) > 1e-9]
    assert pairs
    ratios = {round(a / b, 9) for a, b in pairs}
    assert len(ratios) == 1, ratios
    return ratios.pop()


# English here; every page in Chinese is walked (and its formulas measured) by test_language.py
@pytest.mark.parametrize("lang", ["en"])
def test_attention_page_follows_the_sentence_and_the_switches(lab, cjk, lang):
    lab.open("attention")
    if lang == "zh":
        lab.set_language(lessons.LANGS["zh"])
        assert cjk.search(lab.h1())
    assert lab.h1() == s("title", lang)
    box = lab.page.locator("[data-testid='stMain'] input[data-testid='stTextInputField']")
    assert box.count() == 1
    # before anything is typed the heatmaps show the example in the page's language
    assert box.input_value() == s("text_default", lang)
    assert_token_axes(lab, DEFAULT_TOKENS[lang], {"att_fig_X": "y", "att_fig_scores": "xy"})

    text, tokens = SENTENCES[lang]
    lab.type_into(box, text)
    assert box.input_value() == text
    lab.assert_clean()
    assert_token_axes(lab, tokens)
    assert chart(lab, "att_fig_X")["title"].count(str(len(tokens))) >= 1  # "X: token vectors (T × d)"
    lab.shot(f"attention-browser-{lang}")

    # √d_k on (the default): S′ = S / 2; off: S′ = S
    scores = chart(lab, "att_fig_scores")["z"]
    assert ratio(scores, chart(lab, "att_fig_scaled")["z"]) == pytest.approx(math.sqrt(D_K))
    toggle(lab, plain(s("scale_label", lang)), on=False)
    assert ratio(scores, chart(lab, "att_fig_scaled")["z"]) == pytest.approx(1.0)
    assert_token_axes(lab, tokens, {"att_fig_scaled": "xy", "att_fig_weights": "xy"})
    lab.assert_clean()
    toggle(lab, plain(s("scale_label", lang)), on=True)
    assert ratio(scores, chart(lab, "att_fig_scaled")["z"]) == pytest.approx(math.sqrt(D_K))

    # the causal mask: stage 3 gets its heatmap, every weight above the diagonal is left out
    assert chart(lab, "att_fig_masked") is None
    toggle(lab, s("causal_label", lang), on=True)
    assert_token_axes(lab, tokens, {"att_fig_masked": "xy", "att_fig_weights": "xy"})
    weights = chart(lab, "att_fig_weights")["z"]
    for i, row in enumerate(weights):
        assert all(w is None or math.isnan(w) for w in row[i + 1:]), (i, row)  # masked cells: NaN, drawn grey
        assert sum(row[: i + 1]) == pytest.approx(1.0, abs=1e-9), (i, row)
    assert weights[0][0] == pytest.approx(1.0)  # the first token sees only itself
    lab.assert_clean()
    lab.assert_formulas_fit()
    # the torch check passed with the mask
    assert lab.page.locator("[data-testid='stAlertContentSuccess']").count() == 1

    lab.shot(f"attention-browser-{lang}-causal")
    for key in SECTIONS:
        lab.scroll_to_heading(plain(s(key, lang)))
        lab.shot(f"attention-browser-{lang}-{key.removesuffix('_header')}", full=False)


def test_language_switch_offers_the_translated_example(lab):
    lab.open("attention")
    lab.set_language(lessons.LANGS["zh"])
    box = lab.page.locator("[data-testid='stMain'] input[data-testid='stTextInputField']")
    assert box.input_value() == s("text_default", "zh")
    assert chart(lab, "att_fig_X")["y"] == DEFAULT_TOKENS["zh"]


def test_pickers_name_the_tokens_of_the_new_sentence(lab):
    lab.open("attention")
    box = lab.page.locator("[data-testid='stMain'] input[data-testid='stTextInputField']")
    lab.type_into(box, SENTENCES["en"][0])  # 7 tokens: query 7 "."
    lab.type_into(box, "a b c d e f g")  # 7 tokens again: query 7 is now "g"
    pickers = lab.page.locator("[data-testid='stMain'] [data-testid='stSelectbox'] input[role='combobox']")
    assert [pickers.nth(0).input_value(), pickers.nth(1).input_value()] == ["7 · g", "1 · a"]
