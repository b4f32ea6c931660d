"""The training-knobs page, sections 3 and 4: preprocessing (what the input's scale does to conv1)
and normalisation (BatchNorm against LayerNorm on a real batch). Glue only: engine results from parts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from engine.ops import batch_norm as bn
from engine.ops import preprocess as pp
from views.knobs import parts
from widgets.blocks import show_code, torch_check
from widgets.digit_input import current_digit
from widgets.i18n import T

t = T("knobs")

SOURCES = ("digit", "batch")
SHOW_N, SHOW_C = 8, 16  # the part of the batch the picture shows (the statistics use all of it)
POSITION = (5, 5)  # the cell written out, the middle of the map


def preprocess_section() -> None:
    st.header(t("pre_header"))
    st.markdown(t.section("pre"))
    stats = parts.pixel_stats()
    s, c = 255 / stats.sigma, stats.mu / stats.sigma
    st.latex(r"x_{\text{raw}}\in[0,255],\quad x = \tfrac{x_{\text{raw}}}{255},\quad "
             r"x = \tfrac{x_{\text{raw}}-\mu}{\sigma}\qquad z_1 = W_1 \star x + b_1")
    st.latex(rf"\begin{{aligned}}\mu &= {stats.mu:.2f},\ \ \sigma = {stats.sigma:.2f} \\"
             rf"z_1^{{\text{{std}}}} &= \tfrac{{255}}{{\sigma}}\,\bigl(W_1\star\tfrac{{x_{{\text{{raw}}}}}}{{255}}\bigr)"
             rf" - \tfrac{{\mu}}{{\sigma}}\textstyle\sum W_1 + b_1 \\ &= {s:.3f}\,\bigl(W_1\star\tfrac{{x_{{\text{{raw}}}}}}{{255}}\bigr)"
             rf" - {c:.3f}\textstyle\sum W_1 + b_1\end{{aligned}}")
    parts.guard("knobs_pre_source", "digit", options=SOURCES)
    source = st.segmented_control(t("pre_source"), SOURCES, required=True,
                                  format_func=parts.labels(SOURCES, "pre_src_"), key="knobs_pre_source")
    digit = np.asarray(current_digit()["image"], dtype=np.float32)
    batch = 1 if source == "digit" else parts.NORM_N * 2
    key = digit.tobytes() if batch == 1 else b"batch"
    res = parts.first_layers(key, batch, digit)
    if source == "digit":
        st.caption(t("pre_digit_note"))
        st.page_link("views/cnn.py", label=t("link_cnn"), icon=":material/arrow_back:")
    st.dataframe(_pre_table(res, batch), hide_index=True, width="stretch")
    figs = parts.histograms(key, batch, t.lang, digit)
    for col, v in zip(st.columns(3, gap="small"), pp.VARIANTS, strict=True):
        with col:
            st.plotly_chart(figs[v], key=f"knobs_hist_{v}")
    st.markdown(t.section("pre_reading"))
    show_code(pp.pixel_stats, pp.prepare, pp.first_layer)
    torch_check(parts.affine_gap(digit.tobytes(), digit), t("pre_check_ref"))


def _pre_table(res: dict, batch: int) -> pd.DataFrame:
    rows = [res[v] for v in pp.VARIANTS]
    frame = {
        t("col_input"): [t(f"pre_{r.variant}") for r in rows],
        t("col_range"): [f"{r.x_min:.3g} … {r.x_max:.3g}" for r in rows],
        t("col_mean"): [f"{r.mean:.3f}" for r in rows],
        t("col_std"): [f"{r.std:.3f}" for r in rows],
        t("col_active"): [f"{100 * r.active:.1f} %" for r in rows],
        t("col_pred" if batch == 1 else "col_pred_first"): [f"{r.pred} ({100 * r.conf:.1f} %)" for r in rows],
    }
    if batch > 1:
        frame[t("col_acc", n=batch)] = [f"{100 * r.accuracy:.1f} %" for r in rows]
    return pd.DataFrame(frame)


def norm_section() -> None:
    st.header(t("norm_header"))
    st.markdown(t.section("norm"))
    st.latex(r"\text{BN: }\mu_c = \frac{1}{NHW}\sum_{n,h,w} x_{nchw}\qquad"
             r"\text{LN: }\mu_n = \frac{1}{CHW}\sum_{c,h,w} x_{nchw}\qquad"
             r"\text{LN}_{\text{pos}}\text{: }\mu_{nhw} = \frac{1}{C}\sum_{c} x_{nchw}")
    st.latex(r"\hat x = \frac{x-\mu}{\sqrt{\sigma^2+\varepsilon}},\qquad y = \gamma\,\hat x + \beta")
    res = parts.norm_results()
    z2 = parts.conv2_batch()
    N, C, H, W = z2.shape
    parts.guard("knobs_norm_mode", "batch", options=bn.MODES)
    parts.guard("knobs_norm_n", 0, options=range(SHOW_N))
    parts.guard("knobs_norm_c", 0, options=range(SHOW_C))
    c_mode, c_n, c_c = st.columns([3, 2, 2], vertical_alignment="bottom")
    with c_mode:
        mode = st.segmented_control(t("norm_mode"), bn.MODES, required=True,
                                    format_func=parts.labels(bn.MODES, "mode_"), key="knobs_norm_mode")
    with c_n:
        n = st.slider(t("norm_n"), 0, SHOW_N - 1, key="knobs_norm_n")
    with c_c:
        c = st.slider(t("norm_c"), 0, SHOW_C - 1, key="knobs_norm_c")
    tr: bn.NormTrace = res["traces"][mode]
    h, w = POSITION
    stat = {"batch": (c,), "layer": (n,), "position": (n, h, w)}[mode]
    mu, var = float(tr.mean[stat]), float(tr.var[stat])
    count = {"batch": N * H * W, "layer": C * H * W, "position": C}[mode]
    x, xh = float(z2[n, c, h, w]), float(tr.normalized[n, c, h, w])
    left, right = st.columns([2, 3], gap="large", vertical_alignment="center")
    with left:
        st.markdown(t(f"norm_stat_{mode}", n=n, c=c, h=h, w=w, count=f"{count:,}", N=N, C=C, H=H, W=W))
        st.latex(rf"\mu = {mu:.4f},\ \ \sigma^2 = {var:.4f}")
        st.latex(rf"\begin{{aligned}}\hat x_{{{n},{c},{h},{w}}} &= \frac{{{x:.4f} - ({mu:.4f})}}{{\sqrt{{{var:.4f} + 10^{{-5}}}}}}"
                 rf" \\ &= {xh:.4f}\end{{aligned}}")
    with right:
        st.plotly_chart(parts.norm_picture(mode, n, c, h * W + w, (SHOW_N, SHOW_C), t.lang), key="knobs_norm_fig")
    st.caption(t("norm_pic_note", N=N, C=C, n_last=SHOW_N - 1, c_last=SHOW_C - 1))
    st.subheader(t("dep_header"))
    st.markdown(t.section("norm_batch"))
    deps = res["deps"]
    left, right = st.columns([2, 3], gap="large", vertical_alignment="center")
    with left:
        for m in bn.MODES:
            st.markdown(t("dep_gap", name=t(f"mode_{m}"), gap=f"{deps[m].gap:.3g}"))
    with right:
        st.plotly_chart(parts.dependence_figure(t.lang), key="knobs_dep_fig")
    st.markdown(t.section("norm_reading"))
    show_code(bn.batch_norm, bn.layer_norm_chw, bn.layer_norm_positions)
    torch_check(res["gaps"].worst, t("norm_check_ref"))
