"""Pooling: max and average pooling on the learner's digit (or a ReLU feature map of it),
which input cell each max came from, one window written out, and what pooling buys under
a small shift of the digit."""

from __future__ import annotations

import pandas as pd
import streamlit as st
import torch
import torch.nn.functional as F

from engine.limits import BOUNDS
from engine.models.cnn import CHECKPOINT, load_default
from engine.ops.conv import output_size
from engine.ops.pooling import (
    EDGE_KERNELS,
    MODES,
    STAGES,
    avg_pool2d,
    feature_map,
    max_pool2d,
    max_pool2d_trace,
    pool_cell,
    shift_image,
    telling_cell,
    translation_demo,
)
from figures.common import INK, POSITIVE
from figures.pooling import (
    argmax_cells,
    kernel_figure,
    pool_input_figure,
    pooled_figure,
    shift_figure,
    window_figure,
)
from widgets import blocks
from widgets.blocks import show_code, torch_check
from widgets.digit_input import digit_input
from widgets.i18n import T

t = T("pooling")
SOURCES = ("digit", "feature")
POOL_SIZE = BOUNDS["pool_size"]
STRIDE = BOUNDS["stride"]
SHIFT_RANGE = 2  # the demo's sliders; BOUNDS["shift"] allows more


@st.cache_resource(show_spinner=False)
def first_layer(stamp: float | None) -> tuple[torch.Tensor, torch.Tensor] | None:
    """conv1's 32 filters (32, 3, 3) and biases (32,) of the shipped checkpoint, or None.

    `stamp` (the file's mtime) makes a checkpoint written while the server runs show up.
    """
    model = load_default()
    if model is None:
        return None
    # (32, 1, 3, 3) → (32, 3, 3): one input channel
    return model.conv1.weight.detach()[:, 0].clone(), model.conv1.bias.detach().clone()


def checkpoint_stamp() -> float | None:
    return CHECKPOINT.stat().st_mtime if CHECKPOINT.exists() else None


AUTO_CELL = "pool_cell_auto"  # True: the picked cell follows telling_cell until the learner moves it


def follow_window() -> None:
    """Changing the window resets the stride to it (the usual choice, as in the article's CNN)."""
    st.session_state["pool_stride"] = st.session_state["pool_size"]
    st.session_state[AUTO_CELL] = True


def reshaped() -> None:
    """A new map size: old (i, j) mean another place, so pick a telling cell again."""
    st.session_state[AUTO_CELL] = True


def cell_moved() -> None:
    st.session_state[AUTO_CELL] = False


def checked(name: str, value: int) -> int:
    return blocks.checked(t, name, value)


def labels(options, prefix: str):
    """format_func for a choice widget, its labels looked up now: a plain dict lookup, so it
    needs no session state when called later (AppTest calls it outside the script run)."""
    return {v: t(f"{prefix}{v}") for v in options}.get


def fmt(v: float) -> str:
    return f"{v:.2f}"


def counted(key: str, count: int) -> str:
    """`key` for a count of several, `key_1` for exactly one (English needs singular nouns)."""
    return f"{key}_1" if count == 1 else key


def cell_formula(cell, mode: str, i: int, j: int, k: int, s: int) -> str:
    """out[i,j] written out with the window's real numbers (one line per window row when long)."""
    rows = [r",\; ".join(fmt(v) for v in row) for row in cell.window.tolist()]
    joiner = r",\; \\ &\qquad " if k >= 3 else r",\; "
    at = rf"x[{i}\cdot{s} + m,\; {j}\cdot{s} + n]"
    if mode == "max":
        head = rf"\mathrm{{out}}[{i},{j}] &= \max_{{0 \le m,\,n < {k}}} {at}"
        body = r"&= \max(\," + joiner.join(rows) + r"\,)"
    else:
        plus = [row.replace(r",\;", " +") for row in rows]
        head = rf"\mathrm{{out}}[{i},{j}] &= \frac{{1}}{{{k * k}}} \sum_{{m,n}} {at}"
        body = rf"&= \tfrac{{1}}{{{k * k}}}(\," + joiner.replace(",", " +").join(plus) + r"\,)"
    return rf"\begin{{aligned}} {head} \\ {body} \\ &= {fmt(cell.value)} \end{{aligned}}"


