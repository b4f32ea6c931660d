"""The loss page's cached work and its label control: glue between the page and engine.ops.loss."""

from __future__ import annotations

import hashlib

import streamlit as st
import torch

from engine.limits import LimitError
from engine.models.cnn import Network, checkpoint_mtime, load_network, trace_digit
from engine.ops.loss import LABEL, LossLesson, loss_lesson
from widgets.digit_input import current_digit
from widgets.i18n import T

LABEL_KEY = "loss_label"
LABEL_DIGIT_KEY = "loss_label_digit"  # the digit the label control was last reset for
K = 10
t = T("loss")


@st.cache_resource(show_spinner=False)
def network(mtime: float | None) -> Network:
    """The shipped CNN, once per checkpoint (a new checkpoint has a new mtime)."""
    return load_network()


@st.cache_resource(show_spinner=False, max_entries=32)
def logits_of(digit_key: str, mtime: float | None, _digit) -> torch.Tensor:
    """The logits z (10,) of one digit, CPU float64, once per digit and checkpoint."""
    return trace_digit(network(mtime), _digit).logits


@st.cache_resource(show_spinner=False, max_entries=64)
def lesson_of(digit_key: str, mtime: float | None, y: int, _z: torch.Tensor) -> LossLesson:
    """Everything the page shows for one digit and label (both losses, the two studies, the check)."""
    return loss_lesson(_z, y)


def digit_key(digit) -> str:
    return hashlib.sha1(digit.tobytes()).hexdigest()


def default_label(z: torch.Tensor) -> int:
    """The dataset's label for a dataset digit, else the predicted class."""
    shown = current_digit()
    if shown.get("source") == "dataset":
        return int(shown["label"])
    return int(z.argmax())


def label_control(key: str, z: torch.Tensor) -> int:
    """The true label y, reset to its default whenever the digit changes; checked on the server
    (session state can be set from code): a bad value gets a translated message and the default."""
    default = default_label(z)
    if st.session_state.get(LABEL_DIGIT_KEY) != key:
        st.session_state[LABEL_DIGIT_KEY] = key
        st.session_state[LABEL_KEY] = default
    y = st.selectbox(t("label"), list(range(K)), key=LABEL_KEY, help=t("label_help"))
    try:
        if isinstance(y, bool) or not isinstance(y, int) or not 0 <= y < K:
            raise LimitError(LABEL, y, 0, K - 1)
    except LimitError as e:
        st.error(t.error(e))
        return default
    return y


def mtime() -> float | None:
    return checkpoint_mtime()
