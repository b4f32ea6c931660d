"""The training knobs page's regularisation section (views/knobs/regularise.py) under AppTest,
through a one-section app (tests/pages/knobs_reg_app.py). run_every ticks cannot be driven here,
so a run is taken One step at a time and read from the trainer's own state. English, plus one
Chinese smoke test."""

from __future__ import annotations

import json
import re

import streamlit as st
from streamlit.testing.v1 import AppTest

import lessons
from tests.pages.apptest import ROOT
from tests.pages.training_pages import click, texts, untranslated

APP = ROOT / "tests" / "pages" / "knobs_reg_app.py"
STATUS = "reg_status"


def r(key: str, lang: str = "en", **kw) -> str:
    return lessons.text("knobs_reg", key, lang, **kw)


def tr_(key: str, lang: str = "en", **kw) -> str:
    return lessons.text("training", key, lang, **kw)


def open_section(lang: str = "en", **state) -> AppTest:
    """The section with no trainer and no kept runs (AppTest runs share one server-wide cache)."""
    st.cache_resource.clear()
    at = AppTest.from_file(str(APP), default_timeout=30)
    at.session_state["lang"] = lang
    for key, value in state.items():
        at.session_state[key] = value
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def chart(at: AppTest, title: str) -> dict:
    for c in at.get("plotly_chart"):
        spec = json.loads(c.proto.spec)
        if (spec["layout"].get("title") or {}).get("text") == title:
            return spec
    raise AssertionError(f"no chart {title!r}")


def names(at: AppTest) -> list[str]:
    return [d["name"] for d in chart(at, r("fig_loss"))["data"]]


def test_renders_with_the_default_run_and_the_checks():
    at = open_section()
    assert not untranslated(at) and not at.error
    assert at.header[0].value == r("header")
    run = at.session_state["reg_run"]
    assert run["config"] == {"dataset": "mnist-5k", "batch_size": 50, "epochs": 50, "augment": False,
                             "train_size": 500, "dropout": 0.0, "start": "seed", "prune": "none", "sparsity": 0.0}
    assert run["optim"]["optimizer"] == "adam" and run["optim"]["schedule"] == "constant"
    assert run["optim"]["weight_decay"] == 0.0 and run["run"]["eval_every"] == 25
    assert at.session_state[STATUS] == {"state": "idle", "step": 0, "total": 500, "train_points": 0,
                                        "eval_points": 0}
    for key in ("start", "pause", "one_step", "stop"):
        assert tr_(key) in [b.label for b in at.button]
    # the worked example: x, m, y = x·m/(1 − p) with p = 0.5 while dropout is off, and the check
    latex = [str(x.value) for x in at.latex]
    assert any(r"\frac{x \odot m}{1 - 0.5}" in x for x in latex)
    assert any(r"L_{\text{total}} = L + \tfrac{\lambda}{2}\lVert\theta\rVert^2 = L + \tfrac{0}{2} \cdot 242.2" in x
               for x in latex)  # ‖θ₀‖² of the seed-0 weights, before any step
    assert any(r("example_p_note", p=0.5) == c.value for c in at.caption)
    assert [s.value for s in at.success]  # torch's Adam and F.dropout agree


def test_the_switches_build_the_run():
    at = open_section(reg_lambda=1e-3, reg_p=0.5, reg_augment=True)
    assert not at.error
    run = at.session_state["reg_run"]
    assert run["config"]["dropout"] == 0.5 and run["config"]["augment"] is True
    assert run["config"]["train_size"] == 500 and run["optim"]["weight_decay"] == 1e-3
    assert any(r"\frac{x \odot m}{1 - 0.5}" in str(x.value) for x in at.latex)
    # changing a switch before a run starts builds the run anew
    at.select_slider(key="reg_p").set_value(0.25).run()
    assert at.session_state["reg_run"]["config"]["dropout"] == 0.25
    # …and the run the learner starts is still shown as run 1, labelled by its switches
    click(at, tr_("one_step"))
    assert names(at)[0] == r("line_train", n=1, label="λ = 0.001 · p = 0.25 · " + r("aug_short"))
    click(at, tr_("stop"))


def test_out_of_bounds_switches_get_a_translated_message_and_the_defaults():
    at = open_section(reg_p=1.5)
    limit = lessons.text("common", "err_limit", "en", name=r("name_dropout"), value=1.5, low=0.0, high=0.9)
    assert [e.value for e in at.error] == [limit]
    assert at.session_state["reg_run"]["config"]["dropout"] == 0.0 and not at.exception
    at = open_section(reg_lambda=5.0)
    assert r("name_weight_decay") in at.error[0].value and "0.1" in at.error[0].value
    at = open_section(reg_augment="yes")
    assert at.error[0].value.startswith(r("err_switch", value="")[:40])
    assert at.session_state["reg_run"]["config"]["augment"] is False


def test_one_step_runs_and_a_second_run_is_drawn_over_the_first_until_cleared():
    at = open_section()
    click(at, tr_("one_step"))
    assert at.session_state[STATUS]["state"] == "paused" and at.session_state[STATUS]["step"] == 1
    assert at.select_slider(key="reg_p").disabled  # the switches are fixed while a run is open
    click(at, tr_("stop"))
    at.select_slider(key="reg_p").set_value(0.5).run()
    click(at, tr_("one_step"))
    assert at.session_state[STATUS]["step"] == 1 and at.session_state["reg_run"]["config"]["dropout"] == 0.5
    # the penalty written out with this run's last training loss L
    assert any(re.search(r"= \d+\.\d{4} \+ \\tfrac\{0\}\{2\}", str(x.value)) for x in at.latex)
    shown = names(at)
    assert r("line_train", n=1, label=r("none_short")) in shown
    assert r("line_train", n=2, label="p = 0.5") in shown
    table = at.dataframe[0].value
    assert table[r("col_run")].tolist() == [2, 1]
    click(at, tr_("stop"))
    click(at, r("clear"))
    # only the current run is left, numbered anew
    assert names(at) == [r("line_train", n=1, label="p = 0.5"), r("line_held_out", n=1, label="p = 0.5")]
    assert at.dataframe[0].value[r("col_run")].tolist() == [1]


def test_chinese_smoke():
    at = open_section("zh")
    assert not at.exception and not at.error and not untranslated(at)
    assert at.header[0].value == r("header", "zh")
    assert re.search(r"[\u4e00-\u9fff]", at.markdown[0].value)
    shown = texts(at)
    for english in (r("train_help"), r("overlay_help"), lessons.section("knobs_reg", "intuition", "en")):
        assert english not in shown
    assert tr_("one_step", "zh") in [b.label for b in at.button]


def test_the_knobs_page_draws_this_section():
    """The page itself (whose own tests render it whole) calls the section at module level, so
    this file's one-section app tests what the page shows."""
    import ast

    tree = ast.parse((ROOT / "views" / "knobs" / "page.py").read_text(encoding="utf-8"))
    calls = [n for n in tree.body if isinstance(n, ast.Expr) and isinstance(n.value, ast.Call)
             and getattr(n.value.func, "id", None) == "regularisation_section"]
    assert len(calls) == 1
