"""Backpropagation: the chain rule on a small graph first (ours beside torch's), then the whole
article CNN backwards on the learner's digit, stage by stage, with the saliency map and one SGD step.

Glue only: lesson text from lessons/, engine.ops.autodiff and engine.ops.backprop for every
number (cached per digit and label), figures.backprop to draw."""

from __future__ import annotations

import zlib

import streamlit as st

from engine.limits import FLOAT_BOUNDS, LimitError
from engine.models.cnn import Network, checkpoint_mtime, digit_batch, load_network
from engine.ops.autodiff import graph, local_derivative, torch_graph
from engine.ops.backprop import (
    CNNBackward,
    SGDStep,
    autograd_grads,
    backward,
    cnn_backward,
    conv_backward,
    dense_backward,
    held_out_loss,
    max_delta,
    params_of,
    pool_backward,
    probabilities,
    relu_backward,
    sgd_step,
    stage_deltas,
)
from figures import backprop as fb
from views.backprop.graph import graph_section
from views.backprop.stages import stage_section
from widgets.blocks import show_code, torch_check
from widgets.digit_input import current_digit, digit_input, held_out
from widgets.i18n import T

t = T("backprop")
ETA = FLOAT_BOUNDS["backprop_eta"]
HELD = 200  # the last HELD held-out digits: the SGD step is measured on them too


# ----- cached work ------------------------------------------------------------------------------

@st.cache_resource(show_spinner=False)
def network(mtime: float | None) -> Network:
    """The shipped CNN, once per checkpoint (its float64 copy is what this page differentiates)."""
    return load_network()


@st.cache_resource(show_spinner=False, max_entries=32)
def predicted(digit_key: bytes, _net: Network, _digit) -> int:
    """The shipped model's prediction for the digit (`digit_key` = its bytes and the checkpoint)."""
    return int(probabilities(_net.model64, digit_batch(_digit, dtype=_net.model64.fc2.weight.dtype)).argmax())


@st.cache_resource(show_spinner=False, max_entries=32)
def backward_trace(key: bytes, _net: Network, _digit, label: int) -> CNNBackward:
    """The from-scratch backward pass, once per digit, label and checkpoint (`key` holds all three)."""
    return cnn_backward(_net.model64, digit_batch(_digit, dtype=_net.model64.fc2.weight.dtype), [label])


@st.cache_resource(show_spinner=False, max_entries=32)
def autograd_delta(key: bytes, _net: Network, _digit, label: int, _bw: CNNBackward) -> float:
    """max |ours − autograd| over every parameter and the input, for the same digit and label."""
    x = digit_batch(_digit, dtype=_net.model64.fc2.weight.dtype)
    return max_delta(_bw, autograd_grads(_net.model64, x, [label]))


@st.cache_resource(show_spinner=False, max_entries=32)
def stage_checks(key: bytes, _net: Network, _bw: CNNBackward) -> dict[str, float]:
    """Each stage's max |ours − autograd| (autograd on the intermediates of torch's own forward)."""
    return stage_deltas(_net.model64, _bw)


@st.cache_resource(show_spinner=False, max_entries=64)
def sgd(key: bytes, _net: Network, _digit, label: int, eta: float) -> SGDStep:
    """One SGD step on the digit; the loss on this digit and on HELD other digits, before and after."""
    split = held_out()
    held = (split.x_test[-HELD:], split.y_test[-HELD:])
    return sgd_step(_net.model64, digit_batch(_digit, dtype=_net.model64.fc2.weight.dtype), [label], eta,
                    held=held, held_before=held_loss(checkpoint_mtime(), _net, held))


@st.cache_resource(show_spinner=False, max_entries=4)
def held_loss(mtime: float | None, _net: Network, _held: tuple) -> float:
    """The shipped model's loss on the HELD digits before any step: once per checkpoint."""
    return held_out_loss(_net.model64, params_of(_net.model64), *_held)


@st.cache_resource(show_spinner=False, max_entries=32)
def saliency(key: bytes, lang: str, _digit, _bw: CNNBackward):
    return fb.saliency_figures(_digit, _bw.input_grad[0, 0], (t("fig_digit"), t("fig_saliency")))


# ----- title, intuition, the small graph --------------------------------------------------------

st.title(t("title"))
st.markdown(t.section("intuition"))

st.header(t("graph_header"))
st.markdown(t.section("graph"))
st.latex(r"\frac{\partial f}{\partial v} = \sum_{p\,\in\,\text{parents}(v)} \frac{\partial p}{\partial v}\cdot"
         r"\frac{\partial f}{\partial p},\qquad \frac{\partial f}{\partial f} = 1")
with st.container(border=True, key="bp_graph"):
    graph_section()

# ----- the whole CNN on the learner's digit -----------------------------------------------------

