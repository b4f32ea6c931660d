"""Shared AppTest helpers for the page tests (not a test module)."""

from __future__ import annotations

import base64
from pathlib import Path

import numpy as np
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[2]


def open_page(page: str, lang: str = "en", **state) -> AppTest:
    """Run the app and switch to `page` (e.g. "views/rnn.py") in `lang`, with no exception.

    The language and any other session state go in before the first run: AppTest drops a
    sidebar widget's value set with set_value() on later runs (a real browser keeps it).
    """
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=30)
    at.session_state["lang"] = lang
    for key, value in state.items():
        at.session_state[key] = value
    at.run()
    at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def plotly_array(v) -> np.ndarray:
    """A plotly JSON array as floats: a list, or a typed array {dtype, bdata (base64), shape}."""
    if isinstance(v, dict) and "bdata" in v:
        a = np.frombuffer(base64.b64decode(v["bdata"]), dtype=np.dtype(v["dtype"]))
        shape = v.get("shape")
        if shape:
            a = a.reshape([int(n) for n in str(shape).split(",")])
        return a.astype(float)
    return np.asarray(v, dtype=float)
