"""figures.real_encoder: the model view tiles every head's map where its layer and head say, with
one clickable marker per tile; summary tables and the cosine matrix draw their values; the
written-out formulas carry the live numbers."""

from __future__ import annotations

import math

import numpy as np
import torch

from engine.ops import head_stats as hs
from figures import real_encoder as fe
from tests.pages.apptest import plotly_array


def _weights(L=2, H=3, T=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.softmax(torch.randn(L, H, T, T, generator=g, dtype=torch.float64), dim=-1)


def test_model_view_tiles_each_head_in_its_place():
    A = _weights()
    L, H, T, _ = A.shape
    fig = fe.model_view_figure(A, (1, 2))
    z = np.asarray(fig.data[0].z, dtype=float)
    step = T + max(1, T // 8)
    for l in range(L):
        for h in range(H):
            tile = z[l * step : l * step + T, h * step : h * step + T]
            np.testing.assert_allclose(tile, A[l, h].numpy(), atol=1e-6)  # float32 in the figure
    assert np.isnan(z[T, 0])  # the gap between layers
    marks = fig.data[1]
    assert len(marks.customdata) == L * H and list(marks.customdata[H + 2]) == [1, 2]
    box = fig.layout.shapes[0]
    assert box.x0 < 2 * step <= box.x1 and box.y0 < step <= box.y1  # around layer 2, head 3
    assert list(fig.layout.yaxis.ticktext) == ["L1", "L2"] and list(fig.layout.xaxis.ticktext)[-1] == "H3"


def test_summary_and_similarity_figures_draw_their_values():
    A = _weights(6, 12, 7, seed=1)
    stats = hs.head_stats(A, [0], [6])
    fig = fe.summary_figure(stats.prev, (4, 9), zmax=1.0)
    np.testing.assert_allclose(plotly_array(fig.to_plotly_json()["data"][0]["z"]), stats.prev.numpy())
    assert fig.data[0].text[4][9] == format(float(stats.prev[4, 9]), ".2f")
    assert (fig.layout.shapes[0].x0, fig.layout.shapes[0].y0) == (8.5, 3.5)
    cos = torch.tensor([[1.0, 0.3], [0.3, 1.0]], dtype=torch.float64)
    sim = fe.similarity_figure(cos)
    assert sim.data[0].zmin == -1.0 and sim.data[0].zmax == 1.0
    np.testing.assert_allclose(np.asarray(sim.data[0].z, dtype=float), cos.numpy())


def test_formulas_carry_the_live_numbers():
    A = _weights(1, 2, 4, seed=2)
    stats = hs.head_stats(A, [0], [3])
    tex = fe.head_summary_latex(stats, 0, 1, 4, 1)
    for name in ("cls", "sep", "prev", "next", "same", "entropy"):
        assert format(float(stats.get(name)[0, 1]), ".3f") in tex
    assert f"{math.log(4):.3f}" in tex and r"\tfrac{1}{3}" in tex
    pool = fe.pooling_latex(9, 2.5, [0.1, -0.2, 0.3], [0.04, -0.08, 0.12])
    assert r"\tfrac{1}{9}" in pool and "2.5000" in pool and "-0.080" in pool
    assert fe.piece_labels(["[CLS]", "##extraordinarily"]) == ["0 [CLS]", "1 ##extraor…"]
