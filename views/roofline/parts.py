"""Cached engine results and tables of the "Where the time goes" page (views/roofline/page.py).

No engine work happens in the page: the cost table and torch's count are cached per batch size,
the measurement runs as a job (engine.lab.measure through widgets.jobs).
"""

from __future__ import annotations

import math
import os
from functools import partial

import pandas as pd
import streamlit as st

from engine.lab.jobs import Job
from engine.lab.measure import Measurement, Throughput, measure
from engine.models.cnn import SeedCNN, checkpoint_mtime, load_default, seeded
from engine.ops.cost import (
    LAYER_NAMES,
    CostTable,
    attainable,
    seed_cnn_costs,
    torch_flops,
    torch_gap,
)
from widgets import blocks
from widgets.i18n import T

t = T("roofline")
BATCH_SWEEP = (1, 8, 32, 128, 512)
BUDGET_S = 25.0  # the measurement's own budget; the job's limit leaves room for the child's start-up
TIMEOUT_S = 90.0
RESULT_KEY = "roof_result"  # the last finished measurement, kept for this session's reruns
JOB_KEY = "roof_measure"


def cores() -> int:
    return os.cpu_count() or 1


@st.cache_resource(show_spinner=False)
def network(mtime: float | None) -> SeedCNN:
    """The shipped SeedCNN (its shapes are what the counts read), once per checkpoint."""
    return load_default() or seeded(0)


@st.cache_data(show_spinner=False, max_entries=64)
def costs(N: int) -> CostTable:
    return seed_cnn_costs(network(checkpoint_mtime()), N)


@st.cache_data(show_spinner=False, max_entries=64)
def gap(N: int) -> int:
    """max |2·MACs − torch's FlopCounterMode| over the layers and both passes, at N."""
    model = network(checkpoint_mtime())
    return torch_gap(seed_cnn_costs(model, N), torch_flops(model, N))


# a control's value checked before it is drawn (widgets.blocks.guard with this page's strings)
guard = partial(blocks.guard, t)


def make_job(N: int, threads: int) -> Job:
    """The measurement as a job: the learner's N for the layers, 1 against `threads` threads."""
    kwargs = dict(batch_sizes=BATCH_SWEEP, layer_batch=N, threads=(1, threads), budget_s=BUDGET_S)
    return Job(measure, kwargs, timeout_s=TIMEOUT_S)


# ----- tables --------------------------------------------------------------------------------------

def _n(v: float) -> str:
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.3g}"


@st.cache_data(show_spinner=False, max_entries=128)
def cost_frame(N: int, lang: str) -> pd.DataFrame:
    """The per-layer table at N, with a total row."""
    table = costs(N)
    rows = [(r.name + (" + ReLU" if r.relu else ""), "×".join(map(str, r.y_shape)), r.params, r.forward, r.backward)
            for r in table.layers]
    rows.append((t("total_row"), "", table.params, table.forward, table.backward))
    return pd.DataFrame({
        t("col_layer"): [r[0] for r in rows],
        t("col_output"): [r[1] for r in rows],
        t("col_params"): [f"{r[2]:,}" for r in rows],
        t("col_macs_fwd"): [f"{r[3].macs:,}" for r in rows],
        t("col_macs_bwd"): [f"{r[4].macs:,}" for r in rows],
        t("col_flops_fwd"): [f"{r[3].flops:,}" for r in rows],
        t("col_bytes_fwd"): [f"{r[3].bytes:,}" for r in rows],
        t("col_bytes_bwd"): [f"{r[4].bytes:,}" for r in rows],
        t("col_I_fwd"): [f"{r[3].intensity:.3g}" for r in rows],
        t("col_I_bwd"): [f"{r[4].intensity:.3g}" for r in rows],
    })


def layer_frame(m: Measurement) -> pd.DataFrame:
    """The timed layers: time, intensity, attained rate, the share of the roof above it, the bound."""
    roofed = math.isfinite(m.peak) and math.isfinite(m.bandwidth)
    I_star = m.peak / m.bandwidth if roofed else math.nan
    rows = []
    for l in m.layers:
        P = attainable(l.intensity, m.peak, m.bandwidth) if roofed and l.flops else math.nan
        rows.append({
            t("col_layer"): l.name, t("col_pass"): t(f"pass_{l.direction}"),
            t("col_ms"): f"{1e3 * l.seconds:.3g}", t("col_I"): f"{l.intensity:.3g}",
            t("col_gflops"): _n(l.rate / 1e9) if l.flops else "–",
            t("col_gbs"): _n(l.traffic_rate / 1e9),
            t("col_share"): f"{l.rate / P:.0%}" if P == P else "–",
            t("col_bound"): ("–" if not roofed else t("bound_memory") if l.intensity < I_star else t("bound_compute")),
        })
    return pd.DataFrame(rows)


def throughput_frame(points: tuple[Throughput, ...], first: str, values) -> pd.DataFrame:
    """samples/s and the step time of a sweep; `values` label each point in the first column."""
    return pd.DataFrame({
        first: list(values),
        t("col_samples"): [f"{p.samples_per_s:,.0f}" for p in points],
        t("col_step_ms"): [f"{1e3 * p.step_s:.3g}" for p in points],
    })


def layer_names() -> tuple[str, ...]:
    return LAYER_NAMES
