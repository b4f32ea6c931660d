"""What each erratum's frame shows under its two forms: the figures and numbers of its case
(engine.ops.errata_cases), computed on the page's seed."""

from __future__ import annotations

import math

import pandas as pd
import streamlit as st

from engine.ops.errata_cases import (
    D_ATT,
    D_FLOW,
    ENC,
    FFN_D,
    FFN_T,
    K_SIZE,
    L_PE,
    SIDE,
    T_ATT,
    T_FLOW,
    AttentionCase,
    ConvCase,
    EncoderCase,
    FFNCase,
    FlowCase,
    KernelsCase,
    LSTMCase,
    PECase,
)
from figures.common import mosaic_figure
from figures.formula import curves_figure, matrix_figure
from figures.recurrent import char_labels
from figures.transformer import symmetric_range
from views.errata.parts import fmt, t, vec
from widgets.latex import num

SHOWN_CHARS = 60  # of the LSTM passage drawn in the c_t figure
LSTM_FORMS = ("right", "no_cell", "shared_wx")


def pair(right, wrong, title_right: str, title_wrong: str, key: str) -> None:
    """The wrong form's matrix on the left, under "✗ wrong", and the right form's on the right,
    under "✓ right" (the frame's order), on one colour scale."""
    top = symmetric_range(right, wrong)
    c_wrong, c_right = st.columns(2)
    with c_wrong:
        st.plotly_chart(matrix_figure(wrong, title=title_wrong, zmax=top), key=f"{key}_wrong")
    with c_right:
        st.plotly_chart(matrix_figure(right, title=title_right, zmax=top), key=f"{key}_right")


def attention_body(case: AttentionCase) -> None:
    w = case.trace
    pair(w.correct, w.wrong, t("fig_att_right"), t("fig_att_wrong", d_v=D_ATT), "er_att")
    st.latex(rf"\begin{{aligned}} a_1 \text{{ ({t('scaled')})}} &= {vec(w.weights_scaled[0])} \\ "
             rf"a_1 \text{{ ({t('unscaled')})}} &= {vec(w.weights_unscaled[0])} \\ "
             rf"\max|\Delta| &= {w.max_abs_delta:.4f} \end{{aligned}}")
    st.caption(t("att_numbers", T=T_ATT, d=D_ATT, lo=f"{case.ratio_lo:.3f}", hi=f"{case.ratio_hi:.3f}"))


def pe_body(case: PECase) -> None:
    pos, i, s, c = case.pos, case.i, case.sin, case.cos
    c1, c2 = st.columns([2, 3])
    with c1:
        st.latex(rf"\begin{{aligned}} \theta &= \frac{{{pos}}}{{10000^{{{2 * i}/{case.PE.shape[1]}}}}} = "
                 rf"{case.theta:.4f} \\ PE[{pos},{2 * i}] &= \sin\theta = {fmt(s)} \\ "
                 rf"PE[{pos},{2 * i + 1}] &= \cos\theta = {fmt(c)} \\ "
                 rf"\sin\theta - \cos\theta &= {fmt(s - c)} \end{{aligned}}")
        st.caption(t("pe_numbers", pos=pos, i=i, a=2 * i, b=2 * i + 1))
    with c2:
        PE = case.PE
        st.plotly_chart(curves_figure(list(range(L_PE)), {f"PE[pos, {2 * i}] = sin": PE[:, 2 * i],
                                                         f"PE[pos, {2 * i + 1}] = cos": PE[:, 2 * i + 1]},
                                      x_title="pos", title=t("fig_pe", i=i), height=300), key="er_pe")


