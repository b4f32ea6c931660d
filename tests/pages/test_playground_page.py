"""The formula playground under AppTest: both languages, the plot and the live numbers against torch,
the gallery, the autograd table against an independent torch.autograd, the identity checker, every
kind of bad input (a translated message with the column, the text kept in its box), a timeout
followed by a working formula, and every engine error code, hint code and construct code translated."""

from __future__ import annotations

import ast
import json
import re
import time
import tomllib

import numpy as np
import pytest
import torch
from streamlit.testing.v1 import AppTest

import engine.formula as formula
from tests.pages.apptest import ROOT, open_page, plotly_array
from views.playground import messages

PAGE = "views/playground/page.py"
CJK = re.compile(r"[\u4e00-\u9fff]")


def _page(lang: str = "en") -> AppTest:
    """The page through the app's router (the shared helper)."""
    return open_page(PAGE, lang)


def _texts(at: AppTest) -> list[str]:
    parts = []
    for kind in ("title", "header", "subheader", "markdown", "caption", "latex", "info", "warning", "success",
                 "error", "code"):
        parts += [str(e.value) for e in getattr(at, kind)]
    parts += [w.label for w in (*at.slider, *at.text_input, *at.selectbox, *at.number_input, *at.select_slider)]
    parts += [m.label for m in at.get("metric")] + [str(c) for df in at.dataframe for c in df.value.columns]
    for chart in at.get("plotly_chart"):
        spec = json.loads(chart.proto.spec)
        parts.append(str((spec["layout"].get("title") or {}).get("text", "")))
        parts += [str(trace.get("name", "")) for trace in spec["data"]]
    return parts


def _function_chart(at: AppTest) -> dict:
    charts = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    return next(c for c in charts if "∂f/∂" in (c["layout"].get("title") or {}).get("text", ""))


def _curve(spec: dict, index: int) -> tuple[np.ndarray, np.ndarray]:
    trace = spec["data"][index]
    x = np.array([np.nan if v is None else v for v in trace["x"]], dtype=float) if isinstance(trace["x"], list) \
        else plotly_array(trace["x"])
    y = np.array([np.nan if v is None else v for v in trace["y"]], dtype=float) if isinstance(trace["y"], list) \
        else plotly_array(trace["y"])
    return x, y


def _live_numbers(at: AppTest) -> dict[str, float]:
    """The aligned block beside the plot: x_0, the fixed values, f and ∂f/∂v."""
    block = next(e.value for e in at.latex if "_0 &=" in e.value).strip("$\n ")
    out = {}
    for line in block.replace(r"\begin{aligned}", "").replace(r"\end{aligned}", "").split(r"\\"):
        name, value = (s.strip() for s in line.split("&="))
        out["df" if "partial" in name else name] = float(value)
    return out


def _autograd_table(at: AppTest):
    return next(df.value for df in at.dataframe if "torch.autograd" in df.value.columns)


def _type(at: AppTest, text: str, key: str = "pg_text") -> AppTest:
    at.text_input(key=key).input(text).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_page_runs_in_both_languages_without_missing_text(lang):
    at = _page(lang)
    texts = _texts(at)
    assert not [s for s in texts if "⟦" in s]
    assert at.title[0].value == ("Formula playground: type it, differentiate it, check it" if lang == "en"
                                 else "公式练习场：输入、求导、验证")
    assert not at.error and not at.warning
    # the autograd check and the identity check both pass on the defaults
    assert len(at.success) == 2
    assert at.text_input(key="pg_text").value == "sigmoid(w*x + b)"
    if lang == "zh":
        assert CJK.search(at.success[0].value) and CJK.search(at.header[0].value)


