"""Positional encoding: Vaswani et al.'s sinusoidal table computed live (and the wrong `sin = cos`
form seen in the source article, refuted with numbers), its waves and wavelengths, PE(p)·PE(q)
against the distance, PE(pos + k) = M_k · PE(pos) checked at every position, a learned table and
RoPE side by side, and self-attention on the learner's sentence shuffled, without and with PE."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from engine.ops import positional as pe
from figures import positional as fp
from views.positional.parts import (
    D_DEFAULT,
    D_MAX,
    D_MIN,
    K_DEFAULT,
    K_MAX,
    K_MIN,
    L_DEFAULT,
    L_MAX,
    L_MIN,
    ROW_PAIRS,
    SEED_MAX,
    WAVE_PAIRS,
    bounded,
    clamp,
    order_section,
    t,
    valid_seed,
)
from widgets.blocks import hand_off, show_code, torch_check

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

PE = pe.sinusoidal(L, d)
omega = pe.frequencies(d)
angle = pe.rope_angles(L, d)  # angle[pos, i] = pos · ω_i
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
sin_v, cos_v = float(PE[pos, 2 * i]), float(PE[pos, 2 * i + 1])
st.markdown(t("errata_numbers", pos=pos, i=i))
st.latex(fp.errata_latex(pos, i, d, float(angle[pos, i]), sin_v, cos_v))
c_w2, c_r2 = st.columns(2)
with c_w2:
    st.markdown(":red[**✗**] " + t("wrong_verdict", s=f"{sin_v:.4f}", c=f"{cos_v:.4f}"))
with c_r2:
    st.markdown(":green[**✓**] " + t("right_verdict", pos=pos, a=2 * i, b=2 * i + 1, s=f"{sin_v:.4f}",
                                      c=f"{cos_v:.4f}"))

# ----- the table ----------------------------------------------------------------------------
st.header(t("table_header"))
st.markdown(t.section("table"))
st.plotly_chart(fp.table_heatmap(PE, title=t("fig_table", L=L, d=d), pick=(pos, 2 * i), pick_width=2, zmax=1.0,
                                 x_title=t("axis_dim"), y_title=t("axis_pos"), height=420), key="pe_fig_table")
st.markdown(t("row_header", pos=pos))
st.latex(fp.row_latex(PE, omega, angle, pos, sorted(set(range(min(ROW_PAIRS, n_pairs))) | {i})))
st.caption(t("row_vector", pos=pos, values=", ".join(f"{float(v):.3f}" for v in PE[pos, :8]), d=d))

# ----- waves and wavelengths ----------------------------------------------------------------
st.header(t("waves_header"))
st.markdown(t.section("waves"))
wanted = st.session_state.get("pe_pairs", list(WAVE_PAIRS))
st.session_state["pe_pairs"] = [p for p in wanted if isinstance(p, int) and 0 <= p < n_pairs] or [0]
drawn = st.multiselect(t("pairs_label"), list(range(n_pairs)), key="pe_pairs", max_selections=6,
                       help=t("pairs_help"))
drawn = [p for p in drawn if 0 <= p < n_pairs][:6] or [0]
lam = pe.wavelengths(d)
st.plotly_chart(fp.waves_figure(PE, drawn, title=t("fig_waves"), x_title=t("axis_pos"), y_title="PE"),
                key="pe_fig_waves")
c_l, c_eq = st.columns(2)
with c_l:
    st.plotly_chart(fp.wavelength_figure(lam, pick=i, title=t("fig_lambda"), x_title=t("axis_pair"),
                                         y_title=t("axis_lambda")), key="pe_fig_lambda")
with c_eq:
    st.latex(fp.wavelength_latex(lam, i, d))
st.caption(t("waves_note", L=L, i=i, lam=f"{float(lam[i]):.1f}"))

# ----- similarity against distance ----------------------------------------------------------
st.header(t("sim_header"))
st.markdown(t.section("similarity"))
st.latex(r"\begin{aligned} PE(p)\cdot PE(q) &= \textstyle\sum_i \big[\sin p\omega_i \sin q\omega_i"
         r" + \cos p\omega_i \cos q\omega_i\big] \\ &= \textstyle\sum_i \cos\!\big((p-q)\,\omega_i\big)"
         r" \end{aligned}")
S = pe.similarity(PE)
prof = pe.by_distance(S)
c_dist, c_sim = st.columns(2)
with c_dist:
    st.plotly_chart(fp.distance_figure(prof.distance, prof.low, prof.high, title=t("fig_distance"),
                                       x_title=t("axis_distance"), y_title="PE(p)·PE(q)", low_name=t("dist_low"),
                                       high_name=t("dist_high")), key="pe_fig_distance")
with c_sim:
    st.plotly_chart(fp.square_heatmap(S, title=t("fig_similarity"), x_title=t("axis_q"), y_title=t("axis_p"),
                                      height=360, symmetric=False), key="pe_fig_similarity")
delta_demo = min(5, L - 1)
demo = sorted({0, min(pos, L - 1 - delta_demo), L - 1 - delta_demo})
st.latex(" = ".join(rf"PE({p})\cdot PE({p + delta_demo})" for p in demo)
         + rf" = {float(S[demo[0], demo[0] + delta_demo]):.6f}")
st.metric(t("sim_spread"), fp.plain(prof.spread))
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
shift = pe.shift_check(L, d, k)
c_M, c_blk = st.columns([1, 1])
with c_M:
    st.plotly_chart(fp.shift_matrix_figure(shift.M, pair=i, title=t("fig_shift", k=k, d=d), height=400),
                    key="pe_fig_shift")
with c_blk:
    st.metric(t("shift_metric", L=L), fp.plain(shift.max_delta))
    st.caption(t("shift_note", k=k, L=L, d=d))
st.markdown(t("block_header", i=i, k=k, pos=pos, a=2 * i, b=2 * i + 1))
st.latex(fp.block_latex(shift, pos, i))

# ----- sinusoidal vs learned vs RoPE --------------------------------------------------------
st.header(t("compare_header"))
st.markdown(t.section("compare"))
c_seed_cmp, _ = st.columns([1, 3])
with c_seed_cmp:
    seed = st.number_input(t("seed_label"), 0, SEED_MAX, 0, step=1, key="pe_seed", help=t("seed_help"))
seed = valid_seed(seed)
table_learned = pe.learned(L, d, seed)
q, k_vec = pe.random_qk(d, seed)
rs = pe.rope_scores(q, k_vec, L)
for col, (name, values, zmax) in zip(st.columns(3), (("sin", PE, 1.0), ("learned", table_learned, None),
                                                     ("rope", rs.q_rot, None))):
    with col:
        st.plotly_chart(fp.table_heatmap(values, title=t(f"fig_cmp_{name}"), zmax=zmax, x_title=t("axis_dim"),
                                         y_title=t("axis_pos"), height=360), key=f"pe_fig_cmp_{name}")
        st.caption(t(f"cmp_{name}"))
m1, m2, m3 = st.columns(3)
m1.metric(t("spread_sin"), fp.plain(prof.spread))
m2.metric(t("spread_learned"), fp.plain(pe.by_distance(pe.similarity(table_learned)).spread))
m3.metric(t("rope_norm"), fp.plain(rs.norm_gap))

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
add = pe.additive_scores(q, k_vec, PE)
diag = pe.along_offset(rs.scores, add, offset)
st.dataframe(pd.DataFrame({
    "m": [n + offset for n in diag.shown],
    "n": diag.shown,
    "m − n": [offset] * len(diag.shown),
    t("col_rope"): [f"{float(diag.rope[n]):.10f}" for n in diag.shown],
    t("col_added"): [f"{float(diag.added[n]):.4f}" for n in diag.shown],
}), hide_index=True)
st.caption(t("rope_table_note", offset=offset, rope=fp.plain(diag.rope_spread), added=f"{diag.added_spread:.3f}",
             n=len(diag.rope)))
c_rs, c_as = st.columns(2)
with c_rs:
    st.plotly_chart(fp.square_heatmap(rs.scores, title=t("fig_rope_scores"), x_title="n", y_title="m",
                                      row_name="m", col_name="n", height=360), key="pe_fig_rope_scores")
with c_as:
    st.plotly_chart(fp.square_heatmap(add, title=t("fig_added_scores"), x_title="n", y_title="m",
                                      row_name="m", col_name="n", height=360, symmetric=False),
                    key="pe_fig_added_scores")
st.caption(t("rope_where"))

# ----- attention cannot tell order ----------------------------------------------------------
attention_check = order_section(d)

# ----- show the code, check against references ----------------------------------------------
show_code(pe.frequencies, pe.sinusoidal, pe.shift_matrix, pe.rope_angles, pe.rope, pe.shift_check, pe.order_check)

st.header(t("check_header"))
st.caption(t("check_help", L=L, d=d))
checks = pe.reference_checks(L, d, q)
st.markdown(t("check_pe"))
torch_check(checks.table, t("ref_pe"))
st.markdown(t("check_rope"))
torch_check(checks.rope, "torch.polar")
if attention_check is not None:
    st.markdown(t("check_attention"))
    torch_check(attention_check, "nn.MultiheadAttention")

# ----- what next ----------------------------------------------------------------------------
st.header(t("what_next"))
st.markdown(t.section("next"))
hand_off(("views/multihead.py", "nav_multihead", "back"), ("views/transformer/page.py", "nav_transformer", "next"))