def cell_latex(case: ConvCase) -> str:
    """out[0, 0] written out both ways: the window's nine products, and Σw times one pixel."""
    cell, b = case.cell, case.b
    products = [rf"{num(float(w), 0)}\cdot{num(float(x), 0)}" for w, x in zip(cell.kernel.flatten(), cell.patch.flatten())]
    rows = [" + ".join(products[k:k + 3]) for k in range(0, len(products), 3)]
    w_sum, x00, wrong = case.w_sum, float(case.x[0, 0]), float(case.wrong[0, 0])
    return (rf"\begin{{aligned}} \text{{{t('right')}}}:\ \mathrm{{out}}[0,0] &= " + r" \\ &\quad + ".join(rows)
            + rf" + {b:g} = {cell.total:g} \\ \text{{{t('wrong')}}}:\ \mathrm{{out}}_{{00}} &= "
            rf"\Big(\textstyle\sum_k w_k\Big)\cdot \mathrm{{in}}_{{00}} + b = {num(w_sum, 0)}\cdot{x00:g} + {b:g}"
            rf" = {wrong:g} \end{{aligned}}")


def conv_body(case: ConvCase) -> None:
    x, right, wrong = case.x, case.right, case.wrong
    cols = st.columns([3, 2, 3, 3])
    figures = ((x, t("fig_x", n=SIDE), "x"), (case.w, t("fig_w"), "w"),
               (right, t("fig_conv_right", n=right.shape[0]), "r"), (wrong, t("fig_conv_wrong", n=wrong.shape[0]), "wr"))
    for col, (z, title, k) in zip(cols, figures):
        with col:
            st.plotly_chart(matrix_figure(z, title=title, fmt=".0f", height=260), key=f"er_conv_{k}")
    st.latex(cell_latex(case))
    st.caption(t("conv_numbers", n=SIDE, k=K_SIZE, out=right.shape[0], s=f"{case.w_sum:g}"))


def kernels_body(case: KernelsCase) -> None:
    maps, summed = case.maps, case.summed
    if case.index is not None:
        st.caption(t("digit_note", index=case.index, label=case.label))
    st.caption(t("filters_trained") if case.layer.trained else t("filters_random"))
    c_wrong, c_right = st.columns([1, 3])  # the frame's order: wrong (the sum) left, right (the maps) right
    with c_wrong:
        st.plotly_chart(matrix_figure(summed, title=t("fig_summed"), annotate=False, height=300), key="er_summed")
    with c_right:
        st.plotly_chart(mosaic_figure(maps, 8, title=t("fig_maps", K=maps.shape[0]), colorscale="RdBu_r", zmid=0.0,
                                      labels=[str(o) for o in range(maps.shape[0])]), key="er_maps")
    i, j, values = case.i, case.j, case.at_cell
    shown = ", ".join(f"{float(v):.2f}" for v in values[:6])
    st.latex(rf"\begin{{aligned}} (z_1,\dots,z_{{{len(values)}}})[{i},{j}] &= ({shown}, \dots) \\ "
             rf"\textstyle\sum_o z_o[{i},{j}] &= {float(summed[i, j]):.3f} \end{{aligned}}")
    C, H, W = maps.shape
    st.caption(t("kernels_numbers", K=C, H=H, W=W, n=C * H * W, m=H * W))


def pooling_body(case: ConvCase) -> None:
    x, pooled, unpooled = case.x, case.pooled, case.unpooled
    cols = st.columns(3)
    for col, (z, title, k) in zip(cols, ((x, t("fig_x", n=SIDE), "x"), (pooled, t("fig_pool_right"), "r"),
                                         (unpooled, t("fig_pool_wrong"), "w"))):
        with col:
            st.plotly_chart(matrix_figure(z, title=title, fmt=".0f", height=260), key=f"er_pool_{k}")
    window = ", ".join(f"{float(v):g}" for v in x[:2, :2].flatten())
    st.latex(rf"\begin{{aligned}} \text{{{t('right')}}}:\ \mathrm{{out}}[0,0] &= \max({window}) = {float(pooled[0, 0]):g} \\ "
             rf"\text{{{t('wrong')}}}:\ \mathrm{{out}}_{{00}} &= \max(\mathrm{{in}}_{{00}}) = \max({float(x[0, 0]):g}) = "
             rf"{float(unpooled[0, 0]):g} \end{{aligned}}")
    st.caption(t("pool_numbers", delta=f"{case.pool_delta:g}", n=SIDE, m=pooled.shape[0]))


