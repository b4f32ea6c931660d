"""The regularisation section of the training-knobs page in a real browser (English; the language
walk visits the page in Chinese): Start trains the 500-digit run live — the step count grows and
the section's own curves (drawn by the section, not the training pages' live view) gain points —
and Stop training really stops it."""

from __future__ import annotations

import time

import lessons
from tests.browser.test_train_browser import HOLD_S, button, s, step_shown, until

_POINTS = """name => { for (const p of document.querySelectorAll('.js-plotly-plot')) {
             for (const d of (p.data || [])) if (d.name === name) return d.x ? d.x.length : 0; }
           return -1; }"""


def train_points(lab) -> int:
    """Points of run #1's training-loss line in the section's loss figure (-1: no such line)."""
    name = lessons.text("knobs_reg", "line_train", "en", n=1,
                        label=lessons.text("knobs_reg", "none_short", "en"))
    return lab.page.evaluate(_POINTS, name)


def test_regularisation_run_trains_live_and_stops(lab):
    lab.open("knobs")
    lab.assert_clean()
    start = button(lab, s("start", "en"))
    start.scroll_into_view_if_needed()
    start.click()
    assert until(lambda: step_shown(lab, "en") > 0, 90), "the run did not start"
    assert until(lambda: train_points(lab) > 1, 60), "the section's loss curve did not grow"
    with lab.rerun():
        button(lab, s("stop", "en")).click()
    lab.wait_idle()
    stopped = step_shown(lab, "en")
    points = train_points(lab)
    time.sleep(HOLD_S)
    assert step_shown(lab, "en") == stopped, "steps went on after Stop training"
    assert train_points(lab) == points
    assert s("state_stopped", "en") in lab.page.locator("[data-testid='stMain']").inner_text()
    lab.assert_clean()
    lab.shot("knobs-regularisation-stopped")
