"""figures.optim draws what the optimiser traces hold: paths, the cursor, losses, schedules, and
each update written out with the trace's own numbers."""

from __future__ import annotations

import numpy as np
import pytest

from engine.lab.schedule import CURVES, curves
from engine.ops.optim import OPTIMIZERS, run
from engine.ops.surfaces import grid, himmelblau, quadratic
from figures import optim as fo
from tests.pages.apptest import plotly_array


@pytest.fixture(scope="module")
def race():
    s = himmelblau()
    return s, [run(o, s.f, s.start, 0.01, 12, grad=s.grad) for o in OPTIMIZERS]


def _arr(v):
    return plotly_array(v)


def test_race_figure_draws_every_path_and_the_cursor(race):
    s, traces = race
    fig = fo.race_figure(grid(s, 21), traces, 5, log=True, minima=s.minima, title="race")
    data = fig.to_dict()["data"]
    assert data[0]["type"] == "contour"
    Z = _arr(data[0]["z"])
    assert Z.shape == (21, 21) and Z.min() == pytest.approx(np.log10(1.0))  # log10(1 + f − min f) ≥ 0
    assert len(data[1]["x"]) == 4  # the four minima
    paths = data[2::2]
    dots = data[3::2]
    assert [p["name"] for p in paths] == [fo.NAMES[o] for o in OPTIMIZERS]
    for tr, path, dot in zip(traces, paths, dots, strict=True):
        assert np.allclose(_arr(path["x"]), tr.points[:, 0].numpy())
        assert np.allclose(_arr(path["y"]), tr.points[:, 1].numpy())
        assert dot["x"][0] == pytest.approx(float(tr.points[5, 0]))


def test_loss_figure_is_log_when_positive_and_marks_divergence():
    s = quadratic(100.0)
    traces = [run(o, s.f, s.start, 0.1, 40, grad=s.grad) for o in ("sgd", "adam")]
    assert traces[0].diverged is not None and traces[1].diverged is None
    fig = fo.loss_figure(traces, 3, names={"sgd": "A", "adam": "B"}).to_dict()
    assert fig["layout"]["yaxis"]["type"] == "log"
    assert np.allclose(_arr(fig["data"][0]["y"]), traces[0].losses.numpy())
    assert fig["data"][0]["name"] == "A" and fig["data"][1]["mode"] == "markers"  # the cross
    assert fig["layout"]["shapes"][0]["x0"] == 3
    saddle = [run("sgd", lambda p: p[..., 0] ** 2 - p[..., 1] ** 2, (1.0, 0.1), 0.1, 10)]
    assert fo.loss_figure(saddle, None).to_dict()["layout"]["yaxis"]["type"] == "linear"


def test_schedule_figure_plots_the_curves():
    cs = curves(0.1, 30)
    fig = fo.schedule_figure(cs, list(CURVES)).to_dict()
    assert len(fig["data"]) == 5
    for c, line in zip(cs, fig["data"], strict=True):
        assert np.allclose(_arr(line["y"]), c.lr) and len(line["x"]) == 30


def test_update_latex_writes_the_traces_numbers():
    s = quadratic(10.0)
    adam = run("adam", s.f, s.start, 0.1, 3, grad=s.grad)
    text = fo.update_latex(adam, 0)
    assert r"\hat m_{1}" in text and r"\hat v_{1}" in text and text.startswith(r"\begin{aligned}")
    assert fo._v(float(adam.m_hat[0, 0])) in text and fo._v(float(adam.points[1, 1])) in text
    assert fo._v(1 - 0.9) in text  # the bias correction 1 − β₁¹
    for o in OPTIMIZERS:
        tr = run(o, s.f, s.start, 0.1, 3, grad=s.grad)
        assert fo._v(float(tr.points[2, 0])) in fo.update_latex(tr, 1)
    for o, hp in [("sgd", {"momentum": 0.5}), ("rmsprop", {"momentum": 0.5})]:
        tr = run(o, s.f, s.start, 0.1, 3, grad=s.grad, **hp)
        text = fo.update_latex(tr, 1)
        assert r"b_{2} &= 0.5\, b_{1}" in text and fo._v(float(tr.velocity[1, 1])) in text
    wd = run("sgd", s.f, s.start, 0.1, 2, grad=s.grad, weight_decay=0.5)
    assert r"\leftarrow g_{1} + 0.5" in fo.update_latex(wd, 0)


def test_numbers_are_latex():
    assert fo._v(1.5e-9) == r"1.5\!\times\!10^{-9}"
    assert fo._v(float("inf")) == r"\infty" and fo._v(0.25) == "0.25"
    assert fo.rules_latex().count(r"\\") == 6
