"""Lesson text and UI strings in every language, and the loader pages use.

- UI strings: lessons/ui/<page>.toml, one table per key with `en` and `zh` side by side.
- Lesson prose: lessons/<lang>/<page>.md, split into sections by `<!-- section: name -->` lines.
"""

from __future__ import annotations

import re
import tomllib
from functools import cache
from pathlib import Path

HERE = Path(__file__).resolve().parent
LANGS = {"en": "English", "zh": "简体中文"}
DEFAULT_LANG = "en"
_SECTION = re.compile(r"^<!--\s*section:\s*([\w-]+)\s*-->\s*$", re.MULTILINE)
# A line break inside Chinese prose: markdown would render it as a stray space between characters.
_CJK = "\u3000-\u303f\u4e00-\u9fff\uff00-\uffef"
_CJK_SOFT_BREAK = re.compile(rf"(?<=[{_CJK}])[ \t]*\n[ \t]*(?=[{_CJK}])")


@cache
def ui_strings(page: str) -> dict[str, dict[str, str]]:
    """All UI strings of a page: key → {lang: text}."""
    path = HERE / "ui" / f"{page}.toml"
    if not path.exists():
        return {}
    with path.open("rb") as f:
        return tomllib.load(f)


def text(page: str, key: str, lang: str, **fmt) -> str:
    """One UI string in `lang`, looked up in the page's file then in common.toml.

    A missing key shows as ⟦page:key⟧ so it is seen (and a test fails), never silently.
    """
    for source in (page, "common"):
        entry = ui_strings(source).get(key)
        if entry is not None:
            s = entry.get(lang) or entry.get(DEFAULT_LANG, "")
            return s.format(**fmt) if fmt else s
    return f"⟦{page}:{key}⟧"


@cache
def lesson(page: str, lang: str) -> dict[str, str]:
    """Sections of a lesson's markdown: name → markdown text."""
    path = HERE / lang / f"{page}.md"
    if not path.exists():
        return {}
    source = _CJK_SOFT_BREAK.sub("", path.read_text(encoding="utf-8"))
    parts = _SECTION.split(source)
    # parts = [preamble, name1, body1, name2, body2, ...]
    return {parts[i]: parts[i + 1].strip() for i in range(1, len(parts) - 1, 2)}


def section(page: str, name: str, lang: str) -> str:
    s = lesson(page, lang).get(name)
    return s if s is not None else f"⟦{page}/{lang}.md:{name}⟧"
