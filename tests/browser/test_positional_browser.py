"""The positional-encoding page in a real browser, in English and in Chinese: type a sentence, see
the attention heatmaps follow it (in order, and shuffled by the seeded permutation the engine
makes), press "shuffle again" (the next permutation, the same tokens), move the shift k
(M_k follows, PE(pos + k) = M_k·PE(pos) still holds); without PE the shuffled attention is the
original rearranged, with PE it is not; clean, with every formula fitting its column."""

from __future__ import annotations

import re

import pytest

import lessons
from engine.data.tokens import tokenize
from engine.ops.positional import permutation
from tests.browser.conftest import SERVER_LOG  # this shard's server log (make test runs two)

# typed sentences and the tokens the page must show; each repeats tokens ("a", "猫", "爱")
SENTENCES = {
    "en": ("a cat saw a dog and ran", ["a", "cat", "saw", "a", "dog", "and", "ran"]),
    "zh": ("我爱猫，猫爱鱼。", ["我", "爱", "猫", "，", "猫", "爱", "鱼", "。"]),
}
SHUFFLE_SEED = 1  # the page's default shuffle seed (views/positional/ pe_shuffle)
K, D = 3, 64  # the page's default shift and d_model
SECTIONS = ("errata_header", "table_header", "waves_header", "sim_header", "shift_header", "compare_header",
            "order_header", "order_pe_header")


def s(key: str, lang: str, **kw) -> str:
    return lessons.text("positional", key, lang, **kw)


def words(text: str) -> str:
    """The longest stretch of `text` outside $…$ (KaTeX renders the maths as other text)."""
    return max(re.split(r"\$[^$]*\$", text), key=len).strip()


def ticks(lab, key: str) -> dict | None:
    """The plotly chart keyed `key`: its title and tick texts (None when not drawn)."""
    return lab.page.evaluate(
        """k => { const p = document.querySelector('.st-key-' + k + ' .js-plotly-plot');
                  if (!p) return null;
                  const L = p.layout;
                  return {title: (L.title && L.title.text) || '', x: L.xaxis.ticktext || null,
                          y: L.yaxis.ticktext || null}; }""", key)


def assert_order_heatmaps(lab, lang: str, tokens: list[str], seed: int) -> list[str]:
    """Both attention maps in order over `tokens`, both shuffled ones over the engine's permutation
    for `seed`, for tokens only and for tokens + PE; returns the shuffled tokens."""
    shuffled = [tokens[p] for p in permutation(len(tokens), seed).tolist()]
    assert shuffled != tokens
    for kind in ("bare", "pe"):
        for key, want in ((f"pe_fig_{kind}_in", tokens), (f"pe_fig_{kind}_shuffled", shuffled)):
            c = ticks(lab, key)
            assert c is not None, f"{key} is not drawn"
            assert c["x"] == want and c["y"] == want, (key, c)
    # the sentence above the maps, in order and shuffled (markdown: ** is bold)
    line = s("shuffled", lang, original=" ".join(tokens),
             shuffled=" ".join(shuffled), T=len(tokens), d=D).replace("**", "")
    line = re.split(r"\s*[（(]", line)[0]  # up to the sizes, which hold maths
    assert lab.page.get_by_text(line).count() == 1, line
    return shuffled


def order_metrics(lab, lang: str) -> list[float]:
    """max |Attn(X)[perm] − Attn(shuffled)|: without PE, then with PE."""
    metrics = lab.page.locator("[data-testid='stMetric']").filter(has_text=s("order_metric", lang))
    assert metrics.count() == 2
    return [float(v) for v in metrics.locator("[data-testid='stMetricValue']").all_inner_texts()]


