"""The backpropagation page under AppTest: it renders, the gradients it shows equal autograd's
(recomputed here independently), the edge picker and the stage picker work, bad expressions and
a bad learning rate get a clear message while the rest of the page keeps working; one Chinese smoke test."""

from __future__ import annotations

import json
import math

import numpy as np
import torch
import torch.nn.functional as F
from streamlit.testing.v1 import AppTest

import lessons
from engine.data.digits import embedded_mnist
from engine.models.cnn import load_network
from tests.pages.apptest import open_page, plotly_array

PAGE = "views/backprop/page.py"


def _text(at: AppTest) -> str:
    parts = [str(e.value) for e in [*at.title, *at.header, *at.markdown, *at.latex, *at.caption,
                                   *at.success, *at.warning, *at.info, *at.error]]
    parts += [f"{m.label} {m.value}" for m in at.metric] + [s.label for s in at.selectbox]
    return "\n".join(parts)


def _chart(at: AppTest, key: str, lang: str = "en") -> dict:
    title = lessons.text("backprop", key, lang)
    for chart in at.get("plotly_chart"):
        spec = json.loads(chart.proto.spec)
        if spec["layout"].get("title", {}).get("text") == title:
            return spec
    raise AssertionError(f"no chart titled {title!r}")


def _autograd_on_default_digit():
    """The page's default digit (held-out digit 0, its dataset label) through autograd, independently."""
    split = embedded_mnist()
    model = load_network().model64
    x = torch.as_tensor(split.x_test[0], dtype=torch.float64)[None, None].requires_grad_(True)
    y = torch.tensor([int(split.y_test[0])])
    z = model(x)
    loss = F.cross_entropy(z, y)
    gz, gx, gW5 = torch.autograd.grad(loss, [z, x, model.fc2.weight])
    return gz[0].numpy(), gx[0, 0].abs().numpy(), gW5.numpy(), int(y)


def test_page_renders_and_shows_autograd_gradients():
    at = open_page(PAGE)
    text = _text(at)
    assert at.title[0].value == lessons.text("backprop", "title", "en")
    assert "⟦" not in text
    assert len(at.get("graphviz_chart")) == 2
    # the small graph: sigmoid(w*x + b) at the default values, against autograd computed here
    w, x, b = (torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in (0.5, 2.0, -1.0))
    gw, gx, gb = torch.autograd.grad(torch.sigmoid(w * x + b), (w, x, b))
    for name, g in (("w", gw), ("x", gx), ("b", gb)):
        assert f"∂f/∂{name} = {float(g):.4g}" in text
    # the CNN: ∂L/∂z5 bars, the saliency map and ∂L/∂W5, each equal to autograd's
    gz, sal, gW5, label = _autograd_on_default_digit()
    assert next(s for s in at.selectbox if (s.key or "").startswith("bp_label_")).value == label
    assert np.allclose(plotly_array(_chart(at, "fig_dz5")["data"][0]["y"]), gz, atol=1e-10)
    assert np.allclose(plotly_array(_chart(at, "fig_saliency")["data"][0]["z"]), sal, atol=1e-10)
    at.selectbox(key="bp_stage").set_value("fc2").run()
    assert not at.exception
    assert np.allclose(plotly_array(_chart(at, "fig_dW5")["data"][0]["z"]), gW5, atol=1e-10)
    # the three torch checks pass: the small graph, this stage, the whole backward pass
    passed = " ".join(str(s.value) for s in at.success)
    for ref in ("graph_check_ref", "stage_check_ref", "check_ref"):
        assert lessons.text("backprop", ref, "en") in passed, ref
    assert not [e for e in at.error]


def test_edge_picker_explains_the_chosen_edge():
    at = open_page(PAGE)
    at.text_input(key="bp_expr").set_value("x*y + sin(x)").run()
    picker = next(s for s in at.selectbox if (s.key or "").startswith("bp_edge_"))
    labels = list(picker.options)  # AppTest gives the displayed labels
    assert len(labels) == 5  # u1 → f, u2 → f, x → u2 = sin(x), x → u1 = x × y, y → u1
    picker.set_value(labels.index("x → u2 = sin(x)")).run()
    tex = "\n".join(str(e.value) for e in at.latex)
    assert r"\frac{\partial f}{\partial x} \mathrel{+}=" in tex and r"\cos x" in tex
    # at the defaults x = 2, y = −3: the share cos 2, and ∂f/∂x = y + cos x
    assert f"{math.cos(2.0):.4f}" in tex and f"{-3.0 + math.cos(2.0):.4f}" in tex


def test_bad_expressions_and_steps_keep_the_page_working():
    at = open_page(PAGE)
    cases = {
        "1 + 2": lessons.text("backprop", "err_graph_no_variables", "en"),
        "a.b + x": "a.b",
        "x.__class__": "__class__",
        "(x + ": "(",
    }
    for text, needle in cases.items():
        at.text_input(key="bp_expr").set_value(text).run()  # a fresh element each run
        assert not at.exception, text
        errors = " ".join(str(e.value) for e in at.error)
        assert needle in errors, (text, errors)
        assert len(at.get("graphviz_chart")) == 0
        # the CNN part still renders
        assert _chart(at, "fig_saliency") and any(s.key == "bp_stage" for s in at.selectbox)
    at.text_input(key="bp_expr").set_value("log(x)").run()
    at.number_input(key="bp_val_x").set_value(0.0).run()
    assert not at.exception
    assert any("−∞" in str(w.value) for w in at.warning)
    # a step too long: the loss goes up, said plainly
    at.number_input(key="bp_eta").set_value(100.0).run()
    assert not at.exception
    assert any("UP" in str(w.value) for w in at.warning)


def test_chinese_smoke():
    at = open_page(PAGE, "zh")
    text = _text(at)
    assert at.title[0].value == lessons.text("backprop", "title", "zh")
    assert "⟦" not in text
    for english in ("Start from an example", "Stage of the backward pass", "One step of gradient descent",
                    "Our graph", "Saliency"):
        assert english not in text
