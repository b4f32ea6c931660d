"""The pruning page under AppTest: it renders every section, the controls change the masks, the
counts and the ringed point, a bad sparsity gets a translated message, one fine-tune step runs in
the page's own slot with the mask held; and one Chinese smoke test."""

from __future__ import annotations

import json

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

import lessons
from tests.pages.apptest import open_page, plotly_array

PAGE = "views/prune/page.py"


@pytest.fixture(scope="module", autouse=True)
def _curves():
    """The page's curves (36 prunes scored on 1,000 digits, once per process through the page's own
    st.cache_resource), computed before the first AppTest run so its 30 s timeout covers the page only."""
    from views.prune import parts

    return parts.all_curves(parts.mtime())


def _app(lang: str = "en", **state) -> AppTest:
    return open_page(PAGE, lang, **state)


def _text(at: AppTest) -> str:
    elements = [*at.title, *at.header, *at.subheader, *at.markdown, *at.latex, *at.caption,
                *at.success, *at.warning, *at.info, *at.error]
    parts = [str(e.value) for e in elements] + [f"{m.label} {m.value}" for m in at.metric]
    parts += [str(json.loads(c.proto.spec)["layout"].get("title", {}).get("text", "")) for c in at.get("plotly_chart")]
    return "\n".join(parts)


def _chart(at: AppTest, key: str, lang: str = "en") -> dict:
    title = lessons.text("prune", key, lang)
    for c in at.get("plotly_chart"):
        spec = json.loads(c.proto.spec)
        if spec["layout"].get("title", {}).get("text") == title:
            return spec
    raise AssertionError(f"no chart titled {title!r}")


def _pruned_cells(at: AppTest) -> int:
    z = plotly_array(_chart(at, "masks_title")["data"][1]["z"])
    return int(np.nansum(z))


def test_page_renders_every_section_and_reacts_to_its_controls():
    at = _app()
    assert not at.exception and not at.error
    assert at.title[0].value == lessons.text("prune", "title", "en")
    text = _text(at)
    assert "⟦" not in text
    for key in ("formula_header", "masks_header", "curve_header", "counts_header", "ft_header", "next_header"):
        assert lessons.text("prune", key, "en") in text
    # default: per layer at 50 %: conv1 loses round(0.5·288) = 144 weights; three curves of 12 points
    assert _pruned_cells(at) == 144
    curves = _chart(at, "curve_title")["data"]
    assert len(curves) == 4 and all(len(plotly_array(c["y"])) == 12 for c in curves[:3])
    assert [s.value for s in at.success] and not at.error  # the torch check passed
    assert len(at.dataframe) == 2  # totals, and layer by layer
    assert len(at.dataframe[0].value) == 2  # unstructured: no smaller network

    at.radio(key="prune_method").set_value("channels").run()
    assert not at.exception
    assert _pruned_cells(at) == 16 * 9  # 16 of 32 whole filters
    assert len(at.dataframe[0].value) == 3  # the smaller network's row
    assert "max |Δ|" in _text(at)
    ring = _chart(at, "curve_title")["data"][-1]
    assert plotly_array(ring["x"]).tolist() == [50.0]

    at.select_slider(key="prune_s").set_value(0.9).run()
    assert _pruned_cells(at) == round(0.9 * 32) * 9
    assert [s.value for s in at.success]


def test_a_sparsity_outside_its_range_gets_a_translated_message():
    at = _app(prune_s=1.5)
    assert not at.exception
    assert any("0.95" in e.value and "1.5" in e.value for e in at.error)
    assert at.session_state["prune_s"] == 0.5  # the defaults are back and the page works
    assert _pruned_cells(at) == 144


def test_a_method_the_page_does_not_offer_gets_a_message_and_the_defaults():
    at = _app(prune_method="random")
    assert not at.exception
    assert any("random" in e.value for e in at.error)
    assert at.session_state["prune_method"] == "layer"


def test_one_fine_tune_step_runs_in_the_pages_own_slot_with_the_mask():
    at = _app(prune_method="global", prune_s=0.8)
    at.button(key="prune_btn_step").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.session_state["prune_run"] == {"prune": "global", "sparsity": 0.8, "start": "shipped"}
    status = at.session_state["prune_status"]
    assert status["step"] == 1 and status["total"] == 189 and status["state"] == "paused"


def test_chinese_smoke():
    at = _app("zh")
    assert not at.exception
    assert at.title[0].value == lessons.text("prune", "title", "zh")
    text = _text(at)
    assert "⟦" not in text
    for english in ("Held-out accuracy", "What the prune saves", "The three rules", "pruned"):
        assert english not in text


def test_finished_runs_become_fine_tuned_points_and_others_do_not():
    from types import SimpleNamespace

    from engine.lab.records import EvalRecord, MetricsSnapshot
    from views.prune.finetune import OPTIM, run_config, tuned_points
    from views.prune.parts import Choice
    from widgets.training.slot import RunRecord

    def record(n, s, acc, state="finished", reason="done"):
        snap = MetricsSnapshot(evals=(EvalRecord(63, 1.0, 1.0, 0.5, 0.5), EvalRecord(189, 3.0, 3.0, 0.1, acc)))
        return RunRecord(n, run_config(Choice("global", s)), OPTIM, snap, state, reason, 189, 189, 9.0)

    runs = [record(1, 0.9, 0.90), record(2, 0.9, 0.95), record(3, 0.8, 0.97, "stopped", "stopped"),
            record(4, 0.5, 0.99)]
    panel = SimpleNamespace(slot=SimpleNamespace(runs=runs, trainer=None))
    points = sorted((p.s, p.accuracy) for p in tuned_points(panel))
    assert points == [(0.5, 0.99), (0.9, 0.95)]  # the latest run of each sparsity; a stopped run is no point
