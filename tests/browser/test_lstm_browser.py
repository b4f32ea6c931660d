"""The LSTM page in a real browser, in English and in Chinese: type a text into the text area,
see every gate's heatmap follow it, the unit search (table and coloured text), let the model
write with a temperature, switch an ablation on and see the ablated states; clean, with every
formula fitting its column."""

from __future__ import annotations

import re

import pytest

import lessons

# a quote (so "inside double quotes" is not constant) and a newline (a text area keeps it)
SENTENCE = 'JULIET:\nShe said "stay" and he went.'
KINDS = ("i", "f", "g", "o", "c", "h")
# the sections screenshotted on their own (heading keys of lessons/ui/lstm.toml)
SECTIONS = ("heatmaps_header", "search_header", "sample_header", "ablate_header", "grad_header",
            "mistakes_header")
PASSAGE_SHOWN = 800  # characters of the held-out passage the page colours (views/lstm/)
MAX_TICKS = 80  # beyond this many steps a heatmap labels every k-th character (figures/recurrent.py)


def s(key: str, lang: str, **kw) -> str:
    return lessons.text("lstm", key, lang, **kw)


def plain(title: str) -> str:
    """A plotly title as its SVG text reads: i<sub>t</sub> → "it"."""
    return re.sub(r"<[^>]+>", "", title)


def tick_text(lab, index: int = 0) -> str:
    """The x tick labels (the characters) of the index-th plotly chart on the page."""
    return lab.page.evaluate(
        "i => document.querySelectorAll('.js-plotly-plot')[i].layout.xaxis.ticktext.join('')", index)


