"""Formula playground: the learner types a formula (or picks one: activations, losses, a neuron, an
attention score); the page typesets it, differentiates it by every variable, plots f and f′, checks
the symbolic derivative against torch.autograd at random points, and decides whether two formulas
are the same function. The text is parsed by engine.formula.core (never run as code); the symbolic work
runs in engine.formula.pool's guarded processes, and every refusal is a translated message that
says where the problem is and what to write instead."""

from __future__ import annotations

import ast
import contextlib
import re
import threading
import unicodedata
from dataclasses import dataclass
from functools import cache
from types import SimpleNamespace

import numpy as np
import pandas as pd
import streamlit as st
import sympy as sp
from streamlit.errors import StreamlitPageNotFoundError

import lessons
from engine.formula import core as formula
from engine.formula import pool as formula_worker
from engine.formula.core import FUNCTIONS, FormulaError
from engine.limits import LimitError
from figures.formula import curves_figure, function_figure
from widgets import blocks
from widgets.blocks import show_code
from widgets.i18n import T

t = T("playground")
TIMEOUT = formula.DEFAULT_TIMEOUT  # seconds a worker may take before it is stopped
BOX_CHARS = 1000  # the box takes more than the engine's 200, so an over-long paste is explained, not cut
N_GRID = 201
VECTOR_DIM = formula.VECTOR_DIM
SEED_MAX = 9999
POINTS = (4, 32, 8)  # autograd check: slider low, high, default
SIMPLIFY = {"quick": 0.2, "thorough": None, "off": 0.2}  # share of the timeout simplification may use


# ----- examples and what names mean -------------------------------------------------------------


@dataclass(frozen=True)
class Example:
    key: str
    text: str
    variable: str | None = None
    x_range: tuple[float, float] | None = None
    values: tuple[tuple[str, float], ...] = ()


EXAMPLES = (
    Example("sigmoid", "sigmoid(x)", "x", (-6.0, 6.0)),
    Example("relu", "relu(x)", "x", (-3.0, 3.0)),
    Example("tanh", "tanh(x)", "x", (-4.0, 4.0)),
    Example("softplus", "softplus(x)", "x", (-5.0, 5.0)),
    Example("gelu", "gelu(x)", "x", (-4.0, 4.0)),
    Example("mse", "(y - p)^2", "p", (-0.5, 1.5), (("y", 1.0),)),
    Example("bce", "-(y*log(p) + (1-y)*log(1-p))", "p", (0.01, 0.99), (("y", 1.0),)),
    Example("ce_grad", "p - y", "p", (0.0, 1.0), (("y", 1.0),)),
    Example("softmax_ce", "log(exp(z1) + exp(z2)) - z1", "z1", (-5.0, 5.0), (("z2", 0.0),)),
    Example("neuron", "sigmoid(w*x + b)", "x", (-6.0, 6.0), (("w", 1.0), ("b", 0.0))),
    Example("attention", "q.k/sqrt(d)", "d", (1.0, 64.0)),
)
DEFAULT_TEXT = "sigmoid(w*x + b)"

IDENTITIES = (
    ("tanh", "tanh(x)", "2*sigmoid(2*x) - 1"),
    ("relu_x", "relu(x) + relu(-x)", "x"),
    ("relu_abs", "relu(x) + relu(-x)", "abs(x)"),
    ("softplus", "softplus(x) - softplus(-x)", "x"),
    ("softmax2", "exp(z1)/(exp(z1) + exp(z2))", "sigmoid(z1 - z2)"),
    ("sigmoid_slope", "sigmoid(x)*(1 - sigmoid(x))", "exp(-x)/(1 + exp(-x))^2"),
    ("gelu_relu", "gelu(x)", "relu(x)"),
    ("undecided", "sqrt(-1 - x^2)", "sqrt(-2 - x^2)"),
)


@dataclass(frozen=True)
class Scale:
    """What a name's values usually are: slider bounds and step, the default plotted range and
    fixed value, and where the random test points are drawn."""

    low: float
    high: float
    step: float
    plot: tuple[float, float]
    value: float
    sample: tuple[float, float]


