"""A learner's sentence as tokens and small embedding vectors, for the attention lessons.

Tokens: words, with punctuation marks as tokens of their own; Chinese (CJK) text, which has no
spaces, is split into single characters. Embeddings: seeded, not trained. Every distinct token
gets its own vector drawn from N(0, 1) by a generator seeded with (seed, the token's text), so

- the same token gets the same vector wherever it appears in the sentence (and in any sentence),
- nothing is downloaded or trained, and the numbers are small enough to check by hand.

The attention patterns that follow therefore show what the *math* does with these vectors (for
example, a repeated word attends strongly to itself), not learned meaning: the training lab trains
a model where heads learn a task.
"""

from __future__ import annotations

import re
import unicodedata
import zlib

import torch

from engine.limits import CodedError, check

# a CJK ideograph alone; a run of other word characters; any other visible character alone
TOKEN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]|[^\W\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+|[^\w\s]")


class TokenError(CodedError):
    """Text that cannot become a sequence; `code` and `params` let a page translate it."""


def tokenize(text: str) -> list[str]:
    """'The cat sat.' → ['The', 'cat', 'sat', '.']; '我爱你' → ['我', '爱', '你'].
    Raises TokenError("no_tokens") for empty or blank text and TokenError("too_many_tokens") past
    BOUNDS["tokens"] (the bound is checked before any vector is made)."""
    if not isinstance(text, str):
        raise TokenError("no_tokens", "The text must be a string.")
    # invisible format and control characters (zero-width spaces, bidi marks) are not tokens
    visible = "".join(ch for ch in text if ch.isspace() or unicodedata.category(ch) not in ("Cf", "Cc"))
    tokens = TOKEN.findall(visible)
    if not tokens:
        raise TokenError("no_tokens", "The text has no words: type a sentence.")
    try:
        check("tokens", len(tokens))
    except ValueError as exc:
        raise TokenError("too_many_tokens", str(exc), n=len(tokens), high=exc.params["high"]) from exc
    return tokens


def token_vector(token: str, d_model: int, seed: int) -> torch.Tensor:
    """The token's embedding, (d_model,) float64 from N(0, 1): a generator seeded with the seed and
    the token, mixed by CRC-32 (stable across runs and machines, unlike hash())."""
    check("d_model", d_model)
    # torch's CPU generator keeps 32 bits of a seed: mix the seed into the CRC instead of adding it
    gen = torch.Generator().manual_seed(zlib.crc32(f"{int(seed)}\x00{token}".encode()))
    return torch.randn(d_model, generator=gen, dtype=torch.float64)


def embed(tokens: list[str], d_model: int, seed: int) -> torch.Tensor:
    """X (T, d_model): row t is token_vector(tokens[t]); equal tokens give equal rows."""
    check("tokens", len(tokens))
    check("d_model", d_model)
    return torch.stack([token_vector(tok, d_model, seed) for tok in tokens])
