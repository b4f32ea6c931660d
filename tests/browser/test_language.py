"""One walk over every page in a real browser: each page in English (opened by its URL; pages that
another browser test opens in English are left to it, since Lab.open checks formulas too), then the
sidebar language switch and every page again in 简体中文, reached by the sidebar links, with the
choice kept across navigation. On every page: the title in the page's language, no exception,
error, untranslated key or KaTeX error, every display formula fitting its column (KaTeX layout is
what only a browser measures), and no request to any host but this machine (offline, really)."""

from __future__ import annotations

import re
from pathlib import Path

import lessons
from tests.browser.conftest import PAGES

# Sidebar order, as app.py builds st.navigation.
ORDER = ["home", "conv", "pooling", "cnn", "rnn", "lstm", "gru", "attention", "multihead", "positional",
         "transformer", "loss", "backprop", "optimisers",
         "knobs", "minilm", "minilm_replay", "smollm", "smollm_inside", "gguf",
         "quantise", "prune", "roofline", "data_parallel", "playground", "errata", "train_cnn", "train_lstm", "train_transformer"]
ZH = lessons.LANGS["zh"]  # 简体中文
EN = lessons.LANGS["en"]
# README screenshots (only under `make screenshots`): page → (file in assets/screenshots, heading key)
README_SHOTS = {"home": ("home_en", None), "conv": ("conv_en", "output_header"),
                "pooling": ("pooling_en", "cell_header"), "cnn": ("cnn_en", "layers_header")}


def checked_language(lab) -> str:
    radio = lab.page.locator("[data-testid='stSidebarUserContent'] [role='radiogroup']")
    return radio.locator("label:has(input:checked)").inner_text().strip()


def readme_shot(lab, publish_shot, name: str) -> None:
    target, heading = README_SHOTS[name]
    lab.shot(f"{name}-en")
    if heading:
        lab.scroll_to_heading(lessons.text(name, heading, "en"))
        lab.shot(f"{name}-en-readme", full=False)
    publish_shot(f"{name}-en-readme" if heading else f"{name}-en", target)


def opened_elsewhere() -> set[str]:
    """The pages another browser test opens in English: Lab.open already checks their formulas and
    that they render clean, so the English pass here skips them (the suite is CPU-bound)."""
    here = Path(__file__)
    src = "".join(p.read_text() for p in here.parent.glob("test_*.py") if p != here)
    by_path = {path: name for name, path in PAGES.items()}
    opened = {PAGES.get(n, n) for n in re.findall(r'lab\.open\("([^"]+)"\)', src)}
    opened |= set(re.findall(r'"(/[a-z-]+)"', src))
    return {by_path[p] for p in opened if p in by_path}


def test_every_page_in_english_then_chinese_offline(lab, cjk, publish_shot):
    skip = opened_elsewhere() - set(README_SHOTS)
    assert {"loss", "backprop", "optimisers"}.isdisjoint(skip), skip  # opened here, in English
    for name in ORDER:
        if name in skip:
            continue
        lab.open(name)
        assert lab.h1() == lessons.text(name, "title", "en"), f"{name}: h1 {lab.h1()!r}"
        assert not any(cjk.search(s) for s in lab.nav_labels()), lab.nav_labels()
        lab.assert_clean()
        lab.assert_formulas_fit()
        if name in README_SHOTS:
            readme_shot(lab, publish_shot, name)

    lab.open("home")
    lab.set_language(ZH)
    for index, name in enumerate(ORDER):
        if index:  # home is already open; the others are reached by the sidebar links
            lab.click_nav(index)
        title = lab.h1()
        assert title == lessons.text(name, "title", "zh"), f"{name}: h1 {title!r}"
        assert cjk.search(title), f"{name}: h1 has no Chinese: {title!r}"
        nav = lab.nav_labels()
        assert len(nav) == len(ORDER) and all(cjk.search(s) for s in nav), f"{name}: sidebar {nav}"
        sections = lab.page.locator("[data-testid='stNavSectionHeader']").all_inner_texts()
        assert all(cjk.search(s) for s in sections), f"{name}: sidebar sections {sections}"
        assert checked_language(lab) == ZH, f"{name}: the language switch lost the choice"
        lab.assert_clean()
        lab.assert_formulas_fit()
        lab.shot(f"{name}-zh")
        if name == "home":
            publish_shot("home-zh", "home_zh")

    # and back: English again on the page we are on
    lab.set_language(EN)
    assert lab.h1() == lessons.text(ORDER[-1], "title", "en")
    assert not any(cjk.search(s) for s in lab.nav_labels()), lab.nav_labels()
    lab.assert_clean()
    assert lab.requests, "no request was recorded: the offline check would prove nothing"
    assert not lab.foreign_requests(), f"requests left the machine: {lab.foreign_requests()}"
