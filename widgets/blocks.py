"""Small blocks every page uses: the engine's real source, and the check against PyTorch."""

from __future__ import annotations

import inspect

import streamlit as st

import lessons
from engine.limits import BOUNDS, LimitError, check
from widgets.i18n import T

TOLERANCE = 1e-6


def show_code(*functions) -> None:
    """An expander with the real source of the engine functions the page just ran."""
    t = T("common")
    with st.expander(t("show_code")):
        for fn in functions:
            st.code(inspect.getsource(fn), language="python")


def torch_check(delta: float, reference: str, dtype: str = "float64") -> None:
    """Report max |Δ| between our result and torch's (computed by the page, in `dtype`)."""
    t = T("common")
    st.metric(t("max_abs_diff", ref=reference), f"{delta:.2e}")
    if delta <= TOLERANCE:
        st.success(t("check_ok", delta=f"{delta:.1e}", ref=reference, dtype=dtype))
    else:
        st.error(t("check_bad", delta=f"{delta:.1e}", ref=reference))


def checked(t: T, name: str, value) -> int:
    """engine.limits.check on the server: the value, or a translated message and a stop
    (never a traceback) when a request bypasses the widget's own bounds."""
    try:
        return check(name, int(value))
    except LimitError as e:
        st.error(t.error(e))
        st.stop()


def localized_text_input(t: T, label: str, key: str, default_key: str, **kw) -> str:
    """A text box whose example follows the language: a box still holding another language's
    example gets this language's one (Streamlit keeps a keyed widget's value and ignores a new
    default); a sentence the learner typed is kept, also across a run that stopped before the box
    and across pages. `default_key` names the example in t's page."""
    defaults = {lang: lessons.text(t.page, default_key, lang) for lang in lessons.LANGS}
    kept = f"{key}__kept"  # Streamlit forgets a widget's value on a page it left
    value = st.session_state.get(key, st.session_state.get(kept, defaults[t.lang]))
    if value in set(defaults.values()) - {defaults[t.lang]}:
        value = defaults[t.lang]
    # set on every run: a box that a run stopped above did not draw comes back with its text
    # (the browser would otherwise show the widget's own default, empty)
    st.session_state[key] = value
    text = st.text_input(label, key=key, **kw)
    st.session_state[kept] = text
    return text


def guard(t: T, key: str, default, *, bound: str | None = None, high: int | None = None, options=None) -> None:
    """Check a control's value in session state before the control is drawn (session state can be
    set from code, past the widget's own bounds, and Streamlit would raise): a value outside
    engine.limits.BOUNDS[bound] (or above `high`), or not among `options`, gets a translated message
    and the default back. The page goes on."""
    if key not in st.session_state:
        st.session_state[key] = default
        return
    value = st.session_state[key]
    try:
        if bound is not None:
            check(bound, value)
            if high is not None and value > high:
                raise LimitError(bound, value, BOUNDS[bound].low, high)
        if options is not None and value not in options:
            st.error(t("err_choice", value=str(value)[:40], choices=", ".join(map(str, options))))
            st.session_state[key] = default
    except LimitError as e:
        st.error(t.error(e))
        st.session_state[key] = default


HAND_OFF_ICONS = {"back": ":material/arrow_back:", "next": ":material/arrow_forward:", "see": ":material/link:"}


def hand_off(*links: tuple[str, str, str]) -> None:
    """Links at the end of a page to the pages around it: (page path, its nav key in common.toml,
    "back" | "next" | "see"), labelled "Back: <title>", "Next: <title>" or "See also: <title>"."""
    t = T("common")
    for path, nav_key, kind in links:
        st.page_link(path, label=t(f"link_{kind}", title=t(nav_key)), icon=HAND_OFF_ICONS[kind])
