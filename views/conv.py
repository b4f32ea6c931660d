"""Convolution: a kernel slides over the learner's digit, and any output cell is written out.

Glue only: lesson text from lessons/, controls, engine.ops.conv for every number, figures.conv to draw.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st
import torch
import torch.nn.functional as F

import lessons
from engine.device import get_device
from engine.limits import BOUNDS, MAX_KERNEL_ABS, LimitError, check
from engine.models.cnn import CHECKPOINT, load_default
from engine.ops.conv import (
    KERNEL_PRESETS,
    KernelError,
    centred_impulse,
    check_bias,
    conv2d,
    conv2d_loops,
    conv_cell,
    convolve2d,
    glorot_filters,
    kernel_from_grid,
    output_size,
    preset,
    relu,
)
from figures import conv as cf
from widgets.blocks import show_code, torch_check
from widgets.digit_input import digit_input
from widgets.i18n import T

t = T("conv")
CUSTOM = "custom"
PRESET_KEY = "conv_kernel_preset"
DEFAULT_PRESET = "sobel_x"  # signed edges: a first feature map with something to explain


# ----- cached work ------------------------------------------------------------------------------

@st.cache_resource(show_spinner=False)
def first_layer(mtime: float | None) -> tuple[torch.Tensor, torch.Tensor, bool]:
    """conv1's 32 filters (32, 1, 3, 3) and biases from the shipped checkpoint, else Glorot ones.

    `mtime` is the checkpoint's modification time, so a newly trained checkpoint is picked up.
    """
    model = None
    if mtime is not None:
        try:
            model = load_default()
        except Exception:  # a half-written or foreign file: fall back rather than fail the page
            model = None
    if model is None:
        return glorot_filters(32, 1, 3, seed=0), torch.zeros(32), False
    return model.conv1.weight.detach().clone(), model.conv1.bias.detach().clone(), True


@st.cache_data(show_spinner=False, max_entries=64)
def loops_delta(x: np.ndarray, w: np.ndarray, b: float, s: int, p: int) -> float:
    """max |conv2d_loops − F.conv2d| in float64 (the loops are slow, so cache them)."""
    x64 = torch.from_numpy(x).double()[None, None]  # (1, 1, H, W)
    w64 = torch.from_numpy(w).double()[None, None]  # (1, 1, k, k)
    b64 = torch.tensor([b], dtype=torch.float64)
    ref = F.conv2d(x64, w64, b64, stride=s, padding=p)
    return float((conv2d_loops(x64, w64, b64, s, p) - ref).abs().max())


def kernel_frame(w: torch.Tensor) -> pd.DataFrame:
    """The kernel as an editable table: rows m, columns n."""
    k = w.shape[0]
    return pd.DataFrame(w.double().numpy(), index=[f"m={m}" for m in range(k)],
                        columns=[f"n={n}" for n in range(k)])


# ----- title, intuition, formula ----------------------------------------------------------------

st.title(t("title"))
st.markdown(t.section("intuition"))

st.header(t("formula_header"))
st.latex(r"\text{out}[i,j] = \sum_{m=0}^{k-1} \sum_{n=0}^{k-1} w[m,n]\; x[i\cdot s+m,\; j\cdot s+n] + b")
st.latex(r"H_{\text{out}} = \left\lfloor \frac{H + 2p - k}{s} \right\rfloor + 1, \qquad "
         r"W_{\text{out}} = \left\lfloor \frac{W + 2p - k}{s} \right\rfloor + 1")
st.markdown(t.section("formula"))

# ----- input and kernel -------------------------------------------------------------------------

st.header(t("input_header"))
digit = digit_input()

st.header(t("kernel_header"))
controls, grid = st.columns([2, 3], gap="large")
with controls:
    if st.session_state.get("conv_lang") != t.lang and PRESET_KEY in st.session_state:
        # the selectbox's state is its label: re-assigning it after a language switch makes the
        # browser show the label in the new language at once
        st.session_state[PRESET_KEY] = st.session_state[PRESET_KEY]
    st.session_state["conv_lang"] = t.lang
    # labels looked up now, not inside format_func (which may be called outside this run)
    labels = {n: t(f"preset_{n}") for n in [*KERNEL_PRESETS, CUSTOM]}
    name = st.selectbox(t("preset"), list(labels), index=list(labels).index(DEFAULT_PRESET), key=PRESET_KEY,
                        format_func=labels.__getitem__, persist_state="session")
    name = name if name in labels else DEFAULT_PRESET  # a stale label from another language
    if name == CUSTOM:
        ks = BOUNDS["kernel_size"]
        k = st.slider(t("kernel_size"), ks.low, ks.high, 3, key="conv_k", persist_state="session",
                      help=t("kernel_size_help"))
    else:
        k = KERNEL_PRESETS[name].shape[0]
    s = st.slider(t("stride"), BOUNDS["stride"].low, BOUNDS["stride"].high, 1, key="conv_stride",
                  persist_state="session", help=t("stride_help"))
    p = st.slider(t("padding"), BOUNDS["padding"].low, BOUNDS["padding"].high, 0, key="conv_padding",
                  persist_state="session", help=t("padding_help"))
    b_in = st.number_input(t("bias"), -MAX_KERNEL_ABS, MAX_KERNEL_ABS, 0.0, step=0.1, format="%.2f",
                           key="conv_bias", persist_state="session", help=t("bias_help"))
try:
    # the widgets are bounded; check again on the server (session state can be set from code)
    k, s, p = check("kernel_size", int(k)), check("stride", int(s)), check("padding", int(p))
    b = check_bias(b_in)
except LimitError as e:
    st.error(t.error(e))
    st.stop()
except KernelError as e:
    st.error(t.error(e))
    st.stop()

base = preset(name) if name != CUSTOM else centred_impulse(k)
with grid:
    st.markdown(f"**{t('grid_label', k=k)}**")
    frame = kernel_frame(base)
    # one editor per preset and size, so picking a preset reloads its values
    edited = st.data_editor(
        frame, key=f"conv_grid_{name}_{k}", width="content",
        column_config={c: st.column_config.NumberColumn(c, min_value=-MAX_KERNEL_ABS, max_value=MAX_KERNEL_ABS,
                                                        width="small")
                       for c in frame.columns},
    )
    st.caption(t("grid_help", limit=f"{MAX_KERNEL_ABS:g}"))
    try:
        w = kernel_from_grid(edited.to_numpy(dtype=object))
    except KernelError as e:
        st.warning(t.error(e) + " " + t("grid_fallback"))
        w = base

# ----- the feature map --------------------------------------------------------------------------

# One 28×28 map with one kernel: CPU float64 is instant and lets the torch check below use the
# very numbers on screen.
x = torch.from_numpy(np.asarray(digit, dtype=np.float64))  # (H, W)
H, W = x.shape
H_out, W_out = output_size(H, k, s, p), output_size(W, k, s, p)
w64 = w.double()
b64 = torch.tensor([b], dtype=torch.float64)
# (1, 1, H, W) ⋆ (1, 1, k, k) → (1, 1, H_out, W_out)
z = conv2d(x[None, None], w64[None, None], b64, stride=s, padding=p)[0, 0]

st.header(t("output_header"))
st.markdown(t("output_size_intro"))
st.latex(cf.output_sizes_latex(H, W, k, s, p))
left, right = st.columns([2, 3], gap="large")
with left:
    st.markdown(t("output_shape", H=H, W=W, H_out=H_out, W_out=W_out))
    st.markdown(t("pick_cell"))
    if "conv_i" not in st.session_state or "conv_j" not in st.session_state:
        # start at the strongest response, where there is something to see
        st.session_state["conv_i"], st.session_state["conv_j"] = divmod(int(z.abs().argmax()), W_out)
    for key, n_max in (("conv_i", H_out - 1), ("conv_j", W_out - 1)):
        # keep the chosen cell inside the map when stride/padding shrink it
        st.session_state[key] = min(int(st.session_state[key]), n_max)
    i = st.slider(t("cell_i"), 0, max(H_out - 1, 1), key="conv_i", disabled=H_out == 1)
    j = st.slider(t("cell_j"), 0, max(W_out - 1, 1), key="conv_j", disabled=W_out == 1)
    i, j = min(i, H_out - 1), min(j, W_out - 1)
with right:
    st.plotly_chart(cf.feature_map_figure(z, cell=(i, j), title=t("fmap_title", H_out=H_out, W_out=W_out)),
                    key="conv_fmap")

# ----- one output cell, written out -------------------------------------------------------------

st.header(t("cell_header", i=i, j=j))
st.markdown(t.section("cell"))
cell = conv_cell(x, w64, b, i, j, stride=s, padding=p)
c_in, c_patch, c_kernel, c_prod = st.columns([3, 2, 2, 2])
with c_in:
    st.plotly_chart(cf.receptive_field_figure(x, cell.row, cell.col, k, p,
                                              title=t("field_title", r=cell.row, c=cell.col), height=330),
                    key="conv_field")
fig_patch, fig_kernel, fig_prod = cf.cell_figures(cell, (t("patch_title"), t("kernel_title"), t("products_title")))
with c_patch:
    st.plotly_chart(fig_patch, key="conv_patch")
with c_kernel:
    st.plotly_chart(fig_kernel, key="conv_kernel")
with c_prod:
    st.plotly_chart(fig_prod, key="conv_products")
st.latex(cf.cell_sum_latex(cell, i, j, s))
cell_delta = abs(cell.total - float(z[i, j]))
st.caption(t("cell_check", value=cf.fixed(z[i, j], 4), delta=f"{cell_delta:.1e}"))
if p:
    st.caption(t("padding_note", p=p))

# ----- more: many kernels, flipped kernel, ReLU -------------------------------------------------

def many_kernels_tab() -> None:
    """32 kernels → 32 feature maps, and the 'one sum over kernels' mistake, in numbers."""
    mtime = CHECKPOINT.stat().st_mtime if CHECKPOINT.exists() else None
    weight, bias, trained = first_layer(mtime)
    st.markdown(t.section("many"))
    if trained:
        st.info(t("filters_trained"))
    else:
        st.warning(t("filters_random"))
    try:
        K = check("num_kernels", int(st.slider(t("num_kernels"), 1, 32, 32, key="conv_num_kernels",
                                               persist_state="session")))
    except LimitError as e:
        st.error(t.error(e))
        return
    device = get_device()
    with torch.no_grad():
        x_dev = torch.from_numpy(np.asarray(digit, dtype=np.float32)).to(device)[None, None]  # (1, 1, 28, 28)
        # each kernel o makes its own map: z_o = w_o ⋆ x + b_o → (1, K, 26, 26)
        maps = conv2d(x_dev, weight[:K].to(device), bias[:K].to(device))[0].cpu()  # (K, 26, 26)
    _, H_z, W_z = maps.shape
    st.plotly_chart(cf.kernels_mosaic(weight[:K, 0], title=t("kernels_title", K=K)), key="conv_kernels")
    st.plotly_chart(cf.maps_mosaic(maps, 8, labels=[str(o) for o in range(K)],
                                   title=t("maps_title", K=K, H=H_z, W=W_z)), key="conv_maps")

    st.subheader(t("mistake_header"))
    st.markdown(t.section("mistake"))
    wrong, right = st.columns(2)
    with wrong:
        st.markdown(t("wrong_label"))
        st.latex(r"f(x) = \sum_{i=1}^{32} w_i * x_i + b")
    with right:
        st.markdown(t("right_label"))
        st.latex(r"z_o[i,j] = \sum_{m=0}^{2}\sum_{n=0}^{2} w_o[m,n]\; x[i+m,\, j+n] + b_o")
    ci, cj = H_z // 2, W_z // 2
    summed = maps.sum(dim=0)  # (K, H, W) → (H, W): what the wrong formula would give
    st.latex(cf.kernel_outputs_latex(maps, summed, ci, cj))
    st.markdown(t("mistake_numbers", K=K, H=H_z, W=W_z, i=ci, j=cj))


def flip_tab() -> None:
    """Cross-correlation (what F.conv2d computes) vs true convolution (kernel rotated by 180°)."""
    st.markdown(t.section("flip"))
    symmetric = torch.equal(w64, torch.flip(w64, dims=(0, 1)))
    w_demo = preset("sobel_x").double() if symmetric else w64
    if symmetric:
        st.info(t("flip_symmetric"))
    st.markdown(t("xcorr_label"))
    st.latex(r"(x \star w)[i,j] = \sum_{m,n} w[m,n]\; x[i\cdot s+m,\, j\cdot s+n]")
    st.markdown(t("conv_label"))
    st.latex(r"(x * w)[i,j] = \sum_{m,n} w[k{-}1{-}m,\, k{-}1{-}n]\; x[i\cdot s+m,\, j\cdot s+n]")
    xcorr = conv2d(x[None, None], w_demo[None, None], b64, stride=s, padding=p)[0, 0]
    truec = convolve2d(x[None, None], w_demo[None, None], b64, stride=s, padding=p)[0, 0]
    m = cf.symmetric_range(xcorr, truec)
    f_xcorr, f_conv = st.columns(2)
    with f_xcorr:
        st.plotly_chart(cf.grid_figure(w_demo, fmt=".3g", title=t("flip_w")), key="conv_flip_w")
        st.plotly_chart(cf.feature_map_figure(xcorr, title=t("flip_xcorr"), zmax=m, height=340), key="conv_xcorr")
    with f_conv:
        st.plotly_chart(cf.grid_figure(torch.flip(w_demo, dims=(0, 1)), fmt=".3g", title=t("flip_wflip")),
                        key="conv_flip_wflip")
        st.plotly_chart(cf.feature_map_figure(truec, title=t("flip_conv"), zmax=m, height=340), key="conv_trueconv")
    st.markdown(t("flip_numbers", delta=f"{float((xcorr - truec).abs().max()):.3f}"))


def relu_tab() -> None:
    """The feature map before and after ReLU, and how much of it ReLU sets to zero."""
    st.markdown(t.section("relu"))
    st.latex(r"\operatorname{ReLU}(z) = \max(0, z)")
    a = relu(z)
    fig_z, fig_a = cf.relu_figures(z, a, (t("relu_before"), t("relu_after")))
    before, after = st.columns(2)
    with before:
        st.plotly_chart(fig_z, key="conv_relu_before")
    with after:
        st.plotly_chart(fig_a, key="conv_relu_after")
    zeros = float((a == 0).double().mean())
    st.metric(t("relu_zeros"), f"{zeros:.1%}", help=t("relu_zeros_help"))
    st.caption(t("relu_bias_hint"))


TABS = ("tab_many", "tab_flip", "tab_relu")
open_label = st.session_state.get("conv_tab")
for tab_key in TABS:
    # the open tab is remembered by its label: keep it open when the language changes
    if open_label in {lessons.text("conv", tab_key, lang) for lang in lessons.LANGS}:
        st.session_state["conv_tab"] = t(tab_key)
# Lazy tabs: only the open tab is computed and drawn on a rerun (.open is None if untracked).
tabs = st.tabs([t(k) for k in TABS], key="conv_tab", on_change="rerun")
for tab, body in zip(tabs, (many_kernels_tab, flip_tab, relu_tab)):
    if tab.open is not False:
        with tab:
            body()

# ----- show the code, check against torch, what next --------------------------------------------

st.header(t("code_header"))
st.markdown(t.section("code"))
show_code(conv2d, conv2d_loops, conv_cell)

st.subheader(t("check_torch"))
# our conv2d and conv2d_loops against F.conv2d, float64, on this digit and this kernel
ref = F.conv2d(x[None, None], w64[None, None], b64, stride=s, padding=p)[0, 0]
c1, c2 = st.columns(2)
with c1:
    st.markdown("`engine.ops.conv.conv2d`")
    torch_check(float((z - ref).abs().max()), "F.conv2d")
with c2:
    st.markdown("`engine.ops.conv.conv2d_loops`")
    torch_check(loops_delta(np.asarray(digit, dtype=np.float64), w64.numpy(), b, s, p), "F.conv2d")

st.header(t("what_next"))
st.markdown(t.section("next"))
st.page_link("views/pooling.py", label=t("next_pooling"), icon=":material/arrow_forward:")
