"""Convolution: a kernel slides over the learner's digit, and any output cell is written out.

Glue only: lesson text from lessons/, controls, engine.ops.conv for every number, figures.conv to draw.
"""

from __future__ import annotations

import streamlit as st

import lessons
from engine.limits import LimitError, check
from engine.models.cnn import FirstLayer, checkpoint_mtime, first_layer
from engine.ops.conv import (
    conv2d,
    conv2d_loops,
    conv_cell,
    conv_map,
    flip_demo,
    many_maps,
    output_size,
    relu_map,
    strongest_cell,
    torch_delta,
)
from figures import conv as cf
from widgets.blocks import show_code, torch_check
from widgets.digit_input import digit_input
from widgets.i18n import T
from widgets.kernel_editor import kernel_editor

t = T("conv")


# ----- cached work ------------------------------------------------------------------------------

@st.cache_resource(show_spinner=False)
def filters(mtime: float | None) -> FirstLayer:
    """conv1's 32 filters, once per checkpoint (`mtime` picks up a newly trained one)."""
    return first_layer()


@st.cache_data(show_spinner=False, max_entries=64)
def loops_delta(digit, kernel: list, b: float, s: int, p: int) -> float:
    """max |conv2d_loops − F.conv2d| in float64 (the loops are slow, so cache them)."""
    return torch_delta(digit, kernel, b, s, p, loops=True)


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
choice = kernel_editor()
name, w, k, s, p, b = choice.name, choice.kernel, choice.k, choice.stride, choice.padding, choice.bias

# ----- the feature map --------------------------------------------------------------------------

# One 28×28 map with one kernel, in float64: the torch check below uses the very numbers on screen.
H, W = digit.shape
H_out, W_out = output_size(H, k, s, p), output_size(W, k, s, p)
z = conv_map(digit, w, b, stride=s, padding=p)  # (H_out, W_out)

st.header(t("output_header"))
st.markdown(t("output_size_intro"))
st.latex(cf.output_sizes_latex(H, W, k, s, p))
left, right = st.columns([2, 3], gap="large")
with left:
    st.markdown(t("output_shape", H=H, W=W, H_out=H_out, W_out=W_out))
    st.markdown(t("pick_cell"))
    if "conv_i" not in st.session_state or "conv_j" not in st.session_state:
        # start at the strongest response, where there is something to see
        st.session_state["conv_i"], st.session_state["conv_j"] = strongest_cell(z)
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
cell = conv_cell(digit, w, b, i, j, stride=s, padding=p)
c_in, c_patch, c_kernel, c_prod = st.columns([3, 2, 2, 2])
with c_in:
    st.plotly_chart(cf.receptive_field_figure(digit, cell.row, cell.col, k, p,
                                              title=t("field_title", r=cell.row, c=cell.col), height=330),
                    key="conv_field")
figs = cf.cell_figures(cell, (t("patch_title"), t("kernel_title"), t("products_title")))
with c_patch:
    st.plotly_chart(figs.patch, key="conv_patch")
with c_kernel:
    st.plotly_chart(figs.kernel, key="conv_kernel")
with c_prod:
    st.plotly_chart(figs.products, key="conv_products")
st.latex(cf.cell_sum_latex(cell, i, j, s))
cell_delta = abs(cell.total - float(z[i, j]))
st.caption(t("cell_check", value=cf.fixed(z[i, j], 4), delta=f"{cell_delta:.1e}"))
if p:
    st.caption(t("padding_note", p=p))

# ----- more: many kernels, flipped kernel, ReLU -------------------------------------------------

def many_kernels_tab() -> None:
    """32 kernels → 32 feature maps, and the 'one sum over kernels' mistake, in numbers."""
    layer = filters(checkpoint_mtime())
    st.markdown(t.section("many"))
    if layer.trained:
        st.info(t("filters_trained"))
    else:
        st.warning(t("filters_random"))
    try:
        K = check("num_kernels", int(st.slider(t("num_kernels"), 1, 32, 32, key="conv_num_kernels",
                                               persist_state="session")))
    except LimitError as e:
        st.error(t.error(e))
        return
    many = many_maps(digit, layer.weight[:K], layer.bias[:K])
    _, H_z, W_z = many.maps.shape
    st.plotly_chart(cf.kernels_mosaic(layer.weight[:K, 0], title=t("kernels_title", K=K)), key="conv_kernels")
    st.plotly_chart(cf.maps_mosaic(many.maps, 8, labels=[str(o) for o in range(K)],
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
    st.latex(cf.kernel_outputs_latex(many.maps, many.summed, ci, cj))
    st.markdown(t("mistake_numbers", K=K, H=H_z, W=W_z, i=ci, j=cj))


def flip_tab() -> None:
    """Cross-correlation (what F.conv2d computes) vs true convolution (kernel rotated by 180°)."""
    st.markdown(t.section("flip"))
    flip = flip_demo(digit, w, b, stride=s, padding=p)
    if flip.substituted:
        st.info(t("flip_symmetric"))
    st.markdown(t("xcorr_label"))
    st.latex(r"(x \star w)[i,j] = \sum_{m,n} w[m,n]\; x[i\cdot s+m,\, j\cdot s+n]")
    st.markdown(t("conv_label"))
    st.latex(r"(x * w)[i,j] = \sum_{m,n} w[k{-}1{-}m,\, k{-}1{-}n]\; x[i\cdot s+m,\, j\cdot s+n]")
    m = cf.symmetric_range(flip.xcorr, flip.conv)
    f_xcorr, f_conv = st.columns(2)
    with f_xcorr:
        st.plotly_chart(cf.grid_figure(flip.kernel, fmt=".3g", title=t("flip_w")), key="conv_flip_w")
        st.plotly_chart(cf.feature_map_figure(flip.xcorr, title=t("flip_xcorr"), zmax=m, height=340),
                        key="conv_xcorr")
    with f_conv:
        st.plotly_chart(cf.grid_figure(flip.flipped, fmt=".3g", title=t("flip_wflip")), key="conv_flip_wflip")
        st.plotly_chart(cf.feature_map_figure(flip.conv, title=t("flip_conv"), zmax=m, height=340),
                        key="conv_trueconv")
    st.markdown(t("flip_numbers", delta=f"{flip.delta:.3f}"))


def relu_tab() -> None:
    """The feature map before and after ReLU, and how much of it ReLU sets to zero."""
    st.markdown(t.section("relu"))
    st.latex(r"\operatorname{ReLU}(z) = \max(0, z)")
    r = relu_map(z)
    fig_z, fig_a = cf.relu_figures(r.z, r.a, (t("relu_before"), t("relu_after")))
    before, after = st.columns(2)
    with before:
        st.plotly_chart(fig_z, key="conv_relu_before")
    with after:
        st.plotly_chart(fig_a, key="conv_relu_after")
    st.metric(t("relu_zeros"), f"{r.zero_fraction:.1%}", help=t("relu_zeros_help"))
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
c1, c2 = st.columns(2)
with c1:
    st.markdown("`engine.ops.conv.conv2d`")
    torch_check(torch_delta(digit, w, b, s, p), "F.conv2d")
with c2:
    st.markdown("`engine.ops.conv.conv2d_loops`")
    torch_check(loops_delta(digit, w.tolist(), b, s, p), "F.conv2d")

st.header(t("what_next"))
st.markdown(t.section("next"))
st.page_link("views/pooling.py", label=t("next_pooling"), icon=":material/arrow_forward:")
