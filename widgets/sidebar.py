"""The sidebar every page shares: language switch and device badge."""

import streamlit as st

import lessons
from engine.device import device_name, get_device
from widgets.i18n import LANG_KEY, T


def sidebar() -> None:
    with st.sidebar:
        st.radio(
            "Language · 语言",
            options=list(lessons.LANGS),
            format_func=lessons.LANGS.get,
            key=LANG_KEY,
            horizontal=True,
        )
        t = T("common")
        device = get_device()
        icon = ":material/bolt:" if device.type != "cpu" else ":material/memory:"
        st.badge(t("device_badge", name=device_name(device)), icon=icon,
                 color="green" if device.type != "cpu" else "gray")
