"""Quantisation: the shipped CNN's weights stored in b bits, q = clamp(round(x/s) + z, q_min, q_max)
and x̂ = s·(q − z) written out for a weight the learner picks; per-tensor against per-channel scales;
the grid of levels over a layer's weights; held-out accuracy and size against b.

Glue only: lessons/ for the text, engine.ops.quantise and engine.models.cnn_quant for every number
(through views/quantise/parts.py, cached), figures.quantise to draw.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from engine.models.cnn_quant import BITS, forward_quant, quant_table, quantise_weights
from engine.ops.quantise import dequantise, fake_quantise, qparams, quantise, weight_steps
from figures import quantise as fq
from views.quantise import parts
from widgets.blocks import show_code, torch_check
from widgets.i18n import T

t = T("quantise")
KB = 1000

# ----- title, intuition, formula ----------------------------------------------------------------

st.title(t("title"))
st.markdown(t.section("intuition"))

st.header(t("formula_header"))
st.latex(fq.formulas_latex())
st.markdown(t.section("formula"))

# ----- the choice: a layer, a bit width, a weight -----------------------------------------------

m = parts.mtime()
net = parts.network(m)
st.header(t("pick_header"))
st.markdown(t.section("pick"))
c_layer, c_bits = st.columns(2, gap="medium", vertical_alignment="bottom")
with c_layer:
    name = parts.layer_control(parts.shapes_of(net))
with c_bits:
    b = parts.bits_control()
L = parts.layer_of(m, name, b)
c_gran, c_index = st.columns(2, gap="medium", vertical_alignment="bottom")
with c_gran:
    channelwise = parts.granularity_control()
with c_index:
    index = parts.index_control(name, L.tensor.x.numel())
tq = L.channel if channelwise else L.tensor
C = L.tensor.x.shape[0]
c = index // (L.tensor.x.numel() // C)

# ----- one weight written out -------------------------------------------------------------------

st.subheader(t("steps_header", name=name, index=index))
steps = weight_steps(L.tensor.x.float(), index, tq.p)
text, nums = st.columns([3, 1], gap="medium", vertical_alignment="center")
with text:
    st.latex(fq.steps_latex(steps))
with nums:
    st.metric(t("metric_q"), str(steps.q), help=t("metric_q_help", b=b, q_max=steps.q_max))
    st.metric(t("metric_err"), f"{steps.error:.2e}", delta=t("half_step", h=f"{steps.s / 2:.2e}"),
              delta_color="off", delta_arrow="off")
where = t("where_channel", c=c) if channelwise else t("where_tensor", name=name)
st.caption(t("steps_note", where=where, levels=2**b, q_max=2**b - 1)
           + " " + (t("clamped_note") if steps.clamped else ""))
st.markdown(t.section("steps"))

# ----- per tensor against per channel -----------------------------------------------------------

st.header(t("channels_header"))
st.markdown(t.section("channels"))
k1, k2, k3 = st.columns(3)
k1.metric(t("metric_rms_tensor"), f"{L.tensor.rms:.2e}")
k2.metric(t("metric_rms_channel"), f"{L.channel.rms:.2e}")
k3.metric(t("metric_ratio"), f"{L.tensor.rms / L.channel.rms:.2f}×")
widths = (L.ch_max - L.ch_min)
st.markdown(t("channels_numbers", name=name, C=C, lo=f"{float(L.ch_min.min()):.4f}", hi=f"{float(L.ch_max.max()):.4f}",
              wmin=f"{float(widths.min()):.4f}", wmax=f"{float(widths.max()):.4f}",
              s_t=f"{float(L.tensor.p.s):.3g}", s_min=f"{float(L.channel.p.s.min()):.3g}",
              s_max=f"{float(L.channel.p.s.max()):.3g}"))
left, right = st.columns(2, gap="medium")
with left:
    st.plotly_chart(fq.ranges_figure(L, (t("fig_channel_range"), t("fig_layer_range")),
                                     title=t("ranges_title", name=name)), key="qz_ranges")
with right:
    st.plotly_chart(fq.channel_error_figure(L, (t("gran_tensor"), t("gran_channel")),
                                            title=t("rms_title", name=name, b=b)), key="qz_rms")

# ----- the grid over the layer's weights ----------------------------------------------------------

st.header(t("grid_header"))
st.markdown(t.section("grid"))
levels = tq.p.levels(c if channelwise else None)
st.plotly_chart(fq.grid_figure(tq, levels, index, (t("fig_weights"), t("fig_levels", n=2**b), t("fig_picked"),
                                                   t("fig_error")),
                               title=t("grid_title", name=name, b=b, where=where)), key="qz_grid")
st.markdown(t("zeros_note", zero=f"{tq.zeros:,}", n=f"{tq.x.numel():,}", pct=f"{tq.zeros / tq.x.numel():.0%}", b=b))
st.caption(t("grid_note", n=f"{L.tensor.x.numel():,}", shown=f"{fq.shown_points(L.tensor.x.numel()):,}",
             s=f"{float(tq.p.s[c] if channelwise else tq.p.s):.3g}"))

# ----- accuracy and size against b -------------------------------------------------------------------

st.header(t("table_header"))
st.markdown(t.section("table"))
T_ = parts.table(m)
names = (t("series_w_tensor"), t("series_w_channel"), t("series_wa_tensor"), t("series_wa_channel"), t("series_float"))
frame = pd.DataFrame({
    t("col_bits"): ["32 (float32)"] + [str(bb) for bb in BITS],
    **{t(f"col_size_{g}"): [f"{T_.float_bytes / KB:.1f}"] + [f"{T_.row(bb, g == 'channel', False).size.bytes / KB:.1f}"
                                                          for bb in BITS] for g in parts.GRANULARITIES},
    **{n: [f"{100 * T_.float_accuracy:.1f}"] + [f"{100 * T_.row(bb, ch, act).accuracy:.1f}" for bb in BITS]
       for n, (ch, act, _, _) in zip(names, fq.SERIES)},
})
st.dataframe(frame, hide_index=True, width="stretch")
st.plotly_chart(fq.accuracy_figure(T_, names, bits=b, title=t("acc_title", n=f"{T_.test_size:,}")), key="qz_acc")
st.caption(t("table_note", n_cal=T_.ranges.n, seed=T_.calib_seed, test=f"{T_.test_size:,}",
             ranges=", ".join(f"{a}: [{lo:.2f}, {hi:.2f}]" for a, lo, hi in
                              zip(("x", "p₁", "p₂", "a₃", "a₄"), T_.ranges.lo, T_.ranges.hi))))
st.markdown(t.section("table_after"))

# ----- code and the check against torch -------------------------------------------------------------

st.header(t("code_header"))
show_code(qparams, quantise, dequantise, fake_quantise, weight_steps, quantise_weights, forward_quant, quant_table)

st.header(t("check_header"))
st.markdown(t("check_note", name=name, b=b, n=parts.CHECK_DIGITS))
torch_check(max(L.torch_gap, parts.model_gap(m, b)), t("check_ref"), dtype="float32")

# ----- what next -------------------------------------------------------------------------------------

st.header(t("next_header"))
st.markdown(t.section("next"))
st.page_link("views/real_gguf/page.py", label=t("link_gguf"), icon=":material/memory:")
st.page_link("views/cnn.py", label=t("link_cnn"), icon=":material/arrow_back:")
st.page_link("views/prune/page.py", label=t("link_prune"), icon=":material/arrow_forward:")
