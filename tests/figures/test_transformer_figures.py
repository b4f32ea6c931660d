"""figures.transformer: the tokens × features heatmaps and the attention maps of the Transformer
page, checked on their plotly specs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from figures.transformer import attention_figure, symmetric_range, token_feature_figure

TOKENS = ["the", "cat", "saw", "the", "dog"]


def test_token_feature_figure_draws_the_values_with_token_rows():
    z = torch.randn(5, 12, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    fig = token_feature_figure(z, TOKENS, title="R<sub>1</sub> = X + A", feature_label="feature")
    trace = fig.data[0]
    np.testing.assert_allclose(np.asarray(trace.z, dtype=float), z.numpy(), atol=1e-12)
    # rows are positions 0 … T − 1 labelled by token: "the" twice stays two rows
    assert list(fig.layout.yaxis.tickvals) == [0, 1, 2, 3, 4]
    assert list(fig.layout.yaxis.ticktext) == TOKENS
    assert list(trace.y) == [0, 1, 2, 3, 4] and list(trace.x) == list(range(12))
    # diverging colours symmetric about 0, over the largest |value|
    m = float(z.abs().max())
    assert (trace.zmin, trace.zmax, trace.zmid) == (-m, m, 0.0)
    assert fig.layout.title.text == "R<sub>1</sub> = X + A"
    assert fig.layout.xaxis.title.text == "feature"
    # cells fill the width (no square aspect)
    assert fig.layout.yaxis.scaleanchor is None
    assert not fig.layout.shapes


def test_token_feature_figure_shared_scale_pick_and_ticks():
    z = torch.linspace(-1, 1, 3 * 64).reshape(3, 64)
    fig = token_feature_figure(z, ["a", "b", "c"], zmax=4.0, pick=(2, 7))
    assert (fig.data[0].zmin, fig.data[0].zmax) == (-4.0, 4.0)
    (box,) = fig.layout.shapes
    # position 2 on y, feature 7 on x
    assert (box.x0, box.x1, box.y0, box.y1) == (6.5, 7.5, 1.5, 2.5)
    # 64 features: every 4th is labelled
    assert list(fig.layout.xaxis.tickvals) == list(range(0, 64, 4))


def test_token_feature_figure_refuses_a_wrong_shape():
    with pytest.raises(ValueError, match="T = 2"):
        token_feature_figure(torch.zeros(3, 4), ["a", "b"])
    with pytest.raises(ValueError):
        token_feature_figure(torch.zeros(4), ["a"] * 4)


def test_attention_figure_queries_by_keys():
    w = torch.softmax(torch.randn(3, 5, generator=torch.Generator().manual_seed(1)), dim=-1)
    fig = attention_figure(w, ["Le", "chat", "."], TOKENS, title="cross-attention")
    trace = fig.data[0]
    np.testing.assert_allclose(np.asarray(trace.z, dtype=float), w.numpy(), atol=1e-7)
    assert list(fig.layout.yaxis.ticktext) == ["Le", "chat", "."]
    assert list(fig.layout.xaxis.ticktext) == TOKENS
    assert list(fig.layout.xaxis.tickvals) == [0, 1, 2, 3, 4]
    assert (trace.zmin, trace.zmax) == (0.0, 1.0)
    # a small grid gets its numbers written in the cells
    assert trace.text[1][2] == format(float(w[1, 2]), ".2f")
    assert trace.customdata[0][1] == "Le → cat"


def test_attention_figure_annotates_only_small_grids_and_takes_a_range():
    big = torch.full((10, 10), 0.1)
    fig = attention_figure(big, [str(i) for i in range(10)], [str(i) for i in range(10)], zmax=0.25,
                           showscale=True)
    assert fig.data[0].text is None
    assert (fig.data[0].zmin, fig.data[0].zmax) == (0.0, 0.25) and fig.data[0].showscale
    forced = attention_figure(big, [str(i) for i in range(10)], [str(i) for i in range(10)], annotate=True)
    assert forced.data[0].text is not None


def test_attention_figure_refuses_bad_arguments():
    with pytest.raises(ValueError, match="3, 2"):
        attention_figure(torch.ones(2, 3) / 3, ["a", "b", "c"], ["x", "y"])
    with pytest.raises(ValueError, match="zmax"):
        attention_figure(torch.ones(1, 1), ["a"], ["b"], zmax=0.0)


def test_symmetric_range():
    assert symmetric_range(torch.tensor([-3.0, 1.0]), np.array([2.0])) == 3.0
    assert symmetric_range(torch.zeros(2)) == 1e-6


def test_attention_figure_slants_only_long_key_labels():
    chars = list("我爱猫猫爱鱼我爱猫猫爱鱼")  # 12 single characters: 24 wide, upright
    w = torch.full((12, 12), 1 / 12, dtype=torch.float64)
    assert attention_figure(w, chars, chars).layout.xaxis.tickangle == 0
    words = ["attention", "weights", "between", "several", "rather", "long", "english", "words"]
    w = torch.full((8, 8), 1 / 8, dtype=torch.float64)
    assert attention_figure(w, words, words).layout.xaxis.tickangle == -45
    assert attention_figure(w[:3, :3], words[:3], words[:3]).layout.xaxis.tickangle == 0
    assert attention_figure(w[:1, :1], ["a"], ["a"]).layout.xaxis.tickangle == 0
