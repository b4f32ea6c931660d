"""Text a learner types, made safe to tokenize: the one home for removing what a reader cannot see.

Invisible characters are the Unicode categories Cc (control), Cf (format: zero-width space,
non-joiner and joiner U+200B–U+200D, bidi marks, the BOM U+FEFF), Cs (surrogates) and Co
(private use). The pages that read free text (the MiniLM pages, the SmolLM2 pages) remove them
before tokenizing and say how many went; tab and newlines are kept unless a caller says otherwise.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

INVISIBLE_CATEGORIES = ("Cc", "Cf", "Cs", "Co")
KEEP = "\t\n\r"


def invisible(ch: str, keep: str = KEEP) -> bool:
    """True for a character a reader cannot see (one of INVISIBLE_CATEGORIES), except `keep`."""
    return ch not in keep and unicodedata.category(ch) in INVISIBLE_CATEGORIES


@dataclass(frozen=True)
class Stripped:
    """The text without its invisible characters, and what was taken out."""

    text: str
    count: int  # how many characters were removed
    codes: tuple[str, ...]  # the distinct removed characters as "U+200B", sorted


def strip_invisible(raw: str, keep: str = KEEP) -> Stripped:
    """`raw` without invisible characters (tab and newlines kept unless `keep` says otherwise)."""
    raw = str(raw)
    gone = [c for c in raw if invisible(c, keep)]
    text = "".join(c for c in raw if not invisible(c, keep))
    return Stripped(text=text, count=len(gone), codes=tuple(sorted({f"U+{ord(c):04X}" for c in gone})))
