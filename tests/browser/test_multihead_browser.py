"""The multi-head attention page in a real browser, in English and in Chinese: type a sentence,
see every head's map (and the written-out head, the concatenation, the output) labelled by its
tokens; move the heads slider to an h that does not divide E (the clear error names the h that
work, and nothing half-computed is drawn), then back (the page is as it was); clean, with every
formula fitting its column."""

from __future__ import annotations

import pytest

import lessons

# typed sentences and the tokens the page must show (words ≤ 8 letters: no label is shortened)
SENTENCES = {
    "en": ("a cat saw a dog , then ran", ["a", "cat", "saw", "a", "dog", ",", "then", "ran"]),
    "zh": ("我爱你，你爱我。", ["我", "爱", "你", "，", "你", "爱", "我", "。"]),
}
E, H = 8, 2  # the page's default sizes (views/multihead.py E_RANGE, H_RANGE)
VALID_H = "1, 2, 4, 8"  # the h ≤ 8 that divide E = 8
# heatmaps over the tokens: (chart key, token axes)
TOKEN_CHARTS = {"mh_fig_head_0": "xy", "mh_fig_head_1": "xy", "mh_fig_one_head": "xy", "mh_fig_concat": "y",
                "mh_fig_out": "y"}
SECTIONS = ("shapes_header", "heads_header", "one_head_header", "concat_header", "params_header")


def s(key: str, lang: str, **kw) -> str:
    return lessons.text("multihead", key, lang, **kw)


def plain(text: str) -> str:
    """The words of a label or heading before its first formula: KaTeX renders $…$ as its own
    text, so a locator finds the label by these words."""
    return text.split("$")[0].strip()


def chart(lab, key: str) -> dict | None:
    """The plotly chart keyed `key`: its title and tick texts (None when not drawn)."""
    return lab.page.evaluate(
        """k => { const p = document.querySelector('.st-key-' + k + ' .js-plotly-plot');
                  if (!p) return null;
                  const L = p.layout;
                  return {title: (L.title && L.title.text) || '', x: L.xaxis.ticktext || null,
                          y: L.yaxis.ticktext || null}; }""", key)


def assert_token_axes(lab, tokens: list[str], charts: dict[str, str] = TOKEN_CHARTS) -> None:
    for key, axes in charts.items():
        c = chart(lab, key)
        assert c is not None, f"{key} is not drawn"
        for axis in axes:
            assert c[axis] == tokens, (key, axis, c[axis])


def move_slider(lab, label: str, key: str, expected: int) -> None:
    """One keyboard step on the slider labelled `label`, like a learner; wait for the rerun."""
    slider = lab.page.locator("[data-testid='stMain'] [data-testid='stSlider']").filter(has_text=label)
    assert slider.count() == 1, label
    thumb = slider.locator("input[type='range']")
    thumb.scroll_into_view_if_needed()
    thumb.focus()
    with lab.rerun():
        lab.page.keyboard.press(key)
    assert thumb.input_value() == str(expected)


def plot_data(lab) -> list[str]:
    """The data (z, tick positions) of every plotly chart in the main area, as JSON."""
    return lab.page.evaluate(
        """() => Array.from(document.querySelectorAll("[data-testid='stMain'] .js-plotly-plot"))
                      .map(p => JSON.stringify(p.data))""")


def pickers(lab) -> list[str]:
    """What the head, query and key pickers show."""
    boxes = lab.page.locator("[data-testid='stMain'] [data-testid='stSelectbox'] input[role='combobox']")
    return [boxes.nth(i).input_value() for i in range(boxes.count())]


def head_charts(lab) -> int:
    return lab.page.locator("[data-testid='stMain'] [class*='st-key-mh_fig_head_'] .js-plotly-plot").count()


# English here; every page in Chinese is walked (and its formulas measured) by test_language.py
@pytest.mark.parametrize("lang", ["en"])
def test_multihead_page_follows_the_sentence_and_refuses_heads_that_do_not_divide(lab, cjk, lang):
    lab.open("multihead")
    if lang == "zh":
        lab.set_language(lessons.LANGS["zh"])
        assert cjk.search(lab.h1())
    assert lab.h1() == s("title", lang)
    assert head_charts(lab) == H

    text, tokens = SENTENCES[lang]
    box = lab.page.locator("[data-testid='stMain'] input[data-testid='stTextInputField']")
    assert box.count() == 1
    lab.type_into(box, text)
    assert box.input_value() == text
    lab.assert_clean()
    assert_token_axes(lab, tokens)
    assert head_charts(lab) == H
    # both checks against nn.MultiheadAttention (output, per-head weights) passed on the sentence
    assert lab.page.locator("[data-testid='stAlertContentSuccess']").count() == 2
    lab.assert_formulas_fit()
    lab.shot(f"multihead-browser-{lang}")
    for key in SECTIONS:
        lab.scroll_to_heading(plain(s(key, lang)))
        lab.shot(f"multihead-browser-{lang}-{key.removesuffix('_header')}", full=False)

    # h = 3 does not divide E = 8: a clear message naming the h that work, nothing computed below
    before = plot_data(lab)
    picked = pickers(lab)
    # the pickers name tokens of the typed sentence (the query keeps its position from the example)
    for shown in picked[1:]:
        k, tok = shown.split(" · ")
        assert tokens[int(k) - 1] == tok, picked
    move_slider(lab, plain(s("h_label", lang)), "ArrowRight", H + 1)
    alert = lab.page.locator("[data-testid='stAlertContentError']")
    assert alert.count() == 1
    assert alert.inner_text().strip() == s("err_not_divisible", lang, E=E, h=H + 1, valid=VALID_H)
    assert lab.page.locator("[data-testid='stException']").count() == 0
    assert head_charts(lab) == 0
    assert lab.page.locator("[data-testid='stMain'] .js-plotly-plot").count() == 0
    assert not lab.errors, lab.errors
    lab.scroll_to_heading(s("controls_header", lang))
    lab.shot(f"multihead-browser-{lang}-not-divisible", full=False)

    # back to h = 2: the page is exactly as before
    move_slider(lab, plain(s("h_label", lang)), "ArrowLeft", H)
    lab.assert_clean()
    assert head_charts(lab) == H
    assert_token_axes(lab, tokens)
    # every heatmap holds the same numbers as before, the pickers (not drawn while the error
    # showed) included: the page keeps their choice
    assert plot_data(lab) == before
    assert pickers(lab) == picked


def test_pickers_name_the_tokens_of_the_new_sentence(lab):
    lab.open("multihead")
    box = lab.page.locator("[data-testid='stMain'] input[data-testid='stTextInputField']")
    lab.type_into(box, SENTENCES["en"][0])  # 8 tokens; the query stays token 6, now ","
    pickers = lab.page.locator("[data-testid='stMain'] [data-testid='stSelectbox'] input[role='combobox']")
    assert [pickers.nth(i).input_value() for i in range(3)] == ["1", "6 · ,", "1 · a"]
