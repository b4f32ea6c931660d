"""A learner's prompt as SmolLM2's byte-level BPE tokens: cleaned, bounded, and readable.

SmolLM2's tokenizer (GPT-2 style byte-level BPE) adds no BOS token: transformers' tokenizer built
from the GGUF file adds none (its post-processor is the bare sequence), and the GGUF file itself
says `tokenizer.ggml.add_bos_token = false`. So the ids here are exactly what the model reads.

Cleaning: control characters (Unicode category Cc, except newline and tab) and invisible format
characters (category Cf: zero-width space U+200B, non-joiner U+200C, joiner U+200D, BOM U+FEFF,
bidi marks …) are removed and counted; the page says how many.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from engine.data.text_clean import strip_invisible
from engine.limits import BOUNDS, MAX_PROMPT_CHARS, CodedError, check

KEPT_CONTROLS = frozenset("\n\t")
# How a piece shows the whitespace it holds: a visible space, newline and tab.
SPACE_MARK, NEWLINE_MARK, TAB_MARK = "␣", "↵", "⇥"


class PromptError(CodedError):
    """A prompt the model cannot read; `code` and `params` let a page translate it."""


@dataclass(frozen=True)
class CleanText:
    text: str
    removed: int  # control and zero-width characters taken out


@dataclass(frozen=True)
class PromptTokens:
    """The prompt as the model reads it: `ids[i]` is shown as `pieces[i]`."""

    ids: list[int]
    pieces: list[str]
    text: str  # the cleaned (and, if truncated, shortened) prompt: decode(ids)
    truncated: bool  # the prompt was longer than max_tokens (or MAX_PROMPT_CHARS) and was cut
    removed: int  # control and zero-width characters removed before tokenizing


def clean(text: str) -> CleanText:
    """Remove control characters (except newline and tab) and invisible format characters."""
    stripped = strip_invisible(text, keep="".join(sorted(KEPT_CONTROLS)))
    return CleanText(text=stripped.text, removed=stripped.count)


@lru_cache(maxsize=1)
def byte_decoder() -> dict[str, int]:
    """Byte-level BPE's alphabet back to bytes: GPT-2's bytes_to_unicode, inverted.

    The 188 printable bytes stand for themselves; the other 68 (space, controls, …) are shifted
    to U+0100 + n in order, which is why a space shows as 'Ġ' (U+0120) and a newline as 'Ċ'.
    """
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    chars, n = {}, 0
    for b in range(256):
        if b in printable:
            chars[b] = chr(b)
        else:
            chars[b] = chr(256 + n)
            n += 1
    return {c: b for b, c in chars.items()}


def readable(text: str) -> str:
    """Whitespace made visible: ' ' → ␣, newline → ↵, tab → ⇥."""
    return text.replace(" ", SPACE_MARK).replace("\n", NEWLINE_MARK).replace("\t", TAB_MARK)


def piece(tokenizer, token_id: int) -> str:
    """One token as a learner can read it: its text with whitespace made visible; a token
    holding part of a UTF-8 character (Chinese, emoji) shows its bytes, e.g. ⟨E4 BD⟩."""
    token = tokenizer.convert_ids_to_tokens(token_id)
    if token_id in tokenizer.all_special_ids:
        return token
    text = tokenizer.decode([token_id])
    if "\ufffd" not in text:
        return readable(text)
    decoder = byte_decoder()
    raw = bytes(decoder[c] for c in token if c in decoder)
    return "⟨" + " ".join(f"{b:02X}" for b in raw) + "⟩"


def prompt_tokens(tokenizer, text: str, max_tokens: int = BOUNDS["prompt_tokens"].high) -> PromptTokens:
    """The learner's `text` → cleaned, tokenized (no BOS: see the module's note), cut to
    `max_tokens`; raises PromptError("empty_prompt") when nothing is left to read."""
    check("prompt_tokens", max_tokens)
    cleaned = clean(text)
    body = cleaned.text[:MAX_PROMPT_CHARS]
    if not body.strip():
        raise PromptError("empty_prompt", "The prompt is empty.")
    ids = tokenizer.encode(body, add_special_tokens=False)
    truncated = len(ids) > max_tokens or len(cleaned.text) > MAX_PROMPT_CHARS
    ids = [int(i) for i in ids[:max_tokens]]
    return PromptTokens(ids=ids, pieces=[piece(tokenizer, i) for i in ids],
                        text=tokenizer.decode(ids), truncated=truncated, removed=cleaned.removed)
