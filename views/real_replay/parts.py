"""The replay page's parts: the engine's weights once per server, one run per text (cached), the
learner's text read with translated messages, and the page's tables."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import streamlit as st
import torch

from engine.models import minilm as M
from engine.models import minilm_text as MT
from widgets.i18n import T

t = T("minilm_replay")


@dataclass(frozen=True)
class Engines:
    """Our weights in float32 and float64, and transformers' model in both dtypes."""

    weights32: M.MiniLMWeights
    weights64: M.MiniLMWeights
    model32: object
    model64: object


@st.cache_resource(show_spinner=False, max_entries=1)
def engines(_reference) -> Engines:
    """Once per server (≈0.5 s): the float64 copy of transformers' model (≈0.18 GB), whose
    tensors our float64 weights share; our float32 weights share the shipped model's."""
    model64 = M.reference_model(_reference.model, torch.float64)
    return Engines(M.load(_reference), M.from_model(model64, torch.float64), _reference.model, model64)


@st.cache_resource(show_spinner=False, max_entries=8)
def replay_run(text: str, pair: str | None, _engines: Engines, _tokenizer) -> M.ReplayRun:
    """One text (and pair) through our engine and transformers, in float32 and float64."""
    e = _engines
    encoded = MT.encode(_tokenizer, text, None if pair is None else [pair])
    return M.replay_and_compare(e.weights32, e.weights64, e.model32, e.model64, encoded)


@dataclass(frozen=True)
class Texts:
    text: str
    pair: str | None


def read_texts(raw: str, raw_pair: str) -> Texts:
    """The learner's two boxes, cleaned; what was taken out is said, an empty sentence stops."""
    try:
        first = MT.clean_text(raw or "")
    except MT.TextError as e:
        st.error(t.error(e))
        st.stop()
    pair, removed, cut = None, set(first.removed), first.cut
    if (raw_pair or "").strip():
        try:
            second = MT.clean_text(raw_pair)
            pair, cut = second.text, max(cut, second.cut)
            removed |= set(second.removed)
        except MT.TextError:
            st.info(t("pair_ignored"))
    if removed:
        st.warning(t("warn_removed", chars=", ".join(sorted(removed))))
    if cut:
        st.warning(t("warn_cut_chars", n=cut, max=MT.MAX_CHARS))
    return Texts(first.text, pair)


def token_table(encoded: MT.Encoded) -> pd.DataFrame:
    """One row per token: position, WordPiece piece, id, segment (one column per token, a wide
    sentence reads left to right)."""
    tokens = encoded.tokens[0]
    frame = pd.DataFrame({
        t("col_piece"): list(tokens),
        t("col_id"): [str(i) for i in encoded.input_ids[0].tolist()],
        t("col_segment"): [str(s) for s in encoded.token_type_ids[0].tolist()],
    }, index=[f"{t('col_position')} = {n}" for n in range(len(tokens))])
    return frame.T


def depth_label(layer: int) -> str:
    return t("embeddings") if layer == 0 else t("layer_n", l=layer)


def gap_table(run: M.ReplayRun) -> pd.DataFrame:
    """Per depth: max |Δ| of hidden states and attention weights, float32 and float64."""
    def fmt(v: float | None) -> str:
        return t("no_attention") if v is None else f"{v:.1e}"

    rows = zip(run.float32.gaps, run.float64.gaps)
    return pd.DataFrame([{
        t("col_layer"): depth_label(g32.layer),
        t("col_hidden32"): fmt(g32.hidden), t("col_attention32"): fmt(g32.attention),
        t("col_hidden64"): fmt(g64.hidden), t("col_attention64"): fmt(g64.attention),
    } for g32, g64 in rows])


def verdicts(run: M.ReplayRun) -> None:
    for c in (run.float32, run.float64):
        kind = str(c.dtype).removeprefix("torch.")
        fmt = dict(dtype=kind, delta=f"{c.max_abs:.1e}", tol=f"{c.tolerance:.0e}")
        (st.success if c.ok else st.error)(t("replay_ok" if c.ok else "replay_bad", **fmt))


def param_table(count: M.ParamCount) -> pd.DataFrame:
    return pd.DataFrame({
        t("col_part"): [t(f"part_{p.part}") for p in count.parts],
        t("col_formula"): [p.formula for p in count.parts],
        t("col_count"): [f"{p.count:,}" for p in count.parts],
    })


def pick(label: str, options: list, key: str, default, **kw):
    """A selectbox whose remembered choice is dropped when this sentence does not offer it, and
    checked on the server (a value set from outside the widget gets a message, not a traceback)."""
    if st.session_state.get(key) not in options:
        st.session_state[key] = default
    value = st.selectbox(label, options, key=key, **kw)
    if value not in options:
        st.error(t("err_bad_pick"))
        st.stop()
    return value
