"""The next-token page's cached work and state: the next-token logits per prompt ids (one forward
of our engine, cached), the learner's sampling settings checked on the server, and the generated
continuation kept in st.session_state (kept across reruns and setting changes; cleared only when
the prompt's tokens change)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import streamlit as st
import torch

from engine.limits import BOUNDS, LimitError, check
from engine.models.lm_generate import GenStep, generate, last_logits, room_left
from engine.models.lm_prompt import PromptError, PromptTokens, piece, prompt_tokens
from engine.ops.sampling import SamplingError, SamplingSettings, settings
from widgets.i18n import T
from widgets.real_models import smollm_engine, smollm_tokenizer

t = T("smollm")
STATE = "lm_continuation"
DEFAULT_PROMPT = "The capital of France is"
# the end-of-sequence tokens: <|endoftext|> (0) and <|im_end|> (2)
EOS_IDS = (0, 2)


@st.cache_resource(show_spinner=False, max_entries=256)
def _logits(ids: tuple[int, ...], _model) -> torch.Tensor:
    """z for the token after `ids`: one forward of our engine, once per ids (≈0.5 s for 64 tokens)."""
    return last_logits(_model, ids)


def next_logits(ids: tuple[int, ...]) -> torch.Tensor:
    return _logits(ids, smollm_engine())


def read_prompt(text: str) -> PromptTokens | None:
    """The prompt's tokens, with a message for what was removed or cut; None (and a message) when
    nothing is left to read."""
    try:
        tokens = prompt_tokens(smollm_tokenizer(), text)
    except (PromptError, LimitError) as e:
        st.warning(t.error(e))
        return None
    if tokens.removed:
        st.info(t("removed_chars", n=tokens.removed))
    if tokens.truncated:
        st.warning(t("truncated", n=len(tokens.ids)))
    return tokens


def read_settings(T_value, use_k: bool, k_value, p_value) -> SamplingSettings:
    """The learner's settings, each checked on the server: a bad one gets a translated message
    and its step is left out (no cut) until it is fixed; nothing else is lost."""
    T_ok, k_ok, p_ok = 1.0, None, 1.0
    for name, value in (("T", T_value), ("top_k", int(k_value) if use_k else None), ("top_p", p_value)):
        try:
            settings(**{name: value})
        except SamplingError as e:
            st.error(t.error(e) + " " + t(f"ignored_{name}"))
            continue
        if name == "T":
            T_ok = float(value)
        elif name == "top_k":
            k_ok = value
        else:
            p_ok = float(value)
    return settings(T_ok, k_ok, p_ok)


@dataclass(frozen=True)
class Shown:
    """One generated token as the page lists it: the step, and the settings it was drawn with."""

    step: GenStep
    piece: str
    T: float
    top_k: int | None
    top_p: float
    seed: int


def continuation(prompt_ids: list[int]) -> list[Shown]:
    """The tokens generated after this prompt so far; a new prompt starts a new continuation."""
    kept = st.session_state.get(STATE)
    if not kept or kept["prompt"] != tuple(prompt_ids):
        st.session_state[STATE] = kept = {"prompt": tuple(prompt_ids), "shown": []}
    return [Shown(**{**row, "step": GenStep(**row["step"])}) for row in kept["shown"]]


def extend(prompt_ids: list[int], n: int, s: SamplingSettings, seed: int) -> None:
    """Generate n more tokens (a button's callback): bounded by what room is left."""
    done = continuation(prompt_ids)
    try:
        n = min(check("generate_tokens", int(n)), room_left(len(prompt_ids), len(done)))
        seed = check("seed", int(seed))
    except LimitError as e:
        st.session_state["lm_gen_error"] = t.error(e)
        return
    if n <= 0:
        return
    with st.spinner(t("generating", n=n), show_time=True):
        gen = generate(next_logits, prompt_ids, n, s, seed, done=[d.step.token_id for d in done], eos_ids=EOS_IDS)
    tok = smollm_tokenizer()
    rows = st.session_state[STATE]["shown"]
    for step in gen.steps:
        rows.append({"step": asdict(step), "piece": piece(tok, step.token_id), "T": s.T, "top_k": s.top_k,
                     "top_p": s.top_p, "seed": seed})


def clear(prompt_ids: list[int]) -> None:
    st.session_state[STATE] = {"prompt": tuple(prompt_ids), "shown": []}


def generate_bound() -> int:
    return BOUNDS["generate_tokens"].high
