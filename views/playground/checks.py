"""The playground's two checks: the symbolic derivative against torch.autograd point by point, and
"are these the same function?" with a counterexample and both sides drawn."""

from __future__ import annotations

import pandas as pd
import streamlit as st

import engine.formula as formula
from engine.formula import FormulaError
from figures.formula import curves_figure
from views.playground import calls
from views.playground.calls import BOX_CHARS, SLOW, engine_call, retry_button
from views.playground.examples import IDENTITIES, domain, pick_identity, scale
from views.playground.messages import show_error
from views.playground.tex import fmt_values, tex_name, tex_number
from widgets import blocks
from widgets.i18n import T

t = T("playground")
SEED_MAX = 9999
POINTS = (4, 32, 8)  # autograd check: slider low, high, default


def _table(check: formula.AutogradCheck, names: tuple[str, ...]) -> pd.DataFrame:
    """One row per point: the point, the variable with the largest gap, both derivatives, |Δ|, status."""
    rows, points = check.rows, check.points or {}
    status_text = {"ok": t("status_ok"), "kink": t("status_kink"), "nonfinite": t("status_nonfinite")}
    table = {"#": list(range(1, len(rows) + 1))}
    for name in names:
        table[name] = [fmt_values(points[name][i], 6) for i in range(len(rows))]
    if len(names) > 1:
        table[t("col_variable")] = [r.worst["variable"] if r.worst else "—" for r in rows]
    table[t("col_sympy")] = [fmt_values(r.worst["symbolic"]) if r.worst else "—" for r in rows]
    table[t("col_torch")] = [fmt_values(r.worst["torch"]) if r.worst else "—" for r in rows]
    table[t("col_delta")] = [f"{r.max_abs_diff:.1e}" if r.n_compared else "—" for r in rows]
    table[t("col_status")] = [status_text["ok" if r.n_compared else "kink" if r.n_kinks else "nonfinite"]
                              for r in rows]
    return pd.DataFrame(table)


def _verdict(summary: formula.AutogradCheck) -> None:
    m1, m2 = st.columns(2)
    m1.metric(t("metric_delta"), f"{summary.max_abs_diff:.1e}")
    m2.metric(t("metric_compared"), f"{summary.n_compared} / {summary.n_points}")
    skipped = t("skipped_note", kinks=summary.n_kinks, nonfinite=summary.n_nonfinite) if (
        summary.n_kinks or summary.n_nonfinite) else ""
    if summary.n_compared == 0:
        st.warning(t("autograd_none") + " " + skipped)
    elif summary.passed:
        st.success(t("autograd_ok", n=summary.n_compared, delta=f"{summary.max_abs_diff:.1e}",
                     rel=f"{summary.max_rel_diff:.1e}", tol=f"{summary.tol:.0e}") + " " + skipped)
    else:
        st.error(t("autograd_bad", delta=f"{summary.max_abs_diff:.1e}", rel=f"{summary.max_rel_diff:.1e}",
                   tol=f"{summary.tol:.0e}") + " " + skipped)


def autograd_section(syntax: formula.Syntax) -> None:
    st.header(t("autograd_header"))
    st.markdown(t.section("autograd"))
    names = syntax.names
    if not names:
        st.info(t("autograd_no_variables"))
        return
    c_n, c_seed = st.columns([3, 1])
    with c_n:
        n = blocks.checked(t, "formula_points", st.slider(t("points_label"), *POINTS, key="pg_points"))
    with c_seed:
        seed = int(st.number_input(t("seed_label"), 0, SEED_MAX, 0, step=1, key="pg_seed"))
    where = domain(names)
    st.caption(t("domain_note", domains=", ".join(
        f"{n} ∈ ({where.get(n, where['*'])[0]:g}, {where.get(n, where['*'])[1]:g})" for n in names)))
    key = ("autograd", syntax.text, n, seed)
    out = engine_call(key, calls.autograd_rows, syntax.text, n, seed, syntax)
    if isinstance(out, FormulaError):
        show_error(out, syntax.text)
        if out.code in SLOW:
            retry_button(key, "pg_retry_autograd")
        return
    st.dataframe(_table(out, names), hide_index=True, key="pg_table")
    if len(names) > 1:
        st.caption(t("table_many_note"))
    _verdict(out)