st.header(t("cnn_header"))
st.markdown(t.section("cnn"))
st.latex(r"\begin{aligned}&\frac{\partial L}{\partial z_5} = \frac{p - y}{N} \;\to\; \frac{\partial L}{\partial W_5},"
         r"\frac{\partial L}{\partial a_4} \;\to\; [z_4>0] \;\to\; \frac{\partial L}{\partial W_4},"
         r"\frac{\partial L}{\partial f} \\ &\to\; \text{unflatten} \;\to\; [z_3>0] \;\to\; "
         r"\frac{\partial L}{\partial W_3}, \frac{\partial L}{\partial p_2} \;\to\; \text{route} \;\to\; \cdots"
         r" \;\to\; \frac{\partial L}{\partial x}\end{aligned}")

mtime = checkpoint_mtime()
net = network(mtime)
digit = digit_input()
digit_key = digit.tobytes() + repr(mtime).encode()
k_hat = predicted(digit_key, net, digit)
shown = current_digit()
default = shown["label"] if shown.get("source") == "dataset" else k_hat

pick, note = st.columns([1, 2], gap="medium", vertical_alignment="bottom")
with pick:
    # one control per digit: its default (the dataset's label, or the prediction) follows the digit
    label = st.selectbox(t("label"), list(range(10)), index=int(default), help=t("label_help"),
                         key=f"bp_label_{zlib.crc32(digit_key)}")
with note:
    st.markdown(t("label_note", k=k_hat, default=default))
if label not in range(10):
    st.error(t("err_bad_label", label=label))
    st.stop()

key = digit_key + bytes([label])
bw = backward_trace(key, net, digit, label)
st.markdown(t("loss_note", loss=f"{bw.loss:.4f}", p=f"{float(bw.fwd.p[0, label]):.4f}", y=label))
if not net.trained:
    st.warning(t("untrained"))

with st.container(border=True, key="bp_stages"):
    stage_section(key, bw, stage_checks(key, net, bw))

# ----- saliency ---------------------------------------------------------------------------------

st.header(t("saliency_header"))
st.markdown(t.section("saliency"))
st.latex(r"S[i,j] = \left|\frac{\partial L}{\partial x[i,j]}\right|")
left, right = st.columns(2, gap="medium")
fig_digit, fig_sal = saliency(key, t.lang, digit, bw)
with left:
    st.plotly_chart(fig_digit, key="bp_digit")
with right:
    st.plotly_chart(fig_sal, key="bp_saliency")

# ----- one SGD step -----------------------------------------------------------------------------

st.header(t("sgd_header"))
st.markdown(t.section("sgd"))
eta = st.number_input(t("eta"), min_value=ETA.low, max_value=ETA.high, value=0.01, step=0.01, format="%.4f",
                      key="bp_eta", help=t("eta_help", low=ETA.low, high=f"{ETA.high:g}"))
try:
    step = sgd(key, net, digit, label, float(eta))
except LimitError as e:
    st.error(t.error(e))
else:
    st.latex(fb.sgd_latex(step.eta, step.loss_before, step.loss_after, step.step_norm, step.grad_norm))
    a, b, c = st.columns(3)
    a.metric(t("loss_after"), f"{step.loss_after:.4g}", delta=f"{step.loss_after - step.loss_before:+.3g}",
             delta_color="inverse")
    b.metric(t("p_after", y=label), f"{step.p_after:.4f}", delta=f"{step.p_after - step.p_before:+.3g}")
    c.metric(t("held_after", n=HELD), f"{step.held_after:.4f}", delta=f"{step.held_after - step.held_before:+.3g}",
             delta_color="inverse")
    if step.went_up:
        st.warning(t("sgd_up", eta=f"{step.eta:g}"))
    elif step.held_went_up:
        st.warning(t("sgd_held_up", eta=f"{step.eta:g}", n=HELD, before=f"{step.held_before:.4f}",
                     after=f"{step.held_after:.4f}"))
    else:
        st.success(t("sgd_down", eta=f"{step.eta:g}", n=HELD))
    st.caption(t("sgd_note"))

# ----- code, the check against torch, what next ---------------------------------------------------

st.header(t("code_header"))
show_code(graph, local_derivative, torch_graph, cnn_backward, backward, dense_backward, conv_backward,
          relu_backward, pool_backward, sgd_step)

st.header(t("check_header"))
st.markdown(t.section("check"))
torch_check(autograd_delta(key, net, digit, label, bw), t("check_ref"))

st.header(t("next_header"))
st.markdown(t.section("next"))
st.page_link("views/loss/page.py", label=t("next_loss"), icon=":material/arrow_back:")
st.page_link("views/cnn.py", label=t("next_cnn"), icon=":material/arrow_back:")
st.page_link("views/optimisers/page.py", label=t("next_optimisers"), icon=":material/arrow_forward:")
