"""The CNN's backward pass one stage at a time: the stage's formula with the live numbers beside its
heatmaps. Every number comes from the cached engine.ops.backprop trace; the figures of a stage
are built once per digit, label, stage and language."""

from __future__ import annotations

from dataclasses import dataclass, field

import streamlit as st

from engine.ops.backprop import CNNBackward, pool_route, strongest_cell, top_channels, weight_cell
from figures import backprop as fb
from widgets.blocks import torch_check
from widgets.i18n import T

t = T("backprop")

# language-neutral option labels (layer names and symbols): a selectbox keeps showing an option's
# old label after the language changes
STAGES = {
    "output": "z5 · ∂L/∂z5 = (p − y)/N",
    "fc2": "fc2 · ∂L/∂W5, ∂L/∂a4",
    "fc1": "fc1 · [z4 > 0], ∂L/∂W4, ∂L/∂f",
    "flatten": "flatten · ∂L/∂a3",
    "conv3": "conv3 · ∂L/∂z3, ∂L/∂W3, ∂L/∂p2",
    "pool2": "pool2 · ∂L/∂a2",
    "conv2": "conv2 · ∂L/∂z2, ∂L/∂W2, ∂L/∂p1",
    "pool1": "pool1 · ∂L/∂a1",
    "conv1": "conv1 · ∂L/∂z1, ∂L/∂W1, ∂L/∂x",
}
SHOWN = 8  # channels drawn per map stack: those with the largest gradient


@dataclass
class StageView:
    """What one stage shows: formulas (LaTeX) and a note on the left, figures on the right."""

    latex: list[str] = field(default_factory=list)
    note: str = ""
    figures: list = field(default_factory=list)


def _output(bw: CNNBackward) -> StageView:
    y = int(bw.y[0])
    p = bw.fwd.p[0].clone()
    p[y] = -1.0
    return StageView([fb.output_latex(bw, int(p.argmax()))], t("stage_output_note", y=y),
                     [fb.output_figure(bw, t("fig_dz5"))])


def _fc2(bw: CNNBackward) -> StageView:
    y = int(bw.y[0])
    u = int(bw.fc2.dW[y].abs().argmax())
    return StageView([fb.dense_latex(bw, 5, y, u)], t("stage_fc2_note", y=y, u=u),
                     [fb.matrix_figure(bw.fc2.dW, t("fig_dW5"), x_title="u", y_title="k"),
                      fb.matrix_figure(bw.fc2.d_in[0], t("fig_da4"), height=160)])


def _fc1(bw: CNNBackward) -> StageView:
    u = int(bw.fc2.d_in[0].abs().argmax())
    j = int(bw.fc1.dW[u].abs().argmax())
    relu = fb.relu_latex(4, "a_4", float(bw.fc2.d_in[0, u]), float(bw.fwd.z4[0, u]), float(bw.dL_dz4[0, u]), f"[{u}]")
    active = int((bw.fwd.z4[0] > 0).sum())
    stacked = bw.fc2.d_in[0:1].new_zeros(2, bw.dL_dz4.shape[1])
    stacked[0], stacked[1] = bw.fc2.d_in[0], bw.dL_dz4[0]
    return StageView([relu, fb.dense_latex(bw, 4, u, j)], t("stage_fc1_note", active=active, u=u),
                     [fb.matrix_figure(stacked, t("fig_dz4"), height=170),
                      fb.matrix_figure(bw.fc1.dW, t("fig_dW4"), height=260, x_title="j", y_title="u")])


def _flatten(bw: CNNBackward) -> StageView:
    g = bw.dL_da3[0]
    C, H, W = g.shape
    c, i, j = strongest_cell(g)
    channels = top_channels(g, SHOWN)
    return StageView([fb.flatten_latex(c, i, j, W, C, float(g[c, i, j]))], t("stage_flatten_note", c=c, i=i, j=j),
                     [fb.matrix_figure(bw.fc1.d_in[0].reshape(H * W, C), t("fig_df"), height=200,
                                       x_title="c", y_title="i·3 + j"),
                      fb.grad_maps(g, channels, t("fig_da3"), (channels.index(c), i, j) if c in channels else None)])