def test_plot_and_live_numbers_equal_torch_and_follow_the_controls():
    at = _page()
    # the neuron example: w = 1, b = 0, x over (−6, 6), x₀ in the middle
    spec = _function_chart(at)
    x, f = _curve(spec, 0)
    _, df = _curve(spec, 1)
    xt = torch.linspace(-6, 6, 201, dtype=torch.float64)
    np.testing.assert_allclose(x, xt.numpy(), atol=1e-12)
    np.testing.assert_allclose(f, torch.sigmoid(xt).numpy(), atol=1e-12)
    np.testing.assert_allclose(df, (torch.sigmoid(xt) * (1 - torch.sigmoid(xt))).numpy(), atol=1e-12)
    live = _live_numbers(at)
    assert (live["x_0"], live["f"], live["df"]) == (0.0, 0.5, 0.25)
    assert (live["b"], live["w"]) == (0.0, 1.0)
    # the derivative with respect to every variable is typeset
    derivatives = next(e.value for e in at.latex if r"\partial f}{\partial b}" in e.value)
    assert r"\partial f}{\partial w}" in derivatives and r"\partial f}{\partial x}" in derivatives
    # w = 2, x₀ = 3 (grid index 150): f = σ(2x), ∂f/∂x = 2σ(1 − σ)
    at.slider(key="pg_val_w").set_value(2.0).run()
    at.select_slider(key="pg_x0").set_value(150).run()
    spec = _function_chart(at)
    _, f = _curve(spec, 0)
    _, df = _curve(spec, 1)
    s = torch.sigmoid(2 * xt)
    np.testing.assert_allclose(f, s.numpy(), atol=1e-12)
    np.testing.assert_allclose(df, (2 * s * (1 - s)).numpy(), atol=1e-12)
    live = _live_numbers(at)
    assert live["x_0"] == 3.0 and live["w"] == 2.0
    assert live["f"] == pytest.approx(torch.sigmoid(torch.tensor(6.0)).item(), abs=5e-5)
    assert live["df"] == pytest.approx(float(2 * s[150] * (1 - s[150])), abs=5e-5)
    # another range, then another variable on the axis
    at.slider(key="pg_range_x").set_value((-2.0, 2.0)).run()
    x, _ = _curve(_function_chart(at), 0)
    assert (x[0], x[-1]) == (-2.0, 2.0)
    at.selectbox(key="pg_var").set_value("w").run()
    spec = _function_chart(at)
    assert spec["layout"]["xaxis"]["title"]["text"] == "w"
    assert {s.key for s in at.slider} >= {"pg_val_b", "pg_val_x"}


def test_gallery_puts_an_example_in_the_box_with_its_settings():
    at = _page()
    at.selectbox(key="pg_example").set_value("bce").run()
    assert not at.exception
    assert at.text_input(key="pg_text").value == "-(y*log(p) + (1-y)*log(1-p))"
    assert at.selectbox(key="pg_example").value is None  # the picker is ready for the next pick
    assert at.selectbox(key="pg_var").value == "p" and at.slider(key="pg_val_y").value == 1.0
    # y = 1: f = −log p, ∂f/∂p = −1/p, over p ∈ (0.01, 0.99)
    x, f = _curve(_function_chart(at), 0)
    _, df = _curve(_function_chart(at), 1)
    p = torch.linspace(0.01, 0.99, 201, dtype=torch.float64, requires_grad=True)
    loss = -(1.0 * torch.log(p) + (1 - 1.0) * torch.log(1 - p))
    (grad,) = torch.autograd.grad(loss.sum(), p)
    np.testing.assert_allclose(x, p.detach().numpy(), atol=1e-12)
    np.testing.assert_allclose(f, loss.detach().numpy(), atol=1e-12)
    np.testing.assert_allclose(df, grad.numpy(), atol=1e-9)
    # probabilities are drawn inside (0.01, 0.99), labels inside (0, 1)
    domain = next(c.value for c in at.caption if "∈" in c.value)
    assert "p ∈ (0.01, 0.99)" in domain and "y ∈ (0, 1)" in domain
    assert len(at.success) == 2 and not at.error


