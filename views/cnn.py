"""The article's CNN: the learner's digit through every layer, each stage beside its formula.

Glue only: lesson text from lessons/, the shared digit input, engine.models.cnn for every number,
figures.cnn to draw.
"""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import streamlit as st
import torch

from engine.device import get_device
from engine.limits import LimitError
from engine.models.cnn import (
    CHECKPOINT,
    CNNTrace,
    LayerRow,
    SeedCNN,
    checkpoint_meta,
    count_parameters,
    forward_from_scratch,
    load_default,
    seeded,
    summary,
    trace,
)
from engine.ops.conv import conv_cell
from figures import cnn as fc
from widgets.blocks import show_code, torch_check
from widgets.digit_input import current_digit, digit_input
from widgets.i18n import T

t = T("cnn")
LAYERS = ("conv1", "pool1", "conv2", "pool2", "conv3")
TRAIN_CMD = ".venv/bin/python scripts/train_default_cnn.py"


# ----- cached work ------------------------------------------------------------------------------

@st.cache_resource(show_spinner=False)
def network(mtime: float | None) -> tuple[SeedCNN, SeedCNN, list[LayerRow], dict, bool]:
    """(model on the compute device, float64 CPU copy for the torch check, its summary rows,
    checkpoint meta, trained?).

    `mtime` is the checkpoint's modification time, so a newly trained checkpoint is picked up.
    """
    model, meta = None, {}
    if mtime is not None:
        try:
            model, meta = load_default(), checkpoint_meta()
        except Exception:  # a half-written or foreign file: fall back rather than fail the page
            model, meta = None, {}
    trained = model is not None
    if model is None:
        model = seeded(0)
    rows = summary(model)
    model64 = copy.deepcopy(model).double().eval()
    return model.to(get_device()), model64, rows, meta, trained


@st.cache_resource(show_spinner=False, max_entries=8)
def filters_figure(mtime: float | None, title: str):
    """The first layer's kernels: the same for every digit, so drawn once per checkpoint and language."""
    return fc.filters_figure(network(mtime)[1].conv1.weight, title=title)


@st.cache_resource(show_spinner=False, max_entries=32)
def digit_figures(digit_key: bytes, lang: str, _v: dict[str, torch.Tensor]) -> dict:
    """The figures that depend only on the digit (not on the layer control), built once per
    digit, checkpoint and language: a rerun after a layer change rebuilds only the maps.

    `digit_key` = the digit's bytes and the checkpoint's mtime; `_v` (not hashed) is its trace.
    """
    cf, i3, j3 = strongest(_v["a3"])
    u = int(_v["z4"].argmax())
    return {
        "probs": fc.probability_figure(_v["probs"], title=t("probs_title")),
        "flat": fc.flatten_figure(_v["a3"], title=t("flatten_title"), cell=(cf, i3, j3)),
        "dense": fc.dense_figure(_v["z4"], _v["a4"], (t("dense_row_z"), t("dense_row_a")),
                                 title=t("dense_title"), unit=u),
        "logits": fc.logits_figure(_v["logits"], title=t("logits_title")),
    }


def checkpoint_mtime() -> float | None:
    return CHECKPOINT.stat().st_mtime if CHECKPOINT.exists() else None


def on_cpu(tr: CNNTrace) -> dict[str, torch.Tensor]:
    """The trace of one image, batch axis dropped, as CPU float64 tensors for drawing."""
    return {name: getattr(tr, name)[0].detach().cpu().double() for name in tr.__dataclass_fields__}


def strongest(maps: torch.Tensor) -> tuple[int, int, int]:
    """(k, i, j) of the largest value in maps (K, H, W)."""
    K, H, W = maps.shape
    flat_index = int(maps.reshape(-1).argmax())
    k, rest = divmod(flat_index, H * W)
    return k, *divmod(rest, W)


# ----- title, intuition, formula ----------------------------------------------------------------

st.title(t("title"))
st.markdown(t.section("intuition"))

model, model64, rows, meta, trained = network(checkpoint_mtime())
shape_of = {r.name: r.output_shape for r in rows}
layer_label = {r.name: f"{r.name} · {r.kind} → {'×'.join(map(str, r.output_shape))}" for r in rows}

st.header(t("formula_header"))
st.latex(fc.pipeline_latex(rows))
st.markdown(t.section("formula"))

# ----- input and prediction -------------------------------------------------------------------

st.header(t("input_header"))
digit = digit_input()

x = torch.from_numpy(np.asarray(digit, dtype=np.float32))[None, None].to(get_device())  # (1, 1, 28, 28)
v = on_cpu(trace(model, x))
probs, logits = v["probs"], v["logits"]
k_hat = int(probs.argmax())
figs = digit_figures(np.asarray(digit, dtype=np.float32).tobytes() + repr(checkpoint_mtime()).encode(), t.lang, v)

