"""figures.training: the curves, the confusion matrix, the misclassified digits and the
attention grid draw exactly the values they are given."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from engine.lab.records import EvalRecord, TrainRecord
from figures.training import (
    Line,
    attention_grid,
    class_probs_figure,
    confusion_figure,
    curves_figure,
    examples_figure,
    series,
)


def _train(step: int, loss: float, accuracy: float | None = None) -> TrainRecord:
    return TrainRecord(step=step, epoch=0.0, loss=loss, lr=0.1, seconds=0.0, accuracy=accuracy)


def test_series_keeps_only_finite_values_of_the_field():
    records = [_train(5, 2.0, 0.5), _train(10, math.nan, math.nan), _train(15, 1.8), _train(20, 1.5, 0.75)]
    assert series(records, "loss") == ([5.0, 15.0, 20.0], [2.0, 1.8, 1.5])
    assert series(records, "accuracy") == ([5.0, 20.0], [0.5, 0.75])  # None (not scored) is skipped
    evals = [EvalRecord(step=7, epoch=0.0, seconds=0.0, held_out_loss=1.0, exact_match=0.25)]
    assert series(evals, "exact_match") == ([7.0], [0.25]) and series(evals, "held_out_accuracy") == ([], [])
    assert series(records, "no_such_field") == ([], [])


def test_class_probs_figure_names_the_classes_and_highlights_the_most_likely():
    p = torch.tensor([0.1, 0.7, 0.2])
    fig = class_probs_figure(p, ["T-shirt", "Trouser", "Pullover"], title="P")
    assert list(fig.data[0].x) == ["T-shirt", "Trouser", "Pullover"]
    np.testing.assert_allclose(fig.data[0].y, [0.1, 0.7, 0.2], rtol=1e-6)
    colors = list(fig.data[0].marker.color)
    assert colors[1] != colors[0] == colors[2]


def test_curves_figure_draws_each_line_with_its_points():
    fig = curves_figure([Line("train", [1, 2, 3], [3.0, 2.0, 1.0]), Line("held", [2], [2.5], dash="dash")],
                        title="Loss", x_title="step", y_title="loss", y_range=(0, 1))
    assert [d.name for d in fig.data] == ["train", "held"]
    np.testing.assert_allclose(fig.data[0].y, [3.0, 2.0, 1.0])
    assert fig.data[0].mode == "lines"
    assert fig.data[1].mode == "lines+markers"  # one point: drawn as a marker
    assert fig.data[1].line.dash == "dash"
    assert fig.layout.title.text == "Loss" and tuple(fig.layout.yaxis.range) == (0, 1)


def test_confusion_figure_is_the_matrix_with_counts_and_class_ticks():
    C = torch.tensor([[5, 1], [0, 7]])
    fig = confusion_figure(C, ["cat", "dog"], title="C", true_label="true", predicted_label="pred")
    np.testing.assert_array_equal(np.asarray(fig.data[0].z, dtype=float), C.numpy())
    assert [list(r) for r in fig.data[0].text] == [["5", "1"], ["0", "7"]]
    assert list(fig.layout.xaxis.ticktext) == ["cat", "dog"]
    assert fig.layout.yaxis.title.text == "true" and fig.layout.xaxis.title.text == "pred"


def test_examples_figure_tiles_the_digits_with_captions():
    images = torch.rand(5, 28, 28)
    fig = examples_figure(images, [f"{k}→{k + 1}" for k in range(5)], ncols=4)
    z = np.asarray(fig.data[0].z, dtype=float)
    np.testing.assert_allclose(z[:28, :28], images[0].numpy(), atol=1e-6)
    np.testing.assert_allclose(z[29:57, :28], images[4].numpy(), atol=1e-6)  # second row
    assert [a.text for a in fig.layout.annotations] == ["0→1", "1→2", "2→3", "3→4", "4→5"]


@pytest.mark.parametrize("N,h,T", [(1, 1, 3), (2, 4, 6)])
def test_attention_grid_has_one_heatmap_per_layer_and_head(N, h, T):
    A = torch.softmax(torch.randn(N, h, T, T), dim=-1)
    labels = [str(i % 3) for i in range(T)]  # repeated tokens stay separate columns
    titles = [[f"L{l}H{k}" for k in range(h)] for l in range(N)]
    fig = attention_grid(A, labels, head_titles=titles)
    assert len(fig.data) == N * h
    for i, trace in enumerate(fig.data):
        l, k = divmod(i, h)
        np.testing.assert_allclose(np.asarray(trace.z, dtype=float), A[l, k].numpy(), atol=1e-6)
        assert (trace.zmin, trace.zmax) == (0.0, 1.0)
    assert list(fig.layout.xaxis.tickvals) == list(range(T))
    assert list(fig.layout.xaxis.ticktext) == labels
    assert [a.text for a in fig.layout.annotations] == [t for row in titles for t in row]
