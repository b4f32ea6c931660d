"""Controls of the attention pages (scaled dot-product here, multi-head beside it): the sentence
box whose example follows the language, pickers whose choice survives runs where they are hidden,
the two ways to get Q, K, V (the learner's sentence, or three small grids typed by hand), and one
stage of the pipeline laid out as heatmap | formula."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import streamlit as st
import torch

import lessons
from engine.data.tokens import TokenError, embed
from engine.ops.attention_setup import (
    MAX_ENTRY_ABS,
    QKV,
    LabError,
    first_tokens,
    matrix_from_grid,
    project,
    seeded_projections,
)
from widgets import blocks
from widgets.i18n import T

MAX_TOKENS = 12  # the pages' bound on the sentence, for readable heatmaps (the engine allows more)
SEED_MAX = 9999
D_MODEL = (4, 32, 8)  # slider: low, high, default
D_K = (1, 16, 4)
t = T("attention")  # the scaled dot-product page's own controls; the shared ones take the page's t
HAND = {  # Q, K, V typed by hand: 3 tokens × 2 dimensions
    "Q": [[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]],
    "K": [[2.0, 0.0], [0.0, 1.0], [1.0, 1.0]],
    "V": [[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]],
}


def sentence_box(t: T, key: str) -> str:
    """The sentence text box. Streamlit keeps a keyed box's value and ignores a new default, so
    the example is swapped here when the language changes and the box still holds another
    language's example; the text also lives in a plain session key (`key`_memo) that survives
    runs where the box is not drawn (Q, K, V typed by hand)."""
    memo = f"{key}_memo"
    text = st.session_state.get(key, st.session_state.get(memo))
    examples = {lessons.text(t.page, "text_default", lang) for lang in lessons.LANGS}
    if text is None or (text in examples and text != t("text_default")):
        text = t("text_default")
    if st.session_state.get(key) != text:
        st.session_state[key] = text
    raw = st.text_input(t("text_label"), key=key, help=t("text_help"))
    st.session_state[memo] = raw
    return raw


def sentence_tokens(t: T, raw: str) -> list[str]:
    """The sentence's first MAX_TOKENS tokens (a note when it is cut); a message and a stop when
    it has none or cannot be read."""
    try:
        tokens, n = first_tokens(raw, MAX_TOKENS)
    except TokenError as e:
        if e.code == "no_tokens":
            st.info(t("empty"))
        else:
            st.error(t.error(e))
        st.stop()
    if n > MAX_TOKENS:
        st.warning(t("too_long", n=n, max=MAX_TOKENS, kept=" ".join(tokens)))
    blocks.checked(t, "tokens", len(tokens))
    return tokens


def valid_seed(t: T, seed) -> int:
    """A seed box's value; outside 0 … SEED_MAX (set from outside the widget) it stops with a message."""
    if not 0 <= int(seed) <= SEED_MAX:
        st.error(t("err_seed", high=SEED_MAX))
        st.stop()
    return int(seed)


def pick_index(key: str, label: str, n: int, default: int, labels: dict[int, str]) -> int:
    """A selectbox over 0..n−1 whose option texts follow the sentence.

    The choice is kept in a plain session key (`key`_pick): Streamlit forgets a widget that a run
    does not draw (typed Q, K, V; h not dividing E stops the page above the pickers), the plain key
    survives, and the choice is clamped into a shorter sentence or fewer heads."""
    memo = f"{key}_pick"
    value = st.session_state.get(key, st.session_state.get(memo))
    if value not in range(n):
        # out of range after a change (fewer tokens or heads): the nearest one left; unset: the default
        value = n - 1 if isinstance(value, int) and value >= n else min(default, n - 1)
    # set on every run: Streamlit then sends the value with its current text to the browser, which
    # otherwise keeps showing an old sentence's token, or its default after the picker was hidden
    st.session_state[key] = value
    choice = int(st.selectbox(label, list(range(n)), key=key, format_func=labels.get))
    st.session_state[memo] = choice
    return choice


@dataclass(frozen=True)
class Inputs:
    """What the attention page runs on: token labels and Q, K, V; from a sentence also X and its sizes."""

    tokens: list[str]
    qkv: QKV
    X: torch.Tensor | None = None  # (T, d_model) embeddings; None for Q, K, V typed by hand
    d_model: int | None = None
    seed: int | None = None


def sentence_inputs() -> Inputs:
    """The sentence controls → tokens, their embeddings X and Q, K, V = X W_Q, X W_K, X W_V."""
    # bottom-aligned: a label that wraps to two lines does not push its box below the others
    c_text, c_d, c_k, c_seed = st.columns([4, 2, 2, 1], vertical_alignment="bottom")
    with c_text:
        raw = sentence_box(t, "att_text")
    with c_d:
        d_model = blocks.checked(t, "d_model", st.slider(t("d_model_label"), *D_MODEL, key="att_d_model",
                                                         help=t("d_model_help")))
    with c_k:
        d_k = blocks.checked(t, "d_model", st.slider(t("d_k_label"), *D_K, key="att_d_k", help=t("d_k_help")))
    with c_seed:
        seed = st.number_input(t("seed_label"), 0, SEED_MAX, 0, step=1, key="att_seed", help=t("seed_help"))
    seed = valid_seed(t, seed)
    tokens = sentence_tokens(t, raw)
    X = embed(tokens, d_model, seed)
    return Inputs(tokens, project(X, seeded_projections(d_model, d_k, seed)), X, d_model, seed)


def hand_inputs() -> Inputs:
    """Three small editable grids → Q, K, V (3 tokens × 2 dimensions), checked on the server."""
    mats = {}
    for col, name in zip(st.columns(3), ("Q", "K", "V")):
        with col:
            st.markdown(f"**{name}** {t('hand_shape')}")
            frame = pd.DataFrame(HAND[name], columns=["d=1", "d=2"], index=["1", "2", "3"])
            edited = st.data_editor(
                frame, key=f"att_hand_{name}", width="content",
                column_config={c: st.column_config.NumberColumn(c, min_value=-MAX_ENTRY_ABS, max_value=MAX_ENTRY_ABS,
                                                                step=0.1, width="small") for c in frame.columns})
            try:
                mats[name] = matrix_from_grid(edited.to_numpy(dtype=object), name, shape=(3, 2))
            except LabError as e:
                st.warning(t.error(e) + " " + t("grid_fallback"))
                mats[name] = matrix_from_grid(HAND[name], name)
    st.caption(t("hand_help", limit=f"{MAX_ENTRY_ABS:g}"))
    return Inputs(["1", "2", "3"], QKV(mats["Q"], mats["K"], mats["V"]))


def stage(key: str, figure, latex: str | None, note: str | None = None) -> None:
    """One stage: its heatmap on the left (none when it would repeat the previous one), the
    formula with the numbers of (i, j) and a note on the right."""
    st.subheader(t(f"stage_{key}"))
    if figure is None:
        st.markdown(note)
        return
    left, right = st.columns([1, 1], gap="medium")
    with left:
        st.plotly_chart(figure, key=f"att_fig_{key}")
    with right:
        if latex:
            st.latex(latex)
        if note:
            st.markdown(note)
