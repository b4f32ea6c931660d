"""The pretrained models, loaded once per server (st.cache_resource), lazily, with a spinner that
says what is happening; a missing model package is a translated message and st.stop(), so the
rest of the app keeps working.

Pages call these and never engine/models/pretrained.py's loaders directly:
    minilm_reference()  transformers' MiniLM (tokenizer, model)            ≈5 s cold, ≈0.1 GB
    smollm_tokenizer()  SmolLM2's BPE tokenizer, from the GGUF file        ≈7 s cold
    smollm_engine()     SmolLM2's weights for our own engine (engine.models.smollm.load)
    smollm_reference()  transformers' LlamaForCausalLM from the GGUF file  ≈25 s cold, ≈0.6 GB
"""

from __future__ import annotations

import streamlit as st

from engine.models import pretrained
from widgets.i18n import T


@st.cache_resource(show_spinner=False, max_entries=1)
def _minilm_reference():
    return pretrained.minilm_reference()


@st.cache_resource(show_spinner=False, max_entries=1)
def _smollm_tokenizer():
    return pretrained.smollm_tokenizer()


@st.cache_resource(show_spinner=False, max_entries=1)
def _smollm_engine():
    from engine.models import smollm

    return smollm.load()


@st.cache_resource(show_spinner=False, max_entries=1)
def _smollm_reference():
    return pretrained.smollm_reference(_smollm_tokenizer())


def _load(loader, key: str):
    t = T("common")
    try:
        with st.spinner(t(key), show_time=True):
            return loader()
    except pretrained.ModelMissing as exc:
        st.error(t.error(exc))
        st.stop()


def minilm_reference():
    return _load(_minilm_reference, "real_loading_minilm")


def smollm_tokenizer():
    return _load(_smollm_tokenizer, "real_loading_smollm_tokenizer")


def smollm_engine():
    return _load(_smollm_engine, "real_loading_smollm")


def smollm_reference():
    return _load(_smollm_reference, "real_loading_smollm_reference")