def ticks_of(text: str) -> str:
    """What the time axis should read for `text`: every character, or every k-th of a long text."""
    every = -(-len(text) // MAX_TICKS)
    return text[::every]


def svg_text(text: str) -> str:
    """SVG text as plotly writes it, without the zero-width spaces it puts around <sub>."""
    return text.replace("\u200b", "").strip()


def plots(lab) -> list[tuple[str, str | None]]:
    """(title without markup, characters on the time axis or None) of every plotly chart."""
    rows = lab.page.evaluate(
        """() => Array.from(document.querySelectorAll('.js-plotly-plot')).map(p => [
             (p.layout.title && p.layout.title.text) || '',
             p.layout.xaxis && p.layout.xaxis.ticktext ? p.layout.xaxis.ticktext.join('') : null])""")
    return [(plain(title), None if ticks is None else ticks.replace("␣", " ").replace("↵", "\n"))
            for title, ticks in rows]


def chart_titles(lab) -> list[str]:
    return [svg_text(t) for t in lab.page.locator(".js-plotly-plot .gtitle").all_text_contents()]


def main_code_blocks(lab):
    """st.code blocks of the page itself, not the engine source inside the "show code" expander."""
    return lab.page.locator("[data-testid='stMain'] [data-testid='stCode']:not([data-testid='stExpander'] *)")


def type_text(lab, text: str) -> None:
    box = lab.page.locator("[data-testid='stMain'] [data-testid='stTextArea'] textarea")
    assert box.count() == 1
    lab.type_into(box, text)
    assert box.input_value() == text


def check_heatmaps(lab, lang: str) -> None:
    """Six heatmaps (one per tab), each over the typed characters, each with its title."""
    tabs = lab.page.locator("[data-testid='stMain'] [data-testid='stTabs'] [role='tab']")
    assert tabs.all_inner_texts() == [s(f"tab_{k}", lang) for k in KINDS]
    for index, kind in enumerate(KINDS):
        tabs.nth(index).click()
        panel = lab.page.locator("[data-testid='stMain'] [role='tabpanel']:visible")
        title = panel.locator(".js-plotly-plot .gtitle")
        title.first.wait_for(timeout=60_000)
        assert svg_text(title.first.text_content()) == plain(s(f"fig_{kind}", lang)), kind
        ticks = panel.locator(".js-plotly-plot").first.evaluate("p => p.layout.xaxis.ticktext.join('')")
        assert ticks.replace("␣", " ").replace("↵", "\n") == SENTENCE, kind
    tabs.first.click()


def check_search(lab, lang: str) -> None:
    """The unit search: its table, its sentence, and the passage coloured by the best unit."""
    lab.scroll_to_heading(s("search_header", lang))
    # at least three tables: the unit search, the predictions, the two mistakes
    assert lab.page.locator("[data-testid='stMain'] [data-testid='stDataFrame']").count() >= 3
    result = s("search_result", lang, prop="§", unit="§", r="§", q="§", n="§", share="§")
    lead = result.split("§")[0].replace("**", "").strip()
    assert lab.page.get_by_text(lead).count() >= 1, lead
    spans = lab.page.locator("[data-testid='stMain'] [data-testid='stHtml'] span[title]")
    assert spans.count() == PASSAGE_SHOWN
    colours = set(spans.evaluate_all("els => els.slice(0, 200).map(e => e.style.background)"))
    assert len(colours) > 10, f"the coloured text is barely coloured: {len(colours)} colours"


def sample(lab, lang: str) -> None:
    """Press the sampling button: the written text appears, with its caption."""
    assert main_code_blocks(lab).count() == 0
    button = lab.page.get_by_role("button", name=s("sample_button", lang))
    button.scroll_into_view_if_needed()
    with lab.rerun():
        button.click()
    code = main_code_blocks(lab)
    assert code.count() == 1
    written = code.first.inner_text()
    # 200 characters by default (a newline may be drawn as an empty line)
    assert len(written.strip()) >= 150, written
    caption = s("sample_caption", lang, tau="0.80", n=200, seed=0, end="§").split("§")[0]
    assert lab.page.get_by_text(caption).count() == 1, caption


def ablate(lab, lang: str) -> None:
    """English: remove the output gate (checkbox); Chinese: force f_t = 1 (radio)."""
    page = lab.page
    assert page.get_by_text(s("ablate_none", lang)).count() == 1
    before = chart_titles(lab)
    assert plain(s("fig_c_ablated", lang)) not in before
    if lang == "en":
        box = page.locator("[data-testid='stCheckbox']").filter(has_text=s("no_o_label", lang))
        box.scroll_into_view_if_needed()
        with lab.rerun():
            box.locator("label").first.click()
    else:
        radio = page.locator("[data-testid='stRadio']").filter(has_text=s("force_f_label", lang))
        radio.scroll_into_view_if_needed()
        with lab.rerun():
            # the options are typeset ($f_t = 1$): labels are the widget's own, then its options
            radio.locator("label").nth(2).click()
    assert page.get_by_text(s("ablate_none", lang)).count() == 0
    titles = chart_titles(lab)
    for key in ("fig_c_ablated", "fig_h_ablated", "fig_loss_steps"):
        assert plain(s(key, lang)) in titles, (key, titles)
    for key in ("fig_c_ablated", "fig_h_ablated"):
        ticks = [chars for title, chars in plots(lab) if title == plain(s(key, lang))]
        assert ticks == [SENTENCE], (key, ticks)
    assert page.locator("[data-testid='stMetric']").filter(has_text=s("metric_changed", lang)).count() == 1


# English here; every page in Chinese is walked (and its formulas measured) by test_language.py
@pytest.mark.parametrize("lang", ["en"])
def test_lstm_page_types_samples_and_ablates(lab, cjk, lang):
    lab.open("lstm")
    if lang == "zh":
        lab.set_language(lessons.LANGS["zh"])
    assert lab.h1() == s("title", lang)
    if lang == "zh":
        assert cjk.search(lab.h1())
    # the default text is on the heatmaps before anything is typed
    default = s("text_default", lang)
    assert tick_text(lab).replace("␣", " ").replace("↵", "\n") == ticks_of(default)

    type_text(lab, SENTENCE)
    lab.assert_clean()
    check_heatmaps(lab, lang)
    # the unit written out follows the text too: step 6 of the sentence is "T"
    assert lab.page.get_by_text(s("unit_header", lang, j=0, t=6, ch="T")).count() == 1
    check_search(lab, lang)
    sample(lab, lang)
    ablate(lab, lang)
    # the gradient chart and the no-cell-state chart are drawn on the sentence
    titles = chart_titles(lab)
    grad = plain(s("grad_title", lang, T=len(SENTENCE), H=128))
    assert grad in titles, (grad, titles)
    assert plain(s("fig_c_unit", lang, j=0)) in titles
    # the PyTorch check on the learner's text
    assert lab.page.locator("[data-testid='stAlertContentSuccess']").count() == 1

    lab.scroll_to_heading(s("title", lang))
    lab.shot(f"lstm-browser-{lang}")
    for key in SECTIONS:
        lab.scroll_to_heading(s(key, lang))
        lab.shot(f"lstm-browser-{lang}-{key.removesuffix('_header')}", full=False)
    lab.assert_clean()
    lab.assert_formulas_fit()
