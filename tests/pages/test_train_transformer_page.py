"""The Transformer training page under AppTest: one step draws a point, Stop stops, bad and
other-task checkpoints change nothing, head/d_model checks, attention grid. English, plus one
Chinese smoke test."""

from __future__ import annotations

import json

from engine.lab.tasks import CnnConfig
from tests.pages.apptest import plotly_array
from tests.pages.training_pages import (
    checkpoint,
    open_page,
    s,
    step_then_stop,
    untranslated,
    upload,
    zh_smoke,
)

PAGE = "views/train_transformer.py"
STATUS = "seq_status"


def test_step_draws_a_point_stop_stops_and_a_bad_file_changes_nothing():
    at = open_page(PAGE)
    assert not untranslated(at)
    assert at.title[0].value == s("title", "en", "train_transformer")
    assert not at.error
    stopped_at = step_then_stop(at, STATUS, "en", lambda at: at.radio(key="tseq_task").disabled)
    assert not untranslated(at)
    upload(at, b"PK\x03\x04 damaged")
    assert s("err_bad_checkpoint", "en") in [e.value for e in at.error]
    assert at.session_state[STATUS]["step"] == stopped_at
    upload(at, checkpoint("cnn", CnnConfig(epochs=1)), "cnn.pt")
    assert s("err_wrong_task", "en", got="cnn") in [e.value for e in at.error]
    assert at.session_state[STATUS]["state"] == "stopped"


def test_one_feature_per_head_runs():
    """d_model = 8 with h = 8 heads: d_k = 1 (every offered pair divides d_model)."""
    at = open_page(PAGE, tseq_d=8, tseq_h=8)
    assert not at.error
    assert any("d_k = 1" in c.value for c in at.caption)


def test_attention_heatmaps_are_the_probe_of_the_model():
    at = open_page(PAGE)
    charts = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    grids = [c for c in charts if len(c["data"]) == 8 and all(d["type"] == "heatmap" for d in c["data"])]
    assert grids, "no 2×4 attention grid"
    for d in grids[0]["data"]:
        z = plotly_array(d["z"])
        assert z.shape == (8, 8)
        assert abs(z.sum(axis=1) - 1).max() < 1e-5  # every query's weights sum to 1
    assert any(s("mass_header", "en", "train_transformer") == m.value for m in at.markdown)


def test_the_page_in_chinese():
    zh_smoke(PAGE, STATUS, "train_transformer")
