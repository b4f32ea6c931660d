"""The training knobs and generalisation: the batch size (the spread of mini-batch gradients and
its 1/B law), the initialisation (the signal through a deep MLP), the preprocessing (what the
input's scale does to conv1), the normalisation (BatchNorm against LayerNorm on a real batch), and
the regularisation section (views/knobs/regularise.py: an overfitting run, live).

Glue only: lesson text from lessons/, engine results cached in views/knobs/parts.py, the sections
in views/knobs/signal.py and views/knobs/inputs.py, figures.knobs to draw.
"""

from __future__ import annotations

import streamlit as st

from views.knobs.inputs import norm_section, preprocess_section
from views.knobs.regularise import regularisation_section
from views.knobs.signal import batch_section, init_section
from widgets.i18n import T

t = T("knobs")

st.title(t("title"))
st.markdown(t.section("intuition"))

batch_section()
init_section()
preprocess_section()
norm_section()
regularisation_section()  # 5 · regularisation: views/knobs/regularise.py (its own strings, knobs_reg)

# ----- what next ---------------------------------------------------------------------------------
st.header(t("next_header"))
st.markdown(t.section("next"))
st.page_link("views/optimisers/page.py", label=t("next_optimisers"), icon=":material/arrow_back:")
st.page_link("views/train_cnn.py", label=t("next_training"), icon=":material/model_training:")
