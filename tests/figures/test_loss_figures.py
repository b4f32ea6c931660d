"""figures.loss draws what the engine.ops.loss traces hold, and its LaTeX carries the live numbers."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from engine.ops.loss import loss_lesson
from figures import loss as fl
from figures.common import as_numpy
from tests.pages.apptest import plotly_array


@pytest.fixture(scope="module")
def lesson():
    g = torch.Generator().manual_seed(0)
    z = torch.randn(10, generator=g, dtype=torch.float64) * 4
    return loss_lesson(z, 3)


def test_probability_bars_are_p_with_the_true_class_marked(lesson):
    tr = lesson.trace
    bar = fl.probability_figure(tr, title="p").to_dict()["data"][0]
    assert np.allclose(plotly_array(bar["y"]), as_numpy(tr.p))
    colours = bar["marker"]["color"]
    assert colours[tr.y] == fl.TRUE and colours.count(fl.TRUE) == 1


def test_gradient_bars_are_the_gradient_on_a_shared_symmetric_axis(lesson):
    tr = lesson.trace
    fig = fl.gradient_figure(tr.grad_ce, tr.y, ymax=2.0).to_dict()
    bar = fig["data"][0]
    assert np.allclose(plotly_array(bar["y"]), as_numpy(tr.p - tr.Y))
    assert fig["layout"]["yaxis"]["range"] == [-2.6, 2.6]
    # red where positive (descent lowers the logit), blue where negative
    signs = np.sign(as_numpy(tr.grad_ce))
    assert all((c == "#DC2626") == (s > 0) for c, s in zip(bar["marker"]["color"], signs))


def test_saturation_figure_plots_both_norms_and_marks_the_learners_point(lesson):
    s = lesson.saturation
    data = fl.saturation_figure(s, names=("ce", "se"), start_name="you").to_dict()["data"]
    ce, se, root2, you = data
    assert np.allclose(ce["y"], as_numpy(s.norm_ce)) and np.allclose(se["y"], as_numpy(s.norm_se))
    assert np.allclose(ce["x"], as_numpy(s.margin))
    assert root2["y"] == [math.sqrt(2)] * 2
    assert you["x"][0] == pytest.approx(float(s.margin[s.start]))
    assert ce["y"][-1] == pytest.approx(math.sqrt(2), abs=1e-4) and se["y"][-1] < 1e-3


def test_underflow_figure_draws_infinity_as_markers_past_the_break(lesson):
    u = lesson.underflow
    fig = fl.underflow_figure(u, names=("a", "b", "c")).to_dict()
    exact, lse, article, inf = fig["data"]
    assert len(article["x"]) + len(inf["x"]) == len(u.gaps)
    assert min(inf["x"]) >= u.break_gap > max(article["x"])
    assert np.isfinite(article["y"]).all() and np.allclose(lse["y"], as_numpy(u.lse32))
    assert fig["layout"]["shapes"][0]["x0"] == u.break_gap


def test_latex_carries_the_live_numbers(lesson):
    tr = lesson.trace
    ce = fl.ce_latex(tr)
    assert f"-\\log {fl.num(tr.p[tr.y], 4)}" in ce and ce.count(fl.num(tr.L_ce, 4)) == 2
    se = fl.se_latex(tr)
    assert se.count("^2") == tr.K + 1 and fl.num(tr.L_se, 4) in se  # the symbol line + ten terms
    assert fl.num(tr.grad_ce[tr.y], 4) in fl.ce_grad_latex(tr)
    assert fl.num(tr.grad_se[tr.y], 4) in fl.se_grad_latex(tr)
    assert f"{lesson.underflow.break_gap:.3f}" in fl.underflow_latex(lesson.underflow)
    for tex in (ce, se, fl.definitions_latex()):
        assert tex.count("{") == tex.count("}")
