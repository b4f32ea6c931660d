"""The data-parallel page's figures draw what the traces and the run's records hold."""

from __future__ import annotations

import torch

from engine.lab.ddp_records import (
    PHASES,
    BucketComm,
    DDPConfig,
    DDPResult,
    PhaseTimes,
    RankSummary,
    StepRow,
    TensorComm,
)
from engine.models.cnn import seeded
from engine.ops import data_parallel as dp
from figures import data_parallel as fdp
from tests.pages.apptest import plotly_array

NAMES = ("conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias", "conv3.weight", "conv3.bias",
         "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias")
NUMEL = (288, 32, 18432, 64, 36864, 64, 36864, 64, 640, 10)


def sample_result(steps: int = 4, n=(32, 32), ddp_gap: float | None = None, identical: bool = True) -> DDPResult:
    """A made-up finished run: rank 0's compute 10 ms, rank 1's 12 ms, and so on, step after step."""
    times = (PhaseTimes(0.010, 0.002, 0.004, 0.001), PhaseTimes(0.012, 0.000, 0.004, 0.001))
    rows = tuple(StepRow(s, 2.3 - 0.01 * s, 0.0 if identical or s < steps else 1e-9, 1.4e-17 * s, 0.25 * s, times)
                 for s in range(1, steps + 1))
    tensors = tuple(TensorComm(name, k, 8 * k, 0.0004) for name, k in zip(NAMES, NUMEL, strict=True))
    ranks = tuple(RankSummary(r, n[r], "ab12cd34ef56" + "0" * 52, ddp_gap) for r in range(2))
    return DDPResult(DDPConfig(steps=steps, batch=sum(n)), "tcp://127.0.0.1:40000", "gloo", "lo", tuple(n), 93_322,
                     rows, tensors, BucketComm(10, 0.004, 0.0005), ranks, 2.5, 4.0)


def test_sample_result_is_consistent():
    r = sample_result()
    assert r.identical and r.single_gap == 1.4e-17 * 4
    m = r.median_times()
    assert m.compute == 0.011 and m.total == 0.011 + 0.001 + 0.004 + 0.001
    assert r.median_times(1).wait == 0.0
    assert not sample_result(identical=False).identical


def _trace(split: str) -> dp.DataParallelTrace:
    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(10, 1, 28, 28, generator=g, dtype=torch.float64), torch.randint(0, 10, (10,), generator=g)
    return dp.simulate(seeded(0).double(), x, y, 3, split)


def test_deltas_figure_has_both_forms_per_parameter_with_zero_floored():
    tr = _trace("uneven")
    fig = fdp.deltas_figure(tr, ("right", "wrong"), "title").to_dict()
    right, wrong = fig["data"]
    assert list(right["x"]) == list(NAMES) and right["name"] == "right" and wrong["name"] == "wrong"
    assert list(plotly_array(wrong["customdata"])) == [r.delta_plain for r in tr.rows]
    assert min(plotly_array(right["y"])) >= fdp.FLOOR  # exact zeros still have a bar on the log axis
    assert list(plotly_array(right["customdata"])) == [r.delta_weighted for r in tr.rows]
    assert fig["layout"]["yaxis"]["type"] == "log"


def test_entry_latex_writes_every_weighted_term_and_both_averages():
    tr = _trace("uneven")
    e = dp.entry(tr, "fc2.bias")
    tex = fdp.entry_latex(e)
    assert tex.count(r"\tfrac{") == 3 + 2  # n_k/N for 3 shards, then 1/K twice
    for n in tr.n:
        assert rf"\tfrac{{{n}}}{{10}}" in tex
    assert fdp.num(e.weighted, 6) in tex and fdp.num(e.plain, 6) in tex and fdp.num(e.full, 6) in tex
    assert r"\texttt{fc2.bias}[" in tex
    assert r"\nabla L &= \sum_{k=1}^{K}\frac{n_k}{N}" in fdp.formula_latex()


def test_phases_figure_stacks_each_ranks_median_phases_in_ms():
    r = sample_result()
    labels = {p: p.upper() for p in PHASES}
    fig = fdp.phases_figure(r, labels, "rank {r}", "title").to_dict()
    assert [t["name"] for t in fig["data"]] == [labels[p] for p in PHASES]
    compute = fig["data"][0]
    assert list(compute["y"]) == ["rank 0", "rank 1"]
    assert list(plotly_array(compute["x"])) == [10.0, 12.0]
    assert fig["layout"]["barmode"] == "stack"


def test_tensors_figure_has_one_bar_per_gradient_tensor_with_its_size():
    r = sample_result()
    fig = fdp.tensors_figure(r, "title", "values").to_dict()
    bar = fig["data"][0]
    assert list(bar["x"]) == list(NAMES)
    assert list(plotly_array(bar["y"])) == [0.4] * 10
    assert list(bar["text"]) == [f"{k:,}" for k in NUMEL]
