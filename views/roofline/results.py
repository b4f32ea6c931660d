"""The measured half of the "Where the time goes" page: the device badges, the roof's numbers, the
roofline with SeedCNN's layers, and the throughput charts (views/roofline/page.py calls these,
for a finished measurement and, while one runs, for its partial result)."""

from __future__ import annotations

import math

import streamlit as st

from engine.lab.measure import Measurement
from figures import roofline as fr
from views.roofline import parts
from widgets.i18n import T

t = T("roofline")


def badges(m: Measurement) -> None:
    """What was measured: the CPU (and its cores), and the GPU or, plainly, that there is none."""
    st.badge(t("badge_cpu", name=m.cpu_name, cores=m.cores), icon=":material/memory:", color="blue")
    if m.gpu_name is not None:
        st.badge(t("badge_gpu", name=m.gpu_name), icon=":material/developer_board:", color="green")
        if m.gpu_roof:
            st.caption(t("gpu_roof", peak=f"{m.gpu_peak / 1e9:,.0f}", bandwidth=f"{m.gpu_bandwidth / 1e9:,.0f}"))
    else:
        st.info(t("no_gpu"), icon=":material/info:")


def roof_numbers(m: Measurement) -> None:
    peak, beta = m.peak, m.bandwidth
    a, b, c = st.columns(3)
    a.metric(t("metric_peak"), f"{peak / 1e9:,.1f} GFLOP/s" if math.isfinite(peak) else "–", help=t("metric_peak_help"))
    b.metric(t("metric_bandwidth"), f"{beta / 1e9:,.1f} GB/s" if math.isfinite(beta) else "–",
             help=t("metric_bandwidth_help"))
    ridge = peak / beta if math.isfinite(peak) and math.isfinite(beta) else math.nan
    c.metric(t("metric_ridge"), f"{ridge:.3g} FLOP/B" if math.isfinite(ridge) else "–", help=t("metric_ridge_help"))


def _roof_labels() -> dict:
    return {"title": t("roofline_title"), "x": t("axis_I"), "y": t("axis_gflops"), "roof": t("legend_roof"),
            "ridge": t("legend_ridge"), "forward": t("pass_forward"), "backward": t("pass_backward")}


def roofline(m: Measurement, key: str) -> None:
    st.plotly_chart(fr.roofline_figure(m, _roof_labels()), key=key)


def live(status) -> None:
    """While the job runs: the roof's numbers and the roofline as far as they go."""
    m = status.partial
    if isinstance(m, Measurement):
        roof_numbers(m)
        roofline(m, "roof_live_roofline")


def layer_section(m: Measurement, row_name: str) -> None:
    """The roofline, the formula with the measured roof and the picked layer, the timed table."""
    roofline(m, "roof_roofline")
    st.markdown(t.section("roofline_reading"))
    timed = [l for l in m.layers if l.name == row_name and l.direction == "forward"]
    if timed and math.isfinite(m.peak) and math.isfinite(m.bandwidth):
        l = timed[0]
        st.latex(fr.attainable_latex(l.intensity, m.peak, m.bandwidth))
        st.caption(t("attained_note", layer=l.name, N=l.N, rate=f"{l.rate / 1e9:.3g}",
                     share=f"{l.rate / fr.attainable(l.intensity, m.peak, m.bandwidth):.0%}"))
    st.markdown(t("layer_table_note", N=m.layer_batch))
    st.dataframe(parts.layer_frame(m), hide_index=True, width="stretch")


def throughput_section(m: Measurement) -> None:
    """samples/s against batch size (CPU, and the GPU row), threads, and memory layout."""
    st.subheader(t("batch_header"))
    st.markdown(t.section("batch"))
    labels = {"title": t("batch_title"), "x": t("axis_batch"), "y": t("axis_samples"), "cpu": t("legend_cpu"),
              "gpu": t("legend_gpu", name=m.gpu_name or "")}
    if m.batch_sweep:
        st.plotly_chart(fr.batch_figure(m, labels), key="roof_batch_fig")
        frame = parts.throughput_frame(m.batch_sweep, t("col_batch"), [p.batch for p in m.batch_sweep])
        if m.gpu_sweep:
            gpu = {p.batch: p.samples_per_s for p in m.gpu_sweep}
            frame[t("col_gpu_samples", name=m.gpu_name)] = [f"{gpu[p.batch]:,.0f}" if p.batch in gpu else "–"
                                                            for p in m.batch_sweep]
        st.dataframe(frame, hide_index=True, width="stretch")
    if not m.gpu_sweep:
        st.caption(t("no_gpu_row"))
    left, right = st.columns(2, gap="large")
    with left:
        st.subheader(t("threads_header"))
        if m.thread_sweep:
            names = [t("threads_name", n=p.threads) for p in m.thread_sweep]
            st.plotly_chart(fr.bars_figure(list(m.thread_sweep), names, {"title": t("threads_title", B=m.layout_batch),
                                                                          "y": t("axis_samples")}), key="roof_threads_fig")
        st.markdown(t.section("threads"))
    with right:
        st.subheader(t("layout_header"))
        if m.layout:
            names = [t("layout_cl") if p.channels_last else t("layout_default") for p in m.layout]
            st.plotly_chart(fr.bars_figure(list(m.layout), names, {"title": t("layout_title", B=m.layout_batch),
                                                                    "y": t("axis_samples")}), key="roof_layout_fig")
        st.markdown(t.section("layout"))


def summary(m: Measurement) -> None:
    """How long it took, and what the budget cut, if anything."""
    st.caption(t("measured_in", seconds=f"{m.elapsed_s:.1f}", N=m.layer_batch,
                 threads=", ".join(map(str, m.threads))))
    if m.skipped:
        st.warning(t("skipped", items=", ".join(m.skipped)))