def test_autograd_table_equals_an_independent_torch_autograd():
    at = _page()
    table = _autograd_table(at)
    assert len(table) == 8
    # the page's points: default_rng(seed) uniform in (−2, 2), the variables in order b, w, x
    rng = np.random.default_rng(0)
    points = {name: rng.uniform(-2.0, 2.0, size=8) for name in ("b", "w", "x")}
    tensors = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in points.items()}
    torch.sigmoid(tensors["w"] * tensors["x"] + tensors["b"]).sum().backward()
    variable_col, sympy_col, torch_col = table.columns[4], table.columns[5], table.columns[6]
    for i, row in table.iterrows():
        for name in ("b", "w", "x"):
            assert float(row[name]) == pytest.approx(points[name][i], rel=1e-5)
        grad = float(tensors[row[variable_col]].grad[i])
        assert float(row[torch_col]) == pytest.approx(grad, rel=1e-9, abs=1e-15)
        assert float(row[sympy_col]) == pytest.approx(grad, rel=1e-9, abs=1e-15)
    metrics = {m.label: m.value for m in at.get("metric")}
    assert float(metrics["max |Δ| vs torch.autograd"]) < 1e-12
    assert metrics["points compared"] == "8 / 8"
    # fewer points, another seed: other points
    at.slider(key="pg_points").set_value(4).run()
    at.number_input(key="pg_seed").set_value(5).run()
    table = _autograd_table(at)
    assert len(table) == 4
    assert float(table["b"][0]) == pytest.approx(np.random.default_rng(5).uniform(-2, 2, 4)[0], rel=1e-5)


def test_vectors_kinks_and_display_only_functions():
    at = _page()
    # q.k/√d: gradients with respect to the vectors, bold, and a passing check with vector rows
    _type(at, "q.k/sqrt(d)")
    block = next(e.value for e in at.latex if r"\nabla" in e.value)
    assert r"\nabla_{\mathbf{q}} f" in block and r"\nabla_{\mathbf{k}} f" in block
    assert any("components" in c.value for c in at.caption)
    table = _autograd_table(at)
    assert str(table["q"][0]).startswith("(") and at.success
    # relu: random points never sit on the kink, but the check says it leaves kinks out
    _type(at, "relu(x)*abs(y)")
    assert len(at.success) == 2 and not at.error
    # softmax is typeset and explained, never computed
    _type(at, "softmax(z)")
    assert any(r"\operatorname{softmax}" in e.value for e in at.latex)
    assert any("whole vector" in i.value for i in at.info) and not at.error
    assert not [df for df in at.dataframe if "torch.autograd" in df.value.columns]


def test_identity_checker_equal_not_equal_and_undecided():
    at = _page()
    assert any("Equal" in s.value and "proof" in s.value for s in at.success)
    at.selectbox(key="pg_id_example").set_value("relu_x").run()
    assert (at.text_input(key="pg_lhs").value, at.text_input(key="pg_rhs").value) == ("relu(x) + relu(-x)", "x")
    assert any("Not equal" in e.value for e in at.error)
    block = next(e.value for e in at.latex if r"|\Delta|" in e.value)
    x = float(re.search(r"x = (-?[\d.]+)", block).group(1))
    lhs = float(re.search(r"left side\} &= (-?[\d.]+)", block).group(1))
    rhs = float(re.search(r"right side\} &= (-?[\d.]+)", block).group(1))
    # relu(x) + relu(−x) = |x| ≠ x at a negative x
    assert x < 0 and lhs == pytest.approx(abs(x), abs=1e-4) and rhs == pytest.approx(x, abs=1e-4)
    # both sides drawn: they differ left of 0 only
    spec = next(json.loads(c.proto.spec) for c in at.get("plotly_chart")
                if "Both sides" in json.loads(c.proto.spec)["layout"]["title"]["text"])
    xs, left = _curve(spec, 0)
    _, right = _curve(spec, 1)
    np.testing.assert_allclose(left, np.abs(xs), atol=1e-12)
    np.testing.assert_allclose(right, xs, atol=1e-12)
    at.selectbox(key="pg_id_example").set_value("relu_abs").run()
    assert any("random points" in s.value for s in at.success)
    at.selectbox(key="pg_id_example").set_value("undecided").run()
    assert at.warning and "Undecided" in at.warning[0].value
    # an error on one side names the side and keeps both texts
    _type(at, "2x", key="pg_rhs")
    assert at.error and at.error[0].value.startswith("right side:")
    assert at.text_input(key="pg_rhs").value == "2x"


