"""The MiniLM encoder page's controls and cached work: the text boxes whose example follows the
language, the model run once per text (st.cache_resource), the figures once per text, pick and
language, the layer/head pickers a click on the model view sets, and the messages about what
was cleaned, cut or truncated."""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

import lessons
from engine.models import minilm_hf as mh
from engine.ops import head_stats as hs
from figures import real_encoder as fe
from widgets.i18n import T

t = T("minilm")
L, H = 6, 12  # MiniLM's layers and heads (the pickers' ranges; the figures read the trace's shape)
GRID_KEY = "enc_grid"


@dataclass(frozen=True)
class Analysis:
    """One text's trace and its per-head summaries."""

    trace: mh.EncoderTrace
    stats: hs.HeadStats


# ----- cached work (the reference is passed in, not hashed) ----------------------------------------


@st.cache_resource(show_spinner=False, max_entries=32)
def analyse(_ref, a: str, b: str | None) -> Analysis:
    tr = mh.run(_ref, a, b)
    return Analysis(trace=tr, stats=hs.head_stats(tr.attentions, tr.tokens.positions("[CLS]"),
                                                  tr.tokens.positions("[SEP]")))


@st.cache_resource(show_spinner=False, max_entries=32)
def compare(_ref, text: str) -> mh.Similarity:
    return mh.compare(_ref, text)


@st.cache_resource(show_spinner=False, max_entries=32)
def vocab_report(_ref, text: str) -> mh.VocabReport:
    return mh.vocab_report(_ref.tokenizer, text)


@st.cache_resource(show_spinner=False, max_entries=16)
def grid_figure(key: tuple, lang: str, _A, pick: tuple[int, int]):
    """The model view, once per text (`key`), pick and language."""
    return fe.model_view_figure(_A, pick, title=t("grid_title"), layer_word=t("layer_short"),
                                head_word=t("head_short"), hover=t("grid_hover"))


@st.cache_resource(show_spinner=False, max_entries=16)
def head_figures(key: tuple, lang: str, _an: Analysis, pick: tuple[int, int]) -> dict:
    """The head view and the six summary tables, once per text (`key`), pick and language."""
    tr, (l, h) = _an.trace, pick
    figs = {"head": fe.head_view_figure(tr.attentions[l, h], tr.tokens.pieces, title=t("head_title", l=l + 1, h=h + 1),
                                        x_title=t("key_axis"), y_title=t("query_axis"))}
    for name in hs.SUMMARIES:
        figs[name] = fe.summary_figure(_an.stats.get(name), pick, title=t(f"sum_title_{name}"),
                                       zmax=None if name == "entropy" else 1.0, layer_word=t("layer_short"),
                                       head_word=t("head_short"))
    return figs


# ----- controls ------------------------------------------------------------------------------------


def localized_text_area(label: str, key: str, default_key: str, **kw) -> str:
    """A text area whose example follows the language (as widgets.blocks.localized_text_input)."""
    defaults = {lang: lessons.text(t.page, default_key, lang) for lang in lessons.LANGS}
    if st.session_state.get(key) in set(defaults.values()) - {defaults[t.lang]}:
        st.session_state[key] = defaults[t.lang]
    st.session_state.setdefault(key, defaults[t.lang])
    return st.text_area(label, key=key, **kw)


def pick_of(points) -> tuple[int, int] | None:
    """The (layer, head), from 0, of the first selected tile marker (trace 1 of the model view)."""
    for point in points or []:
        if point.get("curve_number") == 1 and point.get("point_index") is not None:
            l, h = divmod(int(point["point_index"]), H)
            return (l, h) if 0 <= l < L else None
    return None


def _pick_from_grid() -> None:
    """A click on a tile of the model view sets the layer and head pickers (runs before the rerun,
    so the pickers may still be written)."""
    state = st.session_state.get(GRID_KEY) or {}
    pick = pick_of(state.get("selection", {}).get("points", []))
    if pick is not None:
        st.session_state["enc_layer"], st.session_state["enc_head"] = pick[0] + 1, pick[1] + 1


def pickers() -> tuple[int, int]:
    """The layer and head (from 0), checked on the server."""
    # the values live in session state only (a click on the model view writes them there); a default
    # passed to the slider as well makes Streamlit warn on every click
    st.session_state.setdefault("enc_layer", 1)
    st.session_state.setdefault("enc_head", 1)
    c_l, c_h = st.columns([1, 2])
    with c_l:
        l = st.slider(t("layer_label"), 1, L, key="enc_layer", help=t("layer_help"))
    with c_h:
        h = st.slider(t("head_label"), 1, H, key="enc_head", help=t("head_help"))
    if not (isinstance(l, int) and 1 <= l <= L and isinstance(h, int) and 1 <= h <= H):
        st.error(t("err_pick", L=L, H=H))
        st.stop()
    return l - 1, h - 1


def model_view(key: tuple, A, pick: tuple[int, int]) -> None:
    st.plotly_chart(grid_figure(key, t.lang, A, pick), key=GRID_KEY, on_select=_pick_from_grid,
                    selection_mode="points")


# ----- messages ------------------------------------------------------------------------------------


def text_notes(tr: mh.EncoderTrace) -> None:
    """Say what was removed, cut or truncated before the model saw the text."""
    removed = tr.a.removed + (tr.b.removed if tr.b else 0)
    cut = tr.a.cut + (tr.b.cut if tr.b else 0)
    if removed:
        st.info(t("note_removed", n=removed))
    if cut:
        st.warning(t("note_cut", n=cut, max=mh.MAX_CHARS))
    if tr.tokens.truncated:
        st.warning(t("note_truncated", n=tr.tokens.n_full, max=mh.MAX_TOKENS))


def similarity_notes(sim: mh.Similarity) -> None:
    if sim.removed:
        st.info(t("note_removed", n=sim.removed))
    if sim.cut:
        st.warning(t("note_cut", n=sim.cut, max=mh.MAX_CHARS))
    if sim.dropped:
        st.warning(t("note_dropped", n=sim.dropped, max=mh.MAX_SENTENCES))
    if any(sim.truncated):
        which = ", ".join(str(i + 1) for i, cut in enumerate(sim.truncated) if cut)
        st.warning(t("note_seq", which=which, max=mh.MAX_SEQ))


def vocab_note(report: mh.VocabReport, vocab_size: int) -> None:
    """What the vocabulary did with the text's CJK characters and unknown characters, measured."""
    if report.n_cjk == 0 and report.n_unk == 0:
        return
    pct = f"{100 * report.unk_fraction:.0f}"
    parts = []
    if report.n_cjk:
        parts.append(t("vocab_cjk", n_cjk=report.n_cjk, tokens=report.cjk_tokens, single=report.cjk_single,
                       vocab=f"{vocab_size:,}"))
    parts.append(t("vocab_unk", unk=report.n_unk, n=report.n_tokens, pct=pct))
    if report.known:
        parts.append(t("vocab_known", chars=" ".join(report.known[:20])))
    if report.unknown:
        parts.append(t("vocab_unknown", chars=" ".join(report.unknown[:20])))
    st.info(" ".join(parts))