SCALES = {
    "p": Scale(0.0, 1.0, 0.01, (0.01, 0.99), 0.5, (0.01, 0.99)),  # a probability
    "y": Scale(0.0, 1.0, 0.01, (0.0, 1.0), 1.0, (0.0, 1.0)),  # a label
    "d": Scale(1.0, 128.0, 1.0, (1.0, 64.0), 16.0, (1.0, 64.0)),  # a dimension
}
OTHER = Scale(-10.0, 10.0, 0.05, (-5.0, 5.0), 0.5, (-2.0, 2.0))


def scale(name: str) -> Scale:
    return SCALES.get(name, OTHER)


def domain(names) -> dict[str, tuple[float, float]]:
    """Sampling intervals by name (engine.formula.core's {name: (low, high), "*": default} form)."""
    return {n: scale(n).sample for n in names if n in SCALES} | {"*": OTHER.sample}


def example_for(text: str) -> Example | None:
    return next((e for e in EXAMPLES if e.text == text.strip()), None)


# ----- messages: engine errors in the learner's language, with where and what instead -----------


@cache
def _engine_texts(lang: str) -> dict[str, str]:
    """The engine's English hints and descriptions → their translation (keys eng_* in the toml)."""
    return {e["en"]: e[lang] for k, e in lessons.ui_strings("playground").items() if k.startswith("eng_")}


def engine_text(text: str, fallback: str) -> str:
    """One of the engine's fixed English phrases in the current language (else a generic one)."""
    known = _engine_texts(t.lang).get(text)
    if known is not None:
        return known
    return text if t.lang == "en" else t(fallback)


FOLDED = re.compile(r"^it looks like (['\"])(.+)\1 but is not ASCII")


def visible(ch: str) -> str:
    """A character as it can be shown in a message (invisible ones become a placeholder)."""
    return {"\n": "↵", "\r": "↵", "\t": "⇥", " ": "␣"}.get(ch, ch if ch.isprintable() else "⍰")


def char_hint(ch: str, hint: str) -> str:
    """What to write instead of a refused character, in the learner's language."""
    if ch in formula.LOOK_ALIKES:
        plain = formula.LOOK_ALIKES[ch]
        special = {"a sum of terms": "hint_sum", "nothing (quotes are not allowed)": "hint_typographic_quote"}
        return t(special[plain]) if plain in special else t("hint_lookalike", plain=plain)
    folded = FOLDED.match(hint)
    if folded:
        return t("hint_folded", plain=folded.group(2))
    return engine_text(hint, "hint_other_char")


def variant(code: str, params: dict) -> str:
    """The message key: some codes are raised with different details (sub-messages say more)."""
    if code == "syntax":
        return next((f"syntax_{v}" for k, v in (("open", "open"), ("hint", "hint"), ("column", "close"))
                     if k in params), "syntax")
    if code == "arity" and params.get("arity") in (1, 2):
        return f"arity_{params['arity']}"
    if code == "bad_character" and "name" in params and t.lang == "en":
        return "bad_character_named"  # Unicode's character names are English: other languages show the code point
    choices = {
        "bad_name": ("limit", "bad_name_long"),
        "vector_as_number": ("column", "vector_as_number_at"),
        "unknown_function": ("suggestion", "unknown_function_suggest"),
        "result_too_large": ("column", "result_too_large_at"), "unsupported": ("what", "unsupported_what"),
    }
    if code in choices and params.get(choices[code][0]) is not None:
        return choices[code][1]
    if code == "not_finite":
        return "not_finite_word" if "name" in params else "not_finite_number" if "literal" in params else code
    if code == "result_too_large" and "length" in params:
        return "result_too_long"
    return code


def message(exc: FormulaError | LimitError) -> str:
    """t.error(exc) with the engine's English details translated and the most specific wording."""
    params = dict(exc.params)
    if "char" in params:
        params["hint"] = char_hint(params["char"], params.get("hint", ""))
        params["char"] = visible(params["char"])
    elif "hint" in params:
        params["hint"] = engine_text(params["hint"], "hint_general")
    if "what" in params and exc.code == "not_allowed":
        params["what"] = engine_text(params["what"], "what_other")
    if isinstance(params.get("timeout"), float):
        params["timeout"] = f"{params['timeout']:g}"
    return t.error(SimpleNamespace(code=variant(exc.code, params), params=params))


