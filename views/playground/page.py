"""Formula playground: the learner types a formula (or picks one: activations, losses, a neuron, an
attention score); the page typesets it, differentiates it by every variable, plots f and f′, checks
the symbolic derivative against torch.autograd at random points, and decides whether two formulas
are the same function. The text is read once per rerun by engine.formula.read (never run as code)
and that reading is passed to every call; the symbolic work runs in engine.formula's guarded
worker processes, and every refusal is a message translated by its code that says where the
problem is and what to write instead."""

from __future__ import annotations

import streamlit as st

import engine.formula as formula
from engine.formula import FormulaError, analyses, functions, walk
from views.playground import calls
from views.playground.calls import (
    BOX_CHARS,
    SIMPLIFY,
    SLOW,
    TIMEOUT,
    VECTOR_DIM,
    engine_call,
    retry_button,
)
from views.playground.checks import SEED_MAX, autograd_section, identity_section
from views.playground.examples import DEFAULT_TEXT, EXAMPLES, example_for, pick_example
from views.playground.messages import show_error
from views.playground.parts import functions_help, link
from views.playground.plot import PlotControls, plot_controls, plot_section, typeset
from views.playground.tex import tex_number
from widgets.blocks import show_code
from widgets.i18n import T

t = T("playground")

calls.warm_up_thread()
st.title(t("title"))
st.markdown(t.section("intuition"))
st.info(t.section("safety"), icon=":material/shield:")

# ----- the formula: typed or picked, read once ----------------------------------------------------
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

syntax = calls.read(text)  # the one reading of this text in this rerun: every call below gets it
if isinstance(syntax, FormulaError):
    show_error(syntax, text)
    syntax = None

if syntax is not None:
    # built once in a worker (SymPy evaluates as it builds: 9^9^9, 1/0, sqrt(-1) are refused here)
    built = engine_call(("parse", text), calls.latex, text, syntax)
    if isinstance(built, FormulaError):
        show_error(built, text)
        if built.code in SLOW:
            retry_button(("parse", text), "pg_retry_parse")
        syntax = None
    elif syntax.display_only():
        st.header(t("formula_header"))
        st.latex(rf"f = {built}")
        st.info(t("err_display_only", function=syntax.display_only()))
        syntax = None

# ----- typeset, derivatives, plot -------------------------------------------------------------------
if syntax is not None:
    st.header(t("formula_header"))
    formula_box = st.container()  # filled once the analysis is back; the controls it needs come first
    controls = PlotControls()
    if syntax.scalars:
        st.subheader(t("plot_header"))
        controls = plot_controls(syntax, example_for(text))
    vseed = 0
    if syntax.vectors:
        c_vseed, _ = st.columns([1, 3])
        vseed = int(c_vseed.number_input(t("vector_seed_label"), 0, SEED_MAX, 0, step=1, key="pg_vseed",
                                         help=t("vector_seed_help", n=VECTOR_DIM)))
    key = ("analyse", text, mode)
    analysis = engine_call(key, calls.analysed, text, controls.var, controls.x_range,
                           tuple(sorted(controls.values.items())), vseed, mode, syntax)
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
            if controls.var is None:
                st.latex(rf"f = {tex_number(analysis.value, 6)}")
        if controls.var is not None:
            plot_section(syntax, analysis, controls)

# ----- the two checks -------------------------------------------------------------------------------
if syntax is not None:
    autograd_section(syntax)

identity_section()

# ----- show the code, what next -----------------------------------------------------------------
st.header(t("code_header"))
st.markdown(t.section("code"))
show_code(formula.read, walk.Walker.walk_BinOp, walk.Walker.walk_Call, functions.Sigmoid,
          analyses.task_autograd, analyses._torch_side)

st.header(t("what_next"))
st.markdown(t.section("next"))
link("views/errata/page.py", t("link_errata"))
link("views/attention/page.py", t("link_attention"))