def lstm_body(case: LSTMCase) -> None:
    st.caption(t("lstm_trained") if case.trained else t("lstm_random"))
    shown = case.text[:SHOWN_CHARS]
    j = case.busiest_unit(SHOWN_CHARS)
    st.plotly_chart(curves_figure(list(range(len(shown))), {
        t("lstm_c_right", j=j): case.right.c[:SHOWN_CHARS, j], t("lstm_c_wrong", j=j): case.no_cell.c[:SHOWN_CHARS, j]},
        x_title=t("step_axis"), y_title=f"c<sub>t</sub>[{j}]", tick_text=char_labels(shown), markers=True,
        title=t("fig_lstm", j=j), height=320), key="er_lstm")
    runs = [getattr(case, form) for form in LSTM_FORMS]
    st.dataframe(pd.DataFrame({
        t("col_model"): [t("lstm_row_right"), t("lstm_row_no_cell"), t("lstm_row_shared")],
        t("col_loss"): [f"{run.loss:.3f}" for run in runs],
        t("col_acc"): [f"{100 * run.acc:.0f} %" for run in runs],
    }), hide_index=True, key="er_lstm_table")
    st.caption(t("lstm_numbers", n=len(case.text), text=case.text[:40].replace("\n", " ").strip()))


def ffn_body(case: FFNCase) -> None:
    tr = case.trace
    pair(tr.right.output, tr.wrong, t("fig_ffn_right"), t("fig_ffn_wrong"), "er_ffn")
    total = tr.projected.numel()
    m1, m2, m3 = st.columns(3)
    m1.metric(t("metric_ffn_delta"), f"{tr.max_delta:.4f}")
    m2.metric(t("metric_negative"), f"{tr.n_negative} / {total}")
    m3.metric(t("metric_floor"), f"{tr.floor:.4f}")
    st.caption(t("ffn_numbers", T=FFN_T, d=FFN_D, d_ff=4 * FFN_D, n=tr.n_negative, total=total))


def encoder_body(cases: list[EncoderCase]) -> None:
    st.dataframe(pd.DataFrame([{
        t("col_sentence"): " ".join(case.tokens), t("col_tokens"): len(case.tokens),
        t("col_output"): f"{len(case.tokens)} × {ENC.d_model}", t("col_distance"): f"{case.min_distance:.3f}",
    } for case in cases]), hide_index=True, key="er_enc_table")
    first = cases[0]
    st.plotly_chart(matrix_figure(first.Y, title=t("fig_enc", T=len(first.tokens), d=ENC.d_model),
                                  row_labels=first.tokens, annotate=False, height=260), key="er_enc")
    st.caption(t("enc_numbers", d=ENC.d_model, h=ENC.h))


def flow_body(case: FlowCase) -> None:
    pair(case.right.weights, case.unscaled, t("fig_flow_right", d=D_FLOW), t("fig_flow_wrong"), "er_flow")
    m1, m2 = st.columns(2)
    m1.metric(t("flow_v_weights"), f"{case.v_delta:g}")
    m2.metric(t("flow_v_output"), f"{case.out_delta:.3f}")
    r, w = case.right_stats, case.wrong_stats
    st.dataframe(pd.DataFrame({
        t("col_property"): [t("flow_std"), t("flow_max"), t("flow_entropy", T=T_FLOW, hmax=f"{math.log(T_FLOW):.3f}"),
                            t("flow_jac")],
        t("col_scaled"): [f"{r.score_std:.3f}", f"{r.max_weight:.3f}", f"{r.entropy:.3f}", f"{r.jacobian:.3f}"],
        t("col_unscaled"): [f"{w.score_std:.3f}", f"{w.max_weight:.3f}", f"{w.entropy:.3f}", f"{w.jacobian:.3f}"],
    }), hide_index=True, key="er_flow_table")
    st.caption(t("flow_numbers", d=D_FLOW, root=math.sqrt(D_FLOW), T=T_FLOW))
