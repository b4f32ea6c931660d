"""Positional encoding: Vaswani et al.'s sinusoidal table computed live (and the wrong `sin = cos`
form seen in the source article, refuted with numbers), its waves and wavelengths, PE(p)·PE(q)
against the distance, PE(pos + k) = M_k · PE(pos) checked at every position, a learned table and
RoPE side by side, and self-attention on the learner's sentence shuffled, without and with PE."""

from __future__ import annotations

import math

import pandas as pd
import streamlit as st
import torch
from torch import nn

import lessons
from engine.data.tokens import TokenError, embed, tokenize
from engine.limits import BOUNDS
from engine.ops import positional_probe as probe
from engine.ops.positional import frequencies, learned, rope, rope_angles, shift_matrix, sinusoidal
from figures.positional import (
    distance_figure,
    shift_matrix_figure,
    square_heatmap,
    table_heatmap,
    wavelength_figure,
    waves_figure,
    weights_figure,
)
from widgets import blocks
from widgets.blocks import show_code, torch_check
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


def plain(v: float) -> str:
    """A measured number as plain decimals (1.580, not 1.58e+00); scientific only when tiny."""
    if v == 0:
        return "0"
    return f"{v:.2e}" if abs(v) < 1e-3 else f"{v:.3f}"


def localized_text_input(label: str, key: str, default_key: str, **kw) -> str:
    """A text box whose example follows the language: a box still holding another language's
    example gets this language's one (Streamlit keeps a keyed widget's value and ignores a new
    default); a sentence the learner typed is kept."""
    defaults = {lang: lessons.text("positional", default_key, lang) for lang in lessons.LANGS}
    if st.session_state.get(key) in set(defaults.values()) - {defaults[t.lang]}:
        st.session_state[key] = defaults[t.lang]
    st.session_state.setdefault(key, defaults[t.lang])
    return st.text_input(label, key=key, **kw)


def bump_shuffle() -> None:
    st.session_state["pe_shuffle"] = (int(st.session_state.get("pe_shuffle", 0)) + 1) % (SEED_MAX + 1)


@st.cache_data(show_spinner=False, max_entries=16)
def pe_reference(L: int, d: int) -> torch.Tensor:
    """Independent reference: Vaswani et al.'s table one entry at a time, with Python's math module."""
    rows = [[(math.sin if j % 2 == 0 else math.cos)(p / 10000 ** ((j - j % 2) / d)) for j in range(d)]
            for p in range(L)]
    return torch.tensor(rows, dtype=torch.float64)