def _read_sides(lhs: str, rhs: str) -> list[formula.Syntax] | None:
    """Both sides read once (a message under the box for each side that cannot be read)."""
    sides = []
    for side, text in ((t("lhs_side"), lhs), (t("rhs_side"), rhs)):
        syntax = calls.read(text)
        if isinstance(syntax, FormulaError):
            show_error(syntax, text, side)
        sides.append(syntax)
    return None if any(isinstance(s, FormulaError) for s in sides) else sides


def _counterexample(ce: dict) -> None:
    point = ", ".join(rf"{tex_name(n, isinstance(v, list))} = "
                      + (rf"({', '.join(f'{c:.4f}' for c in v)})" if isinstance(v, list) else tex_number(v, 6))
                      for n, v in ce["point"].items())
    st.latex(r"\begin{aligned}" + (rf"&{point} \\ " if point else "")
             + rf"\text{{{t('lhs_side')}}} &= {tex_number(ce['lhs'], 6)} \\ "
             rf"\text{{{t('rhs_side')}}} &= {tex_number(ce['rhs'], 6)} \\ "
             rf"|\Delta| &= {tex_number(abs(ce['lhs'] - ce['rhs']), 6)}\end{{aligned}}")


def _identity_verdict(result: formula.IdentityResult) -> None:
    st.latex(rf"{result.lhs_latex} \;\overset{{?}}{{=}}\; {result.rhs_latex}")
    if result.status == "equal" and result.method == "symbolic":
        st.success(t("id_equal_symbolic"))
    elif result.status == "equal":
        st.success(t("id_equal_numeric", n=result.n_compared, tested=result.n_tested))
    elif result.status == "not_equal":
        st.error(t("id_not_equal", method=t(f"method_{result.method}") if result.method else ""))
        _counterexample(result.counterexample)
    else:
        st.warning(t("id_undecided", n=result.n_compared, tested=result.n_tested))
    if result.symbolic_ran_out:
        st.caption(t("id_ran_out"))


def identity_section() -> None:
    st.header(t("identity_header"))
    st.markdown(t.section("identity"))
    st.session_state.setdefault("pg_lhs", IDENTITIES[0].lhs)
    st.session_state.setdefault("pg_rhs", IDENTITIES[0].rhs)
    labels = {i.key: f"{i.lhs}  ≟  {i.rhs}" for i in IDENTITIES}
    st.selectbox(t("id_example_label"), list(labels), index=None, key="pg_id_example", format_func=labels.get,
                 placeholder=t("id_example_placeholder"), on_change=pick_identity)
    c_l, c_r = st.columns(2)
    with c_l:
        lhs = st.text_input(t("lhs_label"), key="pg_lhs", max_chars=BOX_CHARS)
    with c_r:
        rhs = st.text_input(t("rhs_label"), key="pg_rhs", max_chars=BOX_CHARS)
    sides = _read_sides(lhs, rhs)
    if sides is None:
        return
    key = ("identity", lhs, rhs)
    result = engine_call(key, calls.identity, lhs, rhs, *sides)
    if isinstance(result, FormulaError):
        show_error(result)
        if result.code in SLOW:
            retry_button(key, "pg_retry_identity")
        return
    _identity_verdict(result)
    identity_plot(*sides)


def identity_plot(left: formula.Syntax, right: formula.Syntax) -> None:
    """Both sides over one variable (the others at 0.5), when both are scalar formulas."""
    names = sorted(set(left.scalars) | set(right.scalars))
    if not names or left.vectors or right.vectors:
        return
    var = "x" if "x" in names else names[0]
    x_range = scale(var).plot
    curves = []
    for side in (left, right):
        out = engine_call(("side", side.text, var), calls.side_curve, side.text, var, x_range, side)
        if isinstance(out, FormulaError):
            return
        curves.append(out)
    others = [n for n in names if n != var]
    st.plotly_chart(curves_figure(curves[0].x, {t("lhs_side"): curves[0].y, t("rhs_side"): curves[1].y},
                                  x_title=var, title=t("id_fig_title", name=var), height=320), key="pg_id_fig")
    if others:
        st.caption(t("id_fig_note", names=", ".join(others)))
