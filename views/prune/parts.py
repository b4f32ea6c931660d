"""The pruning page's cached engine work and its controls (checked on the server). Glue only:
engine.models.cnn_prune / cnn_slim / prune_study compute, figures.prune draws."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import streamlit as st

from engine.limits import check_float
from engine.models.cnn import Network, checkpoint_mtime, load_network
from engine.models.cnn_prune import METHODS, SPARSITIES, check_method, prune_masks
from engine.models.cnn_slim import Counts
from engine.models.prune_study import (
    Curve,
    PruneReport,
    accuracy,
    curves,
    held_out,
    pruned_for_eval,
    report,
    torch_gap,
)
from widgets.i18n import T

t = T("prune")
DEFAULTS = {"prune_method": "layer", "prune_s": 0.5}
CHECK_DIGITS = 20  # held-out digits on which the smaller network's logits are compared (float64)


def mtime() -> float | None:
    return checkpoint_mtime()


@st.cache_resource(show_spinner=False)
def network(mtime: float | None) -> Network:
    """The shipped CNN, once per checkpoint (a new checkpoint has a new mtime)."""
    return load_network()


@st.cache_resource(show_spinner=False, max_entries=2)
def all_curves(mtime: float | None) -> tuple[Curve, ...]:
    """Held-out accuracy against sparsity for the three methods: once per server (≈10 s)."""
    return curves(network(mtime).model, held_out())


@st.cache_data(show_spinner=False, max_entries=64)
def point_accuracy(mtime: float | None, method: str, s: float) -> float:
    """The accuracy at one prune: from the curves when s is one of their points, else measured."""
    if s in SPARSITIES:
        return next(c for c in all_curves(mtime) if c.method == method).at(s)
    model = network(mtime).model
    return accuracy(pruned_for_eval(model, prune_masks(model, method, s)), held_out())


@st.cache_resource(show_spinner=False, max_entries=64)
def prune_report(mtime: float | None, method: str, s: float) -> PruneReport:
    """Masks, counts and the smaller network's check for one prune of the float64 model."""
    x = held_out().x[:CHECK_DIGITS].double().contiguous()
    return report(network(mtime).model64, method, s, x)


@st.cache_data(show_spinner=False, max_entries=64)
def torch_check_gap(mtime: float | None, method: str, s: float) -> float:
    return torch_gap(network(mtime).model64, method, s)


@dataclass(frozen=True)
class Choice:
    method: str
    s: float


def read_choice() -> Choice:
    """The method and sparsity from the session, checked on the server; a value the widgets
    could not have sent gets a translated message and the defaults."""
    for key, value in DEFAULTS.items():
        st.session_state.setdefault(key, value)
    try:
        method = check_method(st.session_state["prune_method"])
        s = check_float("sparsity", st.session_state["prune_s"])
        return Choice(method, s)
    except Exception as exc:
        st.error(t.error(exc) if getattr(exc, "code", None) else t("err_method", value=repr(exc)[:200]))
        st.session_state.update(DEFAULTS)
        return Choice(*DEFAULTS.values())


def controls(disabled: bool) -> Choice:
    choice = read_choice()
    names = method_names()
    c1, c2 = st.columns([3, 4])
    with c1:
        st.radio(t("method_label"), METHODS, format_func=names.get, key="prune_method", disabled=disabled,
                 help=t("method_help"))
    with c2:
        stops = sorted({*SPARSITIES, choice.s})
        st.select_slider(t("s_label"), stops, key="prune_s", format_func=lambda v: f"{100 * v:g} %",
                         disabled=disabled, help=t("s_help"))
    return read_choice()


def method_names() -> dict[str, str]:
    return {m: t(f"method_{m}") for m in METHODS}


def _row(label: str, c: Counts) -> dict:
    return {t("col_model"): label, t("col_params"): f"{c.params:,}", t("col_nonzero"): f"{c.nonzero:,}",
            t("col_macs"): f"{c.macs:,}", t("col_macs_nz"): f"{c.macs_nonzero:,}"}


def totals_table(rep: PruneReport) -> pd.DataFrame:
    rows = [_row(t("row_dense"), rep.dense), _row(t("row_masked"), rep.pruned)]
    if rep.slim is not None:
        rows.append(_row(t("row_slim"), rep.slim))
    return pd.DataFrame(rows)


def layers_table(rep: PruneReport) -> pd.DataFrame:
    """Per layer: the weight's shape and non-zeros before, after, and in the smaller network."""
    rows = []
    for i, dense in enumerate(rep.dense.layers):
        pruned = rep.pruned.layers[i]
        row = {t("col_layer"): dense.name, t("col_shape"): "×".join(map(str, dense.shape)),
               t("col_nonzero_of"): f"{pruned.nonzero:,} / {dense.params:,}",
               t("col_macs_nz"): f"{pruned.macs_nonzero:,}"}
        if rep.slim is not None:
            slim = rep.slim.layers[i]
            row[t("col_slim_shape")] = "×".join(map(str, slim.shape))
            row[t("col_slim_macs")] = f"{slim.macs:,}"
        rows.append(row)
    return pd.DataFrame(rows)
