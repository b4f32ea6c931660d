"""Scaled dot-product attention on the learner's sentence (or on a Q, K, V typed by hand): every
stage QKᵀ → ÷√d_k → mask → softmax → ·V as a token-labelled heatmap beside its formula with the
live numbers, the scale / mask / temperature switches, why √d_k exists (softmax statistics
against d_k), the circulating wrong identity computed both ways, and a check against
F.scaled_dot_product_attention."""

from __future__ import annotations

import math

import pandas as pd
import streamlit as st
import torch
import torch.nn.functional as F

import lessons
from engine.data.tokens import TokenError, embed, token_vector
from engine.ops.attention import causal_mask, scaled_dot_product, softmax_stats
from engine.ops.attention_setup import (
    MAX_ENTRY_ABS,
    TEMPERATURE_MAX,
    TEMPERATURE_MIN,
    LabError,
    check_temperature,
    first_tokens,
    matrix_from_grid,
    project,
    seeded_projections,
    softmax_terms,
    wrong_identity,
)
from figures import attention as fa
from widgets import blocks
from widgets.blocks import show_code, torch_check
from widgets.i18n import T

t = T("attention")
MAX_TOKENS = 12  # the page's bound on the sentence, for readable heatmaps (the engine allows more)
D_MODEL = (4, 32, 8)  # slider: low, high, default
D_K = (1, 16, 4)
SEED_MAX = 9999
TERMS = 8  # products of a dot product written out before \dots
STATS_D_K = (1, 2, 4, 8, 16, 32, 64, 128, 256)
STATS_KEYS, STATS_SAMPLES = 16, 2000
HAND = {  # Q, K, V typed by hand: 3 tokens × 2 dimensions
    "Q": [[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]],
    "K": [[2.0, 0.0], [0.0, 1.0], [1.0, 1.0]],
    "V": [[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]],
}


def checked(name: str, value: int) -> int:
    return blocks.checked(t, name, value)


@st.cache_data(show_spinner=False)
def scale_stats():
    return softmax_stats(STATS_D_K, n_keys=STATS_KEYS, seed=0, samples=STATS_SAMPLES)


def sentence_box(key: str) -> str:
    """The sentence text box. Streamlit keeps a keyed box's value and ignores a new default, so
    the example is swapped here when the language changes and the box still holds another
    language's example; the text also lives in a plain session key (`key`_memo) that survives
    runs where the box is not drawn (Q, K, V typed by hand)."""
    memo = f"{key}_memo"
    text = st.session_state.get(key, st.session_state.get(memo))
    examples = {lessons.text(t.page, "text_default", lang) for lang in lessons.LANGS}
    if text is None or (text in examples and text != t("text_default")):
        text = t("text_default")
    if st.session_state.get(key) != text:
        st.session_state[key] = text
    raw = st.text_input(t("text_label"), key=key, help=t("text_help"))
    st.session_state[memo] = raw
    return raw


def sentence_inputs() -> tuple[list[str], torch.Tensor, torch.Tensor, torch.Tensor, dict]:
    """The sentence controls → tokens, Q, K, V and what the caption says about them."""
    # bottom-aligned: a label that wraps to two lines does not push its box below the others
    c_text, c_d, c_k, c_seed = st.columns([4, 2, 2, 1], vertical_alignment="bottom")
    with c_text:
        raw = sentence_box("att_text")
    with c_d:
        d_model = checked("d_model", st.slider(t("d_model_label"), *D_MODEL, key="att_d_model",
                                               help=t("d_model_help")))
    with c_k:
        d_k = checked("d_model", st.slider(t("d_k_label"), *D_K, key="att_d_k", help=t("d_k_help")))
    with c_seed:
        seed = st.number_input(t("seed_label"), 0, SEED_MAX, 0, step=1, key="att_seed", help=t("seed_help"))
    if not 0 <= int(seed) <= SEED_MAX:
        st.error(t("err_seed", high=SEED_MAX))
        st.stop()
    seed = int(seed)
    try:
        tokens, n = first_tokens(raw, MAX_TOKENS)
    except TokenError as e:
        if e.code == "no_tokens":
            st.info(t("empty"))
        else:
            st.error(t.error(e))
        st.stop()
    if n > MAX_TOKENS:
        st.warning(t("too_long", n=n, max=MAX_TOKENS, kept=" ".join(tokens)))
    checked("tokens", len(tokens))
    X = embed(tokens, d_model, seed)
    P = seeded_projections(d_model, d_k, seed)
    Q, K, V = project(X, P)
    info = dict(X=X, P=P, d_model=d_model, d_k=d_k, seed=seed)
    return tokens, Q, K, V, info


