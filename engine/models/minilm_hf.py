"""all-MiniLM-L6-v2 through transformers, on the learner's text: the WordPiece pieces, every
layer's and head's attention weights, the hidden states and the sentence embedding.

The reference (engine.models.pretrained.minilm_reference(): tokenizer + BertModel, eager
attention, eval) is passed in: this module loads nothing and never imports streamlit.

Text is cleaned before the tokenizer sees it: control characters (Unicode Cc, line breaks become
spaces) and format characters (Cf: zero-width spaces and joiners, the byte-order mark, bidi
controls) are removed and counted; text past a character bound is cut, and a sentence (or pair)
past a token bound is truncated by the tokenizer. Every cut is recorded in the trace so the page
can say so. Empty text raises EncoderError (code "empty_text").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from engine.data.text_clean import strip_invisible
from engine.limits import BOUNDS, CodedError, check
from engine.ops.sentence_embedding import SentenceEmbedding, cosine_matrix, sentence_embedding

MAX_CHARS = BOUNDS["minilm_chars"].high  # characters read from one sentence
MAX_TOKENS = BOUNDS["minilm_tokens"].high  # the attention view: pieces with [CLS] and [SEP]
MAX_SENTENCES = BOUNDS["minilm_sentences"].high  # sentences compared by cosine similarity
MAX_SEQ = BOUNDS["minilm_seq"].high  # sentence_bert_config.json's max_seq_length
UNK = "[UNK]"


class EncoderError(CodedError):
    """A learner's text the encoder cannot take; `code` and `params` let a page translate it."""


# ----- cleaning the learner's text -------------------------------------------------------------


@dataclass(frozen=True)
class CleanText:
    """The text the tokenizer gets, and what was taken out of the typed text."""

    text: str
    removed: int  # control and zero-width (format) characters removed
    cut: int  # characters cut off past the bound


def clean_text(raw: str, max_chars: int = MAX_CHARS) -> CleanText:
    """Control (Cc) and format (Cf) characters removed, whitespace collapsed at the ends, the
    text cut at `max_chars`; EncoderError("empty_text") when nothing is left."""
    check("minilm_chars", max_chars)
    stripped = strip_invisible(raw)
    removed = stripped.count
    # tab and line breaks read as spaces: one sentence per box
    text = stripped.text.translate({ord(c): " " for c in "\t\n\r"}).strip()
    if not text:
        raise EncoderError("empty_text", "There is no text to encode.")
    cut = max(0, len(text) - max_chars)
    return CleanText(text=text[:max_chars].rstrip(), removed=removed, cut=cut)


# ----- tokens ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tokens:
    """One sentence (or pair) as WordPiece tokens: [CLS] A [SEP] (B [SEP])."""

    pieces: tuple[str, ...]  # '##' starts a piece that continues the word before it
    ids: torch.Tensor  # (T,) vocabulary ids
    token_type_ids: torch.Tensor  # (T,) 0 for [CLS] A [SEP], 1 for B [SEP]
    special: tuple[bool, ...]  # [CLS], [SEP]
    n_full: int  # tokens before truncation

    @property
    def T(self) -> int:
        return len(self.pieces)

    @property
    def truncated(self) -> bool:
        return self.n_full > self.T

    def positions(self, piece: str) -> list[int]:
        return [i for i, p in enumerate(self.pieces) if p == piece]


def tokenize(tokenizer, a: str, b: str | None = None, max_tokens: int = MAX_TOKENS) -> Tokens:
    """The pieces of a (and b) with the special tokens, truncated to max_tokens (the longer
    sentence of a pair loses its last pieces first)."""
    check("minilm_tokens", max_tokens)
    n_full = len(tokenizer(a, b)["input_ids"])
    enc = tokenizer(a, b, truncation=True, max_length=max_tokens, return_special_tokens_mask=True)
    ids = list(enc["input_ids"])
    return Tokens(pieces=tuple(tokenizer.convert_ids_to_tokens(ids)), ids=torch.tensor(ids),
                  token_type_ids=torch.tensor(list(enc["token_type_ids"])),
                  special=tuple(bool(s) for s in enc["special_tokens_mask"]), n_full=n_full)


# ----- the forward pass ------------------------------------------------------------------------


@dataclass(frozen=True)
class EncoderTrace:
    """The model on one sentence (or pair): attentions (L, H, T, T), hidden states (L + 1, T, d)
    (the embeddings' output first), and the pooled, normalised sentence embedding."""

    a: CleanText
    b: CleanText | None
    tokens: Tokens
    attentions: torch.Tensor  # (L, H, T, T) float32, rows sum to 1
    hidden: torch.Tensor  # (L + 1, T, d) float32
    pooled: SentenceEmbedding  # from hidden[-1] in float64, batch of one

    @property
    def embedding(self) -> torch.Tensor:
        """e = u / ‖u‖₂, (d,) float64."""
        return self.pooled.e[0]


