"""Home: what the app is, the map of lessons, and the article's CNN read from the model."""

import pandas as pd
import streamlit as st

import lessons
from engine.data.digits import available_datasets
from engine.models.cnn import SeedCNN, count_parameters, summary
from widgets.i18n import T

t = T("home")

st.title(t("title"))
st.markdown(t.section("intro"))

st.header(t("map_header"))
LESSONS = [
    # (group key, [(lesson key, page path or None when coming)]), in the sidebar's order
    ("group_cnn", [("conv", "views/conv.py"), ("pooling", "views/pooling.py"), ("cnn", "views/cnn.py")]),
    ("group_rnn", [("rnn", "views/rnn.py"), ("lstm", "views/lstm/page.py"), ("gru", "views/gru.py")]),
    ("group_attention", [("attention", "views/attention/page.py"), ("multihead", "views/multihead.py"),
                         ("positional", "views/positional/page.py"), ("transformer", "views/transformer/page.py")]),
    ("group_learn", [("loss", "views/loss/page.py"), ("backprop", "views/backprop/page.py"),
                     ("optimisers", "views/optimisers/page.py"), ("knobs", "views/knobs/page.py")]),
    ("group_real", [("minilm", "views/real_encoder/page.py"), ("minilm_replay", "views/real_replay/page.py"),
                    ("smollm", "views/real_lm/page.py"), ("smollm_inside", "views/real_inside/page.py"),
                    ("gguf", "views/real_gguf/page.py")]),
    ("group_fast", [("quantise", "views/quantise/page.py"), ("prune", "views/prune/page.py"),
                    ("roofline", "views/roofline/page.py"), ("data_parallel", "views/data_parallel/page.py")]),
    ("group_formula", [("playground", "views/playground/page.py"), ("errata", "views/errata/page.py")]),
    ("group_training", [("train_cnn", "views/train_cnn.py"), ("train_lstm", "views/train_lstm.py"),
                        ("train_transformer", "views/train_transformer.py")]),
]
PER_ROW = 2  # eight groups in four rows: at 1280 px a link such as "A language model's next token (SmolLM2)" fits whole (four a row cut titles off)
for row in range(0, len(LESSONS), PER_ROW):
    cols = st.columns(PER_ROW)
    for col, (group, items) in zip(cols, LESSONS[row:row + PER_ROW]):
        with col, st.container(border=True):
            st.markdown(f"**{t(group)}**")
            for lesson_key, path in items:
                if path:
                    st.page_link(path, label=t(f"lesson_{lesson_key}"), icon=":material/play_circle:")
                else:
                    # lessons still to come: quieter than the live links
                    st.caption(f"{t(f'lesson_{lesson_key}')} · *{t('coming')}*")

st.header(t("model_header"))
st.markdown(t.section("model"))


@st.cache_data(show_spinner=False)
def model_table(lang: str) -> tuple[pd.DataFrame, int]:
    model = SeedCNN()
    rows = summary(model)
    frame = pd.DataFrame(
        {
            t("col_layer"): [f"{r.name} ({r.kind})" for r in rows],
            t("col_shape"): ["(None, " + ", ".join(map(str, r.output_shape)) + ")" for r in rows],
            t("col_params"): [f"{r.params:,}" for r in rows],
            t("col_formula"): [r.params_formula if r.params else "–" for r in rows],
            t("col_macs"): [f"{r.mult_adds:,}" if r.mult_adds else "–" for r in rows],
        }
    )
    return frame, count_parameters(model)


frame, total = model_table(t.lang)
st.dataframe(frame, hide_index=True, width="stretch")
st.markdown(t("total_params", total=f"{total:,}"))
st.caption(t("shape_note"))

st.header(t("data_header"))
found = available_datasets()
for name, problem in found.items():
    if problem is None:
        st.markdown(f":material/check_circle: **{t(f'data_{name}')}** — {t('data_ready')}")
    else:
        st.markdown(f":material/radio_button_unchecked: **{t(f'data_{name}')}** — {t('data_missing')}")
if any(problem is not None for problem in found.values()):
    # set-up steps are for whoever runs the server, not for learners: kept out of the way
    with st.expander(t("about_server")):
        for name, problem in found.items():
            if problem is not None:
                st.markdown(f"**{t(f'data_{name}')}**: {t(f'data_how_{name}')}")

with st.expander(t("notation_header")):
    st.markdown(lessons.section("notation", "table", t.lang))