def hand_inputs() -> tuple[list[str], torch.Tensor, torch.Tensor, torch.Tensor, dict]:
    """Three small editable grids → Q, K, V (3 tokens × 2 dimensions), checked on the server."""
    mats = {}
    for col, name in zip(st.columns(3), ("Q", "K", "V")):
        with col:
            st.markdown(f"**{name}** {t('hand_shape')}")
            frame = pd.DataFrame(HAND[name], columns=["d=1", "d=2"], index=["1", "2", "3"])
            edited = st.data_editor(
                frame, key=f"att_hand_{name}", width="content",
                column_config={c: st.column_config.NumberColumn(c, min_value=-MAX_ENTRY_ABS, max_value=MAX_ENTRY_ABS,
                                                                step=0.1, width="small") for c in frame.columns})
            try:
                mats[name] = matrix_from_grid(edited.to_numpy(dtype=object), name, shape=(3, 2))
            except LabError as e:
                st.warning(t.error(e) + " " + t("grid_fallback"))
                mats[name] = torch.tensor(HAND[name], dtype=torch.float64)
    st.caption(t("hand_help", limit=f"{MAX_ENTRY_ABS:g}"))
    return ["1", "2", "3"], mats["Q"], mats["K"], mats["V"], {"d_k": 2}


def pick_index(key: str, label: str, n: int, default: int, labels: dict[int, str]) -> int:
    """A selectbox over 0..n−1 whose option texts follow the sentence.

    The choice is kept in a plain session key (`key`_pick) that survives runs where the picker is
    not drawn, clamped into a shorter sentence."""
    memo = f"{key}_pick"
    value = st.session_state.get(key, st.session_state.get(memo))
    if value not in range(n):
        # out of range after a change (fewer tokens): the nearest one left; unset: the default
        value = n - 1 if isinstance(value, int) and value >= n else min(default, n - 1)
    # set on every run: Streamlit then sends the value with its current text to the browser, which
    # otherwise keeps showing an old sentence's token, or its default after the picker was hidden
    st.session_state[key] = value
    choice = int(st.selectbox(label, list(range(n)), key=key, format_func=labels.get))
    st.session_state[memo] = choice
    return choice


# ----- title, intuition, formula -----------------------------------------------------------------
st.title(t("title"))
st.markdown(t.section("intuition"))
st.latex(r"\mathrm{Attention}(Q, K, V) = \mathrm{softmax}\!\left(\frac{QK^\top}{\sqrt{d_k}}\right) V")
st.latex(r"\begin{aligned}"
         r" S &= QK^\top & S_{ij} &= \textstyle\sum_d Q_{id}\,K_{jd} \\"
         r" S' &= S / \sqrt{d_k} & \tilde S_{ij} &= \begin{cases} S'_{ij} & " + t("latex_kept") + r" \\"
         r" -\infty & " + t("latex_masked") + r" \end{cases} \\"
         r" A &= \mathrm{softmax}_j(\tilde S) & a_{ij} &= e^{\tilde S_{ij}} \big/ \textstyle\sum_{j'} e^{\tilde S_{ij'}} \\"
         r" O &= AV & o_i &= \textstyle\sum_j a_{ij}\, V_j"
         r"\end{aligned}")
st.markdown(t.section("symbols"))

# ----- controls ----------------------------------------------------------------------------------
st.header(t("controls_header"))
# a toggle, not a radio: a keyed radio loses its shown choice when its option texts change language
by_hand = st.toggle(t("mode_hand"), value=False, key="att_by_hand", help=t("mode_help"))
mode = "hand" if by_hand else "sentence"
tokens, Q, K, V, info = hand_inputs() if mode == "hand" else sentence_inputs()
T_len, d_k, d_v = Q.shape[0], Q.shape[1], V.shape[1]
labels = fa.token_labels(tokens)

st.subheader(t("switches_header"))
c_scale, c_mask, c_tau = st.columns([1, 1, 2])
with c_scale:
    scale = st.toggle(t("scale_label"), value=True, key="att_scale", help=t("scale_help"))
with c_mask:
    causal = st.toggle(t("causal_label"), value=False, key="att_causal", help=t("causal_help"))
with c_tau:
    tau_in = st.slider(t("tau_label"), TEMPERATURE_MIN, TEMPERATURE_MAX, 1.0, step=0.1, key="att_tau",
                       help=t("tau_help"))
try:
    tau = check_temperature(tau_in)