st.header(t("prediction_header"))
left, right = st.columns([1, 3], gap="large")
with left:
    with st.container(key="prediction"):
        st.metric(t("prediction"), str(k_hat), delta=t("confidence", p=f"{100 * float(probs[k_hat]):.1f}"),
                  delta_color="off", delta_arrow="off", help=t("prediction_help"))
    shown = current_digit()
    if shown.get("source") == "dataset":
        label = shown["label"]
        (st.success if label == k_hat else st.warning)(
            t("label_right" if label == k_hat else "label_wrong", label=label))
    if trained:
        st.caption(t("ckpt_info", acc=f"{meta.get('held_out_accuracy', float('nan')):.1%}",
                     correct=round(meta.get("held_out_accuracy", 0) * meta.get("test_size", 0)),
                     test=f"{meta.get('test_size', 0):,}", train=f"{meta.get('train_size', 0):,}",
                     epochs=meta.get("epochs", "?"), seconds=meta.get("seconds", "?"),
                     seed=meta.get("seed", "?"), torch=meta.get("torch", "?")))
    else:
        st.warning(t("ckpt_missing", cmd=TRAIN_CMD))
with right:
    st.plotly_chart(figs["probs"], key="cnn_probs")
    st.caption(t("probs_sum", total=f"{float(probs.sum()):.6f}") + " " + t.section("prediction"))

# ----- feature maps of every layer --------------------------------------------------------------

st.header(t("layers_header"))
st.markdown(t.section("layers"))

# the layer column is the widest: its longest option, "pool1 · MaxPooling2D → 32×13×13", must fit
pick_layer, pick_channels, shape_note = st.columns([3, 2, 2], gap="medium", vertical_alignment="bottom")
with pick_layer:
    # language-neutral option labels (Keras layer names and shapes): a selectbox keeps showing the
    # old label of the chosen option after the language changes
    layer = st.selectbox(t("layer"), LAYERS, format_func=layer_label.get, key="cnn_layer",
                         persist_state="session", help=t("layer_help"))
    if layer not in LAYERS:  # session state can be set from code: check on the server too
        st.error(t("err_bad_layer", layer=layer))
        st.stop()
kind, l = layer[:4], int(layer[-1])
# a convolution shows z and ReLU(z); a pooling layer its input a and its output p
before, after = (v[f"z{l}"], v[f"a{l}"]) if kind == "conv" else (v[f"a{l}"], v[f"p{l}"])
C = after.shape[0]
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
    channels = list(range(lo, hi + 1))
with shape_note:
    # no-break spaces: the shape never wraps in the middle
    st.markdown(t("layer_shape", shape="\u00a0×\u00a0".join(map(str, shape_of[layer])), lo=lo, hi=hi))

# the written-out cell: the most active shown channel, at its strongest cell
k_tile, i, j = strongest(after[lo : hi + 1])
c = lo + k_tile

with st.container(border=True):
    if kind == "conv":
        src_name = "x" if l == 1 else f"p_{l - 1}"
        src = v["x"] if l == 1 else v[f"p{l - 1}"]  # (C_in, H, W)
        conv = getattr(model64, f"conv{l}")
        W_c, b_c = conv.weight[c].detach(), float(conv.bias[c].detach())  # (C_in, 3, 3), scalar
        C_in = W_c.shape[0]
        # one input channel's share: Σ_m Σ_n W[c,c',m,n] · src[c', i+m, j+n]
        cells = [conv_cell(src[cp], W_c[cp], 0.0, i, j) for cp in range(C_in)]
        st.latex(fc.conv_formula_latex(l, C_in, src_name))
        st.markdown(t("conv_cell_note", c=c, i=i, j=j))
        if C_in == 1:
            pairs = list(zip(cells[0].kernel.flatten().tolist(), cells[0].patch.flatten().tolist(), strict=True))
            st.latex(fc.conv_cell_latex(l, c, i, j, [], b_c, float(before[c, i, j]), products=pairs))
            st.caption(t("conv_terms_one"))
        else:
            parts = [cell.total for cell in cells]
            st.latex(fc.conv_cell_latex(l, c, i, j, parts, b_c, float(before[c, i, j])))
            st.caption(t("conv_terms_many", C_in=C_in, C_out=C))
    else:
        window = before[c, 2 * i : 2 * i + 2, 2 * j : 2 * j + 2].flatten().tolist()
        st.latex(fc.pool_formula_latex(l))
        st.markdown(t("pool_cell_note", c=c, i=i, j=j, r=2 * i, s=2 * j, l=l))
        st.latex(fc.pool_cell_latex(l, c, i, j, window, float(after[c, i, j])))

fig_left, fig_right = st.columns(2, gap="medium")
with fig_left:
    title = t("fig_z", l=l, src="x" if l == 1 else f"p{l - 1}") if kind == "conv" else t("fig_pool_in", l=l)
    # for pooling, outline the whole 2×2 window the written-out max came from
    cell, box = ((k_tile, i, j), 1) if kind == "conv" else ((k_tile, 2 * i, 2 * j), 2)
    st.plotly_chart(fc.maps_figure(before[lo : hi + 1], channels, signed=kind == "conv", title=title,
                                   cell=cell, box=box), key="cnn_maps_before")