BAD = [
    # (text, column shown or None, a word of the English message)
    ("__import__('os').system('ls')", 12, "quotes"),
    ("x" * 1000, None, "1000 characters"),
    ("х + 1", 1, "CYRILLIC"),  # a Cyrillic х
    ("x − 1", 3, "MINUS SIGN"),
    ("（x + 1）", 1, "FULLWIDTH"),
    ("x\u200b+ 1", 2, "invisible"),
    ("9^9^9", 3, "exponent"),
    ("sigmoid(x", 8, "never closed"),
    ("2x", 2, "2*x"),
    ("foo(x)", 1, "Unknown function"),
    ("sigmod(x)", 1, "did you mean sigmoid"),
    ("x = 1", 3, "identity check"),
    ("x and y", 1, "'and'"),
    ("max(x)", 1, "two arguments"),
    ("q.k + q", 7, "vector"),
    ("1e400", 1, "infinite"),
    ("1/0", 3, "Division by zero"),
    ("sqrt(-1)", 1, "real number"),
]


def test_bad_input_gives_a_clear_message_and_keeps_the_text():
    at = _page()
    for text, column, word in BAD:
        _type(at, text)
        assert at.text_input(key="pg_text").value == text  # never lost
        assert len(at.error) == 1, (text, [e.value for e in at.error])
        message = at.error[0].value
        assert "⟦" not in message
        assert word in message, (text, message)
        if column is not None:
            assert f"column {column}" in message.lower(), (text, message)
            pointer = at.code[0].value.split("\n")
            assert pointer[1] == " " * (column - 1) + "^" or "（" in text  # wide characters shift the caret
        # nothing was analysed: no plot, no autograd table
        assert not [c for c in at.get("plotly_chart") if "∂f/∂" in json.loads(c.proto.spec)["layout"]["title"]["text"]]
    # empty: a friendly note, not an error
    _type(at, "")
    assert not at.error and any("empty" in i.value for i in at.info)
    # and the next formula works
    _type(at, "tanh(x)")
    assert not at.error and _function_chart(at)


def test_zh_messages_have_no_engine_english_in_them():
    """Translation: every bad input of BAD in Chinese, with its column; and none with engine English."""
    at = _page("zh")
    for text, column, _ in BAD:
        _type(at, text)
        message = at.error[0].value
        assert "⟦" not in message and CJK.search(message), (text, message)
        assert column is None or f"第 {column} 列" in message, (text, message)
    _type(at, "")
    assert not at.error and any("空" in i.value for i in at.info)
    for text in ("x and y", "x // 2", "(x, y)", "x if y else z", "x +", "x y", "()", "x */ y", "x.1", "x = 1",
                 "x % 2", "q.pi", "inf", "sigmoid + 1", "pi(x)", "a__b", "abcdefghijklmnopqrstuvwxyz",
                 "10000000", "x^2000", "(10*999999)^0.500001", "sin(exp(exp(100)))", "σ(x)", "x²"):
        _type(at, text)
        # the learner's own text, quoted back, may be anything
        message = re.sub(r"“[^”]*”", "", at.error[0].value)
        english = re.findall(r"\b(?!sigmoid|max|min|abs|exp|sqrt|softmax|pi|inf|and|or|if|else|not|x_1|a\.b|"
                             r"LaTeX|ASCII|SymPy|[a-z]\b)[A-Za-z]{3,}\b", message)
        assert not english, (text, message, english)


