"""The SmolLM2 inside page's cached engine results (one entry per prompt) and small controls."""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from engine.limits import LimitError
from engine.models import smollm as lm
from engine.models.lm_prompt import PromptError, PromptTokens, piece, prompt_tokens
from engine.models.smollm_check import Comparison, compare
from engine.models.smollm_lens import LensTrace, ParamCount, param_count
from widgets import blocks
from widgets.i18n import T

t = T("smollm_inside")
MAX_TOKENS = 64  # the page's prompt bound: the lens grid stays readable, the lens stays ≤ 3 s
N_BLOCKS, N_HEADS, N_PAIRS = 30, 9, 32


@st.cache_resource(max_entries=4, show_spinner=False)  # ≈22 MB per 64-token trace (logits 12.6 MB)
def trace_for(_model, ids: tuple[int, ...]) -> lm.SmolTrace:
    """Our forward pass of one prompt, kept per prompt (≈0.4 s)."""
    return lm.forward(_model, list(ids))


@dataclass(frozen=True)
class LensView:
    lens: LensTrace
    pieces: list[list[str]]  # (L + 1, T): each top token as a learner reads it


@st.cache_resource(max_entries=8, show_spinner=False)
def lens_for(_model, _tokenizer, ids: tuple[int, ...]) -> LensView:
    """The logit lens of one prompt (≈2 s), with its top tokens spelled out."""
    from engine.models.smollm_lens import logit_lens

    lens = logit_lens(_model, trace_for(_model, ids))
    spelled = {i: piece(_tokenizer, i) for i in set(lens.top_id.flatten().tolist())}
    return LensView(lens, [[spelled[i] for i in row] for row in lens.top_id.tolist()])


@st.cache_resource(max_entries=1, show_spinner=False)
def params_for(_model) -> ParamCount:
    return param_count(_model)


@st.cache_resource(max_entries=8, show_spinner=False)
def compare_for(_reference, _model, ids: tuple[int, ...]) -> Comparison:
    """transformers' forward on the same ids, every gap to ours (≈1 s once the model is loaded)."""
    return compare(_reference, trace_for(_model, ids))


def read_prompt(tokenizer, text: str) -> PromptTokens:
    """The learner's prompt as tokens, or a translated message and a stop."""
    try:
        prompt = prompt_tokens(tokenizer, text, max_tokens=MAX_TOKENS)
    except (PromptError, LimitError) as exc:
        st.info(t.error(exc))
        st.stop()
    if prompt.truncated:
        st.warning(t("warn_truncated", n=MAX_TOKENS))
    if prompt.removed:
        st.warning(t("warn_removed", n=prompt.removed))
    return prompt


def clamp(key: str, low: int, high: int, default: int) -> None:
    """Keep a slider's remembered value inside a range that moves with the prompt's length."""
    value = st.session_state.get(key, default)
    if not isinstance(value, int) or not low <= value <= high:
        st.session_state[key] = min(max(default, low), high)


def pick(label: str, key: str, low: int, high: int, default: int, help: str | None = None) -> int:
    """A bounded integer slider, checked again on the server (a one-value range needs no slider)."""
    if low == high:
        return low
    clamp(key, low, high, default)
    value = int(st.slider(label, low, high, key=key, help=help))
    if not low <= value <= high:
        st.error(t("err_pick", low=low, high=high, value=value))
        st.stop()
    return value


def checked(name: str, value: int) -> int:
    return blocks.checked(t, name, value)
