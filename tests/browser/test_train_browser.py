"""The training pages in a real browser (English; test_language.py walks them in Chinese): Start training makes the loss
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


# What "nothing moves" means: no new step in this long (a negative can only be shown by waiting;
# the live view redraws about once a second while a run trains).
HOLD_S = 2.0

_POINTS = """name => { for (const p of document.querySelectorAll('.js-plotly-plot')) {
             if (p.data && p.data[0] && p.data[0].name === name)
               return p.data[0].x ? p.data[0].x.length : 0; }
           return -1; }"""


def loss_points(lab, lang: str) -> int:
    return lab.page.evaluate(_POINTS, s("line_train", lang, n=1))


def wait_points(lab, lang: str, more_than: int, timeout_s: float) -> int:
    """Wait until the live loss curve has more than `more_than` points; return how many."""
    lab.page.wait_for_function(f"name => ({_POINTS})(name) > {more_than}", arg=s("line_train", lang, n=1),
                               timeout=timeout_s * 1000, polling=250)
    return loss_points(lab, lang)


def until(condition, timeout_s: float) -> bool:
    """Poll `condition` (a page read) every 0.25 s until it holds or time runs out."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.25)  # the poll interval of a condition wait
    return True


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


def main_text(lab) -> str:
    return lab.page.locator("[data-testid='stMain']").inner_text()


def pause_and_resume(lab, lang: str) -> None:
    """Pause holds the step count; Resume (the start button while paused) makes it grow again."""
    # While a run trains, the live view redraws every second, so on a busy machine the page may
    # never look settled: wait for the state line instead. A press that lands while the buttons
    # are being redrawn can be lost: press again if the state has not changed.
    for _ in range(3):
        button(lab, s("pause", lang)).click()
        if until(lambda: s("state_paused", lang) in main_text(lab), 15):
            break
    lab.wait_idle()
    assert s("state_paused", lang) in main_text(lab)
    held = step_shown(lab, lang)
    time.sleep(HOLD_S)
    assert step_shown(lab, lang) == held, "steps went on while paused"
    resume = button(lab, s("resume", lang))
    assert resume.is_enabled(), "no enabled Resume button while paused"
    resume.click()  # training again: the live view redraws every second, so wait on the steps
    assert until(lambda: step_shown(lab, lang) > held, 30), "Resume did not continue the run"


# English here; every page in Chinese is walked (and its formulas measured) by test_language.py
@pytest.mark.parametrize("lang", ["en"])
@pytest.mark.parametrize("page", ["cnn", "lstm", "transformer"])
def test_start_grows_the_curve_and_stop_really_stops(lab, page, lang):
    lab.open(PAGES[page])
    if lang == "zh":
        lab.set_language(lessons.LANGS["zh"])
    lab.assert_clean()
    assert loss_points(lab, lang) == 0
    button(lab, s("start", lang)).click()
    # the live fragment redraws about once a second while the worker trains
    first = wait_points(lab, lang, 1, 60)
    # more points a little later (generous: the 2-core machine may be busy)
    assert wait_points(lab, lang, first, 30) > first, "the loss curve stopped growing while running"
    lab.shot(f"train-{page}-{lang}-running", full=False)
    if page == "cnn":
        pause_and_resume(lab, lang)
    with lab.rerun():
        button(lab, s("stop", lang)).click()
    lab.wait_idle()
    stopped = step_shown(lab, lang)
    points = loss_points(lab, lang)
    time.sleep(HOLD_S)
    assert step_shown(lab, lang) == stopped, "steps went on after Stop training"
    assert loss_points(lab, lang) == points
    main = lab.page.locator("[data-testid='stMain']").inner_text()
    assert s("state_stopped", lang) in main
    lab.assert_clean()
    lab.shot(f"train-{page}-{lang}-stopped")
