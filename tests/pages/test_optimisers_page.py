"""The optimisers page under AppTest: it renders with every section and both torch checks passing,
reacts to κ and the step cursor, says plainly where a walk diverged, refuses a bad learning rate or
a start off the surface with a message and keeps working; one Chinese smoke test."""

from __future__ import annotations

import json

from streamlit.testing.v1 import AppTest

import lessons
from tests.pages.apptest import open_page, plotly_array

PAGE = "views/optimisers/page.py"


def _text(at: AppTest) -> str:
    elements = [*at.title, *at.header, *at.markdown, *at.latex, *at.caption, *at.success, *at.warning,
                *at.info, *at.error]
    parts = [str(e.value) for e in elements] + [f"{m.label} {m.value}" for m in at.metric]
    parts += [w.label for w in [*at.selectbox, *at.slider, *at.select_slider, *at.number_input, *at.multiselect]]
    return "\n".join(parts)


def _chart(at: AppTest, key: str) -> dict:
    return json.loads(at.get("plotly_chart")[[c.proto.id.endswith(key) or key in c.proto.id
                                              for c in at.get("plotly_chart")].index(True)].proto.spec)


def _ok(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def test_renders_every_section_and_the_checks_pass():
    at = open_page(PAGE)
    assert at.title[0].value == "Optimisers on loss surfaces"
    text = _text(at)
    assert "⟦" not in text
    assert len(at.get("plotly_chart")) == 4  # race, loss, sweep, schedules
    deltas = [float(m.value) for m in at.metric]
    assert len(deltas) == 2 and all(0 <= d < 1e-10 for d in deltas)  # torch.optim and the lr schedulers
    assert len(at.success) == 2
    assert len(at.dataframe[0].value) == 6  # all six optimisers race by default
    assert r"\hat m_{1}" in text and r"\hat v_{1}" in text  # Adam's bias correction at the cursor
    # the race draws six paths from the default start
    race = _chart(at, "opt_race")
    paths = [d for d in race["data"] if d.get("mode") == "lines+markers"]
    assert len(paths) == 6 and all(plotly_array(p["x"])[0] == -2.5 for p in paths)


def test_kappa_and_the_cursor_drive_the_race_and_divergence_is_said():
    at = open_page(PAGE)
    at.select_slider(key="opt_kappa").set_value(100).run()
    _ok(at)
    warnings = "\n".join(w.value for w in at.warning)
    # SGD on ½(x² + 100 y²) with η = 0.1: y_t = (−9)^t · 1.5 passes 10⁶ at step 7
    assert "SGD diverged at step 7" in warnings
    assert "Adam diverged" not in warnings
    at.slider(key="opt_cursor").set_value(3).run()
    _ok(at)
    assert any(h.value == "Step 4: from θ_3 to θ_4, written out" for h in at.header)
    assert r"\theta_{4}" in _text(at)


def test_bad_learning_rates_and_starts_are_refused_and_the_page_recovers():
    at = open_page(PAGE)
    for lr, words in [(0.0, "greater than 0"), (-0.5, "greater than 0"), (1e9, "must be between")]:
        at.number_input(key="opt_lr_quadratic").set_value(lr).run()
        _ok(at)
        assert words in "\n".join(e.value for e in at.error)
        assert at.title[0].value == "Optimisers on loss surfaces"
    at.number_input(key="opt_lr_quadratic").set_value(0.1).run()
    at.number_input(key="opt_x0_quadratic").set_value(9.0).run()
    _ok(at)
    assert "lies off this surface's window" in at.error[0].value
    at.number_input(key="opt_x0_quadratic").set_value(1.0).run()
    _ok(at)
    assert not at.error and len(at.get("plotly_chart")) == 4
    at.multiselect(key="opt_which").set_value([]).run()
    _ok(at)
    assert "Pick at least one optimiser" in at.info[-1].value


def test_chinese_smoke():
    at = open_page(PAGE, "zh")
    assert at.title[0].value == "损失曲面上的优化器"
    text = _text(at)
    assert "⟦" not in text
    for english in ("The race", "Too small crawls", "Learning-rate schedules", "Step under the cursor",
                    lessons.section("optimisers", "intuition", "en")[:60]):
        assert english not in text
    # a rerun in Chinese after a control change (choices are labelled alike in both languages)
    at.selectbox(key="opt_surface").set_value("rosenbrock").run()
    _ok(at)
    assert "Rosenbrock 山谷" in _text(at) and "⟦" not in _text(at)


def test_the_cnn_plane_is_computed_on_demand_and_says_what_it_is(monkeypatch):
    """On a tiny plane (5 × 5 points, 8 digits) standing in for the full one: the real one is cached
    once per server and far too slow for a test."""
    import functools

    from engine.ops import landscape
    from views.optimisers import parts

    calls = []

    def tiny(**kw):
        calls.append(kw)
        return functools.partial(original, n=5, span=0.5, digits=8)(**kw)

    original = landscape.cnn_landscape
    monkeypatch.setattr(landscape, "cnn_landscape", tiny)
    caches = (parts._plane_store, parts.contour_grid, parts.walk, parts.gap)
    for c in caches:
        c.clear()
    try:
        at = open_page(PAGE)
        assert not calls  # nothing computed until the learner picks the plane
        at.selectbox(key="opt_surface").set_value("cnn").run()
        _ok(at)
        assert len(calls) == 1 and callable(calls[0]["progress"])
        info = "\n".join(i.value for i in at.info)
        assert "first 8 held-out digits" in info and "5 × 5 grid" in info and "[−0.5, 0.5]²" in info
        assert all(float(m.value) < 1e-10 for m in at.metric)
        race = _chart(at, "opt_race")
        assert plotly_array(race["data"][0]["z"]).shape == (5, 5)
        at.number_input(key="opt_lr_cnn").set_value(0.02).run()
        _ok(at)
        assert len(calls) == 1  # once per server
    finally:  # the tiny plane must not stay cached for a later test
        for c in caches:
            c.clear()