except LabError as e:
    st.error(t.error(e))
    st.stop()

keep = causal_mask(T_len) if causal else None
trace = scaled_dot_product(Q, K, V, mask=keep, scale=scale, temperature=tau)

# ----- inputs: tokens → X → Q, K, V --------------------------------------------------------------
st.header(t("inputs_header"))
dims = lambda n: [str(d) for d in range(1, n + 1)]  # noqa: E731
if mode == "sentence":
    st.markdown(t.section("embedding"))
    d_model = info["d_model"]
    st.caption(t("shapes_caption", T=T_len, d_model=d_model, d_k=d_k, seed=info["seed"],
                 b=f"{math.sqrt(3 / d_model):.3f}"))
    st.plotly_chart(fa.matrix_figure(info["X"], labels, dims(d_model), title=t("fig_X", T=T_len, d=d_model),
                                     x_title=t("dim_axis"), annotate=d_model <= 8), key="att_fig_X")
    # the first repeated token (copies share one vector); none repeated: the first token, once
    word = next((tok for tok in tokens if tokens.count(tok) > 1), tokens[0])
    same = [k + 1 for k, tok in enumerate(tokens) if tok == word]
    vec = ", ".join(f"{x:.2f}" for x in token_vector(word, d_model, info["seed"])[:4].tolist())
    if len(same) > 1:
        st.caption(t("same_token", tok=word, where=", ".join(map(str, same)), v=vec))
    else:
        st.caption(t("same_token_once", tok=word, v=vec))
else:
    st.markdown(t("hand_intro"))
for col, name, M in zip(st.columns(3), ("Q", "K", "V"), (Q, K, V)):
    with col:
        st.plotly_chart(fa.matrix_figure(M, labels, dims(M.shape[1]), title=t(f"fig_{name}", T=T_len, d=M.shape[1]),
                                         x_title=t("dim_axis")), key=f"att_fig_{name}")

# ----- the pipeline, one stage at a time ---------------------------------------------------------
st.header(t("pipeline_header"))
st.caption(t("pipeline_help"))
tok_labels = {k: f"{k + 1} · {tok}" for k, tok in enumerate(labels)}
c_i, c_j = st.columns(2)
with c_i:
    i = pick_index("att_i", t("i_label"), T_len, T_len - 1, tok_labels)
with c_j:
    j = pick_index("att_j", t("j_label"), T_len, 0, tok_labels)
masked_ij = causal and j > i
keep_np = None if keep is None else keep.numpy()


def stage(key: str, figure, latex: str | None, note: str | None = None) -> None:
    """One stage: its heatmap on the left (none when it would repeat the previous one), the
    formula with the numbers of (i, j) and a note on the right."""
    st.subheader(t(f"stage_{key}"))
    if figure is None:
        st.markdown(note)
        return
    left, right = st.columns([1, 1], gap="medium")
    with left:
        st.plotly_chart(figure, key=f"att_fig_{key}")
    with right:
        if latex:
            st.latex(latex)
        if note:
            st.markdown(note)


# the numbers are in the cells: no colour bar, so the cells get its width
fig_kw = dict(y_title=t("query_axis"), x_title=t("key_axis"), pick=(i, j), colorbar=False)
stage("scores", fa.matrix_figure(trace.scores, labels, labels, title=t("fig_scores"), **fig_kw),
      fa.dot_product_latex(i, j, Q[i], K[j], float(trace.scores[i, j]), terms=TERMS), t("scores_note", i=i + 1, j=j + 1))
stage("scaled", fa.matrix_figure(trace.scaled, labels, labels, title=t("fig_scaled"), **fig_kw),
      fa.scale_latex(i, j, float(trace.scores[i, j]), d_k=d_k, scale=scale, tau=tau),
      t("scaled_note_on" if scale else "scaled_note_off", d_k=d_k, root=f"{math.sqrt(d_k):.4f}",
        div=f"{trace.divisor:.4f}"))
if causal:
    stage("masked", fa.matrix_figure(trace.masked, labels, labels, title=t("fig_masked"), keep=keep_np, **fig_kw),
          fa.mask_latex(i, j, float(trace.scaled[i, j]), masked=masked_ij), t("masked_note_on", n=int((~keep).sum())))
else:
    stage("masked", None, None, t("masked_note_off"))
row = softmax_terms(trace.masked[i])
stage("weights", fa.matrix_figure(trace.weights, labels, labels, title=t("fig_weights"), kind="weights",
                                  keep=keep_np, masked_text="0", **fig_kw),
      fa.softmax_latex(i, j, row),
      t("weights_note_shift", m=f"{row.shift:.2f}") if row.shift else t("weights_note", i=i + 1,
                                                                          s=f"{float(trace.weights[i].sum()):.6f}"))
