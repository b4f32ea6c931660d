"""Loss functions: cross-entropy and squared error on the learner's digit, their gradients at the
output, why squared error's gradient vanishes, and log(softmax) against log-sum-exp in float32.

Glue only: lesson text from lessons/, the shared digit input, engine.ops.loss for every number
(through views/loss/parts.py, cached per digit and label), figures.loss to draw.
"""

from __future__ import annotations

import math

import pandas as pd
import streamlit as st

from engine.ops.loss import (
    cross_entropy,
    cross_entropy_grad,
    log_softmax,
    saturation_study,
    softmax,
    softmax_jacobian,
    squared_error,
    squared_error_grad,
    underflow_study,
)
from figures import loss as fl
from figures.cnn import num
from views.loss.parts import digit_key, label_control, lesson_of, logits_of, mtime
from widgets.blocks import show_code, torch_check
from widgets.digit_input import current_digit, digit_input
from widgets.i18n import T

t = T("loss")

# ----- title, intuition, formula ----------------------------------------------------------------

st.title(t("title"))
st.markdown(t.section("intuition"))

st.header(t("formula_header"))
st.latex(fl.definitions_latex())
st.markdown(t.section("formula"))

# ----- the digit, its logits and the label --------------------------------------------------------

st.header(t("input_header"))
digit = digit_input("loss_digit")
key, m = digit_key(digit), mtime()
z = logits_of(key, m, digit)

st.header(t("output_header"))
st.markdown(t.section("output"))
left, right = st.columns([1, 3], gap="large")
with left:
    prediction = st.container(key="loss_prediction")
    y = label_control(key, z)
    shown = current_digit()
    st.caption(t("label_from_dataset", label=shown["label"]) if shown.get("source") == "dataset"
               else t("label_from_prediction"))
L = lesson_of(key, m, y, z)
tr = L.trace
k_hat = int(tr.p.argmax())
prediction.metric(t("prediction"), str(k_hat), delta=t("confidence", p=f"{100 * float(tr.p[k_hat]):.1f}"),
                  delta_color="off", delta_arrow="off")
with right:
    st.plotly_chart(fl.probability_figure(tr, title=t("probs_title")), key="loss_probs")
st.markdown(t("logits_line"))
st.latex(r"z = (" + r",\ ".join(num(v, 2) for v in tr.z) + ")")

# ----- the two losses and their gradients ---------------------------------------------------------

st.header(t("losses_header"))
g_max = max(float(tr.grad_ce.abs().max()), float(tr.grad_se.abs().max()), 1e-12)
for name, metric, loss_tex, grad_tex, grad, title in (
    ("ce", t("metric_ce", y=y), fl.ce_latex(tr), fl.ce_grad_latex(tr), tr.grad_ce, t("grad_ce_title")),
    ("se", t("metric_se", y=y), fl.se_latex(tr), fl.se_grad_latex(tr), tr.grad_se, t("grad_se_title")),
):
    st.subheader(t(f"{name}_header"))
    st.markdown(t.section(name))
    text, fig = st.columns([3, 2], gap="medium", vertical_alignment="center")
    with text:
        with st.container(key=f"loss_metric_{name}"):
            st.metric(metric, f"{(tr.L_ce if name == 'ce' else tr.L_se):.6g}")
        st.latex(loss_tex)
        st.latex(grad_tex)
    with fig:
        st.plotly_chart(fl.gradient_figure(grad, y, title=title, ymax=g_max), key=f"loss_grad_{name}")
st.caption(t("grad_note", y=y))

# ----- saturation -------------------------------------------------------------------------------------

st.header(t("saturation_header"))
st.markdown(t.section("saturation"))
s = L.saturation
st.plotly_chart(fl.saturation_figure(
    s, names=(t("saturation_ce"), t("saturation_se")), title=t("saturation_title", j=s.j, y=s.y),
    x_title=t("saturation_x", j=s.j, y=s.y), start_name=t("saturation_start")), key="loss_saturation")
st.markdown(t("saturation_numbers", j=s.j, ce0=f"{float(s.norm_ce[s.start]):.3g}",
              se0=f"{float(s.norm_se[s.start]):.3g}", m=f"{float(s.margin[-1]):.1f}",
              ce1=f"{float(s.norm_ce[-1]):.4f}", se1=f"{float(s.norm_se[-1]):.3g}",
              se_max=f"{float(s.norm_se.max()):.3g}"))

# ----- log(softmax) against log-sum-exp -------------------------------------------------------------

st.header(t("underflow_header"))
st.markdown(t.section("underflow"))
u = L.underflow
c1, c2, c3 = st.columns(3)
c1.metric(t("metric_equal64"), f"{u.equal64:.1e}")
c2.metric(t("metric_subnormal"), f"{u.subnormal_gap:.3f}")
c3.metric(t("metric_break"), f"{u.break_gap:.3f}")
st.caption(t("equal64_note", delta=f"{u.equal64:.1e}"))
text, fig = st.columns([3, 2], gap="medium", vertical_alignment="center")
with text:
    st.latex(fl.underflow_latex(u))
    st.caption(t("break_note", y=y, sub=f"{u.subnormal_gap:.3f}", brk=f"{u.break_gap:.3f}"))
with fig:
    st.plotly_chart(fl.underflow_figure(
        u, names=(t("underflow_article"), t("underflow_lse"), t("underflow_exact")),
        title=t("underflow_title", y=y), x_title=t("underflow_x"), inf_name=t("underflow_inf")),
        key="loss_underflow")
tb = L.table
st.dataframe(pd.DataFrame({
    t("col_gap"): [f"{float(g):.2f}" for g in tb.gaps],
    t("col_p32"): [f"{float(p):.4e}" for p in tb.p_y32],
    t("col_article"): ["+∞" if math.isinf(float(v)) else f"{float(v):.4f}" for v in tb.article32],
    t("col_lse"): [f"{float(v):.4f}" for v in tb.lse32],
    t("col_exact"): [f"{float(v):.4f}" for v in tb.exact],
}), hide_index=True, width="stretch")

# ----- code and the check against torch --------------------------------------------------------------

st.header(t("code_header"))
show_code(softmax, log_softmax, cross_entropy, squared_error, softmax_jacobian, cross_entropy_grad,
          squared_error_grad, saturation_study, underflow_study)

st.header(t("check_header"))
st.markdown(t.section("check"))
G = L.gaps
st.dataframe(pd.DataFrame({
    t("col_quantity"): ["softmax", "log_softmax", "cross_entropy", "squared_error", "cross_entropy_grad",
                        "squared_error_grad"],
    t("col_reference"): ["F.softmax", "F.log_softmax", "F.cross_entropy", 'F.mse_loss(reduction="sum")',
                         "autograd(F.cross_entropy)", "autograd(F.mse_loss(F.softmax))"],
    t("col_delta"): [f"{v:.1e}" for v in (G.softmax, G.log_softmax, G.cross_entropy, G.squared_error,
                                          G.grad_ce, G.grad_se)],
}), hide_index=True, width="stretch")
torch_check(G.max, t("check_ref"))

# ----- what next ------------------------------------------------------------------------------------

st.header(t("next_header"))
st.markdown(t.section("next"))
st.page_link("views/cnn.py", label=t("next_cnn"), icon=":material/arrow_back:")
st.page_link("views/backprop/page.py", label=t("next_backprop"), icon=":material/arrow_forward:")
st.page_link("views/train_cnn.py", label=t("next_training"), icon=":material/model_training:")
