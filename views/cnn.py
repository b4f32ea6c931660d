"""The article's CNN: the learner's digit through every layer, each stage beside its formula.

Glue only: lesson text from lessons/, the shared digit input, engine.models.cnn for every number,
figures.cnn to draw.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from engine.limits import LimitError
from engine.models.cnn import (
    LAYERS,
    CNNTrace,
    Network,
    SeedCNN,
    checkpoint_mtime,
    conv_cell_parts,
    count_parameters,
    dense_unit,
    forward_from_scratch,
    load_network,
    pool_window,
    scratch_delta,
    strongest,
    trace,
    trace_digit,
)
from figures import cnn as fc
from widgets.blocks import show_code, torch_check
from widgets.digit_input import current_digit, digit_input
from widgets.i18n import T

t = T("cnn")
TRAIN_CMD = ".venv/bin/python scripts/train_default_cnn.py"


# ----- cached work ------------------------------------------------------------------------------

@st.cache_resource(show_spinner=False)
def network(mtime: float | None) -> Network:
    """The shipped CNN, once per checkpoint: `mtime` (its modification time) picks up a new one."""
    return load_network()


@st.cache_resource(show_spinner=False, max_entries=8)
def filters_figure(mtime: float | None, title: str):
    """The first layer's kernels: the same for every digit, so drawn once per checkpoint and language."""
    return fc.filters_figure(network(mtime).model64.conv1.weight, title=title)


@st.cache_resource(show_spinner=False, max_entries=32)
def digit_figures(digit_key: bytes, lang: str, _tr: CNNTrace) -> dict:
    """The figures that depend only on the digit (not on the layer control), built once per
    digit, checkpoint and language: a rerun after a layer change rebuilds only the maps.

    `digit_key` = the digit's bytes and the checkpoint's mtime; `_tr` (not hashed) is its trace.
    """
    return {
        "probs": fc.probability_figure(_tr, title=t("probs_title")),
        "flat": fc.flatten_figure(_tr, title=t("flatten_title"), cell=strongest(_tr.a3)),
        "dense": fc.dense_figure(_tr, (t("dense_row_z"), t("dense_row_a")), title=t("dense_title"),
                                 unit=int(_tr.z4.argmax())),
        "logits": fc.logits_figure(_tr, title=t("logits_title")),
    }


# ----- title, intuition, formula ----------------------------------------------------------------

st.title(t("title"))
st.markdown(t.section("intuition"))

mtime = checkpoint_mtime()
net = network(mtime)
shape_of = {r.name: r.output_shape for r in net.rows}
layer_label = {r.name: f"{r.name} · {r.kind} → {'×'.join(map(str, r.output_shape))}" for r in net.rows}

st.header(t("formula_header"))
st.latex(fc.pipeline_latex(net.rows))
st.markdown(t.section("formula"))

# ----- input and prediction -------------------------------------------------------------------

st.header(t("input_header"))
digit = digit_input()

tr = trace_digit(net, digit)  # batch-free, CPU float64
k_hat = int(tr.probs.argmax())
figs = digit_figures(digit.tobytes() + repr(mtime).encode(), t.lang, tr)

st.header(t("prediction_header"))
left, right = st.columns([1, 3], gap="large")
with left:
    with st.container(key="prediction"):
        st.metric(t("prediction"), str(k_hat), delta=t("confidence", p=f"{100 * float(tr.probs[k_hat]):.1f}"),
                  delta_color="off", delta_arrow="off", help=t("prediction_help"))
    shown = current_digit()
    if shown.get("source") == "dataset":
        label = shown["label"]
        (st.success if label == k_hat else st.warning)(
            t("label_right" if label == k_hat else "label_wrong", label=label))
    if net.trained:
        meta = net.meta
        st.caption(t("ckpt_info", acc=f"{meta.get('held_out_accuracy', float('nan')):.1%}",
                     correct=round(meta.get("held_out_accuracy", 0) * meta.get("test_size", 0)),
                     test=f"{meta.get('test_size', 0):,}", train=f"{meta.get('train_size', 0):,}",
                     epochs=meta.get("epochs", "?"), seconds=meta.get("seconds", "?"),
                     seed=meta.get("seed", "?"), torch=meta.get("torch", "?")))
    else:
        st.warning(t("ckpt_missing", cmd=TRAIN_CMD))
with right:
    st.plotly_chart(figs["probs"], key="cnn_probs")
    st.caption(t("probs_sum", total=f"{float(tr.probs.sum()):.6f}") + " " + t.section("prediction"))

# ----- feature maps of every layer --------------------------------------------------------------

st.header(t("layers_header"))
st.markdown(t.section("layers"))

# the layer column is the widest: its longest option, "pool1 · MaxPooling2D → 32×13×13", must fit
pick_layer, pick_channels, shape_note = st.columns([3, 2, 2], gap="medium", vertical_alignment="bottom")
with pick_layer:
    # language-neutral option labels (Keras layer names and shapes): a selectbox keeps showing the
    # old label of the chosen option after the language changes
    name = st.selectbox(t("layer"), LAYERS, format_func=layer_label.get, key="cnn_layer",
                        persist_state="session", help=t("layer_help"))
    if name not in LAYERS:  # session state can be set from code: check on the server too
        st.error(t("err_bad_layer", layer=name))
        st.stop()
layer = tr.layer(name)
l, C = layer.index, layer.after.shape[0]
with pick_channels:
    lo, hi = st.slider(t("channels"), 0, C - 1, (0, min(15, C - 1)), key=f"cnn_channels_{C}",
                       persist_state="session", help=t("channels_help", last=C - 1))
    try:
        for c in (lo, hi):
            if not (isinstance(c, int) and 0 <= c <= C - 1):
                raise LimitError("channel", c, 0, C - 1)
        if lo > hi:
            raise LimitError("channel", lo, 0, hi)
    except LimitError as e:
        st.error(t.error(e))
        st.stop()
