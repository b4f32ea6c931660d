"""The CNN training page under AppTest (run_every ticks cannot be driven here, so the tests use
One step and read the trainer's own state): one step draws a point, Stop stops, settings are
checked on the server, and checkpoints — good, damaged, foreign, for another task — are
restored or refused with a message that changes nothing. English, plus one Chinese smoke test."""

from __future__ import annotations

from pathlib import Path

from engine.lab.tasks import CnnConfig, SeqConfig
from tests.pages.training_pages import (
    checkpoint,
    click,
    open_page,
    s,
    step_then_stop,
    untranslated,
    upload,
    zh_smoke,
)

ROOT = Path(__file__).resolve().parents[2]
PAGE = "views/train_cnn.py"
STATUS = "cnn_status"


def test_step_draws_a_point_stop_stops_and_a_bad_file_changes_nothing():
    at = open_page(PAGE)
    assert not untranslated(at)
    assert at.title[0].value == s("title", "en", "train_cnn")
    labels = [b.label for b in at.button]
    for key in ("start", "pause", "one_step", "stop"):
        assert s(key, "en") in labels
    assert not at.error

    stopped_at = step_then_stop(at, STATUS, "en", lambda at: at.number_input(key="tcnn_epochs").disabled)
    # the run is kept for comparison, and its settings are free again
    assert any(c.label.startswith(s("run_label", "en", n=1, settings="", end="", step="", total="")[:4])
               for c in at.checkbox)
    assert not at.number_input(key="tcnn_epochs").disabled

    upload(at, b"this is not a checkpoint")
    assert s("err_bad_checkpoint", "en") in [e.value for e in at.error]
    assert s("upload_kept", "en") in [i.value for i in at.info]
    assert at.session_state[STATUS]["state"] == "stopped" and at.session_state[STATUS]["step"] == stopped_at


def test_a_second_step_adds_a_second_point():
    at = open_page(PAGE)
    click(at, s("one_step", "en"))
    click(at, s("one_step", "en"))
    assert at.session_state[STATUS]["step"] == 2
    assert at.session_state[STATUS]["train_points"] == 2


def test_oversized_batch_is_refused_with_the_estimate():
    at = open_page(PAGE, tcnn_batch=4096)
    errors = [e.value for e in at.error]
    assert any("MiB" in e and "2,048.0" in e for e in errors), errors
    assert not [b for b in at.button if b.label == s("start", "en")]  # nothing to start
    assert any("≈" in c.value and "MiB" in c.value for c in at.caption)


def test_a_checkpoint_restores_run_settings_and_step():
    data = checkpoint("cnn", CnnConfig(batch_size=32, epochs=3, augment=False), steps=2, seed=3)
    at = open_page(PAGE)
    upload(at, data)
    assert at.session_state[STATUS]["step"] == 2 and at.session_state[STATUS]["state"] == "idle"
    assert any(s("restored", "en", step=2) == x.value for x in at.success)
    assert at.number_input(key="tcnn_epochs").value == 3
    assert at.session_state["tcnn_batch"] == 32 and at.session_state["tcnn_augment"] is False
    assert at.session_state["cnn_seed"] == 3
    # it continues from there
    click(at, s("one_step", "en"))
    assert at.session_state[STATUS]["step"] == 3


def test_foreign_and_other_task_checkpoints_are_refused():
    at = open_page(PAGE)
    seed_cnn = ROOT / "assets" / "seed_cnn.pt"
    if seed_cnn.exists():
        upload(at, seed_cnn.read_bytes(), "seed_cnn.pt")
        assert s("err_foreign_checkpoint", "en") in [e.value for e in at.error]
    upload(at, checkpoint("seq", SeqConfig(steps=20)), "seq.pt")
    assert s("err_wrong_task", "en", got="seq") in [e.value for e in at.error]
    assert at.session_state[STATUS]["step"] == 0 and at.session_state[STATUS]["state"] == "idle"


def test_the_page_in_chinese():
    zh_smoke(PAGE, STATUS, "train_cnn")
