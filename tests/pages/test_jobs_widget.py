"""widgets.jobs under AppTest: start, progress, the result kept across reruns, stop, the time
limit's translated message, and a refusal when the server is busy."""

import time
from pathlib import Path

from streamlit.testing.v1 import AppTest

from engine.lab import jobs

APP = str(Path(__file__).resolve().parent / "jobs_app.py")
WAIT_S = 60


def _app(**state) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=30)
    for key, value in state.items():
        at.session_state[key] = value
    at.run()
    assert not at.exception
    return at


def _rerun_until(at: AppTest, text: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        at.run()
        shown = " ".join(m.value for m in at.markdown) + " ".join(e.value for e in at.error)
        shown += " ".join(i.value for i in at.info)
        if text in shown:
            return
        time.sleep(0.1)
    raise AssertionError(f"{text!r} never shown")


def test_a_job_runs_to_its_result_which_stays_on_the_page():
    at = _app()
    assert not at.button(key="demo__stop").value and at.button(key="demo__stop").disabled
    at.button(key="demo__start").click().run()
    _rerun_until(at, "sum 6")
    at.run()
    assert "sum 6" in [m.value for m in at.markdown] and not at.button(key="demo__start").disabled


def test_stop_ends_a_running_job_with_a_message():
    at = _app(sleep=True)
    at.button(key="demo__start").click().run()
    assert at.button(key="demo__start").disabled and not at.button(key="demo__stop").disabled
    assert at.get("progress")  # the live fragment's bar
    at.button(key="demo__stop").click().run()
    _rerun_until(at, "Stopped after")


def test_the_time_limit_and_a_busy_server_are_said_plainly(monkeypatch):
    at = _app(sleep=True, limit=0.5)
    at.button(key="demo__start").click().run()
    _rerun_until(at, "time limit of 0 s")  # round(0.5) = 0
    monkeypatch.setattr(jobs, "MAX_RUNNING", 0)
    at.button(key="demo__start").click().run()
    assert any("already running 0" in e.value for e in at.error)