def rope_reference(x: torch.Tensor) -> torch.Tensor:
    """Independent reference: RoPE as complex numbers, pair (x_2i, x_2i+1) times e^{i·m·θ_i} (torch.polar)."""
    T_, d = x.shape
    theta = 10000.0 ** (-torch.arange(0, d, 2, dtype=torch.float64) / d)
    phi = torch.arange(T_, dtype=torch.float64)[:, None] * theta[None, :]
    # (T, d) → (T, d/2) complex: z = x_2i + i·x_2i+1
    z = torch.view_as_complex(x.reshape(T_, d // 2, 2).contiguous())
    # (T, d/2) complex → (T, d/2, 2) → (T, d)
    return torch.view_as_real(z * torch.polar(torch.ones_like(phi), phi)).reshape(T_, d)


def torch_attention(Z: torch.Tensor, W) -> tuple[torch.Tensor, torch.Tensor]:
    """nn.MultiheadAttention (one head, no biases, output map = identity) with our W_Q, W_K, W_V
    copied in, on Z (T, d): its output (T, d) and weights (T, T)."""
    d = Z.shape[1]
    mha = nn.MultiheadAttention(d, 1, bias=False, batch_first=True, dtype=torch.float64)
    with torch.no_grad():
        mha.in_proj_weight.copy_(torch.cat(W))
        mha.out_proj.weight.copy_(torch.eye(d, dtype=torch.float64))
        out, A = mha(Z[None], Z[None], Z[None], average_attn_weights=False)
    return out[0], A[0, 0]


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


# ----- formulas with live numbers -----------------------------------------------------------


def sig(v: float, digits: int = 4) -> str:
    """A number for LaTeX with `digits` decimals, or in scientific form when it is that small."""
    if v == 0 or abs(v) >= 0.01:
        return f"{v:.{digits}f}"
    mantissa, exponent = f"{v:.{digits - 1}e}".split("e")
    return rf"{mantissa}\times 10^{{{int(exponent)}}}"


def row_equations(PE: torch.Tensor, omega: torch.Tensor, angle: torch.Tensor, pos: int, d: int,
                  pairs: list[int]) -> str:
    """PE[pos, 2i] and PE[pos, 2i+1] written out for the given pairs i: the angle, then both entries."""
    lines = []
    for i in pairs:
        lines.append(rf"\theta_{{{i}}} &= {pos}\cdot 10000^{{-{2 * i}/{d}}} = {pos}\cdot {sig(float(omega[i]))}"
                     rf" = {sig(float(angle[pos, i]))}")
        lines.append(rf"PE[{pos},{2 * i}] &= \sin\theta_{{{i}}} = {float(PE[pos, 2 * i]):.4f}, \quad "
                     rf"PE[{pos},{2 * i + 1}] = \cos\theta_{{{i}}} = {float(PE[pos, 2 * i + 1]):.4f}")
    return r"\begin{aligned} " + r" \\ ".join(lines) + r" \end{aligned}"


def block_equation(tr: probe.ShiftTrace, pos: int, i: int) -> str:
    """One 2×2 block of M_k times pair i of PE(pos), and PE(pos + k) beside it."""
    a, b = 2 * i, 2 * i + 1
    M = tr.M[a:b + 1, a:b + 1]
    s, c = float(tr.PE[pos, a]), float(tr.PE[pos, b])
    ps, pc = float(tr.predicted[pos, a]), float(tr.predicted[pos, b])
    s2, c2 = float(tr.actual[pos, a]), float(tr.actual[pos, b])
    k = tr.k

    def col(x, y):
        return rf"\begin{{bmatrix}} {x:.4f} \\ {y:.4f} \end{{bmatrix}}"

    return (rf"\begin{{aligned}} M^{{({i})}}_{{{k}}}\,PE_{{{pos}}}^{{({i})}} &= "
            rf"\begin{{bmatrix}} {float(M[0, 0]):.4f} & {float(M[0, 1]):.4f} \\ "
            rf"{float(M[1, 0]):.4f} & {float(M[1, 1]):.4f} \end{{bmatrix}} {col(s, c)} = {col(ps, pc)} \\ "
            rf"PE_{{{pos + k}}}^{{({i})}} &= {col(s2, c2)} \end{{aligned}}")


# ----- title, intuition, formula ------------------------------------------------------------
st.title(t("title"))
st.markdown(t.section("intuition"))
st.latex(r"\begin{aligned}"
         r" PE[pos,\,2i] &= \sin\!\big(pos \,/\, 10000^{2i/d_{\text{model}}}\big) \\"
         r" PE[pos,\,2i+1] &= \cos\!\big(pos \,/\, 10000^{2i/d_{\text{model}}}\big)"
         r"\end{aligned}")
st.markdown(t.section("symbols"))

# ----- controls -----------------------------------------------------------------------------
st.header(t("controls_header"))
c_L, c_d = st.columns(2)
with c_L:
    L = bounded("max_len", st.slider(t("L_label"), L_MIN, L_MAX, L_DEFAULT, key="pe_L", help=t("L_help")),
                L_MIN, L_MAX)
with c_d:
    d = bounded("d_model", st.slider(t("d_label"), D_MIN, D_MAX, D_DEFAULT, step=2, key="pe_d",
                                     help=t("d_help")), D_MIN, D_MAX)
if d % 2:
    st.error(t("err_odd_d", d=d))
    st.stop()
n_pairs = d // 2
clamp("pe_pos", 0, L - 1, 5)
clamp("pe_i", 0, n_pairs - 1, 2)
c_pos, c_i = st.columns(2)
with c_pos:
    pos = int(st.slider(t("pos_label"), 0, L - 1, key="pe_pos"))
with c_i:
    i = int(st.slider(t("i_label"), 0, n_pairs - 1, key="pe_i", help=t("i_help")))
if not (0 <= pos < L and 0 <= i < n_pairs):
    st.error(t("err_pick", L=L, pairs=n_pairs))
    st.stop()

PE = sinusoidal(L, d)
omega = frequencies(d)
angle = rope_angles(L, d)  # angle[pos, i] = pos · ω_i
st.caption(t("sizes", L=L, d=d, pairs=n_pairs, pos=pos, i=i, a=2 * i, b=2 * i + 1))
st.caption(t("zero_based"))

# ----- the wrong form and the right one -----------------------------------------------------
st.header(t("errata_header"))
st.markdown(t.section("errata"))
c_wrong, c_right = st.columns(2)
with c_wrong:
    st.markdown(t("wrong_label"))
    st.latex(r"\begin{aligned} PE(i,j) &= \sin\!\Big(\frac{i}{10000^{2j/d}}\Big) \\ "
             r"&= \cos\!\Big(\frac{i}{10000^{2j/d}}\Big) \end{aligned}")
with c_right:
    st.markdown(t("right_label"))
    st.latex(r"\begin{aligned} PE[pos,2i] &= \sin\!\Big(\frac{pos}{10000^{2i/d}}\Big) \\ "
             r"PE[pos,2i+1] &= \cos\!\Big(\frac{pos}{10000^{2i/d}}\Big) \end{aligned}")
theta = float(angle[pos, i])
sin_v, cos_v = float(PE[pos, 2 * i]), float(PE[pos, 2 * i + 1])
st.markdown(t("errata_numbers", pos=pos, i=i))
st.latex(rf"\begin{{aligned}} \theta &= \frac{{{pos}}}{{10000^{{{2 * i}/{d}}}}} = {sig(theta)} \\ "
         rf"\sin\theta &= {sin_v:.4f}, \quad \cos\theta = {cos_v:.4f} \\ "
         rf"\sin\theta - \cos\theta &= {sin_v - cos_v:.4f} \ne 0 \end{{aligned}}")
c_w2, c_r2 = st.columns(2)
with c_w2:
    st.markdown(":red[**✗**] " + t("wrong_verdict", s=f"{sin_v:.4f}", c=f"{cos_v:.4f}"))
with c_r2:
    st.markdown(":green[**✓**] " + t("right_verdict", pos=pos, a=2 * i, b=2 * i + 1, s=f"{sin_v:.4f}",
                                      c=f"{cos_v:.4f}"))

# ----- the table ----------------------------------------------------------------------------
st.header(t("table_header"))
st.markdown(t.section("table"))
st.plotly_chart(table_heatmap(PE, title=t("fig_table", L=L, d=d), pick=(pos, 2 * i), pick_width=2, zmax=1.0,
                              x_title=t("axis_dim"), y_title=t("axis_pos"), height=420), key="pe_fig_table")
st.markdown(t("row_header", pos=pos))
pairs = sorted(set(range(min(ROW_PAIRS, n_pairs))) | {i})
st.latex(row_equations(PE, omega, angle, pos, d, pairs))
shown = ", ".join(f"{float(v):.3f}" for v in PE[pos, :8])
st.caption(t("row_vector", pos=pos, values=shown, d=d))

# ----- waves and wavelengths ----------------------------------------------------------------
st.header(t("waves_header"))
st.markdown(t.section("waves"))
wanted = st.session_state.get("pe_pairs", list(WAVE_PAIRS))
st.session_state["pe_pairs"] = [p for p in wanted if isinstance(p, int) and 0 <= p < n_pairs] or [0]
drawn = st.multiselect(t("pairs_label"), list(range(n_pairs)), key="pe_pairs", max_selections=6,
                       help=t("pairs_help"))
drawn = [p for p in drawn if 0 <= p < n_pairs][:6] or [0]
lam = probe.wavelengths(d)
st.plotly_chart(waves_figure(PE, drawn, title=t("fig_waves"), x_title=t("axis_pos"), y_title="PE"),
                key="pe_fig_waves")
c_l, c_eq = st.columns(2)
with c_l:
    st.plotly_chart(wavelength_figure(lam, pick=i, title=t("fig_lambda"), x_title=t("axis_pair"),
                                      y_title=t("axis_lambda")), key="pe_fig_lambda")
with c_eq:
    ratio = float(lam[1] / lam[0]) if n_pairs > 1 else float("nan")
    lines = [r"\lambda_i &= 2\pi/\omega_i = 2\pi\cdot 10000^{2i/d}", rf"\lambda_0 &= 2\pi = {float(lam[0]):.4f}"]
    if 0 < i < n_pairs - 1:
        lines.append(rf"\lambda_{{{i}}} &= 2\pi\cdot 10000^{{{2 * i}/{d}}} = {float(lam[i]):,.2f}")
    lines += [rf"\lambda_{{{n_pairs - 1}}} &= 2\pi\cdot 10000^{{{d - 2}/{d}}} = {float(lam[-1]):,.1f}",
              rf"10000\cdot 2\pi &= {10000 * 2 * math.pi:,.1f}",
              rf"\lambda_{{i+1}}/\lambda_i &= 10000^{{2/{d}}} = {ratio:.4f}"]
    st.latex((r"\begin{aligned} " + r" \\ ".join(lines) + r" \end{aligned}").replace(",", "{,}"))
st.caption(t("waves_note", L=L, i=i, lam=f"{float(lam[i]):.1f}"))

# ----- similarity against distance ----------------------------------------------------------
st.header(t("sim_header"))
st.markdown(t.section("similarity"))
st.latex(r"\begin{aligned} PE(p)\cdot PE(q) &= \textstyle\sum_i \big[\sin p\omega_i \sin q\omega_i"
         r" + \cos p\omega_i \cos q\omega_i\big] \\ &= \textstyle\sum_i \cos\!\big((p-q)\,\omega_i\big)"
         r" \end{aligned}")
S = probe.similarity(PE)
prof = probe.by_distance(S)
c_dist, c_sim = st.columns(2)
with c_dist:
    st.plotly_chart(distance_figure(prof.distance, prof.low, prof.high, title=t("fig_distance"),
                                    x_title=t("axis_distance"), y_title="PE(p)·PE(q)", low_name=t("dist_low"),
                                    high_name=t("dist_high")), key="pe_fig_distance")
with c_sim:
    st.plotly_chart(square_heatmap(S, title=t("fig_similarity"), x_title=t("axis_q"), y_title=t("axis_p"),
                                   height=360, symmetric=False), key="pe_fig_similarity")
delta_demo = min(5, L - 1)
demo = sorted({0, min(pos, L - 1 - delta_demo), L - 1 - delta_demo})
st.latex(" = ".join(rf"PE({p})\cdot PE({p + delta_demo})" for p in demo)
         + rf" = {float(S[demo[0], demo[0] + delta_demo]):.6f}")
st.metric(t("sim_spread"), plain(prof.spread))
st.caption(t("sim_note", d=d, half=d // 2, L=L))

# ----- PE(pos + k) as a rotation of PE(pos) -------------------------------------------------
st.header(t("shift_header"))
st.markdown(t.section("shift"))
st.latex(r"\begin{aligned} \sin\big((p+k)\omega\big) &= \cos k\omega\,\sin p\omega + \sin k\omega\,\cos p\omega \\"
         r" \cos\big((p+k)\omega\big) &= -\sin k\omega\,\sin p\omega + \cos k\omega\,\cos p\omega \\"
         r" PE(p+k) &= M_k\,PE(p), \quad M_k = \operatorname{diag}\!\Big(\begin{bmatrix} \cos k\omega_i & \sin k\omega_i \\"
         r" -\sin k\omega_i & \cos k\omega_i \end{bmatrix}\Big)_{i} \end{aligned}")
k = bounded("position_shift", st.slider(t("k_label"), K_MIN, K_MAX, K_DEFAULT, key="pe_k", help=t("k_help")),
            K_MIN, K_MAX)
shift = probe.shift_check(L, d, k)
c_M, c_blk = st.columns([1, 1])
with c_M:
    st.plotly_chart(shift_matrix_figure(shift.M, pair=i, title=t("fig_shift", k=k, d=d), height=400),
                    key="pe_fig_shift")
with c_blk:
    st.metric(t("shift_metric", L=L), plain(float(shift.delta.max())))
    st.caption(t("shift_note", k=k, L=L, d=d))
st.markdown(t("block_header", i=i, k=k, pos=pos, a=2 * i, b=2 * i + 1))
st.latex(block_equation(shift, pos, i))

# ----- sinusoidal vs learned vs RoPE --------------------------------------------------------
st.header(t("compare_header"))
st.markdown(t.section("compare"))
c_seed_cmp, _ = st.columns([1, 3])
with c_seed_cmp:
    seed = st.number_input(t("seed_label"), 0, SEED_MAX, 0, step=1, key="pe_seed", help=t("seed_help"))
if not 0 <= int(seed) <= SEED_MAX:
    st.error(t("err_seed", high=SEED_MAX))
    st.stop()
seed = int(seed)
table_learned = learned(L, d, seed)
q, k_vec = probe.random_qk(d, seed)
rs = probe.rope_scores(q, k_vec, L)
cols = st.columns(3)
for col, (name, values, zmax) in zip(cols, (("sin", PE, 1.0), ("learned", table_learned, None), ("rope", rs.q_rot, None))):
    with col:
        st.plotly_chart(table_heatmap(values, title=t(f"fig_cmp_{name}"), zmax=zmax, x_title=t("axis_dim"),
                                      y_title=t("axis_pos"), height=360), key=f"pe_fig_cmp_{name}")
        st.caption(t(f"cmp_{name}"))
prof_learned = probe.by_distance(probe.similarity(table_learned))
norm_gap = float((rs.q_rot.norm(dim=1) - q.norm()).abs().max())
m1, m2, m3 = st.columns(3)
m1.metric(t("spread_sin"), plain(prof.spread))
m2.metric(t("spread_learned"), plain(prof_learned.spread))
m3.metric(t("rope_norm"), plain(norm_gap))

st.subheader(t("rope_header"))
st.markdown(t.section("rope"))
st.latex(r"\begin{aligned} \begin{bmatrix} x'_{2i} \\ x'_{2i+1} \end{bmatrix} &= "
         r"\begin{bmatrix} \cos m\theta_i & -\sin m\theta_i \\ \sin m\theta_i & \cos m\theta_i \end{bmatrix}"
         r"\begin{bmatrix} x_{2i} \\ x_{2i+1} \end{bmatrix}, \quad \theta_i = 10000^{-2i/d} \\"
         r" \langle \mathrm{rope}(q)_m, \mathrm{rope}(k)_n \rangle &= "
         r"\textstyle\sum_i \mathrm{Re}\big[q^{(i)}\,\overline{k^{(i)}}\,e^{\,\mathrm{i}(m-n)\theta_i}\big]"
         r" \end{aligned}")
clamp("pe_offset", 0, L - 1, 3)
offset = int(st.slider(t("offset_label"), 0, L - 1, key="pe_offset"))
if not 0 <= offset < L:
    st.error(t("err_pick", L=L, pairs=n_pairs))
    st.stop()
add = probe.additive_scores(q, k_vec, PE)
ns = sorted({0, 1, (L - 1 - offset) // 2, L - 1 - offset} & set(range(L - offset)))
st.dataframe(pd.DataFrame({
    "m": [n + offset for n in ns],
    "n": ns,
    "m − n": [offset] * len(ns),
    t("col_rope"): [f"{float(rs.scores[n + offset, n]):.10f}" for n in ns],
    t("col_added"): [f"{float(add[n + offset, n]):.4f}" for n in ns],
}), hide_index=True)
diag_rope = torch.diagonal(rs.scores, offset=-offset)
diag_add = torch.diagonal(add, offset=-offset)
st.caption(t("rope_table_note", offset=offset, rope=plain(float(diag_rope.max() - diag_rope.min())),
             added=f"{float(diag_add.max() - diag_add.min()):.3f}", n=len(diag_rope)))
c_rs, c_as = st.columns(2)
with c_rs:
    st.plotly_chart(square_heatmap(rs.scores, title=t("fig_rope_scores"), x_title="n", y_title="m",
                                   row_name="m", col_name="n", height=360), key="pe_fig_rope_scores")
with c_as:
    st.plotly_chart(square_heatmap(add, title=t("fig_added_scores"), x_title="n", y_title="m",
                                   row_name="m", col_name="n", height=360, symmetric=False),
                    key="pe_fig_added_scores")
st.caption(t("rope_where"))


# ----- attention cannot tell order ----------------------------------------------------------
def order_section() -> tuple[float, str] | None:
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
    X = embed(tokens, d, EMBED_SEED)
    W = probe.seeded_projections(d, EMBED_SEED)
    perm = probe.permutation(T_, int(shuffle_seed))
    shuffled = [tokens[p] for p in perm.tolist()]
    st.markdown(t("shuffled", original=" ".join(tokens), shuffled=" ".join(shuffled), T=T_, d=d))
    st.caption(t("projections", seed=EMBED_SEED))
    if T_ == 1:
        st.info(t("one_token"))
    bare = probe.order_check(X, perm, None, W)
    with_pe = probe.order_check(X, perm, sinusoidal(T_, d), W)
    for tr, kind in ((bare, "bare"), (with_pe, "pe")):
        st.subheader(t(f"order_{kind}_header"))
        c_a, c_b = st.columns(2)
        with c_a:
            st.plotly_chart(weights_figure(tr.attn.weights, tokens, title=t("fig_order_in"), x_title=t("axis_key"),
                                           y_title=t("axis_query")), key=f"pe_fig_{kind}_in")
        with c_b:
            st.plotly_chart(weights_figure(tr.attn_shuffled.weights, shuffled, title=t("fig_order_shuffled"),
                                           x_title=t("axis_key"), y_title=t("axis_query")), key=f"pe_fig_{kind}_shuffled")
        st.metric(t("order_metric"), plain(tr.delta))
        if T_ > 1:
            st.caption(t(f"order_{kind}_note", delta=plain(tr.delta)))
    twins = [(a, b) for a in range(T_) for b in range(a + 1, T_) if tokens[a] == tokens[b]]
    if twins:
        a, b = twins[0]
        gap_bare = float((bare.attn.output[a] - bare.attn.output[b]).abs().max())
        gap_pe = float((with_pe.attn.output[a] - with_pe.attn.output[b]).abs().max())
        st.markdown(t("twins", tok=tokens[a], a=a, b=b, bare=plain(gap_bare), pe=plain(gap_pe)))
    # torch's own attention on the same inputs (float64): one head, no biases, identity output map
    delta = 0.0
    for tr in (bare, with_pe):
        for Z, ours in ((tr.inputs, tr.attn), (tr.inputs_shuffled, tr.attn_shuffled)):
            out, A = torch_attention(Z, W)
            delta = max(delta, float((ours.output - out).abs().max()), float((ours.weights - A).abs().max()))
    return delta, "nn.MultiheadAttention"


attention_check = order_section()

# ----- show the code, check against references ----------------------------------------------
show_code(frequencies, sinusoidal, shift_matrix, rope_angles, rope, probe.shift_check, probe.order_check)

st.header(t("check_header"))
st.caption(t("check_help", L=L, d=d))
st.markdown(t("check_pe"))
torch_check(float((PE - pe_reference(L, d)).abs().max()), t("ref_pe"))
st.markdown(t("check_rope"))
q_rows = q[None, :].expand(L, d)
torch_check(float((rope(q_rows) - rope_reference(q_rows)).abs().max()), "torch.polar")
if attention_check is not None:
    st.markdown(t("check_attention"))
    torch_check(*attention_check)

# ----- what next ----------------------------------------------------------------------------
st.header(t("what_next"))
st.markdown(t.section("next"))
