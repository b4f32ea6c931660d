"""The learner's digit, shared by every CNN page: drawn, picked from MNIST, or uploaded.

The current digit (28×28, MNIST-prepared) lives in session state, so it follows the
learner from page to page, and a failed upload or an empty canvas never loses it.
"""

from __future__ import annotations

import numpy as np
import streamlit as st
from PIL import Image
from streamlit_drawable_canvas import st_canvas

from engine.data.digits import (
    DataError,
    embedded_mnist,
    ink_from_grey,
    ink_from_rgba,
    load_image,
    prepare_digit,
)
from widgets.i18n import T

DIGIT_KEY = "nml_digit"
DEFAULT_INDEX = 0
SOURCES = ("draw", "dataset", "upload")


@st.cache_resource(show_spinner=False)
def held_out():
    """The embedded MNIST split, loaded once per server."""
    return embedded_mnist()


def _dataset_digit(index: int) -> dict:
    split = held_out()
    return {"image": split.x_test[index], "source": "dataset", "index": index,
            "label": int(split.y_test[index])}


def current_digit() -> dict:
    """{'image': (28, 28) float32 in [0, 1], 'source': ..., ...} for the current digit."""
    if DIGIT_KEY not in st.session_state:
        st.session_state[DIGIT_KEY] = _dataset_digit(DEFAULT_INDEX)
    return st.session_state[DIGIT_KEY]


def digit_input(key: str = "digit") -> np.ndarray:
    """Draw the input panel and return the current 28×28 digit."""
    t = T("common")
    current_digit()
    with st.container(border=True):
        left, right = st.columns([3, 2], vertical_alignment="top")
        with left:
            # Labels looked up now, in this run's language (format_func may be called later).
            labels = {s: t(f"src_{s}") for s in SOURCES}
            source = st.segmented_control(
                t("digit_source"), SOURCES, format_func=labels.get,
                default="draw", required=True, key=f"{key}_source", persist_state="session",
            )
            if source == "draw":
                _draw(t, key)
            elif source == "dataset":
                _pick(t, key)
            else:
                _upload(t, key)
        with right:
            _show_current(t)
    return np.asarray(current_digit()["image"], dtype=np.float32)  # (28, 28) in [0, 1]


def _draw(t: T, key: str) -> None:
    st.caption(t("draw_help"))
    result = st_canvas(
        stroke_width=18, stroke_color="#FFFFFF", background_color="#000000",
        height=224, width=224, drawing_mode="freedraw", return_image_data=True,
        key=f"{key}_canvas",
    )
    rgba = result.image_data if result is not None else None
    if rgba is None or rgba.ndim != 3:
        st.caption(t("draw_empty"))
        return
    try:
        image = prepare_digit(ink_from_rgba(rgba))
    except DataError:
        st.caption(t("draw_empty"))
        return
    st.session_state[DIGIT_KEY] = {"image": image, "source": "draw"}


def _pick(t: T, key: str) -> None:
    n = len(held_out().y_test)
    index = st.number_input(t("dataset_index"), min_value=0, max_value=n - 1, step=1,
                            value=DEFAULT_INDEX, key=f"{key}_index", persist_state="session")
    st.session_state[DIGIT_KEY] = _dataset_digit(int(index))


def _upload(t: T, key: str) -> None:
    file = st.file_uploader(t("upload_label"), type=["png", "jpg", "jpeg", "bmp", "gif", "webp"],
                            key=f"{key}_upload")
    if file is None:
        return
    seen = st.session_state.get(f"{key}_upload_seen")
    if seen == file.file_id:
        return  # already turned into the current digit; don't redo it on every rerun
    try:
        image = prepare_digit(ink_from_grey(load_image(file.getvalue())))
    except DataError as e:
        st.error(t.error(e))
        st.info(t("upload_keep"))
        return
    st.session_state[f"{key}_upload_seen"] = file.file_id
    st.session_state[DIGIT_KEY] = {"image": image, "source": "upload"}


def _show_current(t: T) -> None:
    digit = current_digit()
    big = Image.fromarray((digit["image"] * 255).astype(np.uint8)).resize((168, 168), Image.NEAREST)
    if digit["source"] == "dataset":
        caption = t("current_from_dataset", index=digit["index"], label=digit["label"])
    else:
        caption = t(f"current_from_{digit['source']}")
    st.markdown(f"**{t('current_digit')}**")
    st.image(big, caption=caption)
