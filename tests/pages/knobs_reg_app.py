"""A one-section app for the regularisation section's AppTest (not a test module): the section
alone, as views/knobs/page.py calls it, without the page's other four sections; the wide layout
and torch threads as app.py sets them."""

import streamlit as st

from engine.device import configure_threads
from views.knobs.regularise import regularisation_section

configure_threads()
st.set_page_config(layout="wide")
regularisation_section()