# ----- title, intuition, formulas ---------------------------------------------------------
st.title(t("title"))
st.markdown(t.section("intuition"))
st.latex(r"\text{max:}\quad \mathrm{out}[i,j] = \max_{0 \le m,\,n < k} x[i\cdot s + m,\; j\cdot s + n]")
st.latex(r"\text{avg:}\quad \mathrm{out}[i,j] = \frac{1}{k^2}\sum_{m=0}^{k-1}\sum_{n=0}^{k-1} "
         r"x[i\cdot s + m,\; j\cdot s + n]")
st.latex(r"n_{\mathrm{out}} = \left\lfloor \frac{n - k}{s} \right\rfloor + 1")
st.markdown(t.section("errata"))

digit = digit_input()

# ----- controls ---------------------------------------------------------------------------
st.header(t("controls_header"))
layer = first_layer(checkpoint_stamp())
c_src, c_filter, c_kernel = st.columns([2, 2, 1], vertical_alignment="top")
with c_src:
    source = st.segmented_control(t("source_label"), SOURCES, format_func=labels(SOURCES, "source_"),
                                  default="digit", required=True, key="pool_source", persist_state="session",
                                  on_change=reshaped)
    st.caption(t("source_help"))
with c_filter:
    if layer is not None:
        f = st.slider(t("filter_label"), 0, layer[0].shape[0] - 1, 0, key="pool_filter",
                      persist_state="session")
        # filter index f ∈ [0, 32): checked as a kernel count f + 1 ∈ [1, 32]
        f = checked("num_kernels", f + 1) - 1
        kernel, bias = layer[0][f], float(layer[1][f])
        kernel_name = t("filter_name", f=f)
        st.caption(t("filter_help"))
    else:
        edge = st.segmented_control(t("edge_label"), list(EDGE_KERNELS), format_func=labels(EDGE_KERNELS, "edge_"),
                                    default="sobel_x", required=True, key="pool_edge", persist_state="session")
        kernel, bias = EDGE_KERNELS[edge], 0.0
        kernel_name = t(f"edge_{edge}")
        st.caption(t("no_checkpoint"))
with c_kernel:
    st.plotly_chart(kernel_figure(kernel, title=kernel_name, height=170), key="pool_kernel_fig",
                    config={"displayModeBar": False})

c_mode, c_k, c_s = st.columns(3)
with c_mode:
    mode = st.segmented_control(t("mode_label"), MODES, format_func=labels(MODES, "mode_"),
                                default="max", required=True, key="pool_mode", persist_state="session")
with c_k:
    st.session_state.setdefault("pool_size", 2)
    k = checked("pool_size", st.slider(t("size_label"), POOL_SIZE.low, POOL_SIZE.high, key="pool_size",
                                       on_change=follow_window, persist_state="session"))
with c_s:
    st.session_state.setdefault("pool_stride", k)
    s = checked("stride", st.slider(t("stride_label"), STRIDE.low, STRIDE.high, key="pool_stride",
                                    help=t("stride_help"), on_change=reshaped, persist_state="session"))

# ----- the map being pooled, its size, and the pooled output --------------------------------
x = torch.as_tensor(digit, dtype=torch.float32)
if source == "feature":
    x = feature_map(x, kernel, bias)
n = x.shape[0]
# n_out = ⌊(n − k)/s⌋ + 1 (no padding in pooling here)
n_out = output_size(n, k, s)
st.latex(rf"n_{{\mathrm{{out}}}} = \left\lfloor \frac{{{n} - {k}}}{{{s}}} \right\rfloor + 1 = "
         rf"\left\lfloor \frac{{{n - k}}}{{{s}}} \right\rfloor + 1 = {n_out}")
st.markdown(t("size_sentence", n=n, n_out=n_out, mode=t(f"mode_{mode}"), k=k, s=s))
if s > k:
    st.info(t(counted("stride_gt_window", s - k), k=k, s=s, skipped=s - k))