def _forward(model, ids: torch.Tensor, token_type_ids: torch.Tensor, mask: torch.Tensor):
    """The model on one batch, on whatever device its weights are; attentions and hidden states
    come back on the CPU."""
    device = next(model.parameters()).device
    with torch.inference_mode():
        out = model(input_ids=ids.to(device), token_type_ids=token_type_ids.to(device),
                    attention_mask=mask.to(device), output_attentions=True, output_hidden_states=True)
    return _Outputs(attentions=tuple(a.cpu() for a in out.attentions),
                    hidden_states=tuple(h.cpu() for h in out.hidden_states))


@dataclass(frozen=True)
class _Outputs:
    attentions: tuple[torch.Tensor, ...]  # L × (B, H, T, T)
    hidden_states: tuple[torch.Tensor, ...]  # (L + 1) × (B, T, d)

    @property
    def last_hidden_state(self) -> torch.Tensor:
        return self.hidden_states[-1]


def run(ref, text_a: str, text_b: str | None = None, max_tokens: int = MAX_TOKENS) -> EncoderTrace:
    """MiniLM on the learner's sentence (and an optional second one, as a pair)."""
    a = clean_text(text_a)
    b = clean_text(text_b) if text_b is not None else None
    tokens = tokenize(ref.tokenizer, a.text, b.text if b else None, max_tokens)
    ids, types = tokens.ids[None], tokens.token_type_ids[None]  # (1, T)
    mask = torch.ones_like(ids)
    out = _forward(ref.model, ids, types, mask)
    # (L, 1, H, T, T) → (L, H, T, T)
    A = torch.stack(out.attentions)[:, 0]
    # (L + 1, 1, T, d) → (L + 1, T, d)
    hidden = torch.stack(out.hidden_states)[:, 0]
    pooled = sentence_embedding(hidden[-1:].double(), mask.double())
    return EncoderTrace(a=a, b=b, tokens=tokens, attentions=A.float(), hidden=hidden.float(), pooled=pooled)


# ----- several sentences, compared -------------------------------------------------------------


@dataclass(frozen=True)
class Similarity:
    """Sentences (one a line) embedded as one padded batch, and their cosine matrix."""

    sentences: tuple[str, ...]
    n_tokens: tuple[int, ...]  # each sentence's tokens, with [CLS] and [SEP], after truncation
    truncated: tuple[bool, ...]  # cut at MAX_SEQ tokens
    n_unk: tuple[int, ...]  # each sentence's [UNK] tokens
    dropped: int  # lines past MAX_SENTENCES, left out
    removed: int  # control and zero-width characters removed, over all lines
    cut: int  # characters cut off past the bound, over all lines
    hidden: torch.Tensor  # the last layer's token vectors, (n, T_max, d) float64, padding included
    mask: torch.Tensor  # (n, T_max): 1 for a real token, 0 for padding
    pooled: SentenceEmbedding  # (n, d) float64
    cos: torch.Tensor  # (n, n) float64


def split_sentences(text: str, max_sentences: int = MAX_SENTENCES) -> tuple[list[CleanText], int]:
    """The non-empty lines of `text`, cleaned; the first max_sentences of them, and how many
    more there were. EncoderError("empty_text") when no line has text."""
    check("minilm_sentences", max_sentences)
    lines = []
    for line in str(text).splitlines():
        try:
            lines.append(clean_text(line))
        except EncoderError:
            continue
    if not lines:
        raise EncoderError("empty_text", "There is no sentence to encode.")
    return lines[:max_sentences], max(0, len(lines) - max_sentences)


def compare(ref, text: str, max_sentences: int = MAX_SENTENCES, max_seq: int = MAX_SEQ) -> Similarity:
    """Every line of `text` through MiniLM as one padded batch; mean pooling over the attention
    mask (padding excluded), L2 normalisation, and the cosine of every pair."""
    check("minilm_seq", max_seq)
    lines, dropped = split_sentences(text, max_sentences)
    sentences = [c.text for c in lines]
    full = [len(ids) for ids in ref.tokenizer(sentences)["input_ids"]]
    enc = ref.tokenizer(sentences, padding=True, truncation=True, max_length=max_seq, return_tensors="pt")
    out = _forward(ref.model, enc["input_ids"], enc["token_type_ids"], enc["attention_mask"])
    H, mask = out.last_hidden_state.double(), enc["attention_mask"]
    pooled = sentence_embedding(H, mask)
    n_tokens = tuple(int(n) for n in enc["attention_mask"].sum(dim=1))
    n_unk = tuple(int(n) for n in ((enc["input_ids"] == ref.tokenizer.unk_token_id) & (mask == 1)).sum(dim=1))
    return Similarity(sentences=tuple(sentences), n_tokens=n_tokens,
                      truncated=tuple(f > n for f, n in zip(full, n_tokens)), n_unk=n_unk, dropped=dropped,
                      removed=sum(c.removed for c in lines), cut=sum(c.cut for c in lines),
                      hidden=H, mask=mask, pooled=pooled, cos=cosine_matrix(pooled.e))


