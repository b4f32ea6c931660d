"""Pooling: max and average pooling on the learner's digit (or a ReLU feature map of it),
which input cell each max came from, one window written out, and what pooling buys under
a small shift of the digit."""

from __future__ import annotations

from functools import partial

import streamlit as st

from engine.limits import BOUNDS
from engine.models.cnn import FirstLayer, checkpoint_mtime, first_layer
from engine.ops.conv import output_size
from engine.ops.pooling import (
    EDGE_KERNELS,
    MODES,
    STAGES,
    avg_pool2d,
    max_pool2d,
    max_pool2d_trace,
    pool_cell,
    pool_input,
    pooled_map,
    shift_image,
    telling_cell,
    torch_checks,
    translation_demo,
    verdict,
)
from figures.common import INK, POSITIVE
from figures.pooling import (
    argmax_cells,
    cell_formula_latex,
    change_table,
    fmt,
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
checked = partial(blocks.checked, t)  # engine.limits.check on the server, a translated stop
SOURCES = ("digit", "feature")
POOL_SIZE = BOUNDS["pool_size"]
STRIDE = BOUNDS["stride"]
SHIFT_RANGE = 2  # the demo's sliders; BOUNDS["shift"] allows more


@st.cache_resource(show_spinner=False)
def filters(mtime: float | None) -> FirstLayer:
    """conv1's 32 filters, once per checkpoint (`mtime` makes a checkpoint written while the
    server runs show up); untrained ones are not shown: the page falls back to Sobel kernels."""
    return first_layer()


AUTO_CELL = "pool_cell_auto"  # True: the picked cell follows telling_cell until the learner moves it


def follow_window() -> None:
    """Changing the window resets the stride to it (the usual choice, as in the article's CNN)."""
    st.session_state["pool_stride"] = st.session_state["pool_size"]
    st.session_state[AUTO_CELL] = True


def auto_cell(on: bool) -> None:
    """On after a new map size (old (i, j) mean another place); off once the learner moves the cell."""
    st.session_state[AUTO_CELL] = on


def labels(options, prefix: str):
    """format_func for a choice widget, labels looked up now (it may be called outside the run)."""
    return {v: t(f"{prefix}{v}") for v in options}.get


def counted(key: str, count: int) -> str:
    """`key` for a count of several, `key_1` for exactly one (English needs singular nouns)."""
    return f"{key}_1" if count == 1 else key


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
layer = filters(checkpoint_mtime())
c_src, c_filter, c_kernel = st.columns([2, 2, 1], vertical_alignment="top")
with c_src:
    source = st.segmented_control(t("source_label"), SOURCES, format_func=labels(SOURCES, "source_"),
                                  default="digit", required=True, key="pool_source", persist_state="session",
                                  on_change=auto_cell, args=(True,))
    st.caption(t("source_help"))
with c_filter:
    if layer.trained:
        f = st.slider(t("filter_label"), 0, layer.weight.shape[0] - 1, 0, key="pool_filter",
                      persist_state="session")
        # filter index f ∈ [0, 32): checked as a kernel count f + 1 ∈ [1, 32]
        f = checked("num_kernels", f + 1) - 1
        kernel, bias = layer.weight[f, 0], float(layer.bias[f])
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
                                    help=t("stride_help"), on_change=auto_cell, args=(True,), persist_state="session"))

# ----- the map being pooled, its size, and the pooled output --------------------------------
x = pool_input(digit, kernel, bias) if source == "feature" else pool_input(digit)
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

pooled = pooled_map(x, mode, k, s)

st.subheader(t("cell_header"))
st.caption(t("cell_help"))
if st.session_state.setdefault(AUTO_CELL, True):
    st.session_state["pool_i"], st.session_state["pool_j"] = telling_cell(x, k, s)
for key in ("pool_i", "pool_j"):
    st.session_state[key] = min(int(st.session_state.get(key, 0)), n_out - 1)
c_i, c_j = st.columns(2)
with c_i:
    i = st.slider(t("row_label"), 0, n_out - 1, key="pool_i", on_change=auto_cell, args=(False,), persist_state="session")
with c_j:
    j = st.slider(t("col_label"), 0, n_out - 1, key="pool_j", on_change=auto_cell, args=(False,), persist_state="session")
i, j = min(int(i), n_out - 1), min(int(j), n_out - 1)
cell = pool_cell(x, mode, k, s, i, j)

in_scale = INK if source == "digit" else POSITIVE
in_title = t("input_title_digit") if source == "digit" else t("input_title_feature", name=kernel_name)
c_in, c_out = st.columns(2)
with c_in:
    rows_cols = dict(rows=pooled.rows, cols=pooled.cols) if mode == "max" else {}
    st.plotly_chart(pool_input_figure(x, window=(cell.row, cell.col, k), title=in_title, colorscale=in_scale,
                                      winner_label=t("legend_winner"), tie_label=t("legend_tie"), **rows_cols),
                    key="pool_input_fig")
with c_out:
    st.plotly_chart(pooled_figure(pooled.output, cell=(i, j), title=t("output_title", mode=t(f"mode_{mode}"),
                                                                n_out=n_out)),
                    key="pool_output_fig")
if mode == "max":
    positive, ties = argmax_cells(x, pooled.rows, pooled.cols)
    st.caption(t("argmax_caption", cells=n_out * n_out, winners=len(positive) + len(ties), positive=len(positive)))

# ----- one output cell, written out with its numbers --------------------------------------
c_win, c_formula = st.columns([1, 2], vertical_alignment="center")
with c_win:
    arg = (cell.arg_row, cell.arg_col) if mode == "max" else None
    st.plotly_chart(window_figure(cell.window, arg=arg, origin=(cell.row, cell.col), colorscale=in_scale,
                                  zmax=float(x.max()), title=t("window_title", k=k, r=cell.row, c=cell.col)),
                    key="pool_window_fig", config={"displayModeBar": False})
with c_formula:
    st.latex(cell_formula_latex(cell, mode, i, j, k, s))
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
demo = translation_demo(digit, kernel, bias, dy, dx, k, s)
st.caption(t("shift_setup", name=kernel_name, k=k, s=s))

stage_names = {name: t(f"stage_{name}", k=k, s=s) for name in STAGES}
headers = [t(f"col_{c}") for c in ("stage", "shape", "changed", "fraction", "mean", "relative")]
st.dataframe(change_table(demo, stage_names, headers), hide_index=True, width="stretch")
st.caption(t("table_help"))

# the conclusion, worded from the computed numbers (the English second sentence starts with its own space)
found = verdict(demo)
st.markdown(t("verdict_no_shift") if (dx, dy) == (0, 0) else
            t(f"verdict_{found.once}", conv=f"{found.conv:.1f}", pool=f"{found.pool1:.1f}")
            + t(f"verdict_twice_{found.twice}", pool2=f"{found.pool2:.1f}"))
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
checks = torch_checks(x, k, s)
refs = {"F.max_pool2d": checks.max, "F.avg_pool2d": checks.avg, "F.max_pool2d indices": checks.indices}
for column, (ref, delta) in zip(st.columns(3), refs.items(), strict=True):
    with column:
        torch_check(delta, ref)

# ----- what next --------------------------------------------------------------------------
st.header(t("what_next"))
sizes = [output_size(26, 2, 2), output_size(11, 2, 2)]
st.markdown(t.section("next"))
st.markdown(t("cnn_sizes", a=sizes[0], b=sizes[1]))
st.page_link("views/cnn.py", label=t("link_cnn"), icon=":material/arrow_forward:")
st.page_link("views/conv.py", label=t("link_conv"), icon=":material/arrow_back:")
