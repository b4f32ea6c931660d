"""The char-RNN training page under AppTest: one step draws a point, Stop stops, bad and
other-task checkpoints change nothing, pasted text and probe checks, gates per cell. English,
plus one Chinese smoke test."""

from __future__ import annotations

from engine.lab.tasks import CnnConfig
from tests.pages.training_pages import (
    checkpoint,
    open_page,
    s,
    step_then_stop,
    untranslated,
    upload,
    zh_smoke,
)

PAGE = "views/train_lstm.py"
STATUS = "char_status"


def test_step_draws_a_point_stop_stops_and_a_bad_file_changes_nothing():
    at = open_page(PAGE)
    assert not untranslated(at)
    assert at.title[0].value == s("title", "en", "train_lstm")
    assert not at.error
    stopped_at = step_then_stop(at, STATUS, "en", lambda at: at.radio(key="tlstm_cell").disabled)
    assert not untranslated(at)
    upload(at, b"PK\x03\x04 damaged")
    assert s("err_bad_checkpoint", "en") in [e.value for e in at.error]
    assert at.session_state[STATUS]["step"] == stopped_at
    upload(at, checkpoint("cnn", CnnConfig(epochs=1)), "cnn.pt")
    assert s("err_wrong_task", "en", got="cnn") in [e.value for e in at.error]
    assert at.session_state[STATUS]["state"] == "stopped"


def test_pasted_text_too_short_and_empty_probe_are_handled():
    at = open_page(PAGE, tlstm_source="paste", tlstm_text="too short")
    assert any("200" in e.value for e in at.error), [e.value for e in at.error]
    at = open_page(PAGE, tlstm_probe="")
    assert s("probe_empty", "en", "train_lstm") in [i.value for i in at.info]


def test_gates_follow_the_cell():
    at = open_page(PAGE, tlstm_cell="gru")
    assert at.radio(key="tlstm_gate").options == [s(f"gate_{g}", "en", "train_lstm") for g in "rznh"]


def test_the_page_in_chinese():
    zh_smoke(PAGE, STATUS, "train_lstm")
