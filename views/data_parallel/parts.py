"""Cached engine results, guards and tables of the data-parallel page (views/data_parallel/page.py).

No engine work happens in the page: the simulated workers are cached per (B, K, split), the real
run is a job (engine.lab.ddp.run_ddp through widgets.jobs).
"""

from __future__ import annotations

from functools import partial

import pandas as pd
import streamlit as st

from engine.data.digits import embedded_mnist
from engine.lab.ddp import checked_config, run_ddp
from engine.lab.ddp_records import DDPResult
from engine.lab.jobs import Job
from engine.models.cnn import Network, load_network
from engine.ops import data_parallel as dp
from widgets import blocks
from widgets.i18n import T

t = T("data_parallel")
JOB_KEY = "dp_run"
RESULT_KEY = "dp_result"  # the last finished run, kept for this session's reruns
RUN_TIMEOUT_S = 240.0  # the run's own limit (ranks' start-up included); the job's is a little longer
DTYPES = ("float64", "float32")


@st.cache_resource(show_spinner=False)
def network(mtime: float | None) -> Network:
    """The shipped CNN and its float64 copy, once per checkpoint."""
    return load_network()


@st.cache_resource(show_spinner=False, max_entries=48)
def simulated(mtime: float | None, B: int, K: int, split: str) -> dp.DataParallelTrace:
    """K simulated workers on the first B training digits, with the shipped weights in float64
    (`mtime`, the checkpoint's modification time, picks up a new checkpoint)."""
    digits = embedded_mnist()
    x, y = dp.batch(digits.x_train, digits.y_train, B)
    return dp.simulate(network(mtime).model64, x, y, K, split)


# a control's value checked before it is drawn (widgets.blocks.guard with this page's strings)
guard = partial(blocks.guard, t)


def make_job(steps: int, batch: int, dtype: str, compare_ddp: bool) -> Job:
    """The real run as a bounded job (checked here first, so a refusal is this page's message)."""
    checked_config(steps, batch, dtype)
    kwargs = {"steps": steps, "batch": batch, "dtype": dtype, "compare_ddp": compare_ddp, "timeout_s": RUN_TIMEOUT_S}
    return Job(run_ddp, kwargs, timeout_s=RUN_TIMEOUT_S + 10)


def shard_frame(tr: dp.DataParallelTrace) -> pd.DataFrame:
    """Per parameter: its shape and how far each average is from the full-batch gradient."""
    return pd.DataFrame({
        t("col_param"): [r.name for r in tr.rows],
        t("col_shape"): [" × ".join(map(str, r.shape)) for r in tr.rows],
        t("col_right"): [f"{r.delta_weighted:.1e}" for r in tr.rows],
        t("col_ok"): ["✓" if r.delta_weighted <= 1e-12 else "✗" for r in tr.rows],
        t("col_wrong"): [f"{r.delta_plain:.1e}" for r in tr.rows],
        t("col_scale"): [f"{r.scale:.1e}" for r in tr.rows],
    })


def steps_frame(result: DDPResult | None, rows=None) -> pd.DataFrame:
    """One line per step: the loss, the ranks' gap (0: identical), the gap to one process, the times."""
    rows = result.rows if rows is None else rows

    def ms(row, phase: str) -> str:
        return " / ".join(f"{1e3 * getattr(tm, phase):.1f}" for tm in row.times)

    return pd.DataFrame({
        t("col_step"): [r.step for r in rows],
        t("col_loss"): [f"{r.loss:.4f}" for r in rows],
        t("col_identical"): [("✓ " if r.identical else "✗ ") + f"{r.rank_gap:.0e}" for r in rows],
        t("col_single"): [f"{r.single_gap:.1e}" for r in rows],
        t("col_ulps"): [f"{r.single_ulps:.1f}" for r in rows],
        t("col_compute"): [ms(r, "compute") for r in rows],
        t("col_wait"): [ms(r, "wait") for r in rows],
        t("col_allreduce"): [ms(r, "all_reduce") for r in rows],
        t("col_update"): [ms(r, "step") for r in rows],
    })
