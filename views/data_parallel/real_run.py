"""The real run of the data-parallel page: its controls, the job (2 gloo ranks through
widgets.jobs), and what a finished run measured (views/data_parallel/page.py calls `section`)."""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from engine.lab.ddp_records import PHASES, DDPResult
from figures import data_parallel as fdp
from views.data_parallel import parts
from widgets.i18n import T
from widgets.jobs import job_panel

t = T("data_parallel")


@dataclass(frozen=True)
class RunSettings:
    S: int  # steps
    B: int  # the combined batch
    dtype: str
    compare_ddp: bool


def controls() -> RunSettings:
    """Steps S, combined batch B, dtype and the DDP comparison; values from code are checked first."""
    parts.guard("dp_steps", 20, bound="ddp_steps")
    parts.guard("dp_run_B", 64, bound="ddp_batch")
    parts.guard("dp_dtype", "float64", options=parts.DTYPES)
    parts.guard("dp_compare", False, options=(False, True))
    a, b, c = st.columns([2, 2, 1], gap="medium", vertical_alignment="bottom")
    with a:
        S = st.slider(t("steps_label"), 1, 50, key="dp_steps", help=t("steps_help"))
    with b:
        B = st.slider(t("run_batch_label"), 2, 256, key="dp_run_B", help=t("run_batch_help"))
    with c:
        dtype = st.radio(t("dtype_label"), parts.DTYPES, key="dp_dtype", horizontal=True, help=t("dtype_help"))
    compare = st.checkbox(t("compare_ddp"), key="dp_compare", help=t("compare_ddp_help"))
    return RunSettings(int(S), int(B), str(dtype), bool(compare))


def live(status) -> None:
    """While the run goes: the steps so far."""
    rows = status.partial
    if rows:
        st.dataframe(parts.steps_frame(None, rows), hide_index=True, width="stretch", height=220)


def section() -> None:
    c = controls()
    status = job_panel(parts.JOB_KEY, t("run_start"), lambda: parts.make_job(c.S, c.B, c.dtype, c.compare_ddp),
                       stage_text=lambda s: t(f"stage_{s}"), live=live)
    if status is not None and status.state == "done" and isinstance(status.result, DDPResult):
        st.session_state[parts.RESULT_KEY] = status.result
    result = st.session_state.get(parts.RESULT_KEY)
    if isinstance(result, DDPResult):
        results(result)
    else:
        st.info(t("not_run"))


def results(r: DDPResult) -> None:
    """A finished run: the verdict, the steps, where the time per step went."""
    cfg = r.config
    st.caption(t("run_info", S=cfg.steps, B=cfg.batch, n=" + ".join(map(str, r.n)), dtype=cfg.dtype, lr=cfg.lr,
                 init=r.init_method, iface=r.interface, start=f"{r.start_s:.1f}", total=f"{r.total_s:.1f}"))
    a, b, c = st.columns(3)
    a.metric(t("metric_identical"), "✓" if r.identical else "✗", help=t("metric_identical_help"))
    b.metric(t("metric_single", dtype=cfg.dtype), f"{r.single_gap:.1e}",
             delta=t("ulps", u=f"{r.rows[-1].single_ulps:.1f}"), delta_color="off", delta_arrow="off",
             help=t("metric_single_help"))
    c.metric(t("metric_hash"), r.ranks[0].weights_sha256[:12], help=t("metric_hash_help"))
    if r.identical:
        st.success(t("identical_ok", S=cfg.steps, W=len(r.ranks)))
    else:
        st.error(t("identical_bad"))
    st.markdown(t.section("gap_reading"))
    _ddp_comparison(r)
    st.subheader(t("steps_header"))
    st.dataframe(parts.steps_frame(r), hide_index=True, width="stretch", height=260)
    st.caption(t("steps_note"))
    st.subheader(t("time_header"))
    labels = {p: t(f"phase_{p}") for p in PHASES}
    st.plotly_chart(fdp.phases_figure(r, labels, t("rank_label"), t("phases_title")), key="dp_phases")
    m = r.median_times()
    st.markdown(t("phases_note", total=f"{1e3 * m.total:.1f}", compute=f"{100 * m.compute / m.total:.0f}",
                  wait=f"{100 * m.wait / m.total:.0f}", comm=f"{100 * m.all_reduce / m.total:.0f}",
                  update=f"{100 * m.step / m.total:.0f}"))
    st.markdown(t.section("time_reading"))
    st.plotly_chart(fdp.tensors_figure(r, t("tensors_title"), t("values")), key="dp_tensors")
    bk = r.bucket
    st.markdown(t("bucket_note", calls=len(r.tensors), per=f"{1e3 * bk.per_tensor_s:.2f}", P=f"{r.params:,}",
                  one=f"{1e3 * bk.one_bucket_s:.2f}", ratio=f"{bk.per_tensor_s / bk.one_bucket_s:.1f}",
                  reps=bk.reps))
    st.markdown(t.section("bucket_reading"))


def _ddp_comparison(r: DDPResult) -> None:
    gaps = [s.ddp_grad_gap for s in r.ranks]
    if any(g is None for g in gaps):
        return
    gap = max(gaps)
    equal = len(set(r.n)) == 1
    (st.success if (gap == 0.0) == equal else st.warning)(
        t("ddp_equal" if equal else "ddp_unequal", gap=f"{gap:.1e}", n=" + ".join(map(str, r.n))))
