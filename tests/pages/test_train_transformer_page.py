"""The Transformer training page under AppTest: both languages, one step draws a point, Stop
stops, bad and other-task checkpoints change nothing, head/d_model checks, attention grid."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

import lessons
from engine.lab.tasks import CnnConfig, make_task
from engine.lab.trainer import OptimConfig, RunConfig, Trainer
from tests.pages.apptest import plotly_array

ROOT = Path(__file__).resolve().parents[2]
PAGE = str(ROOT / "views" / "train_transformer.py")
STATUS = "seq_status"


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
    assert at.title[0].value == s("title", lang, "train_transformer")
    assert at.session_state[STATUS]["state"] == "idle" and at.session_state[STATUS]["step"] == 0
    assert not at.error
    click(at, s("one_step", lang))
    assert at.session_state[STATUS]["state"] == "paused" and at.session_state[STATUS]["step"] == 1
    assert loss_points(at, lang) == 1
    assert at.radio(key="tseq_task").disabled
    click(at, s("stop", lang))
    stopped_at = at.session_state[STATUS]["step"]
    time.sleep(1.0)
    at.run()
    assert at.session_state[STATUS]["state"] == "stopped" and at.session_state[STATUS]["step"] == stopped_at
    assert any(s("state_stopped", lang) in x for x in texts(at))
    assert not [x for x in texts(at) if "⟦" in x]
    upload(at, b"PK\x03\x04 damaged")
    assert s("err_bad_checkpoint", lang) in [e.value for e in at.error]
    assert at.session_state[STATUS]["step"] == stopped_at
    cnn = _checkpoint("cnn", CnnConfig(epochs=1), steps=1)
    upload(at, cnn, "cnn.pt")
    assert s("err_wrong_task", lang, got="cnn") in [e.value for e in at.error]
    assert at.session_state[STATUS]["state"] == "stopped"


def _checkpoint(kind: str, config, steps: int = 1) -> bytes:
    tr = Trainer(make_task(kind, config), OptimConfig("adam", 3e-3, "one_cycle"), RunConfig(seed=1, report_every=1))
    for i in range(steps):
        tr.step_once()
        deadline = time.monotonic() + 30
        while tr.step < i + 1 and time.monotonic() < deadline:
            time.sleep(0.02)
    data = tr.to_bytes()
    tr.close()
    return data


def test_one_feature_per_head_runs():
    """d_model = 8 with h = 8 heads: d_k = 1 (every offered pair divides d_model)."""
    at = open_page("zh", tseq_d=8, tseq_h=8)
    assert not at.error
    assert any("d_k = 1" in c.value for c in at.caption)


def test_attention_heatmaps_are_the_probe_of_the_model():
    at = open_page("en")
    charts = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    grids = [c for c in charts if len(c["data"]) == 8 and all(d["type"] == "heatmap" for d in c["data"])]
    assert grids, "no 2×4 attention grid"
    for d in grids[0]["data"]:
        z = plotly_array(d["z"])
        assert z.shape == (8, 8)
        assert abs(z.sum(axis=1) - 1).max() < 1e-5  # every query's weights sum to 1
    assert any(s("mass_header", "en", "train_transformer") == m.value for m in at.markdown)
