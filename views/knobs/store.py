"""Once-per-server results computed with a progress bar (the training-knobs page's heavy studies).

Kept apart from parts.py (which imports the digit widget) so a test can seed a small result."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import streamlit as st


@dataclass(frozen=True)
class Timed:
    """A result and the seconds it took to compute."""

    value: object
    seconds: float


@st.cache_resource(show_spinner=False)
def store() -> dict:
    """name → Timed, shared by every session of this server; "lock" guards the first computation."""
    return {"lock": threading.Lock()}


def once(name: str, compute: Callable[[Callable[[float], None]], object], message: str) -> Timed:
    """compute(progress) once per server; the session that runs it shows a progress bar meanwhile
    (another session arriving then waits for it, then reads the result)."""
    kept = store()
    with kept["lock"]:
        if name not in kept:
            bar = st.progress(0.0, text=message)
            start = time.perf_counter()
            value = compute(lambda f: bar.progress(min(max(float(f), 0.0), 1.0), text=message))
            kept[name] = Timed(value, time.perf_counter() - start)
            bar.empty()
    return kept[name]
