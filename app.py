"""Neural Math Lab: entry point. Page config, the shared sidebar, and routing only."""

from pathlib import Path

import streamlit as st

from engine.device import configure_threads
from widgets.i18n import T
from widgets.sidebar import sidebar

configure_threads()
# The browser-tab icon is served by this server (a :material/…: page_icon makes the browser fetch
# it from an external font host, which offline fails on every page).
ICON = Path(__file__).resolve().parent / "assets" / "icon.png"
st.set_page_config(page_title="Neural Math Lab", page_icon=str(ICON), layout="wide")
sidebar()
t = T("common")

pages = {
    t("nav_start"): [
        st.Page("views/home.py", title=t("nav_home"), icon=":material/home:", default=True),
    ],
    t("nav_cnn_group"): [
        st.Page("views/conv.py", title=t("nav_conv"), icon=":material/grid_on:", url_path="convolution"),
        st.Page("views/pooling.py", title=t("nav_pooling"), icon=":material/filter_center_focus:", url_path="pooling"),
        st.Page("views/cnn.py", title=t("nav_cnn"), icon=":material/neurology:", url_path="cnn"),
    ],
    t("nav_rnn_group"): [
        st.Page("views/rnn.py", title=t("nav_rnn"), icon=":material/replay:", url_path="rnn"),
        st.Page("views/lstm/page.py", title=t("nav_lstm"), icon=":material/memory:", url_path="lstm"),
        st.Page("views/gru.py", title=t("nav_gru"), icon=":material/join:", url_path="gru"),
    ],
    t("nav_attn_group"): [
        st.Page("views/attention/page.py", title=t("nav_attention"), icon=":material/visibility:", url_path="attention"),
        st.Page("views/multihead.py", title=t("nav_multihead"), icon=":material/view_column:", url_path="multihead"),
        st.Page("views/positional/page.py", title=t("nav_positional"), icon=":material/timeline:", url_path="positional"),
        st.Page("views/transformer/page.py", title=t("nav_transformer"), icon=":material/layers:",
                url_path="transformer"),
    ],
    t("nav_learn_group"): [
        st.Page("views/loss/page.py", title=t("nav_loss"), icon=":material/trending_down:", url_path="loss"),
        st.Page("views/backprop/page.py", title=t("nav_backprop"), icon=":material/undo:", url_path="backprop"),
        st.Page("views/optimisers/page.py", title=t("nav_optimisers"), icon=":material/route:",
                url_path="optimisers"),
        st.Page("views/knobs/page.py", title=t("nav_knobs"), icon=":material/tune:", url_path="training-knobs"),
    ],
    t("nav_real_group"): [
        st.Page("views/real_encoder/page.py", title=t("nav_minilm"), icon=":material/hub:", url_path="minilm"),
        st.Page("views/real_replay/page.py", title=t("nav_minilm_replay"), icon=":material/fact_check:",
                url_path="minilm-replay"),
        st.Page("views/real_lm/page.py", title=t("nav_smollm"), icon=":material/chat:", url_path="smollm"),
        st.Page("views/real_inside/page.py", title=t("nav_smollm_inside"), icon=":material/manage_search:",
                url_path="smollm-inside"),
        st.Page("views/real_gguf/page.py", title=t("nav_gguf"), icon=":material/compress:", url_path="gguf"),
    ],
    t("nav_fast_group"): [
        st.Page("views/quantise/page.py", title=t("nav_quantise"), icon=":material/straighten:",
                url_path="quantisation"),
        st.Page("views/prune/page.py", title=t("nav_prune"), icon=":material/content_cut:", url_path="pruning"),
        st.Page("views/roofline/page.py", title=t("nav_roofline"), icon=":material/speed:", url_path="hardware"),
        st.Page("views/data_parallel/page.py", title=t("nav_data_parallel"), icon=":material/lan:",
                url_path="data-parallel"),
    ],
    t("nav_formula_group"): [
        st.Page("views/playground/page.py", title=t("nav_playground"), icon=":material/function:", url_path="playground"),
        st.Page("views/errata/page.py", title=t("nav_errata"), icon=":material/rule:", url_path="errata"),
    ],
    t("nav_training_group"): [
        st.Page("views/train_cnn.py", title=t("nav_train_cnn"), icon=":material/model_training:",
                url_path="train-cnn"),
        st.Page("views/train_lstm.py", title=t("nav_train_lstm"), icon=":material/edit_note:",
                url_path="train-lstm"),
        st.Page("views/train_transformer.py", title=t("nav_train_transformer"), icon=":material/hub:",
                url_path="train-transformer"),
    ],
}
# expanded: every lesson listed (collapsed, Streamlit hides all but ten behind "View more")
st.navigation(pages, expanded=True).run()
