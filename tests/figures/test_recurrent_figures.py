"""figures.recurrent: the hidden-state heatmap and the gradient-norm curve."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from figures.recurrent import grad_norm_figure, hidden_heatmap, token_label


def test_token_label_makes_whitespace_visible():
    assert token_label(" ") == "␣"
    assert token_label("\n") == "↵"
    assert token_label("a") == "a"


def test_hidden_heatmap_is_units_by_time():
    h = torch.linspace(-0.9, 0.9, 5 * 3).reshape(5, 3)  # T = 5, H = 3
    fig = hidden_heatmap(h, list("ab ab"), title="h", unit_label="unit", step_label="t")
    trace = fig.data[0]
    z = np.asarray(trace.z)
    assert z.shape == (3, 5)
    np.testing.assert_allclose(z, h.T.numpy(), rtol=1e-6)
    # repeated characters stay separate columns: x is the step number, the character a tick label
    assert list(trace.x) == [1, 2, 3, 4, 5]
    assert list(fig.layout.xaxis.ticktext) == ["a", "b", "␣", "a", "b"]
    # tanh range, centred at 0
    assert (trace.zmin, trace.zmax, trace.zmid) == (-1.0, 1.0, 0.0)
    assert fig.layout.title.text == "h"


def test_hidden_heatmap_rejects_mismatched_tokens():
    with pytest.raises(ValueError):
        hidden_heatmap(torch.zeros(4, 2), list("abc"))


def test_hidden_heatmap_grows_with_hidden_size():
    small = hidden_heatmap(torch.zeros(3, 2), list("abc")).layout.height
    large = hidden_heatmap(torch.zeros(3, 16), list("abc")).layout.height
    assert large > small


def test_grad_norm_figure_is_log_scale_over_steps():
    norms = torch.tensor([1e-6, 1e-3, 1.0, 2.83], dtype=torch.float64)
    fig = grad_norm_figure(norms, title="g", x_title="t", y_title="norm")
    assert fig.layout.yaxis.type == "log"
    assert list(fig.data[0].x) == [1, 2, 3, 4]
    np.testing.assert_allclose(fig.data[0].y, norms.numpy())
    assert fig.layout.xaxis.title.text == "t"
    assert fig.layout.title.text == "g"