elif s < k:
    st.info(t("stride_lt_window", k=k, s=s))
if (n - k) % s:
    st.caption(t(counted("floor_note", (n - k) % s), dropped=(n - k) % s, n=n))

# (H, W) → (1, 1, H, W) for the engine, which uses torch's layout
x4 = x[None, None]
trace = max_pool2d_trace(x4, k, s)
out = (trace.output if mode == "max" else avg_pool2d(x4, k, s))[0, 0]

st.subheader(t("cell_header"))
st.caption(t("cell_help"))
if st.session_state.setdefault(AUTO_CELL, True):
    st.session_state["pool_i"], st.session_state["pool_j"] = telling_cell(x, k, s)
for key in ("pool_i", "pool_j"):
    st.session_state[key] = min(int(st.session_state.get(key, 0)), n_out - 1)
c_i, c_j = st.columns(2)
with c_i:
    i = st.slider(t("row_label"), 0, n_out - 1, key="pool_i", on_change=cell_moved, persist_state="session")
with c_j:
    j = st.slider(t("col_label"), 0, n_out - 1, key="pool_j", on_change=cell_moved, persist_state="session")
i, j = min(int(i), n_out - 1), min(int(j), n_out - 1)
cell = pool_cell(x, mode, k, s, i, j)

in_scale = INK if source == "digit" else POSITIVE
in_title = t("input_title_digit") if source == "digit" else t("input_title_feature", name=kernel_name)
c_in, c_out = st.columns(2)
with c_in:
    rows_cols = dict(rows=trace.rows[0, 0], cols=trace.cols[0, 0]) if mode == "max" else {}
    st.plotly_chart(pool_input_figure(x, window=(cell.row, cell.col, k), title=in_title, colorscale=in_scale,
                                      winner_label=t("legend_winner"), tie_label=t("legend_tie"), **rows_cols),
                    key="pool_input_fig")
with c_out:
    st.plotly_chart(pooled_figure(out, cell=(i, j), title=t("output_title", mode=t(f"mode_{mode}"),
                                                                n_out=n_out)),
                    key="pool_output_fig")
if mode == "max":
    positive, ties = argmax_cells(x, trace.rows[0, 0], trace.cols[0, 0])
    st.caption(t("argmax_caption", cells=n_out * n_out, winners=len(positive) + len(ties), positive=len(positive)))

# ----- one output cell, written out with its numbers --------------------------------------
c_win, c_formula = st.columns([1, 2], vertical_alignment="center")
with c_win:
    arg = (cell.arg_row, cell.arg_col) if mode == "max" else None
    st.plotly_chart(window_figure(cell.window, arg=arg, origin=(cell.row, cell.col), colorscale=in_scale,
                                  zmax=float(x.max()), title=t("window_title", k=k, r=cell.row, c=cell.col)),
                    key="pool_window_fig", config={"displayModeBar": False})
with c_formula:
    st.latex(cell_formula(cell, mode, i, j, k, s))
    if mode == "max":
        st.markdown(t("cell_max_sentence", i=i, j=j, r=cell.row + cell.arg_row, c=cell.col + cell.arg_col,
                      value=fmt(cell.value)))
    else:
        st.markdown(t("cell_avg_sentence", i=i, j=j, kk=k * k, value=fmt(cell.value)))

# ----- translation demo -------------------------------------------------------------------
st.header(t("shift_header"))
st.markdown(t.section("translation"))
c_dx, c_dy = st.columns(2)
with c_dx:
    dx = checked("shift", st.slider(t("dx_label"), -SHIFT_RANGE, SHIFT_RANGE, 1, key="pool_dx",
                                    persist_state="session"))
with c_dy:
    dy = checked("shift", st.slider(t("dy_label"), -SHIFT_RANGE, SHIFT_RANGE, 0, key="pool_dy",
                                    persist_state="session"))
