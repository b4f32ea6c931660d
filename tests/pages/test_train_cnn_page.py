"""The CNN training page under AppTest (the page file itself; run_every ticks cannot be driven
here, so the tests use One step and read the trainer's own state): both languages, one step
draws a point, Stop stops, settings are checked on the server, and checkpoints — good, damaged,
foreign, for another task — are restored or refused with a message that changes nothing."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

import lessons
from engine.lab.tasks import CnnConfig, SeqConfig, make_task
from engine.lab.trainer import OptimConfig, RunConfig, Trainer
from tests.pages.apptest import plotly_array

ROOT = Path(__file__).resolve().parents[2]
PAGE = str(ROOT / "views" / "train_cnn.py")
STATUS = "cnn_status"


def s(key: str, lang: str, page: str = "training", **kw) -> str:
    return lessons.text(page, key, lang, **kw)


def open_page(lang: str = "en", **state) -> AppTest:
    # AppTest runs share one session: start each test with no trainer and no kept runs
    st.cache_resource.clear()
    at = AppTest.from_file(PAGE, default_timeout=120)
    at.session_state["lang"] = lang
    for key, value in state.items():
        at.session_state[key] = value
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


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


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_step_draws_a_point_stop_stops_and_a_bad_file_changes_nothing(lang):
    at = open_page(lang)
    assert not [x for x in texts(at) if "⟦" in x]
    assert at.title[0].value == s("title", lang, "train_cnn")
    assert at.session_state[STATUS]["state"] == "idle" and at.session_state[STATUS]["step"] == 0
    labels = [b.label for b in at.button]
    for key in ("start", "pause", "one_step", "stop"):
        assert s(key, lang) in labels
    assert not at.error

    click(at, s("one_step", lang))
    status = at.session_state[STATUS]
    assert status["state"] == "paused" and status["step"] == 1
    assert loss_points(at, lang) == 1  # the step's loss is a point on the curve
    # the settings are fixed while a run is open
    assert at.number_input(key="tcnn_epochs").disabled

    click(at, s("one_step", lang))
    assert at.session_state[STATUS]["step"] == 2 and loss_points(at, lang) == 2

    click(at, s("stop", lang))
    assert at.session_state[STATUS]["state"] == "stopped"
    stopped_at = at.session_state[STATUS]["step"]
    time.sleep(1.5)
    at.run()
    assert at.session_state[STATUS]["step"] == stopped_at
    assert any(s("state_stopped", lang) in x for x in texts(at))
    # the run is kept for comparison, and its settings are free again
    assert any(c.label.startswith(s("run_label", lang, n=1, settings="", end="", step="", total="")[:4])
               for c in at.checkbox)
    assert not at.number_input(key="tcnn_epochs").disabled

    upload(at, b"this is not a checkpoint")
    assert s("err_bad_checkpoint", lang) in [e.value for e in at.error]
    assert s("upload_kept", lang) in [i.value for i in at.info]
    assert at.session_state[STATUS]["state"] == "stopped" and at.session_state[STATUS]["step"] == stopped_at


def test_oversized_batch_is_refused_with_the_estimate():
    at = open_page("en", tcnn_batch=4096)
    errors = [e.value for e in at.error]
    assert any("MiB" in e and "2,048.0" in e for e in errors), errors
    assert not [b for b in at.button if b.label == s("start", "en")]  # nothing to start
    assert any("≈" in c.value and "MiB" in c.value for c in at.caption)


def _checkpoint(kind: str, config, steps: int = 2) -> bytes:
    tr = Trainer(make_task(kind, config), OptimConfig("adam", 3e-3, "one_cycle"), RunConfig(seed=3, report_every=1))
    for _ in range(steps):
        tr.step_once()
        deadline = time.monotonic() + 30
        while tr.step < _ + 1 and time.monotonic() < deadline:
            time.sleep(0.02)
    tr.pause() if tr.state == "running" else None
    data = tr.to_bytes()
    tr.close()
    return data


def test_a_checkpoint_restores_run_settings_and_step():
    data = _checkpoint("cnn", CnnConfig(batch_size=32, epochs=3, augment=False), steps=2)
    at = open_page("en")
    upload(at, data)
    assert at.session_state[STATUS]["step"] == 2 and at.session_state[STATUS]["state"] == "idle"
    assert any(s("restored", "en", step=2) == x.value for x in at.success)
    assert at.number_input(key="tcnn_epochs").value == 3
    assert at.session_state["tcnn_batch"] == 32 and at.session_state["tcnn_augment"] is False
    assert at.session_state["cnn_seed"] == 3
    # it continues from there
    click(at, s("one_step", "en"))
    assert at.session_state[STATUS]["step"] == 3


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_foreign_and_other_task_checkpoints_are_refused(lang):
    at = open_page(lang)
    seed_cnn = ROOT / "assets" / "seed_cnn.pt"
    if seed_cnn.exists():
        upload(at, seed_cnn.read_bytes(), "seed_cnn.pt")
        assert s("err_foreign_checkpoint", lang) in [e.value for e in at.error]
    seq = _checkpoint("seq", SeqConfig(steps=20), steps=1)
    upload(at, seq, "seq.pt")
    assert s("err_wrong_task", lang, got="seq") in [e.value for e in at.error]
    assert at.session_state[STATUS]["step"] == 0 and at.session_state[STATUS]["state"] == "idle"
