"""The RNN page in a real browser: type a sentence, see the hidden-state heatmap follow it,
clean and with formulas that fit, in English and in Chinese."""

from __future__ import annotations

import pytest

import lessons

SENTENCE = "to be or not to be"


def _heatmap_ticks(lab) -> list[str]:
    """The tick labels under the hidden-state heatmap (its x axis: one character per step)."""
    chart = lab.page.locator("[data-testid='stPlotlyChart']").first
    chart.wait_for(timeout=60_000)
    # SVG text has no innerText: read textContent
    ticks = chart.locator(".xtick text")
    ticks.first.wait_for(timeout=60_000)
    return [s.strip() for s in ticks.evaluate_all("els => els.map(e => e.textContent)")]


# English here; every page in Chinese is walked (and its formulas measured) by test_language.py
@pytest.mark.parametrize("lang", ["en"])
def test_rnn_page_types_a_sentence(lab, cjk, lang):
    lab.open("/rnn")
    if lang == "zh":
        lab.set_language(lessons.LANGS["zh"])
    assert lab.h1() == lessons.text("rnn", "title", lang)
    if lang == "zh":
        assert cjk.search(lab.h1())
    assert "".join(_heatmap_ticks(lab)) == "hello␣world"

    box = lab.page.locator("[data-testid='stTextInput'] input").first
    lab.type_into(box, SENTENCE)
    assert "".join(_heatmap_ticks(lab)) == SENTENCE.replace(" ", "␣")

    lab.shot(f"rnn-{lang}")
    lab.scroll_to_heading(lessons.text("rnn", "cell_header", lang))
    lab.shot(f"rnn-{lang}-cell", full=False)
    lab.assert_clean()
    lab.assert_formulas_fit()
