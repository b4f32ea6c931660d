"""The GRU page in a real browser: type a sentence, see the gate heatmaps follow it, in English
and in Chinese, with every formula rendered and fitting its column."""

from __future__ import annotations

import re

import pytest

import lessons

SENTENCE = "the cat sat"


def type_text(lab, text: str) -> None:
    """Replace the text in the page's text box and submit it with Enter, like a learner."""
    box = lab.page.locator("[data-testid='stMain'] input[data-testid='stTextInputField']")
    lab.type_into(box, text)


def tick_text(lab, index: int = 0) -> str:
    """The x tick labels (the characters) of the index-th heatmap on the page."""
    return lab.page.evaluate(
        "i => document.querySelectorAll('.js-plotly-plot')[i].layout.xaxis.ticktext.join('')", index)


# English here; every page in Chinese is walked (and its formulas measured) by test_language.py
@pytest.mark.parametrize("lang", ["en"])
def test_gru_page_types_a_sentence_and_shows_the_gates(lab, lang):
    lab.open("/gru")
    if lang == "zh":
        lab.set_language(lessons.LANGS["zh"])
    assert lab.h1() == lessons.text("gru", "title", lang)
    plots = lab.page.locator(".js-plotly-plot")
    assert plots.count() == 6
    assert tick_text(lab).replace("␣", " ") == lessons.text("gru", "text_default", lang)

    type_text(lab, SENTENCE)
    assert tick_text(lab).replace("␣", " ") == SENTENCE
    assert plots.count() == 6
    for name in ("r", "z", "n", "h"):
        # plotly draws r<sub>t</sub> as "rt" in the title's text
        title = re.sub(r"<[^>]+>", "", lessons.text("gru", f"fig_{name}", lang))
        assert lab.page.locator(".js-plotly-plot .gtitle").filter(has_text=title).count() >= 1, title
    lab.shot(f"gru-{lang}")
    lab.scroll_to_heading(lessons.text("gru", "heatmaps_header", lang))
    lab.shot(f"gru-{lang}-heatmaps", full=False)
    lab.assert_clean()
    lab.assert_formulas_fit()
    # the torch check passed on the learner's sentence
    assert lab.page.locator("[data-testid='stAlertContentSuccess']").count() == 1


def test_gru_page_empty_and_long_text_give_messages(lab):
    lab.open("/gru")
    type_text(lab, "")
    info = lab.page.locator("[data-testid='stAlertContentInfo']")
    assert info.count() == 1 and "empty" in info.inner_text()
    assert lab.page.locator(".js-plotly-plot").count() == 0
    type_text(lab, "a" * 55)
    warning = lab.page.locator("[data-testid='stAlertContentWarning']")
    assert warning.count() == 1 and "55" in warning.inner_text()
    assert len(tick_text(lab)) == 40
    lab.assert_clean()