# ----- what an English vocabulary does with Chinese ---------------------------------------------


def is_cjk(ch: str) -> bool:
    """A CJK ideograph: the ranges BERT's tokenizer splits off one character at a time
    (tokenize_chinese_chars)."""
    cp = ord(ch)
    return any(lo <= cp <= hi for lo, hi in _CJK_RANGES)


_CJK_RANGES = ((0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F),
               (0x2B740, 0x2B81F), (0x2B820, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F))


@dataclass(frozen=True)
class VocabReport:
    """How the tokenizer treated the CJK characters of a text, counted from its own output."""

    n_tokens: int  # tokens of the text, without [CLS] and [SEP]
    n_unk: int  # of them [UNK]
    n_cjk: int  # CJK characters in the text
    cjk_tokens: int  # tokens whose span covers a CJK character
    cjk_single: int  # of them, spans of exactly one character
    unknown: tuple[str, ...]  # distinct characters (or spans) that became [UNK], in order
    known: tuple[str, ...]  # distinct CJK characters the vocabulary has, in order

    @property
    def unk_fraction(self) -> float:
        return self.n_unk / self.n_tokens if self.n_tokens else 0.0


def vocab_report(tokenizer, text: str) -> VocabReport:
    """Tokenize `text` (no special tokens) and read, from each token's character span, what
    became of the CJK characters: own tokens or not, in the vocabulary or [UNK]."""
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    pieces = tokenizer.convert_ids_to_tokens(list(enc["input_ids"]))
    spans = [text[s:e] for s, e in enc["offset_mapping"]]
    cjk = [(p, s) for p, s in zip(pieces, spans) if any(is_cjk(c) for c in s)]
    return VocabReport(
        n_tokens=len(pieces), n_unk=sum(p == UNK for p in pieces), n_cjk=sum(is_cjk(c) for c in text),
        cjk_tokens=len(cjk), cjk_single=sum(len(s) == 1 for _, s in cjk),
        unknown=_distinct(s for p, s in zip(pieces, spans) if p == UNK),
        known=_distinct(s for p, s in cjk if p != UNK))


def _distinct(items) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


def embedding_gap(H: torch.Tensor, mask: torch.Tensor, e: torch.Tensor) -> float:
    """max |Δ| between e and sentence-transformers' own formula written with torch's ops:
    F.normalize(Σ_t m_t h_t / clamp(Σ_t m_t, 1e-9))."""
    m = mask.to(H.dtype).unsqueeze(-1)
    reference = torch.nn.functional.normalize((H * m).sum(1) / m.sum(1).clamp(min=1e-9), p=2, dim=1)
    return float((reference - e).abs().max())


def similarity_gap(sim: Similarity) -> float:
    """max |Δ| of our embeddings against sentence-transformers' formula (embedding_gap), and of
    our cosine matrix against F.cosine_similarity of every pair."""
    e = sim.pooled.e
    reference = torch.nn.functional.cosine_similarity(e[:, None, :], e[None, :, :], dim=-1)
    return max(embedding_gap(sim.hidden, sim.mask, e), float((reference - sim.cos).abs().max()))


def trace_gap(tr: EncoderTrace) -> float:
    """embedding_gap for one sentence (or pair): every mask entry is 1."""
    H = tr.hidden[-1:].double()  # (1, T, d)
    return embedding_gap(H, torch.ones(H.shape[:2], dtype=H.dtype), tr.pooled.e)


@dataclass(frozen=True)
class Pair:
    """Two different sentences (counted from 0) and their cosine."""

    i: int
    j: int
    cos: float


def closest_pair(cos: torch.Tensor) -> Pair | None:
    """The pair i < j with the largest cosine (None for fewer than two sentences)."""
    n = cos.shape[0]
    if n < 2:
        return None
    upper = torch.ones(n, n, dtype=torch.bool).triu(1)
    idx = int(torch.where(upper, cos, torch.full_like(cos, -torch.inf)).argmax())
    i, j = divmod(idx, n)
    return Pair(i=i, j=j, cos=float(cos[i, j]))


def pieces_of(tokens: Tokens, kinds: Sequence[str] = ("special", "continuation", "word")) -> dict[str, int]:
    """How many pieces are special tokens, '##' continuations, and word starts."""
    counts = dict.fromkeys(kinds, 0)
    for piece, special in zip(tokens.pieces, tokens.special):
        kind = "special" if special else "continuation" if piece.startswith("##") else "word"
        counts[kind] = counts.get(kind, 0) + 1
    return counts
