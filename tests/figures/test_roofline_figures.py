"""figures.roofline draws what the engine's results hold: the roof min(π, β·I) with its ridge, one
point per layer pass at (counted I, measured rate), pooling's arithmetic-free backward left off the
log axis, the samples/s curves and bars, and the formulas with the numbers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from engine.lab.measure import LayerTime, Measurement, RateSample, Throughput
from engine.models.cnn import SeedCNN
from engine.ops.cost import LAYER_NAMES, seed_cnn_costs
from figures import roofline as fr
from tests.pages.apptest import plotly_array

LABELS = {k: k for k in ("title", "x", "y", "roof", "ridge", "forward", "backward", "cpu", "gpu")}
PEAK, BETA = 50e9, 10e9  # ridge at 5 FLOP/B


def sample_measurement(N: int = 16, *, gpu: bool = False, roof: bool = True, layers: bool = True) -> Measurement:
    """A made-up but consistent measurement: counted FLOPs and bytes, a rate of half the roof."""
    table = seed_cnn_costs(SeedCNN(), N)
    times = []
    for row in table.layers if layers else ():
        for direction in ("forward", "backward"):
            c = getattr(row, direction)
            rate = 0.5 * min(PEAK, BETA * c.intensity) if c.flops else 1.0
            seconds = c.flops / rate if c.flops else c.bytes / (0.5 * BETA)
            times.append(LayerTime(row.name, direction, N, seconds, c.flops, c.bytes, c.intensity))
    sweep = tuple(Throughput("cpu", B, 2, False, B / (100.0 * B**0.5)) for B in (1, 8, 32))
    return Measurement(
        "Test CPU", 2, (1, 2), N, 32, "Test GPU" if gpu else None,
        roof=(RateSample("matmul", 256, 1.0, PEAK), RateSample("copy", 1024, 1.0, BETA)) if roof else (),
        layers=tuple(times), batch_sweep=sweep,
        thread_sweep=(Throughput("cpu", 32, 1, False, 0.4), Throughput("cpu", 32, 2, False, 0.25)),
        layout=(Throughput("cpu", 32, 2, False, 0.25), Throughput("cpu", 32, 2, True, 0.2)),
        gpu_roof=(RateSample("matmul", 2048, 1.0, 20 * PEAK), RateSample("copy", 2**30, 1.0, 100 * BETA)) if gpu else (),
        gpu_sweep=tuple(Throughput("gpu", B, 2, False, 0.01) for B in (1, 8, 32)) if gpu else (),
        elapsed_s=3.0)


def _trace(fig, name):
    return next(t for t in fig.data if t.name == name)


def test_roof_is_min_of_peak_and_bandwidth_times_intensity():
    fig = fr.roofline_figure(sample_measurement(), LABELS)
    roof = _trace(fig, "roof")
    x, y = plotly_array(roof.x), plotly_array(roof.y)
    assert np.allclose(y, np.minimum(PEAK, BETA * x) / 1e9)
    assert 5.0 in list(x)  # the ridge I* = π/β is a vertex of the roof
    ridge = _trace(fig, "ridge")
    assert list(ridge.x) == [5.0] and list(ridge.y) == [PEAK / 1e9]
    assert fig.layout.xaxis.type == "log" and fig.layout.yaxis.type == "log"


def test_one_point_per_layer_pass_with_arithmetic():
    m = sample_measurement()
    fig = fr.roofline_figure(m, LABELS)
    fwd, bwd = _trace(fig, "forward"), _trace(fig, "backward")
    assert list(fwd.text) == list(LAYER_NAMES)
    # pooling's backward pass does no arithmetic: I = 0 has no place on a log axis
    assert list(bwd.text) == [n for n in LAYER_NAMES if not n.startswith("pool")]
    conv2 = next(l for l in m.layers if l.name == "conv2" and l.direction == "forward")
    k = list(fwd.text).index("conv2")
    assert plotly_array(fwd.x)[k] == pytest.approx(conv2.intensity)
    assert plotly_array(fwd.y)[k] == pytest.approx(conv2.rate / 1e9)
    # every point sits at half its roof, as made
    for trace in (fwd, bwd):
        x, y = plotly_array(trace.x), plotly_array(trace.y)
        assert np.allclose(y, 0.5 * np.minimum(PEAK, BETA * x) / 1e9)
        assert all("50% · min(π, β·I)" == c[0] for c in trace.customdata)


def test_a_partial_result_without_the_roof_draws_only_points():
    fig = fr.roofline_figure(sample_measurement(roof=False), LABELS)
    assert [t.name for t in fig.data] == ["forward", "backward"]
    empty = fr.roofline_figure(sample_measurement(roof=False, layers=False), LABELS)
    assert all(len(t.x) == 0 for t in empty.data)


def test_the_x_axis_reaches_every_point():
    xs, ys = fr.roof_points(PEAK, BETA, 0.01, 1000.0)
    assert xs == [0.01, 5.0, 1000.0] and ys[0] == pytest.approx(0.1) and ys[1] == ys[2] == 50.0
    # a ridge outside the drawn range is clipped to it
    assert fr.roof_points(PEAK, 1e6, 0.05, 500.0)[0] == [0.05, 500.0]


def test_batch_figure_has_a_gpu_line_only_with_a_gpu():
    cpu_only = fr.batch_figure(sample_measurement(), LABELS)
    assert [t.name for t in cpu_only.data] == ["cpu"]
    m = sample_measurement(gpu=True)
    both = fr.batch_figure(m, LABELS)
    assert [t.name for t in both.data] == ["cpu", "gpu"]
    assert list(both.data[0].x) == [1, 8, 32]
    assert np.allclose(plotly_array(both.data[1].y), [p.samples_per_s for p in m.gpu_sweep])


def test_bars_show_samples_per_second():
    m = sample_measurement()
    fig = fr.bars_figure(list(m.thread_sweep), ["1", "2"], {"title": "T", "y": "samples/s"})
    assert np.allclose(plotly_array(fig.data[0].y), [80.0, 128.0])
    assert list(fig.data[0].text) == ["80", "128"]


def test_layer_latex_writes_out_the_counted_numbers():
    row = seed_cnn_costs(SeedCNN(), 1).layer("fc1")
    text = fr.layer_latex(row, 1)
    # 2·36 864 / 4·(576 + 36 928 + 64) = 73 728 / 150 272
    assert r"2\cdot36\,864" in text and r"576 + 36\,928 + 64" in text and r"\frac{73\,728}{150\,272}" in text
    assert f"{row.forward.intensity:.3g}" in text
    pool = fr.layer_latex(seed_cnn_costs(SeedCNN(), 2).layer("pool1"), 2)
    assert r"3\cdot10\,816" in pool  # 3 comparisons per output, 2·32·13·13 outputs
    P = fr.attainable_latex(2.0, PEAK, BETA)
    assert "50" in P and "10" in P and P.endswith(r"= 20\ \text{GFLOP/s}")
    assert math.isclose(fr.attainable(2.0, PEAK, BETA), 20e9)