demo = translation_demo(torch.as_tensor(digit), kernel, bias, dy, dx, k, s)
st.caption(t("shift_setup", name=kernel_name, k=k, s=s))

stage_names = {name: t(f"stage_{name}", k=k, s=s) for name in STAGES}
table = pd.DataFrame({
    t("col_stage"): [stage_names[name] for name in STAGES],
    t("col_shape"): [f"{demo.change[name].shape[0]}×{demo.change[name].shape[1]}" for name in STAGES],
    t("col_changed"): [f"{demo.change[name].changed} / {demo.change[name].active}" for name in STAGES],
    t("col_fraction"): [f"{100 * demo.change[name].changed_fraction:.1f} %" for name in STAGES],
    t("col_mean"): [f"{demo.change[name].mean_abs_delta:.4f}" for name in STAGES],
    t("col_relative"): [f"{100 * demo.change[name].relative_change:.1f} %" for name in STAGES],
})
st.dataframe(table, hide_index=True, width="stretch")
st.caption(t("table_help"))


def conclusion() -> str:
    """The demo's conclusion, worded from the computed numbers (never a fixed claim)."""
    if (dx, dy) == (0, 0):
        return t("verdict_no_shift")
    conv, p1, p2 = (100 * demo.change[name].relative_change for name in STAGES)
    if p1 < 0.9 * conv:
        first = t("verdict_less", conv=f"{conv:.1f}", pool=f"{p1:.1f}")
    elif p1 > 1.1 * conv:
        first = t("verdict_more", conv=f"{conv:.1f}", pool=f"{p1:.1f}")
    else:
        first = t("verdict_same", conv=f"{conv:.1f}", pool=f"{p1:.1f}")
    second = t("verdict_twice_less" if p2 < 0.9 * p1 else "verdict_twice_not", pool2=f"{p2:.1f}")
    return first + second  # the English second sentence starts with its own space


st.markdown(conclusion())
if demo.moved_delta is not None:
    st.warning(t("verdict_moved", s=s, di=dy // s, dj=dx // s, delta=f"{demo.moved_delta:.1e}"))
elif (dx, dy) != (0, 0):
    once = demo.change["pool1"]
    st.markdown(t("verdict_partial", same=once.active - once.changed, active=once.active, changed=once.changed))

labels = [t("tile_original"), t("tile_shifted", dx=dx, dy=dy), t("tile_delta")]
for name in STAGES:
    st.plotly_chart(shift_figure(demo.original[name], demo.shifted[name], labels=labels,
                                 title=stage_names[name], height=250),
                    key=f"pool_shift_fig_{name}")

# ----- show the code, check against torch -------------------------------------------------
show_code(max_pool2d, avg_pool2d, max_pool2d_trace, shift_image)

st.header(t("check_torch"))
st.caption(t("check_help", n=n, k=k, s=s))
x64 = x4.to(torch.float64)
delta_max = float((max_pool2d(x64, k, s) - F.max_pool2d(x64, k, s)).abs().max())
delta_avg = float((avg_pool2d(x64, k, s) - F.avg_pool2d(x64, k, s)).abs().max())
trace64 = max_pool2d_trace(x64, k, s)
_, torch_idx = F.max_pool2d(x64, k, s, return_indices=True)
# torch's index is the flat position in the input: row·W + col
delta_idx = float((trace64.rows * n + trace64.cols - torch_idx).abs().max())
c1, c2, c3 = st.columns(3)
with c1:
    torch_check(delta_max, "F.max_pool2d")
with c2:
    torch_check(delta_avg, "F.avg_pool2d")
with c3:
    torch_check(delta_idx, "F.max_pool2d indices")

# ----- what next --------------------------------------------------------------------------
st.header(t("what_next"))
sizes = [output_size(26, 2, 2), output_size(11, 2, 2)]
st.markdown(t.section("next"))
st.markdown(t("cnn_sizes", a=sizes[0], b=sizes[1]))
st.page_link("views/cnn.py", label=t("link_cnn"), icon=":material/arrow_forward:")
st.page_link("views/conv.py", label=t("link_conv"), icon=":material/arrow_back:")
