"""Placeholder: the page is being written (issue 13)."""

import streamlit as st

from widgets.i18n import T

t = T("common")
st.title(t("nav_roofline"))
