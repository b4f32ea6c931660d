"""Helpers shared by the three training pages' AppTest files (not a test module).

run_every ticks cannot be driven under AppTest, so the tests use One step and read the
trainer's own state, which the panel writes to st.session_state["<kind>_status"].
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import streamlit as st
from streamlit.testing.v1 import AppTest

import lessons
from engine.lab.loop import TrainConfig
from engine.lab.tasks import make_task
from engine.lab.trainer import RunConfig, Trainer
from tests.pages import apptest
from tests.pages.apptest import plotly_array

STEP_TIMEOUT_S = 30.0


def s(key: str, lang: str, page: str = "training", **kw) -> str:
    return lessons.text(page, key, lang, **kw)


def open_page(page: str, lang: str = "en", **state) -> AppTest:
    """The page with no trainer and no kept runs (AppTest runs share one server-wide cache)."""
    st.cache_resource.clear()
    return apptest.open_page(page, lang, **state)


def texts(at: AppTest) -> list[str]:
    parts = []
    for kind in ("title", "header", "subheader", "markdown", "caption", "latex", "info", "warning",
                 "success", "error"):
        parts += [str(e.value) for e in getattr(at, kind)]
    parts += [b.label for b in at.button] + [c.label for c in at.checkbox]
    parts += [m.label for m in at.get("metric")]
    for chart in at.get("plotly_chart"):
        spec = json.loads(chart.proto.spec)
        parts.append(str((spec["layout"].get("title") or {}).get("text", "")))
    return parts


def untranslated(at: AppTest) -> list[str]:
    """Texts that show a missing translation (the translator's ⟦key⟧ marker)."""
    return [x for x in texts(at) if "⟦" in x]


def click(at: AppTest, label: str) -> AppTest:
    (button,) = [b for b in at.button if b.label == label]
    assert not button.disabled, f"{label!r} is disabled"
    button.click().run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def loss_points(at: AppTest, lang: str) -> int:
    """Points of the current run's training-loss curve."""
    for chart in at.get("plotly_chart"):
        spec = json.loads(chart.proto.spec)
        if (spec["layout"].get("title") or {}).get("text") == s("fig_loss", lang):
            return len(plotly_array(spec["data"][0]["x"]))
    raise AssertionError("no loss chart")


def upload(at: AppTest, data: bytes, name: str = "run.pt") -> AppTest:
    at.get("file_uploader")[0].set_value((name, data, "application/octet-stream")).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def checkpoint(kind: str, config, steps: int = 1, seed: int = 1) -> bytes:
    """A training-lab checkpoint of `steps` single steps of a fresh run of the task."""
    tr = Trainer(make_task(kind, config), TrainConfig("adam", 3e-3, "one_cycle"), RunConfig(seed=seed, report_every=1))
    try:
        for i in range(steps):
            tr.step_once()
            deadline = time.monotonic() + STEP_TIMEOUT_S
            while tr.step < i + 1 and time.monotonic() < deadline:
                time.sleep(0.02)
            assert tr.step == i + 1, f"step {i + 1} did not land"
        return tr.to_bytes()
    finally:
        tr.close()


def step_then_stop(at: AppTest, status: str, lang: str, locked: Callable[[AppTest], bool]) -> int:
    """One step (a point on the loss curve, the settings locked), then Stop: the run stays
    stopped over a rerun. Returns the step it stopped at."""
    assert at.session_state[status]["state"] == "idle" and at.session_state[status]["step"] == 0
    click(at, s("one_step", lang))
    assert at.session_state[status]["state"] == "paused" and at.session_state[status]["step"] == 1
    assert loss_points(at, lang) == 1  # the step's loss is a point on the curve
    assert locked(at)  # the settings are fixed while a run is open
    click(at, s("stop", lang))
    stopped_at = at.session_state[status]["step"]
    at.run()  # Stop joined the worker: no step can land after it
    assert at.session_state[status]["state"] == "stopped" and at.session_state[status]["step"] == stopped_at
    assert any(s("state_stopped", lang) in x for x in texts(at))
    return stopped_at


def zh_smoke(page: str, status: str, title_page: str) -> None:
    """The page in Chinese: it renders, its title and buttons are Chinese, nothing untranslated,
    and one step runs (the live view's metric labels and status line in Chinese too)."""
    at = open_page(page, "zh")
    assert at.title[0].value == s("title", "zh", title_page)
    assert not untranslated(at) and not at.error
    labels = [b.label for b in at.button]
    for key in ("start", "pause", "one_step", "stop"):
        assert s(key, "zh") in labels and s(key, "en") not in labels
    click(at, s("one_step", "zh"))
    assert at.session_state[status]["step"] == 1
    assert s("m_loss", "zh") in [m.label for m in at.get("metric")]
    assert not untranslated(at)
