"""The sidebar language switch in a real browser: every page in 简体中文, kept across navigation."""

from __future__ import annotations

import lessons

# Sidebar order, as app.py builds st.navigation.
ORDER = ["home", "conv", "pooling", "cnn", "rnn", "lstm", "gru", "attention", "multihead", "positional",
         "transformer", "playground", "errata", "train_cnn", "train_lstm", "train_transformer"]
ZH = lessons.LANGS["zh"]  # 简体中文
EN = lessons.LANGS["en"]


def checked_language(lab) -> str:
    radio = lab.page.locator("[data-testid='stSidebarUserContent'] [role='radiogroup']")
    return radio.locator("label:has(input:checked)").inner_text().strip()


def test_language_switch_persists_across_pages(lab, cjk, publish_shot):
    lab.open("home")
    assert lab.h1() == lessons.text("home", "title", "en")
    assert not any(cjk.search(s) for s in lab.nav_labels()), lab.nav_labels()

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
        lab.shot(f"{name}-zh")
        lab.assert_clean()
        if name == "home":
            publish_shot("home-zh", "home_zh")

    # and back: English again on the page we are on
    lab.set_language(EN)
    assert lab.h1() == lessons.text(ORDER[-1], "title", "en")
    assert not any(cjk.search(s) for s in lab.nav_labels()), lab.nav_labels()
    lab.assert_clean()
