"""The formula errata page in a real browser, in English and in Chinese: every erratum is drawn with
its wrong and right forms and its computed numbers (the attention one recomputed here with torch),
the seed control redraws the inputs and so changes the numbers, each erratum links to its lesson;
clean, with every formula fitting its column."""

from __future__ import annotations

import re

import pytest
import torch

import lessons

TOPICS = ("attention", "positional", "conv", "kernels", "pooling", "lstm", "ffn", "encoder", "flow")
# the lesson each erratum links to (url paths as app.py routes them), then the playground
LINKS = {"attention": "/attention", "positional": "/positional", "conv": "/convolution", "kernels": "/convolution",
         "pooling": "/pooling", "lstm": "/lstm", "ffn": "/transformer", "encoder": "/transformer",
         "flow": "/attention"}
SEED = 7
SECTIONS = ("glance_header", "errata_header", "code_header", "check_torch", "what_next")


def s(key: str, lang: str, **kw) -> str:
    return lessons.text("errata", key, lang, **kw)


def katex_sources(lab) -> list[str]:
    return lab.page.locator("[data-testid='stMain'] .katex-display annotation").all_text_contents()


def attention_delta(seed: int) -> str:
    """max |softmax(QKᵀ/√d)V − (1/d)·softmax(QKᵀ)V| on the page's Q, K, V, computed with torch."""
    g = torch.Generator().manual_seed(seed * 101 + 1)
    Q, K, V = (torch.randn(4, 4, generator=g, dtype=torch.float64) for _ in range(3))
    right = torch.softmax(Q @ K.T / 2.0, dim=-1) @ V
    wrong = torch.softmax(Q @ K.T, dim=-1) @ V / 4
    return f"{float((right - wrong).abs().max()):.4f}"


def shown_delta(lab) -> str:
    block = next(src for src in katex_sources(lab) if r"\max|\Delta|" in src)
    return re.search(r"\\max\|\\Delta\| &= (-?[\d.]+)", block).group(1)


def check_errata(lab, lang: str) -> None:
    """Nine framed errata, each with its title, a wrong and a right formula, and its lesson link."""
    subheads = lab.page.locator("[data-testid='stMain'] h3").all_inner_texts()
    for n, key in enumerate(TOPICS, start=1):
        title = f"{n}. {s(key + '_title', lang)}"
        assert any(h.strip().startswith(title) for h in subheads), (title, subheads)
    wrong = lab.page.get_by_text("✗ " + s("wrong", lang), exact=True)
    right = lab.page.get_by_text("✓ " + s("right", lang), exact=True)
    assert wrong.count() == len(TOPICS) and right.count() == len(TOPICS)
    # each erratum draws its figures (19 plotly charts in all) and its numbers
    assert lab.page.locator("[data-testid='stMain'] .js-plotly-plot").count() >= 15
    assert len(katex_sources(lab)) >= 2 * len(TOPICS) + 5
    links = lab.page.locator("[data-testid='stMain'] [data-testid='stPageLink'] a")
    found = {links.nth(i).inner_text().strip(): links.nth(i).get_attribute("href") for i in range(links.count())}
    for key, path in LINKS.items():
        label = s(key + "_link", lang)
        href = next((h for text, h in found.items() if label in text), None)
        # hrefs are relative to the app's root ("attention")
        assert href is not None and "/" + href.strip("/").split("/")[-1] == path, (key, label, found)
    assert any(s("link_playground", lang) in text for text in found), found
    # the right forms agree with PyTorch
    assert len(lab.page.locator("[data-testid='stAlertContentSuccess']").all_inner_texts()) == 1


# English here; every page in Chinese is walked (and its formulas measured) by test_language.py
@pytest.mark.parametrize("lang", ["en"])
def test_errata_page_numbers_seed_and_links(lab, cjk, lang):
    lab.open("errata")
    if lang == "zh":
        lab.set_language(lessons.LANGS["zh"])
    assert lab.h1() == s("title", lang)
    if lang == "zh":
        assert cjk.search(lab.h1())
    check_errata(lab, lang)
    assert shown_delta(lab) == attention_delta(0)
    lab.assert_clean()
    lab.assert_formulas_fit()

    lab.scroll_to_heading(s("title", lang))
    lab.shot(f"errata-browser-{lang}")
    for key in SECTIONS:
        lab.scroll_to_heading(s(key, lang))
        lab.shot(f"errata-browser-{lang}-{key.removesuffix('_header')}", full=False)
    for n, key in enumerate(TOPICS, start=1):
        lab.scroll_to_heading(f"{n}. {s(key + '_title', lang)}")
        lab.shot(f"errata-browser-{lang}-{n}-{key}", full=False)

    # another seed: other inputs, so other numbers (the attention one still equals torch's)
    before = katex_sources(lab)
    seed_box = lab.page.locator("[data-testid='stMain'] .st-key-er_seed input")
    lab.type_into(seed_box, str(SEED))
    assert seed_box.input_value() == str(SEED)
    assert shown_delta(lab) == attention_delta(SEED) != attention_delta(0)
    after = katex_sources(lab)
    changed = [a for a, b in zip(before, after) if a != b]
    assert len(before) == len(after) and len(changed) >= 5, changed
    check_errata(lab, lang)
    lab.assert_clean()
    lab.assert_formulas_fit()