def pointer(text: str, column: int) -> str:
    """The text, and a ^ under `column` (1-based; wide characters count twice, invisible ones
    are shown as ⍰ so the caret lines up)."""
    shown, pad = [], 0
    for index, ch in enumerate(text):
        wide = unicodedata.east_asian_width(ch) in ("W", "F")
        shown.append(visible(ch) if not ch.isprintable() or ch in "\t\n\r" else ch)
        if index < column - 1:
            pad += 2 if wide else 1
    return "".join(shown) + "\n" + " " * pad + "^"


def show_error(exc: FormulaError, text: str | None = None, side: str | None = None) -> None:
    """A friendly message (st.info for an empty box, st.error otherwise) and, where the engine
    names a column, the text with a ^ under it. The text itself stays in its box."""
    body = message(exc)
    if side:
        body = t("side_prefix", side=side) + " " + body
    (st.info if exc.code == "empty" else st.error)(body)
    column = exc.params.get("column")
    if text and isinstance(column, int) and 1 <= column <= len(text) + 1:
        st.code(pointer(text, column), language=None)


# ----- the worker pool: started early, without blocking the page --------------------------------


def _warm() -> None:
    with contextlib.suppress(FormulaError, OSError):
        formula.warm_up()


@st.cache_resource(show_spinner=False)
def warm_up_thread() -> threading.Thread:
    """formula.warm_up() in the background, once per server process: the first start of the
    workers (imports SymPy and torch) takes seconds; the page draws meanwhile."""
    thread = threading.Thread(target=_warm, daemon=True, name="nml-formula-warm-up")
    thread.start()
    return thread


def spinner():
    return st.spinner(t("spinner_start") if warm_up_thread().is_alive() else t("spinner"))


# ----- cached engine calls ----------------------------------------------------------------------


@st.cache_data(show_spinner=False, max_entries=128)
def parsed(text: str) -> str:
    """The formula built by SymPy in a worker (FormulaError for what cannot be built), as LaTeX."""
    return sp.latex(formula.parse(text, timeout=TIMEOUT))


def display_only(syntax: formula.Syntax) -> str | None:
    """The first function the formula calls that is shown but never computed (softmax), if any."""
    for node in ast.walk(syntax.root):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            spec = FUNCTIONS.get(node.func.id)
            if spec is not None and spec.display_only:
                return spec.name
    return None


@st.cache_data(show_spinner=False, max_entries=128)
def analysed(text: str, variable: str | None, x_range: tuple[float, float], values: tuple, seed: int,
             mode: str) -> formula.Analysis:
    return formula.analyse(text, variable=variable, x_range=x_range, n_grid=N_GRID, values=dict(values),
                           vector_dim=VECTOR_DIM, seed=seed, simplify=mode != "off",
                           simplify_budget=SIMPLIFY[mode], timeout=TIMEOUT)


def sample_points(syntax: formula.Syntax, n: int, seed: int) -> dict[str, np.ndarray]:
    """n random test points: scalars (n,), vectors (n, VECTOR_DIM), uniform in their domain."""
    rng = np.random.default_rng(seed)
    where = domain(syntax.scalars + syntax.vectors)
    out = {}
    for name in syntax.scalars + syntax.vectors:
        low, high = where.get(name, where["*"])
        out[name] = rng.uniform(low, high, size=n if name in syntax.scalars else (n, VECTOR_DIM))
    return out


@st.cache_data(show_spinner=False, max_entries=64)
def autograd_rows(text: str, n: int, seed: int) -> tuple[formula.AutogradCheck, list[formula.AutogradCheck], dict]:
    """The check at n random points at once, then at each point alone (for the table)."""
    syntax = formula.read(text)
    points = sample_points(syntax, n, seed)
    listed = {k: v.tolist() for k, v in points.items()}
    summary = formula.autograd_check(text, points=listed or None, n_points=1, vector_dim=VECTOR_DIM,
                                     timeout=TIMEOUT)
    rows = [formula.autograd_check(text, points={k: [v[i]] for k, v in listed.items()} or None, n_points=1,
                                   vector_dim=VECTOR_DIM, timeout=TIMEOUT) for i in range(n if listed else 0)]
    return summary, rows, listed


