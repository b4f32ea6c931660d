"""The positional-encoding page's controls and its last experiment: sliders kept inside the page's
ranges, the example sentence that follows the language, the sentence's tokens (cut to the page's
bound with a note), and self-attention on the sentence shuffled, without and with PE."""

from __future__ import annotations

import streamlit as st

from engine.data.tokens import TokenError, tokenize
from engine.limits import BOUNDS
from engine.ops.positional import order_study
from figures.positional import plain, weights_figure
from widgets import blocks
from widgets.i18n import T

t = T("positional")
L_MIN, L_MAX, L_DEFAULT = 8, 128, 64
D_MIN, D_MAX, D_DEFAULT = 8, 128, 64
K_MIN, K_MAX, K_DEFAULT = 1, 64, 3
SEED_MAX = 9999
MAX_TOKENS = 16  # tokens shown in the attention section (the engine allows more)
MAX_CHARS = 300
EMBED_SEED = 0
ROW_PAIRS = 3  # pairs of PE[pos] written out
WAVE_PAIRS = (0, 4, 8)  # pairs drawn by default


def checked(name: str, value: int) -> int:
    return blocks.checked(t, name, value)


def bounded(name: str, value, low: int, high: int) -> int:
    """engine.limits' check, then this page's own (narrower) range: a message and a stop outside it."""
    value = checked(name, value)
    if not low <= value <= high:
        st.error(t("err_limit", name=t(f"name_{name}"), low=low, high=high, value=value))
        st.stop()
    return value


def clamp(key: str, low: int, high: int, default: int) -> None:
    """Keep a slider's remembered value inside its (new) range before the slider is drawn."""
    st.session_state[key] = min(max(int(st.session_state.get(key, default)), low), high)


def valid_seed(seed) -> int:
    """A seed box's value; outside 0 … SEED_MAX (set from outside the widget) it stops with a message."""
    if not 0 <= int(seed) <= SEED_MAX:
        st.error(t("err_seed", high=SEED_MAX))
        st.stop()
    return int(seed)


def localized_text_input(label: str, key: str, default_key: str, **kw) -> str:
    """The shared language-following text box (widgets.blocks) with this page's examples."""
    return blocks.localized_text_input(t, label, key, default_key, **kw)


def bump_shuffle() -> None:
    st.session_state["pe_shuffle"] = (int(st.session_state.get("pe_shuffle", 0)) + 1) % (SEED_MAX + 1)


def first_tokens(text: str) -> list[str] | None:
    """The sentence's tokens, or None when it has none; a warning when they are cut."""
    try:
        tokens = tokenize(text)
    except TokenError as e:
        if e.code != "too_many_tokens":
            return None
        st.warning(t.error(e) + " " + t("cut_to", max=MAX_TOKENS))
        # every token is at least one character: a prefix this long cannot hold too many
        tokens = tokenize(text[: BOUNDS["tokens"].high])
        return tokens[:MAX_TOKENS]
    if len(tokens) > MAX_TOKENS:
        st.warning(t("too_long", n=len(tokens), max=MAX_TOKENS, kept=" ".join(tokens[:MAX_TOKENS])))
        tokens = tokens[:MAX_TOKENS]
    return tokens


def order_section(d: int) -> float | None:
    """Self-attention on the learner's sentence and on a shuffle of it, without and with PE.
    Returns the torch check (max |Δ| against nn.MultiheadAttention), or None."""
    st.header(t("order_header"))
    st.markdown(t.section("order"))
    st.latex(r"\begin{aligned} \mathrm{Attn}(X) &= \mathrm{softmax}\big(XW_Q^{\top}\,W_K X^{\top}/\sqrt{d}\big)\,XW_V^{\top} \\"
             r" \mathrm{Attn}(PX) &= \mathrm{softmax}\big(P\,XW_Q^{\top}\,W_K X^{\top}P^{\top}/\sqrt{d}\big)\,PXW_V^{\top} \\"
             r" &= P\,\mathrm{Attn}(X) \end{aligned}")
    c_text, c_seed, c_btn = st.columns([3, 1, 1], vertical_alignment="bottom")
    with c_text:
        raw = localized_text_input(t("text_label"), "pe_text", "text_default", max_chars=MAX_CHARS,
                                   help=t("text_help", max=MAX_TOKENS))
    with c_seed:
        # no value=: "shuffle again" sets the key through session state, and a default as well
        # would make Streamlit warn
        st.session_state.setdefault("pe_shuffle", 1)
        shuffle_seed = st.number_input(t("shuffle_label"), 0, SEED_MAX, step=1, key="pe_shuffle")
    with c_btn:
        st.button(t("shuffle_button"), key="pe_shuffle_again", on_click=bump_shuffle)
    if not 0 <= int(shuffle_seed) <= SEED_MAX:
        st.error(t("err_seed", high=SEED_MAX))
        return None
    tokens = first_tokens((raw or "")[:MAX_CHARS])
    if tokens is None:
        st.info(t("empty"))
        return None
    T_ = checked("tokens", len(tokens))
    study = order_study(tokens, d, int(shuffle_seed), EMBED_SEED)
    st.markdown(t("shuffled", original=" ".join(tokens), shuffled=" ".join(study.shuffled), T=T_, d=d))
    st.caption(t("projections", seed=EMBED_SEED))
    if T_ == 1:
        st.info(t("one_token"))
    for tr, kind in ((study.bare, "bare"), (study.with_pe, "pe")):
        st.subheader(t(f"order_{kind}_header"))
        c_a, c_b = st.columns(2)
        with c_a:
            st.plotly_chart(weights_figure(tr.attn.weights, tokens, title=t("fig_order_in"), x_title=t("axis_key"),
                                           y_title=t("axis_query")), key=f"pe_fig_{kind}_in")
        with c_b:
            st.plotly_chart(weights_figure(tr.attn_shuffled.weights, study.shuffled, title=t("fig_order_shuffled"),
                                           x_title=t("axis_key"), y_title=t("axis_query")), key=f"pe_fig_{kind}_shuffled")
        st.metric(t("order_metric"), plain(tr.delta))
        if T_ > 1:
            st.caption(t(f"order_{kind}_note", delta=plain(tr.delta)))
    tw = study.twins
    if tw is not None:
        st.markdown(t("twins", tok=tw.token, a=tw.a, b=tw.b, bare=plain(tw.gap_bare), pe=plain(tw.gap_pe)))
    return study.torch_delta
