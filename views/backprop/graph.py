"""The small graph: an expression from the gallery or typed, its values and gradients node by node,
torch's own graph beside it, and one edge's chain-rule step with the numbers.

The text is read by the playground's safe reader (engine.formula.read, via
engine.ops.autodiff.parse_scalar); a refusal is translated by the playground's own messages."""

from __future__ import annotations

import zlib

import streamlit as st

from engine.formula import FormulaError
from engine.limits import FLOAT_BOUNDS, LimitError
from engine.ops.autodiff import (
    DEFAULT_VALUES,
    GALLERY,
    GraphError,
    GraphTrace,
    TorchGraph,
    graph,
    parse_scalar,
    torch_delta,
    torch_graph,
)
from figures import backprop as fb
from views.playground.messages import show_error
from widgets.blocks import torch_check
from widgets.i18n import T

t = T("backprop")
EXPR_KEY = "bp_expr"
VALUE_BOUND = FLOAT_BOUNDS["graph_value"]


@st.cache_resource(show_spinner=False, max_entries=64)
def traces(text: str, values: tuple[tuple[str, float], ...]) -> tuple[GraphTrace, TorchGraph]:
    """Ours and torch's, once per expression and values (both are pure)."""
    syntax = parse_scalar(text)
    return graph(syntax, dict(values)), torch_graph(syntax, dict(values))


def _use_example() -> None:
    st.session_state[EXPR_KEY] = st.session_state["bp_example"]


def expression() -> str:
    """The gallery and the text box (picking an example fills the box)."""
    st.session_state.setdefault(EXPR_KEY, GALLERY[0])
    pick, box = st.columns([2, 3], gap="medium", vertical_alignment="bottom")
    with pick:
        st.selectbox(t("gallery"), GALLERY, key="bp_example", on_change=_use_example, help=t("gallery_help"))
    with box:
        return st.text_input(t("expression"), key=EXPR_KEY, max_chars=200, help=t("expression_help"))


def variable_values(names: tuple[str, ...]) -> dict[str, float]:
    """One bounded number box per variable (the engine checks the bound again)."""
    values = {}
    cols = st.columns(min(len(names), 5))
    for k, name in enumerate(names):
        with cols[k % len(cols)]:
            values[name] = st.number_input(
                f"{name}", min_value=VALUE_BOUND.low, max_value=VALUE_BOUND.high, step=0.1, format="%.3f",
                value=DEFAULT_VALUES.get(name, 1.0), key=f"bp_val_{name}", help=t("value_help"))
    return values


def graph_section() -> None:
    """Everything of the small graph; a bad expression shows its message and returns."""
    text = expression()
    try:
        syntax = parse_scalar(text)
    except FormulaError as exc:
        show_error(exc, text)
        return
    except GraphError as exc:
        st.error(t.error(exc))
        return
    values = variable_values(syntax.scalars)
    try:
        ours, theirs = traces(text, tuple(sorted(values.items())))
    except LimitError as exc:
        st.error(t.error(exc))
        return
    if not ours.finite:
        bad = ours.nodes[ours.bad_node]
        st.warning(t("not_finite", node=bad.name, text=bad.text, value=fb.fmt(bad.value), grad=fb.fmt(bad.grad)))
    st.markdown(t("graph_result", f=fb.fmt(ours.output.value),
                  grads=", ".join(f"∂f/∂{n} = {fb.fmt(g)}" for n, g in ours.grads.items())))
    picked = edge_picker(ours)
    left, right = st.columns([3, 2], gap="medium")
    with left:
        st.markdown(f"**{t('ours_title')}**")
        st.graphviz_chart(fb.graph_dot(ours, picked, value=t("value_word"), grad=t("grad_word")))
        st.caption(t("ours_caption"))
    with right:
        st.markdown(f"**{t('torch_title')}**")
        st.graphviz_chart(fb.torch_dot(theirs))
        st.caption(t("torch_caption", n=len(theirs.nodes), leaves=sum(n.leaf is not None for n in theirs.nodes)))
    if picked is not None:
        edge = ours.edges[picked]
        st.latex(fb.edge_latex(ours, edge))
        child = ours.nodes[edge.child]
        shares = sum(1 for e in ours.edges if e.child == child.id)
        if shares > 1:
            st.latex(fb.node_sum_latex(ours, child))
        st.caption(t("shares_many", name=child.name, n=shares) if shares > 1 else t("shares_one", name=child.name))
    st.markdown(t("graph_check_note"))
    if ours.finite:
        torch_check(torch_delta(ours, theirs), t("graph_check_ref"))
    else:
        st.info(t("graph_check_skipped"))


def edge_picker(tr: GraphTrace) -> int | None:
    """The edge to explain (index into tr.edges); the first one that reaches a variable by default."""
    if not tr.edges:
        return None
    options = list(range(len(tr.edges)))
    default = next((k for k, e in enumerate(tr.edges) if tr.nodes[e.child].kind == "var"), 0)
    key = f"bp_edge_{zlib.crc32(tr.text.encode())}"  # one picker per expression: its edges differ
    return st.selectbox(t("edge"), options, index=default, key=key,
                        format_func=lambda k: fb.edge_choice(tr, tr.edges[k]), help=t("edge_help"))