with shape_note:
    # no-break spaces: the shape never wraps in the middle
    st.markdown(t("layer_shape", shape="\u00a0×\u00a0".join(map(str, shape_of[name])), lo=lo, hi=hi))

# the written-out cell: the most active shown channel, at its strongest cell
cell = strongest(layer.after[lo : hi + 1])
c, i, j = lo + cell.k, cell.i, cell.j

with st.container(border=True):
    if layer.kind == "conv":
        parts = conv_cell_parts(net.model64, layer, c, i, j)
        C_in = len(parts.cells)
        st.latex(fc.conv_formula_latex(l, C_in, layer.source_name))
        st.markdown(t("conv_cell_note", c=c, i=i, j=j))
        st.latex(fc.conv_cell_latex(l, c, i, j, parts))
        st.caption(t("conv_terms_one") if C_in == 1 else t("conv_terms_many", C_in=C_in, C_out=C))
    else:
        st.latex(fc.pool_formula_latex(l))
        st.markdown(t("pool_cell_note", c=c, i=i, j=j, r=2 * i, s=2 * j, l=l))
        st.latex(fc.pool_cell_latex(l, c, i, j, pool_window(layer, c, i, j), float(layer.after[c, i, j])))

titles = ((t("fig_z", l=l, src="x" if l == 1 else f"p{l - 1}"), t("fig_a", l=l)) if layer.kind == "conv"
          else (t("fig_pool_in", l=l), t("fig_pool_out", l=l)))
fig_before, fig_after = fc.layer_figures(layer, lo, hi, cell, titles)
fig_left, fig_right = st.columns(2, gap="medium")
with fig_left:
    st.plotly_chart(fig_before, key="cnn_maps_before")
with fig_right:
    st.plotly_chart(fig_after, key="cnn_maps_after")

# ----- flatten ----------------------------------------------------------------------------------

st.header(t("flatten_header"))
top3 = strongest(tr.a3)
st.markdown(t.section("flatten"))
text, fig = st.columns([1, 1], gap="large", vertical_alignment="center")
with text:
    st.latex(fc.flatten_latex(tr, top3))
    st.caption(t("flatten_note", c=top3.k, i=top3.i, j=top3.j))
with fig:
    st.plotly_chart(figs["flat"], key="cnn_flat")

# ----- dense --------------------------------------------------------------------------------------

st.header(t("dense_header"))
unit4 = dense_unit(net.model64, tr, 4, int(tr.z4.argmax()))
st.markdown(t.section("dense"))
text, fig = st.columns([2, 3], gap="large", vertical_alignment="center")
with text:
    st.latex(fc.dense_latex(unit4, "f"))
    st.caption(t("dense_note", u=unit4.unit, active=int((tr.a4 > 0).sum())))
with fig:
    st.plotly_chart(figs["dense"], key="cnn_dense")

# ----- output: logits and softmax ----------------------------------------------------------------

st.header(t("output_header"))
st.markdown(t.section("output"))
text, fig = st.columns([1, 1], gap="large", vertical_alignment="center")
with text:
    st.markdown(t("logit_note", k=k_hat))
    st.latex(fc.dense_latex(dense_unit(net.model64, tr, 5, k_hat), "a_4", relu=False))
with fig:
    st.plotly_chart(figs["logits"], key="cnn_logits")
st.markdown(t("softmax_note", k=k_hat))
st.latex(fc.softmax_latex(tr, k_hat))

# ----- table of shapes, parameters, multiply-adds ------------------------------------------------

st.header(t("table_header"))
st.markdown(t.section("table"))
rows = net.rows
frame = pd.DataFrame({
    t("col_layer"): [f"{r.name} ({r.kind})" for r in rows],
    t("col_shape"): [" × ".join(map(str, r.output_shape)) for r in rows],
    t("col_params"): [f"{r.params:,}" for r in rows],
    t("col_formula"): [f"{r.params_formula} = {r.params:,}" if r.params else "–" for r in rows],
    t("col_macs"): [f"{r.mult_adds:,}" if r.mult_adds else "–" for r in rows],
})
st.dataframe(frame, hide_index=True, width="stretch")
st.markdown(t("total", params=f"{count_parameters(net.model64):,}", macs=f"{sum(r.mult_adds for r in rows):,}"))

# ----- the first layer's filters -----------------------------------------------------------------

st.header(t("filters_header"))
text, fig = st.columns([2, 3], gap="large", vertical_alignment="center")
with text:
    st.markdown(t.section("filters"))
with fig:
    st.plotly_chart(filters_figure(mtime, t("filters_title")), key="cnn_filters")

# ----- code and the check against torch ----------------------------------------------------------

st.header(t("code_header"))
show_code(SeedCNN, trace, forward_from_scratch)

st.header(t("check_header"))
st.markdown(t.section("check"))
torch_check(scratch_delta(net.model64, digit), t("check_ref"))

# ----- what next ---------------------------------------------------------------------------------

st.header(t("next_header"))
st.markdown(t.section("next"))
st.page_link("views/conv.py", label=t("next_conv"), icon=":material/arrow_back:")
st.page_link("views/pooling.py", label=t("next_pooling"), icon=":material/arrow_back:")
st.page_link("views/loss/page.py", label=t("next_loss"), icon=":material/arrow_forward:")
st.page_link("views/backprop/page.py", label=t("next_backprop"), icon=":material/arrow_forward:")
st.page_link("views/train_cnn.py", label=t("next_training"), icon=":material/model_training:")
st.page_link("views/quantise/page.py", label=t("next_quantise"), icon=":material/arrow_forward:")
