"""The learner's text for MiniLM: invisible characters taken out (with a note of which), the
length bounded (engine/limits.py: minilm_chars, minilm_tokens), and the WordPiece ids of a
sentence, a sentence pair or a padded batch, with the pieces and the truncation said."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from engine.data.text_clean import strip_invisible
from engine.limits import BOUNDS, CodedError, check

MAX_CHARS = BOUNDS["minilm_chars"].high
MAX_TOKENS = BOUNDS["minilm_tokens"].high


class TextError(CodedError):
    """Text the model cannot read; `code` and `params` let a page translate it."""


@dataclass(frozen=True)
class CleanText:
    text: str
    removed: tuple[str, ...]  # the invisible characters taken out, as "U+200B"
    cut: int  # characters dropped past MAX_CHARS (0: none)


def clean_text(raw: str, max_chars: int = MAX_CHARS) -> CleanText:
    """The text without invisible characters, cut to max_chars; TextError("empty_text") if
    nothing visible is left."""
    check("minilm_chars", max_chars)
    stripped = strip_invisible(raw)
    removed, text = stripped.codes, stripped.text
    cut = max(0, len(text) - max_chars)
    text = text[:max_chars]
    if not text.strip():
        raise TextError("empty_text", "the text is empty: type a sentence")
    return CleanText(text, tuple(removed), cut)


@dataclass(frozen=True)
class Encoded:
    """Token ids for a batch: every tensor (B, T); tokens are the WordPiece pieces, [PAD] included."""

    input_ids: torch.Tensor
    token_type_ids: torch.Tensor
    attention_mask: torch.Tensor  # bool, True = real token
    tokens: tuple[tuple[str, ...], ...]
    full_lengths: tuple[int, ...]  # each item's token count before truncation

    @property
    def T(self) -> int:
        return int(self.input_ids.shape[1])

    @property
    def lengths(self) -> tuple[int, ...]:
        return tuple(int(n) for n in self.attention_mask.sum(1))

    @property
    def truncated(self) -> bool:
        return any(f > n for f, n in zip(self.full_lengths, self.lengths))


def encode(tokenizer, texts: str | Sequence[str], pairs: Sequence[str | None] | None = None,
           max_tokens: int = MAX_TOKENS) -> Encoded:
    """[CLS] text [SEP] (text_b [SEP]) for each item, padded to the longest, cut to max_tokens."""
    check("minilm_tokens", max_tokens)
    texts = [texts] if isinstance(texts, str) else list(texts)
    pairs = [None] * len(texts) if pairs is None else list(pairs)
    if len(pairs) != len(texts):
        raise ValueError(f"{len(texts)} texts but {len(pairs)} pairs")
    full = tuple(len(tokenizer(a, b)["input_ids"]) for a, b in zip(texts, pairs))
    rows = [tokenizer(a, b, truncation=True, max_length=max_tokens) for a, b in zip(texts, pairs)]
    T = max(len(r["input_ids"]) for r in rows)

    def padded(key: str, fill: int) -> torch.Tensor:
        return torch.tensor([r[key] + [fill] * (T - len(r[key])) for r in rows])

    ids = padded("input_ids", tokenizer.pad_token_id)
    tokens = tuple(tuple(tokenizer.convert_ids_to_tokens(row.tolist())) for row in ids)
    return Encoded(ids, padded("token_type_ids", 0), padded("attention_mask", 0).bool(), tokens, full)


def decode(tokenizer, encoded: Encoded, item: int = 0) -> str:
    """What the model read, back as text: the pieces joined, special tokens and padding left out
    (lower-cased and accents stripped, as this uncased vocabulary sees it)."""
    ids = encoded.input_ids[item][encoded.attention_mask[item]].tolist()
    return tokenizer.decode(ids, skip_special_tokens=True, clean_up_tokenization_spaces=True)
