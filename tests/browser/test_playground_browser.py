"""The formula playground in a real browser, in English and in Chinese: type a formula, see it
typeset with its derivative by every variable, its plot, and the check against torch.autograd pass;
type a hostile and a malformed formula, see the translated message (with the column) while the text
stays in the box, then a valid formula works again; the identity checker says equal for its default
pair and not equal, with a counterexample, for relu(x) + relu(-x) vs x. Clean, every formula fitting
its column."""

from __future__ import annotations

import time

import pytest

import lessons

FORMULA = "tanh(w*x + b)"
AGAIN = "sigmoid(w*x + b)"
HOSTILE = "__import__('os')"  # refused at the quote, column 12: the text is never run
MALFORMED = "x^^2"  # two operators in a row, column 3
SECTIONS = ("input_header", "formula_header", "autograd_header", "identity_header", "code_header")
WORKER_WAIT_S = 90  # the first start of the formula workers (SymPy, torch) on a busy machine


def s(key: str, lang: str, **kw) -> str:
    return lessons.text("playground", key, lang, **kw)


def box(lab, key: str):
    return lab.page.locator(f"[data-testid='stMain'] .st-key-{key} input")


def katex_sources(lab) -> list[str]:
    """The LaTeX source of every display formula on the page."""
    return lab.page.locator("[data-testid='stMain'] .katex-display annotation").all_text_contents()


def alerts(lab, kind: str) -> list[str]:
    return lab.page.locator(f"[data-testid='stMain'] [data-testid='stAlertContent{kind}']").all_inner_texts()


def wait_for_engine(lab) -> None:
    """The first visit may show the worker pool starting: wait until both checks have answered."""
    deadline = time.monotonic() + WORKER_WAIT_S
    while time.monotonic() < deadline:
        if len(alerts(lab, "Success")) >= 2 or alerts(lab, "Error"):
            return
        time.sleep(1.0)
        lab.wait_idle()
    raise AssertionError("the formula engine did not answer in time")


def plot_traces(lab) -> dict:
    """The function figure: its title, its x range and its traces' lengths (from plotly.js)."""
    return lab.page.evaluate(
        """() => { const p = document.querySelector('.st-key-pg_fig .js-plotly-plot');
                  if (!p) return null;
                  return {title: (p.layout.title && p.layout.title.text) || '',
                          n: p._fullData.map(d => d.x.length)}; }""")


def type_formula(lab, text: str) -> None:
    lab.type_into(box(lab, "pg_text"), text)
    assert box(lab, "pg_text").input_value() == text


def check_analysed(lab, lang: str, func: str) -> None:
    """The formula typeset, a derivative by each of b, w, x, the plot drawn, autograd passing."""
    sources = katex_sources(lab)
    assert any(src.startswith("f") and func in src for src in sources), sources
    derivatives = next((src for src in sources if r"\nabla" in src or r"\partial f}{\partial b}" in src), "")
    for name in ("b", "w", "x"):
        assert rf"\frac{{\partial f}}{{\partial {name}}}" in derivatives, derivatives
    fig = plot_traces(lab)
    assert fig is not None, "the plot of f and f′ is not drawn"
    assert "∂f/∂x" in fig["title"] and fig["n"][:2] == [201, 201], fig
    success = alerts(lab, "Success")
    ok_lead = s("autograd_ok", lang, n="§", delta="§", rel="§", tol="§").split("§")[0]
    assert any(a.startswith(ok_lead) for a in success), success
    assert not alerts(lab, "Error")


def check_refused(lab, lang: str, text: str, column: int) -> None:
    """A translated message naming the column, a caret under it, the text kept in the box."""
    type_formula(lab, text)
    where = f"olumn {column}" if lang == "en" else f"第 {column} 列"
    errors = alerts(lab, "Error")
    assert len(errors) == 1, errors
    assert where in errors[0], (where, errors[0])
    if lang == "zh":
        assert all(word not in errors[0] for word in ("Column", "cannot", "the formula")), errors[0]
    assert "Traceback" not in lab.page.locator("[data-testid='stMain']").inner_text()
    code = lab.page.locator("[data-testid='stMain'] [data-testid='stCode']:not([data-testid='stExpander'] *)")
    assert any(text in c and "^" in c for c in code.all_inner_texts()), code.all_inner_texts()
    assert box(lab, "pg_text").input_value() == text
    # no derivative, no plot for a refused formula
    assert plot_traces(lab) is None


def check_identities(lab, lang: str) -> None:
    lab.scroll_to_heading(s("identity_header", lang))
    # the default pair: tanh(x) = 2σ(2x) − 1, proved (or, when SymPy runs out of time on a busy
    # machine, equal at every random point)
    assert box(lab, "pg_lhs").input_value() == "tanh(x)"
    equal = (s("id_equal_symbolic", lang), s("id_equal_numeric", lang, n="§", tested="§"))
    parts = [max(text.split("§"), key=len) for text in equal]  # the longest fixed part of each
    assert any(p in a for p in parts for a in alerts(lab, "Success")), (parts, alerts(lab, "Success"))
    lab.type_into(box(lab, "pg_lhs"), "relu(x) + relu(-x)")
    lab.type_into(box(lab, "pg_rhs"), "x")
    wait_for_engine(lab)
    lead = s("id_not_equal", lang, method="§").split("§")[0]
    errors = alerts(lab, "Error")
    assert len(errors) == 1 and errors[0].startswith(lead), errors
    counter = next((src for src in katex_sources(lab) if r"|\Delta|" in src), None)
    assert counter is not None and s("lhs_side", lang) in counter, katex_sources(lab)
    assert lab.page.locator(".st-key-pg_id_fig .js-plotly-plot").count() == 1
    lab.shot(f"playground-browser-{lang}-identity-not-equal", full=False)
    # back to an equal pair: the page is clean again
    lab.type_into(box(lab, "pg_rhs"), "abs(x)")
    wait_for_engine(lab)
    assert not alerts(lab, "Error")


# English here; every page in Chinese is walked (and its formulas measured) by test_language.py
@pytest.mark.parametrize("lang", ["en"])
def test_playground_types_refuses_and_checks_identities(lab, cjk, lang):
    lab.open("playground")
    if lang == "zh":
        lab.set_language(lessons.LANGS["zh"])
    wait_for_engine(lab)
    assert lab.h1() == s("title", lang)
    if lang == "zh":
        assert cjk.search(lab.h1())
    assert box(lab, "pg_text").input_value() == AGAIN  # the default: one neuron

    type_formula(lab, FORMULA)
    wait_for_engine(lab)
    check_analysed(lab, lang, r"\tanh{\left(b + w x \right)}")
    lab.assert_clean()

    check_refused(lab, lang, HOSTILE, 12)
    lab.shot(f"playground-browser-{lang}-refused", full=False)
    check_refused(lab, lang, MALFORMED, 3)
    type_formula(lab, AGAIN)
    wait_for_engine(lab)
    check_analysed(lab, lang, r"\sigma\left(b + w x\right)")
    lab.assert_clean()

    check_identities(lab, lang)
    lab.assert_clean()

    lab.scroll_to_heading(s("title", lang))
    lab.shot(f"playground-browser-{lang}")
    for key in SECTIONS:
        lab.scroll_to_heading(s(key, lang))
        lab.shot(f"playground-browser-{lang}-{key.removesuffix('_header')}", full=False)
    lab.assert_clean()
    lab.assert_formulas_fit()