# English here; every page in Chinese is walked (and its formulas measured) by test_language.py
@pytest.mark.parametrize("lang", ["en"])
def test_positional_page_follows_the_sentence_the_shuffle_and_the_shift(lab, cjk, lang):
    lab.open("positional")
    if lang == "zh":
        lab.set_language(lessons.LANGS["zh"])
        assert cjk.search(lab.h1())
    assert lab.h1() == s("title", lang)

    text, tokens = SENTENCES[lang]
    box = lab.page.locator("[data-testid='stMain'] input[data-testid='stTextInputField']")
    assert box.count() == 1
    lab.type_into(box, text)
    assert box.input_value() == text
    lab.assert_clean()
    first = assert_order_heatmaps(lab, lang, tokens, SHUFFLE_SEED)
    bare, with_pe = order_metrics(lab, lang)
    assert bare < 1e-9 < 1e-3 < with_pe, (bare, with_pe)
    # all three checks (the PE table, RoPE, attention against nn.MultiheadAttention) passed
    assert lab.page.locator("[data-testid='stAlertContentSuccess']").count() == 3
    lab.shot(f"positional-browser-{lang}")

    # "shuffle again": the seed steps on, the shuffled maps follow the engine's next permutation
    seed_box = lab.page.locator("[data-testid='stNumberInput']").filter(has_text=s("shuffle_label", lang))
    assert seed_box.locator("input").input_value() == str(SHUFFLE_SEED)
    button = lab.page.get_by_role("button", name=s("shuffle_button", lang))
    button.scroll_into_view_if_needed()
    with lab.rerun():
        button.click()
    assert seed_box.locator("input").input_value() == str(SHUFFLE_SEED + 1)
    # the seed box takes its start value from session state only: no duplicate-default warning
    assert 'key "pe_shuffle"' not in SERVER_LOG.read_text(encoding="utf-8", errors="replace")
    again = assert_order_heatmaps(lab, lang, tokens, SHUFFLE_SEED + 1)
    assert sorted(again) == sorted(first) == sorted(tokens)
    bare, with_pe = order_metrics(lab, lang)
    assert bare < 1e-9 < 1e-3 < with_pe, (bare, with_pe)
    lab.assert_clean()

    # the shift k: one step right, M_k's title follows and the identity still holds everywhere
    assert ticks(lab, "pe_fig_shift")["title"].count(f"<sub>{K}</sub>") == 1
    slider = lab.page.locator("[data-testid='stMain'] [data-testid='stSlider']").filter(has_text=s("k_label", lang))
    assert slider.count() == 1
    thumb = slider.locator("input[type='range']")
    thumb.scroll_into_view_if_needed()
    thumb.focus()
    with lab.rerun():
        lab.page.keyboard.press("ArrowRight")
    assert thumb.input_value() == str(K + 1)
    assert ticks(lab, "pe_fig_shift")["title"].count(f"<sub>{K + 1}</sub>") == 1
    metric = lab.page.locator("[data-testid='stMetric']").filter(has_text=words(s("shift_metric", lang, L=64)))
    assert float(metric.locator("[data-testid='stMetricValue']").inner_text()) < 1e-12
    lab.assert_clean()
    lab.assert_formulas_fit()

    for key in SECTIONS:
        lab.scroll_to_heading(words(s(key, lang)))
        lab.shot(f"positional-browser-{lang}-{key.removesuffix('_header')}", full=False)


def test_switching_to_chinese_offers_the_chinese_example(lab, cjk):
    """The sentence box held the English example: after the switch it holds the Chinese one, and
    the attention maps are drawn over its characters."""
    lab.open("positional")
    box = lab.page.locator("[data-testid='stMain'] input[data-testid='stTextInputField']")
    assert box.input_value() == s("text_default", "en")
    lab.set_language(lessons.LANGS["zh"])
    assert cjk.search(lab.h1())
    assert box.input_value() == s("text_default", "zh")
    zh_tokens = tokenize(s("text_default", "zh"))
    c = ticks(lab, "pe_fig_bare_in")
    assert c["x"] == zh_tokens and c["y"] == zh_tokens, c
    lab.assert_clean()
    # the order section: both maps fill their columns (no square-cell strip with a far colour bar)
    widths = lab.page.evaluate(
        """() => ['pe_fig_bare_in', 'pe_fig_bare_shuffled'].map(k => {
              const el = document.querySelector('.st-key-' + k);
              const grid = el.querySelector('.nsewdrag');
              return [grid.getBoundingClientRect().width, el.getBoundingClientRect().width]; })""")
    for plot, column in widths:
        assert plot > 0.6 * column, (plot, column)
    lab.scroll_to_heading(s("order_header", "zh"))
    lab.shot("positional-browser-zh-switched", full=False)
