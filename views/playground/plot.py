"""The formula typeset with its derivatives, the plot's controls (which variable, its range, the
others' values, the marked point) and the plot of f and ∂f/∂v with the live numbers beside it."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import streamlit as st

import engine.formula as formula
from figures.formula import function_figure
from views.playground.calls import N_GRID, VECTOR_DIM
from views.playground.examples import OTHER, Example, scale
from views.playground.tex import label_name, tex_name, tex_number
from widgets.i18n import T

t = T("playground")


@dataclass(frozen=True)
class PlotControls:
    """The plotted variable (None: the formula has no number to plot over), its range, the other
    variables' values, and the marked grid index."""

    var: str | None = None
    x_range: tuple[float, float] = OTHER.plot
    values: dict[str, float] = field(default_factory=dict)
    idx: int = 0


def typeset(syntax: formula.Syntax, analysis: formula.Analysis) -> None:
    names = [tex_name(n) for n in syntax.scalars] + [tex_name(n, True) for n in syntax.vectors]
    head = "f" + (rf"\left({', '.join(names)}\right)" if names else "")
    st.latex(rf"{head} = {analysis.latex}")
    if analysis.simplified_latex and analysis.simplified_latex != analysis.latex:
        st.caption(t("simplified_note"))
        st.latex(rf"{head} = {analysis.simplified_latex}")
    if analysis.simplify_ran_out:
        st.caption(t("simplify_ran_out"))
    st.subheader(t("derivatives_header"))
    if not analysis.derivatives:
        st.info(t("no_variables"))
        return
    lines = []
    for name, latex in analysis.derivatives.items():
        vector = name in syntax.vectors
        lhs = rf"\nabla_{{{tex_name(name, True)}}} f" if vector else rf"\frac{{\partial f}}{{\partial {tex_name(name)}}}"
        lines.append(rf"{lhs} &= {latex}")
    st.latex(r"\begin{aligned}" + r" \\[8pt] ".join(lines) + r"\end{aligned}")
    if syntax.vectors:
        st.caption(t("gradient_note"))


def _variable(scalars: tuple[str, ...], example: Example | None) -> str:
    default_var = example.variable if example and example.variable in scalars else (
        "x" if "x" in scalars else scalars[0])
    if st.session_state.get("pg_var") not in scalars:
        st.session_state["pg_var"] = default_var
    return st.selectbox(t("var_label"), scalars, key="pg_var", help=t("var_help"))


def _range(var: str, example: Example | None) -> tuple[float, float]:
    s = scale(var)
    range_key = f"pg_range_{var}"
    wanted = example.x_range if example and example.variable == var and example.x_range else s.plot
    current = st.session_state.get(range_key)
    if not (isinstance(current, tuple) and s.low <= current[0] <= current[1] <= s.high):
        st.session_state[range_key] = tuple(float(v) for v in wanted)
    low, high = st.slider(t("range_label", name=label_name(var)), s.low, s.high, step=s.step, key=range_key,
                          help=t("range_help"))
    if high - low < s.step:
        st.warning(t("range_empty", step=f"{s.step:g}"))
        low, high = (low, low + s.step) if low + s.step <= s.high else (high - s.step, high)
    return float(low), float(high)


def _values(others: list[str], example: Example | None) -> dict[str, float]:
    values = {}
    preset = dict(example.values) if example else {}
    if others:
        cols = st.columns(min(len(others), 4))
        for index, name in enumerate(others):
            o = scale(name)
            key = f"pg_val_{name}"
            if not isinstance(st.session_state.get(key), float) or not o.low <= st.session_state[key] <= o.high:
                st.session_state[key] = float(preset.get(name, o.value))
            with cols[index % len(cols)]:
                values[name] = st.slider(t("value_label", name=label_name(name)), o.low, o.high, step=o.step, key=key)
    return values


def plot_controls(syntax: formula.Syntax, example: Example | None) -> PlotControls:
    """The plotted variable, its range, the other variables' values, the marked grid index."""
    c_var, c_range = st.columns([1, 3])
    with c_var:
        var = _variable(syntax.scalars, example)
    with c_range:
        low, high = _range(var, example)
    values = _values([n for n in syntax.scalars if n != var], example)
    grid = np.linspace(low, high, N_GRID)
    # the middle of the range by default; the browser resets it there when the range changes
    idx = st.select_slider(t("x0_label", name=label_name(var)), options=list(range(N_GRID)), value=N_GRID // 2,
                           key="pg_x0", format_func=lambda i: f"{grid[i]:.4g}", help=t("x0_help"))
    return PlotControls(var, (low, high), values, int(idx))


def plot_section(syntax: formula.Syntax, analysis: formula.Analysis, controls: PlotControls) -> None:
    x, f, df = analysis.x, analysis.f, analysis.df
    var, idx = controls.var, controls.idx
    x0, f0, df0 = float(x[idx]), float(f[idx]), float(df[idx])
    c_fig, c_num = st.columns([5, 2])
    with c_fig:
        st.plotly_chart(function_figure(x, f, df, x_title=var, f_name="f", df_name=f"∂f/∂{var}",
                                        title=t("fig_title", name=var), mark=(x0, f0, df0)), key="pg_fig")
    with c_num:
        v = tex_name(var)
        lines = [rf"{v}_0 &= {tex_number(x0)}"]
        lines += [rf"{tex_name(n)} &= {tex_number(val, 2)}" for n, val in controls.values.items()]
        lines += [rf"f &= {tex_number(f0)}", rf"\frac{{\partial f}}{{\partial {v}}} &= {tex_number(df0)}"]
        st.latex(r"\begin{aligned}" + r" \\ ".join(lines) + r"\end{aligned}")
        if not np.isfinite(f0):
            st.caption(t("undefined_note"))
        gaps = int(np.isnan(f).sum())
        if gaps:
            st.caption(t("gaps_note", n=gaps, total=N_GRID))
        if syntax.vectors:
            shown = ", ".join(rf"${tex_name(n, True)} = ({', '.join(f'{c:.3f}' for c in vec)})$"
                              for n, vec in analysis.vector_values.items())
            st.caption(t("vectors_note", vectors=shown, n=VECTOR_DIM))
