"""Small pieces of the playground page: the table of functions a formula may call, and a link to
another lesson."""

from __future__ import annotations

import pandas as pd
import streamlit as st
from streamlit.errors import StreamlitPageNotFoundError

from engine.formula import FUNCTIONS
from widgets.i18n import T

t = T("playground")


def functions_help() -> None:
    with st.expander(t("help_header")):
        st.markdown(t.section("syntax"))
        st.dataframe(pd.DataFrame({
            t("col_function"): [f"{n}(z)" if spec.arity == 1 else f"{n}(a, b)" for n, spec in FUNCTIONS.items()],
            t("col_meaning"): [t(f"fn_{n}") for n in FUNCTIONS],
        }), hide_index=True)


def link(page: str, label: str) -> None:
    """A link to another lesson (a caption when this page runs on its own, outside the app)."""
    try:
        st.page_link(page, label=label, icon=":material/arrow_forward:")
    except StreamlitPageNotFoundError:
        st.caption(f"→ {label}")
