"""The "Smaller and faster" section's jobs in a real browser (English; the language walk visits
every page in Chinese): the hardware measurement runs in its own process while its progress bar
moves in the page, and Stop ends it with a message and leaves the page working; the data-parallel
page's real 2-process run with torch.distributed finishes with the ranks identical. Also two
things only a browser shows: ?lang=zh in the address opens and keeps Chinese across a reload and
the sidebar, and the Transformer page keeps its target sentence across a run that stopped above it."""

from __future__ import annotations

import re

import lessons
from tests.browser.test_train_browser import button, until

RUN_S = 240  # the 2-process run's own limit: start-up of two ranks is slow on a busy machine


def text(lab) -> str:
    return lab.page.locator("[data-testid='stMain']").inner_text()


def progress_texts(lab) -> list[str]:
    return lab.page.locator("[data-testid='stMain'] [data-testid='stProgress']").all_inner_texts()


def test_measurement_shows_progress_and_stop_leaves_the_page_working(lab):
    lab.open("roofline")
    start = button(lab, lessons.text("roofline", "measure_start", "en"))
    start.scroll_into_view_if_needed()
    start.click()
    # the live fragment redraws the bar as the child process reports (its first report follows
    # the child's import of torch)
    assert until(lambda: any(re.search(r"\d+ of \d+", p) for p in progress_texts(lab)), 120), progress_texts(lab)
    with lab.rerun():
        button(lab, lessons.text("common", "job_stop", "en")).click()
    lab.wait_idle()
    assert until(lambda: "Stopped after" in text(lab), 30), "no stopped message"
    assert not progress_texts(lab)
    lab.assert_clean()
    assert button(lab, lessons.text("roofline", "measure_start", "en")).is_enabled()


def test_data_parallel_run_finishes_with_identical_ranks(lab):
    lab.open("data_parallel")
    start = button(lab, lessons.text("data_parallel", "run_start", "en"))
    start.scroll_into_view_if_needed()
    start.click()
    done = lessons.text("data_parallel", "identical_ok", "en", W=2, S=20)
    assert until(lambda: done in text(lab), RUN_S), text(lab)[-2000:]
    lab.wait_idle()
    lab.assert_clean()


def test_language_in_the_address_survives_a_reload_and_the_sidebar(lab, cjk):
    lab.open("/cnn?lang=zh")
    assert lab.h1() == lessons.text("cnn", "title", "zh")
    lab.page.reload()
    lab.wait_idle(since=0)
    assert lab.h1() == lessons.text("cnn", "title", "zh")
    lab.click_nav(1)  # the convolution page, through the sidebar
    assert "lang=zh" in lab.page.url and cjk.search(lab.h1())


def test_transformer_target_sentence_survives_an_invalid_head_count(lab):
    lab.open("transformer")
    target = lab.page.locator("[data-testid='stMain'] [data-testid='stTextInput'] input").nth(1)
    before = target.input_value()
    assert before
    heads = lab.page.locator("[data-testid='stMain'] [data-testid='stSlider']").filter(
        has_text=lessons.text("transformer", "h_label", "en")).locator("input[type='range']")
    heads.scroll_into_view_if_needed()
    heads.focus()
    with lab.rerun():
        lab.page.keyboard.press("ArrowRight")  # 4 → 5 heads: 16 is not divisible, the page stops
    assert lab.page.locator("[data-testid='stMain'] [data-testid='stTextInput']").count() == 1
    heads.focus()
    with lab.rerun():
        lab.page.keyboard.press("ArrowLeft")
    target = lab.page.locator("[data-testid='stMain'] [data-testid='stTextInput'] input").nth(1)
    assert target.input_value() == before
