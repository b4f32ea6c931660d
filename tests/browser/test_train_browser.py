"""The training pages in a real browser, in English and Chinese: Start training makes the loss
curve grow (the live fragment polls the worker thread), Pause holds and Resume continues (CNN),
Stop training really stops it (the step count stays put and the state reads "stopped")."""

from __future__ import annotations

import re
import time

import pytest

import lessons

PAGES = {"cnn": "/train-cnn", "lstm": "/train-lstm", "transformer": "/train-transformer"}


def s(key: str, lang: str, **kw) -> str:
    return lessons.text("training", key, lang, **kw)


def loss_points(lab, lang: str) -> int:
    return lab.page.evaluate(
        """name => { for (const p of document.querySelectorAll('.js-plotly-plot')) {
             if (p.data && p.data[0] && p.data[0].name === name)
               return p.data[0].x ? p.data[0].x.length : 0; }
           return -1; }""", s("line_train", lang, n=1))


def step_shown(lab, lang: str) -> int:
    text = lab.page.locator("[data-testid='stMain']").inner_text()
    # the status line: "State: … · step 12 of 1,500" / "状态：… · 第 12 步，共 1,500 步"
    m = re.search(r"(?:State|状态).*?(?:step|第)\s*(\d[\d,]*)\s*(?:of|步，共)", text)
    assert m, "no step count on the page"
    return int(m.group(1).replace(",", ""))


def button(lab, label: str):
    """The main-area button whose text ends with `label` (after its icon): "继续" must not match a
    longer label that merely contains it."""
    ends = re.compile(re.escape(label) + r"\s*$")
    return lab.page.locator("[data-testid='stMain'] button").filter(has_text=ends).first


def pause_and_resume(lab, lang: str) -> None:
    """Pause holds the step count; Resume (the start button while paused) makes it grow again."""
    with lab.rerun():
        button(lab, s("pause", lang)).click()
    lab.wait_idle()
    main = lab.page.locator("[data-testid='stMain']").inner_text()
    assert s("state_paused", lang) in main
    held = step_shown(lab, lang)
    time.sleep(3)
    assert step_shown(lab, lang) == held, "steps went on while paused"
    resume = button(lab, s("resume", lang))
    assert resume.is_enabled(), "no enabled Resume button while paused"
    with lab.rerun():
        resume.click()
    lab.wait_idle()
    deadline = time.monotonic() + 30
    while step_shown(lab, lang) <= held and time.monotonic() < deadline:
        time.sleep(0.5)
    assert step_shown(lab, lang) > held, "Resume did not continue the run"


@pytest.mark.parametrize("lang", ["en", "zh"])
@pytest.mark.parametrize("page", ["cnn", "lstm", "transformer"])
def test_start_grows_the_curve_and_stop_really_stops(lab, page, lang):
    lab.open(PAGES[page])
    if lang == "zh":
        lab.set_language(lessons.LANGS["zh"])
    lab.assert_clean()
    assert loss_points(lab, lang) == 0
    button(lab, s("start", lang)).click()
    # the live fragment redraws about once a second while the worker trains
    deadline = time.monotonic() + 60
    while loss_points(lab, lang) < 2 and time.monotonic() < deadline:
        time.sleep(0.5)
    first = loss_points(lab, lang)
    assert first >= 2, "the loss curve did not start"
    # more points a few seconds later (generous: the 2-core machine may be busy)
    deadline = time.monotonic() + 30
    while loss_points(lab, lang) <= first and time.monotonic() < deadline:
        time.sleep(0.5)
    assert loss_points(lab, lang) > first, "the loss curve stopped growing while running"
    lab.shot(f"train-{page}-{lang}-running", full=False)
    if page == "cnn":
        pause_and_resume(lab, lang)
    with lab.rerun():
        button(lab, s("stop", lang)).click()
    lab.wait_idle()
    stopped = step_shown(lab, lang)
    points = loss_points(lab, lang)
    time.sleep(3)
    assert step_shown(lab, lang) == stopped, "steps went on after Stop training"
    assert loss_points(lab, lang) == points
    main = lab.page.locator("[data-testid='stMain']").inner_text()
    assert s("state_stopped", lang) in main
    lab.assert_clean()
    lab.shot(f"train-{page}-{lang}-stopped")