stage("output", fa.matrix_figure(trace.output, labels, dims(d_v), title=t("fig_output", T=T_len, d=d_v),
                                 y_title=t("query_axis"), x_title=t("dim_axis"), pick=(i, 0), colorbar=False),
      fa.output_latex(i, trace.weights[i], V, trace.output[i], keep_row=None if keep is None else keep[i]),
      t("output_note", i=i + 1))

# ----- why divide by √d_k ------------------------------------------------------------------------
st.header(t("why_scale_header"))
st.markdown(t.section("why_scale"))
stats = scale_stats()
fig_H, fig_max = fa.scale_stats_figures(
    stats, names={"unscaled": t("curve_unscaled"), "scaled": t("curve_scaled"), "uniform": t("curve_uniform")},
    titles={"entropy": t("fig_entropy", n=STATS_KEYS), "max": t("fig_max"), "x": "d<sub>k</sub>"},
    d_k_now=d_k if d_k in STATS_D_K else None)
c_H, c_max = st.columns(2)
with c_H:
    st.plotly_chart(fig_H, key="att_fig_entropy")
with c_max:
    st.plotly_chart(fig_max, key="att_fig_max")
last = len(STATS_D_K) - 1
st.markdown(t("why_scale_numbers", n=STATS_KEYS, samples=STATS_SAMPLES, d=STATS_D_K[last],
              m_u=f"{float(stats.max_weight_unscaled[last]):.2f}", m_s=f"{float(stats.max_weight_scaled[last]):.2f}",
              H_u=f"{float(stats.entropy_unscaled[last]):.2f}", H_s=f"{float(stats.entropy_scaled[last]):.2f}",
              H_max=f"{stats.max_entropy:.2f}", sd_u=f"{float(stats.logit_std_unscaled[last]):.1f}",
              sd_s=f"{float(stats.logit_std_scaled[last]):.2f}", m_1=f"{float(stats.max_weight_unscaled[0]):.2f}",
              uniform=f"{1 / STATS_KEYS:.4f}"))

# ----- the wrong identity ------------------------------------------------------------------------
st.header(t("erratum_header"))
st.markdown(t.section("erratum"))
st.latex(r"\mathrm{softmax}\!\left(\frac{QK^\top}{\sqrt{d_k}}\right)V \;\overset{?}{=}\; "
         r"\frac{1}{d_v}\,\mathrm{softmax}\!\left(QK^\top\right)V")
wrong = wrong_identity(Q, K, V, mask=keep)
c_left, c_right = st.columns(2)
with c_left:
    st.plotly_chart(fa.matrix_figure(wrong.correct, labels, dims(d_v), title=t("fig_correct"), x_title=t("dim_axis"),
                                     y_title=t("query_axis")), key="att_fig_correct")
with c_right:
    st.plotly_chart(fa.matrix_figure(wrong.wrong, labels, dims(d_v), title=t("fig_wrong", d_v=d_v),
                                     x_title=t("dim_axis"), y_title=t("query_axis")), key="att_fig_wrong")
# plain decimals, as the sentence below writes them; scientific notation only when tiny
st.metric(t("erratum_metric"), f"{wrong.max_abs_delta:.4f}" if wrong.max_abs_delta >= 1e-3
          else f"{wrong.max_abs_delta:.2e}")
if wrong.max_abs_delta > 1e-9:
    st.markdown(t("erratum_false", delta=f"{wrong.max_abs_delta:.4f}", i=i + 1, d_v=d_v,
                  a_s=", ".join(f"{a:.3f}" for a in wrong.weights_scaled[i].tolist()),
                  a_u=", ".join(f"{a:.3f}" for a in wrong.weights_unscaled[i].tolist())))
else:
    st.info(t("erratum_same"))

# ----- show the code, check against torch --------------------------------------------------------
show_code(scaled_dot_product, causal_mask)

st.header(t("check_torch"))
st.caption(t("check_help", div=f"{trace.divisor:.4f}", mask=t("mask_causal") if causal else t("mask_none")))
with torch.no_grad():
    reference = F.scaled_dot_product_attention(Q, K, V, attn_mask=keep, scale=1.0 / trace.divisor)
torch_check(float((trace.output - reference).abs().max()), "F.scaled_dot_product_attention")

# ----- what next ---------------------------------------------------------------------------------
st.header(t("what_next"))
st.markdown(t.section("next"))