def test_a_timeout_is_reported_and_the_next_formula_works():
    at = _page()
    at.segmented_control(key="pg_simplify").set_value("thorough").run()
    start = time.monotonic()
    _type(at, "(x+y)^1000")
    assert time.monotonic() - start < formula.DEFAULT_TIMEOUT + 4
    assert at.error and "longer than 5 s" in at.error[0].value
    assert any(b.key == "pg_retry_analyse" for b in at.button)
    _type(at, "tanh(x)^2")
    assert not at.error and _function_chart(at)
    # the slow one is remembered for this session: not retried (and waited for) on every rerun
    start = time.monotonic()
    _type(at, "(x+y)^1000")
    assert time.monotonic() - start < 2.0 and "longer than 5 s" in at.error[0].value


def _engine_codes() -> set[str]:
    """Every error code engine/formula/ can raise: FormulaError("code", …) calls and {"code": …} replies."""
    codes = set()
    for path in sorted((ROOT / "engine/formula").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Call) and getattr(node.func, "id", None) == "FormulaError" and node.args
                    and isinstance(node.args[0], ast.Constant)):
                codes.add(node.args[0].value)
            if isinstance(node, ast.Dict):
                codes |= {v.value for k, v in zip(node.keys, node.values)
                          if isinstance(k, ast.Constant) and k.value == "code" and isinstance(v, ast.Constant)}
    return codes


def test_every_engine_code_has_en_and_zh_text():
    """The page translates by code: every error code the engine can raise (err_<code>, and the
    wordings the page picks by params), every hint code (hint_<code>) and every refused construct
    (what_<code>) has an English and a Chinese text that formats with the params the engine passes."""
    with (ROOT / "lessons/ui/playground.toml").open("rb") as f:
        table = tomllib.load(f)
    codes = _engine_codes()
    assert {"syntax", "bad_character", "not_allowed", "timeout", "too_much_memory", "internal"} <= codes
    keys = {f"err_{c}" for c in codes} | {f"err_{v}" for _, v in messages.CHOICES.values()}
    keys |= {"err_bad_character_named", "err_syntax_open", "err_syntax_hint", "err_syntax_close", "err_arity_1",
             "err_arity_2", "err_not_finite_word", "err_not_finite_number", "err_result_too_long"}
    keys |= {f"hint_{h}" for h in formula.HINTS} | {f"what_{w}" for w in formula.WHATS}
    missing = sorted(k for k in keys if not (table.get(k, {}).get("en") and table.get(k, {}).get("zh")))
    assert not missing, missing
    params = {"plain": "x", "value": "True", "kind": "Foo"}
    for key in {f"hint_{h}" for h in formula.HINTS} | {f"what_{w}" for w in formula.WHATS}:
        for lang in ("en", "zh"):
            assert "{" not in table[key][lang].format(**params), (key, lang)
    # nothing is looked up by the engine's English any more
    assert not [k for k in table if k.startswith("eng_")]
    page = "".join(p.read_text(encoding="utf-8") for p in (ROOT / "views/playground").glob("*.py"))
    assert "eng_" not in page and "LOOK_ALIKES" not in page


def test_hints_are_codes_with_params():
    """A refusal's hint and construct are codes, their details params: the page needs no English."""
    cases = {"x!": ("hint", "factorial"), "x×y": ("hint", "lookalike"), "２x": ("hint", "folded"),
             "x\u200by": ("hint", "invisible"), "2x": ("hint", "syntax_number_name"), "x // 2": ("what", "floordiv"),
             "x if y else z": ("what", "if_else"), "sigmoid(*x)": ("what", "starred")}
    for text, (param, code) in cases.items():
        with pytest.raises(formula.FormulaError) as e:
            formula.read(text)
        assert e.value.params[param] == code, (text, e.value.params)
    with pytest.raises(formula.FormulaError) as e:
        formula.read("x×y")
    assert e.value.params["plain"] == "*"
