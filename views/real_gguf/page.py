"""Placeholder: this page is being written (issue 12, "Real models")."""

import streamlit as st

st.info("This page is being written. / 本页正在编写中。")