with fig_right:
    title = t("fig_a", l=l) if kind == "conv" else t("fig_pool_out", l=l)
    st.plotly_chart(fc.maps_figure(after[lo : hi + 1], channels, signed=False, title=title,
                                   cell=(k_tile, i, j)), key="cnn_maps_after")

# ----- flatten ----------------------------------------------------------------------------------

st.header(t("flatten_header"))
a3, flat = v["a3"], v["flat"]
C3, H3, W3 = a3.shape
cf, i3, j3 = strongest(a3)
st.markdown(t.section("flatten"))
text, fig = st.columns([1, 1], gap="large", vertical_alignment="center")
with text:
    st.latex(fc.flatten_latex(C3, H3, W3, (cf, i3, j3), float(a3[cf, i3, j3])))
    st.caption(t("flatten_note", c=cf, i=i3, j=j3))
with fig:
    st.plotly_chart(figs["flat"], key="cnn_flat")

# ----- dense --------------------------------------------------------------------------------------

st.header(t("dense_header"))
z4, a4 = v["z4"], v["a4"]
u = int(z4.argmax())
st.markdown(t.section("dense"))
text, fig = st.columns([2, 3], gap="large", vertical_alignment="center")
with text:
    W4, b4 = model64.fc1.weight.detach(), model64.fc1.bias.detach()
    # Σ_k W4[u,k] f[k]
    dot4 = float(W4[u] @ flat)
    st.latex(fc.dense_latex(4, "f", W4.shape[1], u, dot4, float(b4[u]), float(z4[u])))
    st.caption(t("dense_note", u=u, active=int((a4 > 0).sum())))
with fig:
    st.plotly_chart(figs["dense"], key="cnn_dense")

# ----- output: logits and softmax ----------------------------------------------------------------

st.header(t("output_header"))
st.markdown(t.section("output"))
text, fig = st.columns([1, 1], gap="large", vertical_alignment="center")
with text:
    W5, b5 = model64.fc2.weight.detach(), model64.fc2.bias.detach()
    st.markdown(t("logit_note", k=k_hat))
    # Σ_u W5[k,u] a4[u]
    dot5 = float(W5[k_hat] @ a4)
    st.latex(fc.dense_latex(5, "a_4", W5.shape[1], k_hat, dot5, float(b5[k_hat]), float(logits[k_hat]),
                            relu=False))
with fig:
    st.plotly_chart(figs["logits"], key="cnn_logits")
st.markdown(t("softmax_note", k=k_hat))
st.latex(fc.softmax_latex(logits, probs, k_hat))

# ----- table of shapes, parameters, multiply-adds ------------------------------------------------

st.header(t("table_header"))
st.markdown(t.section("table"))
frame = pd.DataFrame({
    t("col_layer"): [f"{r.name} ({r.kind})" for r in rows],
    t("col_shape"): [" × ".join(map(str, r.output_shape)) for r in rows],
    t("col_params"): [f"{r.params:,}" for r in rows],
    t("col_formula"): [f"{r.params_formula} = {r.params:,}" if r.params else "–" for r in rows],
    t("col_macs"): [f"{r.mult_adds:,}" if r.mult_adds else "–" for r in rows],
})
st.dataframe(frame, hide_index=True, width="stretch")
st.markdown(t("total", params=f"{count_parameters(model64):,}", macs=f"{sum(r.mult_adds for r in rows):,}"))

# ----- the first layer's filters -----------------------------------------------------------------

st.header(t("filters_header"))
text, fig = st.columns([2, 3], gap="large", vertical_alignment="center")
with text:
    st.markdown(t.section("filters"))
with fig:
    st.plotly_chart(filters_figure(checkpoint_mtime(), t("filters_title")), key="cnn_filters")

# ----- code and the check against torch ----------------------------------------------------------

st.header(t("code_header"))
show_code(SeedCNN, trace, forward_from_scratch)

st.header(t("check_header"))
st.markdown(t.section("check"))
x64 = torch.from_numpy(np.asarray(digit, dtype=np.float64))[None, None]  # (1, 1, 28, 28)
with torch.no_grad():
    delta = float((forward_from_scratch(model64, x64) - model64(x64)).abs().max())
torch_check(delta, t("check_ref"))

# ----- what next ---------------------------------------------------------------------------------

st.header(t("next_header"))
st.markdown(t.section("next"))
st.page_link("views/conv.py", label=t("next_conv"), icon=":material/arrow_back:")
st.page_link("views/pooling.py", label=t("next_pooling"), icon=":material/arrow_back:")
st.info(t("next_training"), icon=":material/model_training:")
