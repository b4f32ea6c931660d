"""The errata page's cached engine calls (engine.ops.errata_cases) and the frame every erratum is
drawn in: wrong (✗) beside right (✓), its numbers, why, and a link to the lesson."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import streamlit as st
from streamlit.errors import StreamlitPageNotFoundError

from engine.models.cnn import CHECKPOINT
from engine.ops import errata_cases as cases
from engine.ops.recurrent_units import CharWeights
from widgets.i18n import T

t = T("errata")


# ----- cached engine calls, per seed ------------------------------------------------------------


@st.cache_data(show_spinner=False, max_entries=32)
def attention_case(seed: int) -> cases.AttentionCase:
    return cases.attention_case(seed)


@st.cache_data(show_spinner=False, max_entries=32)
def pe_case(seed: int) -> cases.PECase:
    return cases.pe_case(seed)


@st.cache_data(show_spinner=False, max_entries=32)
def conv_case(seed: int) -> cases.ConvCase:
    return cases.conv_case(seed)


@st.cache_resource(show_spinner=False)
def first_layer(mtime: float | None) -> cases.FirstLayer:
    """The CNN's first layer, loaded again when the checkpoint's modification time changes."""
    return cases.first_layer()


@st.cache_data(show_spinner=False, max_entries=32)
def kernels_case(seed: int) -> cases.KernelsCase:
    layer = first_layer(CHECKPOINT.stat().st_mtime if CHECKPOINT.exists() else None)
    return cases.kernels_case(seed, layer)


@st.cache_resource(show_spinner=False)
def trained_lstm() -> CharWeights | None:
    return cases.trained_lstm()


@st.cache_data(show_spinner=False, max_entries=32)
def lstm_case(seed: int) -> cases.LSTMCase:
    return cases.lstm_case(seed, trained_lstm())


@st.cache_data(show_spinner=False, max_entries=32)
def ffn_case(seed: int) -> cases.FFNCase:
    return cases.ffn_case(seed)


@st.cache_data(show_spinner=False, max_entries=32)
def encoder_cases(sentences: tuple[str, ...], seed: int) -> list[cases.EncoderCase]:
    return [cases.encoder_case(s, seed) for s in sentences]


@st.cache_data(show_spinner=False, max_entries=32)
def flow_case(seed: int) -> cases.FlowCase:
    return cases.flow_case(seed)


# ----- small formatting ------------------------------------------------------------------------


def fmt(v: float, digits: int = 4) -> str:
    return f"{v:.{digits}f}"


def vec(values, digits: int = 3) -> str:
    return "(" + ", ".join(f"{float(v):.{digits}f}" for v in values) + ")"


def link(page: str, label: str) -> None:
    """A link to the lesson (a caption when this page runs on its own, outside the app)."""
    try:
        st.page_link(page, label=label, icon=":material/school:")
    except StreamlitPageNotFoundError:
        st.caption(f"→ {label}")


# ----- one erratum's frame ---------------------------------------------------------------------


@dataclass(frozen=True)
class Erratum:
    key: str
    page: str  # the lesson's page file
    wrong: str  # LaTeX
    right: str
    body: Callable[[], None]  # draws the computed numbers


def frame(n: int, e: Erratum) -> None:
    """One erratum: wrong (✗) beside right (✓), the computed numbers, why, and the lesson."""
    with st.container(border=True):
        st.subheader(f"{n}. {t(e.key + '_title')}", anchor=f"erratum-{e.key}")
        c_w, c_r = st.columns(2)
        with c_w:
            st.markdown(":red[**✗ " + t("wrong") + "**]")
            st.latex(e.wrong)
        with c_r:
            st.markdown(":green[**✓ " + t("right") + "**]")
            st.latex(e.right)
        e.body()
        st.markdown(f"**{t('why')}** " + t.section(e.key))
        link(e.page, t(e.key + "_link"))


# ----- every case for one seed --------------------------------------------------------------------


@dataclass(frozen=True)
class Cases:
    att: cases.AttentionCase
    pe: cases.PECase
    conv: cases.ConvCase
    kern: cases.KernelsCase
    lstm: cases.LSTMCase
    ffn: cases.FFNCase
    enc: list[cases.EncoderCase]  # the long sentence, then the short one
    flow: cases.FlowCase


def all_cases(seed: int, sentences: tuple[str, ...]) -> Cases:
    return Cases(attention_case(seed), pe_case(seed), conv_case(seed), kernels_case(seed), lstm_case(seed),
                 ffn_case(seed), encoder_cases(sentences, seed), flow_case(seed))
