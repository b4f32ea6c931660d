"""The sidebar every page shares: language switch and device badge."""

import streamlit as st

import lessons
from engine.device import device_name, get_device
from widgets.i18n import LANG_KEY, T


def sidebar() -> None:
    _language_from_url()
    with st.sidebar:
        st.radio(
            "Language · 语言",
            options=list(lessons.LANGS),
            format_func=lessons.LANGS.get,
            key=LANG_KEY,
            horizontal=True,
        )
        _language_to_url()
        t = T("common")
        device = get_device()
        icon = ":material/bolt:" if device.type != "cpu" else ":material/memory:"
        st.badge(t("device_badge", name=device_name(device)), icon=icon,
                 color="green" if device.type != "cpu" else "gray")


def _language_from_url() -> None:
    """A link, bookmark or reload with ?lang=zh opens in that language (the choice made in the
    session wins once there is one)."""
    wanted = st.query_params.get(LANG_KEY)
    if LANG_KEY not in st.session_state and wanted in lessons.LANGS:
        st.session_state[LANG_KEY] = wanted


def _language_to_url() -> None:
    """Keep the language in the address (?lang=zh), so a reload or a new tab keeps it; the default
    language leaves the address clean."""
    lang = st.session_state.get(LANG_KEY, lessons.DEFAULT_LANG)
    if lang == lessons.DEFAULT_LANG:
        if LANG_KEY in st.query_params:
            del st.query_params[LANG_KEY]
    elif st.query_params.get(LANG_KEY) != lang:
        st.query_params[LANG_KEY] = lang