@st.cache_data(show_spinner=False, max_entries=64)
def identity(lhs: str, rhs: str) -> formula.IdentityResult:
    names = formula.read(lhs).scalars + formula.read(rhs).scalars
    return formula.check_identity(lhs, rhs, domain=domain(names), timeout=TIMEOUT)


@st.cache_data(show_spinner=False, max_entries=64)
def side_curve(text: str, variable: str, x_range: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """One side of an identity over `variable` (a constant line if the side does not use it)."""
    syntax = formula.read(text)
    if variable in syntax.scalars:
        a = formula.analyse(text, variable=variable, x_range=x_range, n_grid=N_GRID, simplify=False,
                            timeout=TIMEOUT)
        return a.x, a.f
    a = formula.analyse(text, n_grid=2, simplify=False, timeout=TIMEOUT)
    x = np.linspace(x_range[0], x_range[1], N_GRID)
    return x, np.full(N_GRID, a.value)


SLOW = {"timeout", "too_much_memory"}  # failures worth remembering: retrying costs the whole timeout


def engine_call(key: tuple, fn, *args):
    """fn(*args), or the FormulaError it raised. A timeout is remembered for this session (the
    same request is not retried on every rerun) until the learner asks to try again."""
    failed = st.session_state.setdefault("pg_failed", {})
    if key in failed:
        return failed[key]
    try:
        with spinner():
            return fn(*args)
    except FormulaError as exc:
        if exc.code in SLOW:
            failed[key] = exc
        return exc


def retry_button(key: tuple, widget_key: str) -> None:
    if st.button(t("retry"), key=widget_key):
        st.session_state.get("pg_failed", {}).pop(key, None)
        st.rerun()


def link(page: str, label: str) -> None:
    """A link to another lesson (a caption when this page runs on its own, outside the app)."""
    try:
        st.page_link(page, label=label, icon=":material/arrow_forward:")
    except StreamlitPageNotFoundError:
        st.caption(f"→ {label}")


# ----- LaTeX helpers ----------------------------------------------------------------------------


def tex_name(name: str, vector: bool = False) -> str:
    """A variable's name as LaTeX (d_k → d_{k}, w1 → w_{1}); vectors bold. The name was checked
    by formula.read (letters, digits, _), so it is a plain Symbol name."""
    body = sp.latex(sp.Symbol(name))
    return rf"\mathbf{{{body}}}" if vector else body


def label_name(name: str) -> str:
    """A variable's name for a $…$ widget label, braced so a subscript can follow (d_k → {d_{k}})."""
    return "{" + tex_name(name) + "}"


def tex_number(v: float, digits: int = 4) -> str:
    if v is None or not np.isfinite(v):
        return r"\text{" + t("undefined") + "}"
    return f"{v:.{digits}f}" if 1e-3 <= abs(v) < 1e5 or v == 0 else sp.latex(sp.Float(v, digits))


def fmt_values(values, digits: int = 10) -> str:
    """A scalar or a vector as short text for a table cell (vectors with fewer digits, to fit)."""
    values = values if isinstance(values, list) else [values]
    digits = digits if len(values) == 1 else min(digits, 5)
    parts = [f"{float(v):.{digits}g}" for v in values]
    return parts[0] if len(parts) == 1 else "(" + ", ".join(parts) + ")"


# ----- on_change callbacks ------------------------------------------------------------------------


def pick_example() -> None:
    """A gallery pick: put its text in the box, forget per-variable settings, reset the picker."""
    key = st.session_state.get("pg_example")
    example = next((e for e in EXAMPLES if e.key == key), None)
    if example is not None:
        st.session_state["pg_text"] = example.text
        for name in [k for k in st.session_state if str(k).startswith(("pg_range_", "pg_val_", "pg_x0", "pg_var"))]:
            del st.session_state[name]
    st.session_state["pg_example"] = None


def pick_identity() -> None:
    key = st.session_state.get("pg_id_example")
    pair = next((p for p in IDENTITIES if p[0] == key), None)
    if pair is not None:
        st.session_state["pg_lhs"], st.session_state["pg_rhs"] = pair[1], pair[2]
    st.session_state["pg_id_example"] = None


# ----- sections ---------------------------------------------------------------------------------


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


def plot_controls(syntax: formula.Syntax, example: Example | None) -> tuple[str, tuple[float, float], dict, int]:
    """The plotted variable, its range, the other variables' values, the marked grid index."""
    scalars = syntax.scalars
    default_var = example.variable if example and example.variable in scalars else (
        "x" if "x" in scalars else scalars[0])
    if st.session_state.get("pg_var") not in scalars:
        st.session_state["pg_var"] = default_var
    others = [n for n in scalars if n != st.session_state["pg_var"]]
    c_var, c_range = st.columns([1, 3])
    with c_var:
        var = st.selectbox(t("var_label"), scalars, key="pg_var", help=t("var_help"))
    s = scale(var)
    range_key = f"pg_range_{var}"
    wanted = example.x_range if example and example.variable == var and example.x_range else s.plot
    current = st.session_state.get(range_key)
    if not (isinstance(current, tuple) and s.low <= current[0] <= current[1] <= s.high):
        st.session_state[range_key] = tuple(float(v) for v in wanted)
    with c_range:
        low, high = st.slider(t("range_label", name=label_name(var)), s.low, s.high, step=s.step, key=range_key,
                              help=t("range_help"))
    if high - low < s.step:
        st.warning(t("range_empty", step=f"{s.step:g}"))
        low, high = (low, low + s.step) if low + s.step <= s.high else (high - s.step, high)
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
    grid = np.linspace(low, high, N_GRID)
    # the middle of the range by default; the browser resets it there when the range changes
    idx = st.select_slider(t("x0_label", name=label_name(var)), options=list(range(N_GRID)), value=N_GRID // 2, key="pg_x0",
                           format_func=lambda i: f"{grid[i]:.4g}", help=t("x0_help"))
    return var, (float(low), float(high)), values, int(idx)


def plot_section(syntax: formula.Syntax, analysis: formula.Analysis, var: str, values: dict, idx: int) -> None:
    x, f, df = analysis.x, analysis.f, analysis.df
    x0, f0, df0 = float(x[idx]), float(f[idx]), float(df[idx])
    c_fig, c_num = st.columns([5, 2])
    with c_fig:
        st.plotly_chart(function_figure(x, f, df, x_title=var, f_name="f", df_name=f"∂f/∂{var}",
                                        title=t("fig_title", name=var), mark=(x0, f0, df0)), key="pg_fig")
    with c_num:
        v = tex_name(var)
        lines = [rf"{v}_0 &= {tex_number(x0)}"]
        lines += [rf"{tex_name(n)} &= {tex_number(val, 2)}" for n, val in values.items()]
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


def autograd_section(text: str, syntax: formula.Syntax) -> None:
    st.header(t("autograd_header"))
    st.markdown(t.section("autograd"))
    names = syntax.scalars + syntax.vectors
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
    key = ("autograd", text, n, seed)
    out = engine_call(key, autograd_rows, text, n, seed)
    if isinstance(out, FormulaError):
        show_error(out, text)
        if out.code in SLOW:
            retry_button(key, "pg_retry_autograd")
        return
    summary, rows, points = out
    status_text = {"ok": t("status_ok"), "kink": t("status_kink"), "nonfinite": t("status_nonfinite")}
    table = {"#": list(range(1, len(rows) + 1))}
    for name in names:
        table[name] = [fmt_values(points[name][i], 6) for i in range(len(rows))]
    many = len(names) > 1
    if many:
        table[t("col_variable")] = [r.worst["variable"] if r.worst else "—" for r in rows]
    table[t("col_sympy")] = [fmt_values(r.worst["symbolic"]) if r.worst else "—" for r in rows]
    table[t("col_torch")] = [fmt_values(r.worst["torch"]) if r.worst else "—" for r in rows]
    table[t("col_delta")] = [f"{r.max_abs_diff:.1e}" if r.n_compared else "—" for r in rows]
    table[t("col_status")] = [status_text["ok" if r.n_compared else "kink" if r.n_kinks else "nonfinite"]
                              for r in rows]
    st.dataframe(pd.DataFrame(table), hide_index=True, key="pg_table")
    if many:
        st.caption(t("table_many_note"))
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


def identity_section() -> None:
    st.header(t("identity_header"))
    st.markdown(t.section("identity"))
    st.session_state.setdefault("pg_lhs", IDENTITIES[0][1])
    st.session_state.setdefault("pg_rhs", IDENTITIES[0][2])
    labels = {key: f"{lhs}  ≟  {rhs}" for key, lhs, rhs in IDENTITIES}
    st.selectbox(t("id_example_label"), list(labels), index=None, key="pg_id_example", format_func=labels.get,
                 placeholder=t("id_example_placeholder"), on_change=pick_identity)
    c_l, c_r = st.columns(2)
    with c_l:
        lhs = st.text_input(t("lhs_label"), key="pg_lhs", max_chars=BOX_CHARS)
    with c_r:
        rhs = st.text_input(t("rhs_label"), key="pg_rhs", max_chars=BOX_CHARS)
    readable = True
    for side, text in ((t("lhs_side"), lhs), (t("rhs_side"), rhs)):
        try:
            formula.read(text)
        except FormulaError as exc:
            show_error(exc, text, side)
            readable = False
    if not readable:
        return
    key = ("identity", lhs, rhs)
    result = engine_call(key, identity, lhs, rhs)
    if isinstance(result, FormulaError):
        show_error(result)
        if result.code in SLOW:
            retry_button(key, "pg_retry_identity")
        return
    st.latex(rf"{result.lhs_latex} \;\overset{{?}}{{=}}\; {result.rhs_latex}")
    method = t(f"method_{result.method}") if result.method else ""
    if result.status == "equal":
        if result.method == "symbolic":
            st.success(t("id_equal_symbolic"))
        else:
            st.success(t("id_equal_numeric", n=result.n_compared, tested=result.n_tested))
    elif result.status == "not_equal":
        st.error(t("id_not_equal", method=method))
        ce = result.counterexample
        point = ", ".join(rf"{tex_name(n, isinstance(v, list))} = "
                          + (rf"({', '.join(f'{c:.4f}' for c in v)})" if isinstance(v, list) else tex_number(v, 6))
                          for n, v in ce["point"].items())
        st.latex(r"\begin{aligned}" + (rf"&{point} \\ " if point else "")
                 + rf"\text{{{t('lhs_side')}}} &= {tex_number(ce['lhs'], 6)} \\ "
                 rf"\text{{{t('rhs_side')}}} &= {tex_number(ce['rhs'], 6)} \\ "
                 rf"|\Delta| &= {tex_number(abs(ce['lhs'] - ce['rhs']), 6)}\end{{aligned}}")
    else:
        st.warning(t("id_undecided", n=result.n_compared, tested=result.n_tested))
    if result.symbolic_ran_out:
        st.caption(t("id_ran_out"))
    identity_plot(lhs, rhs)


def identity_plot(lhs: str, rhs: str) -> None:
    """Both sides over one variable (the others at 0.5), when both are scalar formulas."""
    left, right = formula.read(lhs), formula.read(rhs)
    names = sorted(set(left.scalars) | set(right.scalars))
    if not names or left.vectors or right.vectors:
        return
    var = "x" if "x" in names else names[0]
    x_range = scale(var).plot
    curves = []
    for text in (lhs, rhs):
        out = engine_call(("side", text, var), side_curve, text, var, x_range)
        if isinstance(out, FormulaError):
            return
        curves.append(out)
    others = [n for n in names if n != var]
    st.plotly_chart(curves_figure(curves[0][0], {t("lhs_side"): curves[0][1], t("rhs_side"): curves[1][1]},
                                  x_title=var, title=t("id_fig_title", name=var), height=320), key="pg_id_fig")
    if others:
        st.caption(t("id_fig_note", names=", ".join(others)))


def functions_help() -> None:
    with st.expander(t("help_header")):
        st.markdown(t.section("syntax"))
        st.dataframe(pd.DataFrame({
            t("col_function"): [f"{n}(z)" if spec.arity == 1 else f"{n}(a, b)" for n, spec in FUNCTIONS.items()],
            t("col_meaning"): [t(f"fn_{n}") for n in FUNCTIONS],
        }), hide_index=True)


# ----- the page ---------------------------------------------------------------------------------
warm_up_thread()
st.title(t("title"))
st.markdown(t.section("intuition"))
st.info(t.section("safety"), icon=":material/shield:")

st.header(t("input_header"))
st.session_state.setdefault("pg_text", DEFAULT_TEXT)
examples = {e.key: f"{t('ex_' + e.key)}: {e.text}" for e in EXAMPLES}
c_pick, c_mode = st.columns([3, 1])
with c_pick:
    st.selectbox(t("example_label"), list(examples), index=None, key="pg_example", format_func=examples.get,
                 placeholder=t("example_placeholder"), on_change=pick_example)
with c_mode:
    modes = {m: t(f"simplify_{m}") for m in SIMPLIFY}
    mode = st.segmented_control(t("simplify_label"), list(modes), format_func=modes.get, default="quick",
                                required=True, key="pg_simplify", help=t("simplify_help", timeout=f"{TIMEOUT:g}"))
mode = mode if mode in SIMPLIFY else "quick"
text = st.text_input(t("text_label"), key="pg_text", max_chars=BOX_CHARS,
                     help=t("text_help", limit=formula.MAX_CHARS))
functions_help()

try:
    syntax = formula.read(text)
except FormulaError as exc:
    syntax = None
    show_error(exc, text)

if syntax is not None:
    # built once in a worker (SymPy evaluates as it builds: 9^9^9, 1/0, sqrt(-1) are refused here)
    built = engine_call(("parse", text), parsed, text)
    if isinstance(built, FormulaError):
        show_error(built, text)
        if built.code in SLOW:
            retry_button(("parse", text), "pg_retry_parse")
        syntax = None
    elif display_only(syntax):
        st.header(t("formula_header"))
        st.latex(rf"f = {built}")
        st.info(t("err_display_only", function=display_only(syntax)))
        syntax = None

if syntax is not None:
    example = example_for(text)
    st.header(t("formula_header"))
    formula_box = st.container()  # filled once the analysis is back; the controls it needs come first
    if syntax.scalars:
        st.subheader(t("plot_header"))
        var, x_range, values, idx = plot_controls(syntax, example)
    else:
        var, x_range, values, idx = None, OTHER.plot, {}, 0
    vseed = 0
    if syntax.vectors:
        c_vseed, _ = st.columns([1, 3])
        vseed = int(c_vseed.number_input(t("vector_seed_label"), 0, SEED_MAX, 0, step=1, key="pg_vseed",
                                         help=t("vector_seed_help", n=VECTOR_DIM)))
    key = ("analyse", text, mode)
    args = (text, var, x_range, tuple(sorted(values.items())), vseed, mode)
    analysis = engine_call(key, analysed, *args)
    if isinstance(analysis, FormulaError):
        with formula_box:
            show_error(analysis, text)
            if analysis.code in SLOW:
                retry_button(key, "pg_retry_analyse")
        if analysis.code not in SLOW:
            syntax = None  # the formula cannot be built: the autograd check would say the same again
    else:
        with formula_box:
            typeset(syntax, analysis)
            if var is None:
                st.latex(rf"f = {tex_number(analysis.value, 6)}")
        if var is not None:
            plot_section(syntax, analysis, var, values, idx)
if syntax is not None:
    autograd_section(text, syntax)

identity_section()

# ----- show the code, what next -----------------------------------------------------------------
st.header(t("code_header"))
st.markdown(t.section("code"))
show_code(formula.read, formula._Walker.walk_BinOp, formula._Walker.walk_Call, formula.Sigmoid,
          formula_worker.task_autograd, formula_worker._torch_side)

st.header(t("what_next"))
st.markdown(t.section("next"))
link("views/errata.py", t("link_errata"))
link("views/attention/page.py", t("link_attention"))