def _conv(bw: CNNBackward, l: int) -> StageView:
    delta, g_in = getattr(bw, f"dL_dz{l}")[0], getattr(bw, f"conv{l}")
    src = "x" if l == 1 else f"p_{l - 1}"
    o, i, j = strongest_cell(delta)
    g_a = getattr(bw, f"dL_da{l}")[0, o, i, j]
    relu = fb.relu_latex(l, f"a_{l}", float(g_a), float(getattr(bw.fwd, f"z{l}")[0, o, i, j]), float(delta[o, i, j]),
                         f"[{o},{i},{j}]")
    dW_o = g_in.dW[o]  # (C_in, 3, 3)
    c, m, n = strongest_cell(dW_o)
    cell = weight_cell(bw, l, o, c, m, n)
    chans = top_channels(delta, SHOWN)
    in_chans = top_channels(dW_o, 16 if l > 1 else 1)
    d_in = g_in.d_in[0]
    figs = [fb.grad_maps(delta, chans, t("fig_dz", l=l), (chans.index(o), i, j)),
            fb.grad_maps(dW_o, in_chans, t("fig_dWo", l=l, o=o), (in_chans.index(c), m, n) if c in in_chans else None),
            fb.grad_maps(d_in, top_channels(d_in, SHOWN if l > 1 else 1), t("fig_din", src=src.replace("_", "")))]
    return StageView([relu, fb.conv_weight_latex(l, src, cell), fb.conv_input_latex(l, src)],
                     t("stage_conv_note", l=l, o=o, c=c, m=m, n=n, terms=len(cell.terms),
                       nonzero=int((cell.terms != 0).sum())), figs)


def _pool(bw: CNNBackward, l: int) -> StageView:
    g_p = getattr(bw, f"conv{l + 1}").d_in[0]
    # written out: the strongest gradient among windows whose winner is positive (a tie at 0 sends
    # its gradient to the first cell, where ReLU's mask then stops it), else the strongest overall
    live = g_p * (getattr(bw.fwd, f"pool{l}").output[0] > 0)
    c, i, j = strongest_cell(live if bool(live.any()) else g_p)
    route = pool_route(bw, l, c, i, j)
    chans = top_channels(g_p, SHOWN)
    k = chans.index(c)
    return StageView([fb.pool_latex(l, route)], t("stage_pool_note", l=l, c=c, i=i, j=j),
                     [fb.grad_maps(g_p, chans, t("fig_dp", l=l), (k, i, j)),
                      fb.grad_maps(getattr(bw, f"dL_da{l}")[0], chans, t("fig_da", l=l),
                                   (k, 2 * i + route.winner[0], 2 * j + route.winner[1]))])


@st.cache_resource(show_spinner=False, max_entries=64)
def stage_view(key: bytes, stage: str, lang: str, _bw: CNNBackward) -> StageView:
    """One stage's formulas and figures; `key` = the digit, label and checkpoint (not `_bw`, unhashed)."""
    if stage in ("conv1", "conv2", "conv3"):
        return _conv(_bw, int(stage[-1]))
    if stage in ("pool1", "pool2"):
        return _pool(_bw, int(stage[-1]))
    return {"output": _output, "fc2": _fc2, "fc1": _fc1, "flatten": _flatten}[stage](_bw)


def stage_section(key: bytes, bw: CNNBackward, deltas: dict[str, float]) -> None:
    """The stage picker, then the stage: formulas beside figures, and the stage's check against
    autograd (`deltas`: engine.ops.backprop.stage_deltas)."""
    stage = st.selectbox(t("stage"), list(STAGES), format_func=STAGES.get, key="bp_stage", help=t("stage_help"))
    if stage not in STAGES:  # session state can be set from code: check on the server too
        st.error(t("err_bad_stage", stage=stage))
        return
    view = stage_view(key, stage, t.lang, bw)
    st.markdown(t.section(f"stage_{stage}"))
    text, figs = st.columns([2, 3], gap="large")
    with text:
        for tex in view.latex:
            st.latex(tex)
        st.caption(view.note)
        torch_check(deltas[stage], t("stage_check_ref"))
    with figs:
        for k, fig in enumerate(view.figures):
            st.plotly_chart(fig, key=f"bp_stage_fig_{k}")
