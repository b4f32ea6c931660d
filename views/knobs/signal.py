"""The training-knobs page, sections 1 and 2: the batch size (the spread of mini-batch gradients)
and the initialisation (the signal through a deep MLP). Glue only: engine results from parts."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from engine.limits import BOUNDS
from engine.ops import grad_noise, init_study
from views.knobs import parts
from widgets.blocks import show_code, torch_check
from widgets.i18n import T

t = T("knobs")

WIDTHS = (16, 32, 64, 128, 256)


def batch_section() -> None:
    st.header(t("batch_header"))
    st.markdown(t.section("batch"))
    st.latex(r"g = \frac{1}{N}\sum_{i=1}^{N} g_i,\quad g_B = \frac{1}{B}\sum_{i\in S} g_i,\qquad"
             r"\mathbb{E}\,\lVert g_B - g\rVert^2 = \frac{N-B}{B\,(N-1)}\,\operatorname{tr}\Sigma,\quad"
             r"\operatorname{tr}\Sigma = \frac{1}{N}\sum_{i=1}^{N}\lVert g_i - g\rVert^2")
    done = parts.noise_study(t("noise_progress", N=parts.NOISE_N))
    study: grad_noise.GradNoiseStudy = done.value
    st.caption(t("noise_cost", N=f"{study.N:,}", passes=parts.NOISE_PASSES, seconds=f"{done.seconds:.1f}"))

    sizes = study.batch_sizes
    parts.guard("knobs_B", 16 if 16 in sizes else sizes[0], options=sizes)
    B = st.select_slider(t("B_label"), sizes, key="knobs_B", help=t("B_help"))
    k = sizes.index(B)
    N, tr, law, got = study.N, study.tr_sigma, float(study.predicted[k]), float(study.measured[k])
    left, right = st.columns([2, 3], gap="medium", vertical_alignment="center")
    with left:
        st.latex(rf"\begin{{aligned}}\frac{{N-B}}{{B\,(N-1)}}\operatorname{{tr}}\Sigma &= \frac{{{N}-{B}}}{{{B}\cdot{N - 1}}}"
                 rf" \\ &\quad\cdot {tr:.4f} = {law:.4g}\end{{aligned}}")
        st.latex(rf"\begin{{aligned}}\frac{{1}}{{M}}\sum_{{m=1}}^{{M}}\lVert g_{{B}}^{{(m)}} - g\rVert^2 &= {got:.4g}"
                 rf" \\ M &= {study.M[k]:,}\end{{aligned}}")
        st.markdown(t("noise_numbers", ratio=f"{got / law:.2f}", slope=f"{study.slope:.2f}".replace("-", "−"),
                      law_slope=f"{study.law_slope:.2f}".replace("-", "−"),
                      g=f"{study.g_norm:.3g}", tr=f"{tr:.3g}", rel=f"{(law / study.g_norm ** 2) ** 0.5:.2g}",
                      share=f"{100 * study.top_share:.0f}"))
    with right:
        st.plotly_chart(parts.noise_figure(t.lang, study, id(study)), key="knobs_noise_fig")
    st.markdown(t.section("batch_reading"))
    show_code(grad_noise.per_example_grads, grad_noise.gradient_gram, grad_noise.spread_from_gram,
              grad_noise.law, grad_noise.spread)
    torch_check(parts.noise_check(), t("noise_check_ref"))


def init_section() -> None:
    st.header(t("init_header"))
    st.markdown(t.section("init"))
    st.latex(r"z_l = W_l\,a_{l-1},\qquad \operatorname{Var}[z_l] = n_{\text{in}}\,\operatorname{Var}[W]\;"
             r"\mathbb{E}[a_{l-1}^2],\qquad \mathbb{E}[a^2] = \tfrac12\operatorname{Var}[z]\ \text{(ReLU)}")
    st.latex(r"\text{Xavier: } \sigma_W = \sqrt{\tfrac{2}{n_{\text{in}}+n_{\text{out}}}},\qquad"
             r"\text{Kaiming: } \sigma_W = \frac{\sqrt 2}{\sqrt{n_{\text{in}}}}")
    c_act, c_width, c_depth = st.columns([2, 3, 3], vertical_alignment="bottom")
    parts.guard("knobs_act", "tanh", options=init_study.ACTIVATIONS)
    parts.guard("knobs_width", 256, bound="init_width", options=WIDTHS)
    parts.guard("knobs_depth", 20, bound="init_depth")
    with c_act:
        act = st.segmented_control(t("act_label"), init_study.ACTIVATIONS, required=True,
                                   format_func=parts.labels(init_study.ACTIVATIONS, "act_"), key="knobs_act")
    with c_width:
        width = st.select_slider(t("width_label"), WIDTHS, key="knobs_width", help=t("width_help"))
    with c_depth:
        depth = st.slider(t("depth_label"), BOUNDS["init_depth"].low, BOUNDS["init_depth"].high, key="knobs_depth")
    traces = {s: tr.first(depth) for s, tr in parts.init_traces(act, width).items()}
    names = {s: t(f"scheme_{s}") for s in init_study.SCHEMES}
    st.dataframe(_init_table(traces, names, width, depth, act), hide_index=True, width="stretch")
    kai = traces["kaiming" if act == "relu" else "xavier"]
    Ea2 = float(kai.predicted_var_z[-1]) / kai.gain_per_layer
    st.latex(rf"\text{{{names[kai.scheme]}}},\ l = {depth}:\ \ {width}\cdot {kai.std_W:.4f}^2 \cdot {Ea2:.4f}"
             rf" = {float(kai.predicted_var_z[-1]):.4f}\ \approx\ \operatorname{{Var}}[z_{{{depth}}}]"
             rf" = {float(kai.var_z[-1]):.4f}")
    fig_var, fig_std = parts.depth_figures(act, width, depth, t.lang)
    left, right = st.columns(2, gap="medium")
    with left:
        st.plotly_chart(fig_var, key="knobs_var_fig")
    with right:
        st.plotly_chart(fig_std, key="knobs_std_fig")
    st.markdown(t.section("init_reading"))
    show_code(init_study.init_std, init_study.init_weight, init_study.forward_signal)
    torch_check(init_study.torch_init_gap(width, width), t("init_check_ref"))


def _init_table(traces: dict, names: dict, width: int, depth: int, act: str) -> pd.DataFrame:
    rows = traces.values()
    return pd.DataFrame({
        t("col_scheme"): [names[tr.scheme] for tr in rows],
        "σ_W": [f"{tr.std_W:.4g}" for tr in rows],
        t("col_gain", n=width): [f"{tr.gain_per_layer:.3g}" for tr in rows],
        "Var[z₁]": [f"{float(tr.var_z[0]):.3g}" for tr in rows],
        f"Var[z_{depth}]": [f"{float(tr.var_z[-1]):.3g}" for tr in rows],
        t(f"col_sat_{act}", l=depth): [f"{100 * float(tr.saturated[-1]):.0f} %" for tr in rows],
    })
