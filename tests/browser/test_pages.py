"""Every page in a real browser: renders cleanly, has a title, and its main control works."""

from __future__ import annotations

import pytest

import lessons

PAGE_NAMES = ["home", "conv", "pooling", "cnn"]
# pages whose own browser tests drive their controls (test_<page>_browser.py)
ALL_PAGES = [*PAGE_NAMES, "rnn", "lstm", "gru", "attention", "multihead", "positional", "transformer",
             "playground", "errata", "train_cnn", "train_lstm", "train_transformer"]
# README screenshots: (file name in assets/screenshots, heading key to scroll to or None)
README_SHOTS = {
    "home": ("home_en", None),
    "conv": ("conv_en", "output_header"),
    "pooling": ("pooling_en", "cell_header"),
    "cnn": ("cnn_en", "layers_header"),
}


def label(page: str, key: str) -> str:
    return lessons.text(page, key, "en")


@pytest.mark.parametrize("name", ALL_PAGES)
def test_page_renders_clean(lab, publish_shot, name):
    lab.open(name)
    lab.shot(f"{name}-en")  # first, so a failing page can still be looked at
    if name in README_SHOTS:
        target, heading = README_SHOTS[name]
        if heading:
            lab.scroll_to_heading(label(name, heading))
            lab.shot(f"{name}-en-readme", full=False)
        publish_shot(f"{name}-en-readme" if heading else f"{name}-en", target)

    lab.assert_clean()
    title = lab.h1()
    assert title, f"{name}: empty page title"
    assert title == label(name, "title"), f"{name}: h1 {title!r} is not the page's title string"
    lab.assert_formulas_fit()


def pick_selectbox_option(lab, box_label: str, option: str | None = None) -> str:
    """Open the selectbox labelled `box_label` and pick `option` (or the first other option)."""
    page = lab.page
    box = page.locator("[data-testid='stSelectbox']").filter(has_text=box_label).first
    field = box.locator("input[role='combobox']")
    current = field.input_value()
    field.scroll_into_view_if_needed()
    options = page.locator("[data-testid='stSelectboxVirtualDropdown'] [role='option']")
    for _ in range(3):  # the dropdown closes itself if the page scrolls while it opens
        field.click()
        try:
            options.first.wait_for(timeout=5000)
            break
        except Exception:  # playwright TimeoutError: try again
            page.keyboard.press("Escape")
    if option is None:
        option = next(t.strip() for t in options.all_inner_texts() if t.strip() != current)
    assert option != current, f"{box_label!r} already shows {option!r}"
    with lab.rerun():
        options.filter(has_text=option).first.click()
    assert field.input_value() == option
    return option


def slider_right(lab, slider_label: str, presses: int = 1) -> None:
    """Move the slider labelled `slider_label` with the keyboard, like a learner would."""
    slider = lab.page.locator("[data-testid='stSlider']").filter(has_text=slider_label).first
    thumb = slider.locator("input[type='range']").first
    before = thumb.input_value()
    thumb.focus()
    with lab.rerun():
        for _ in range(presses):
            lab.page.keyboard.press("ArrowRight")
    assert thumb.input_value() != before, f"{slider_label!r} did not move"


def change_home(lab) -> None:
    # the lesson map links to the lessons: follow the first one
    link = lab.page.locator("[data-testid='stMain'] a[data-testid='stPageLink-NavLink']").first
    with lab.rerun():
        link.click()
    assert lab.page.url.endswith("/convolution"), lab.page.url
    assert lab.h1() == label("conv", "title")


def change_conv(lab) -> None:
    pick_selectbox_option(lab, label("conv", "preset"), label("conv", "preset_blur"))


def change_pooling(lab) -> None:
    slider_right(lab, label("pooling", "size_label"))


def change_cnn(lab) -> None:
    pick_selectbox_option(lab, label("cnn", "layer"))


CHANGES = {"home": change_home, "conv": change_conv, "pooling": change_pooling, "cnn": change_cnn}


@pytest.mark.parametrize("name", PAGE_NAMES)
def test_main_control_changes_page(lab, name):
    lab.open(name)
    before = lab.signature()
    CHANGES[name](lab)
    lab.assert_clean()
    assert lab.signature() != before, f"{name}: nothing visible changed after the main control"
    lab.shot(f"{name}-en-changed", full=False)


def test_deep_link_on_fresh_server(fresh_lab):
    """The first visitor after a (re)start may arrive by a bookmark: the app must still be whole."""
    fresh_lab.open("pooling")
    assert fresh_lab.h1() == label("pooling", "title")
    assert len(fresh_lab.nav_labels()) == len(ALL_PAGES)
    fresh_lab.assert_clean()
