"""The current language and a per-page translator."""

from __future__ import annotations

import streamlit as st

import lessons

LANG_KEY = "lang"


def current_lang() -> str:
    lang = st.session_state.get(LANG_KEY, lessons.DEFAULT_LANG)
    return lang if lang in lessons.LANGS else lessons.DEFAULT_LANG


class T:
    """t = T("conv"); t("title"); t("out_size", n=28); t.section("intuition")."""

    def __init__(self, page: str):
        self.page = page

    @property
    def lang(self) -> str:
        return current_lang()

    def __call__(self, key: str, **fmt) -> str:
        return lessons.text(self.page, key, self.lang, **fmt)

    def section(self, name: str) -> str:
        return lessons.section(self.page, name, self.lang)

    def error(self, exc) -> str:
        """A translated message for an engine error carrying `code` and `params`."""
        code = getattr(exc, "code", None)
        params = dict(getattr(exc, "params", {}) or {})
        if code is None:
            return str(exc)
        if "name" in params:
            # the quantity's name in the learner's language, where the page names it
            name = lessons.text(self.page, f"name_{params['name']}", self.lang)
            if not name.startswith("⟦"):
                params["name"] = name
        return lessons.text(self.page, f"err_{code}", self.lang, **params)
