"""engine.formula: what the parser builds, the function table against torch, derivatives against
their known forms, analyses on a grid, autograd checks and identity checks (float64)."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest
import sympy as sp
import torch
import torch.nn.functional as F
from scipy import special

import engine.formula as formula
from engine.formula import FUNCTIONS, FormulaError, parse, read
from engine.formula.analyses import _compare
from engine.formula.build import build
from engine.formula.functions import NUMPY_FUNCTIONS, VectorSymbol, elementary
from engine.limits import LimitError

x, y, w, b, p, d = sp.symbols("x y w b p d", real=True)
q, k = VectorSymbol("q", real=True), VectorSymbol("k", real=True)
# softmax over three logits a, b, c, then cross-entropy with a target distribution y1, y2, y3
SUM = "(exp(a)+exp(b)+exp(c))"
SOFTMAX_CE = f"-(y1*log(exp(a)/{SUM}) + y2*log(exp(b)/{SUM}) + y3*log(exp(c)/{SUM}))"


@pytest.fixture(scope="module", autouse=True)
def workers():
    formula.warm_up()


def numeric(expr, symbols):
    return sp.lambdify(symbols, expr, modules=[NUMPY_FUNCTIONS, "scipy", "numpy"])


# ----- parse -------------------------------------------------------------------------------------


@pytest.mark.parametrize("text,expected", [
    ("x^2 + 1", x**2 + 1),              # ^ binds like **, not like Python's xor (x^(2+1))
    ("2*x^2", 2 * x**2),
    ("-x^2", -(x**2)),
    ("2^3^2", sp.Integer(512)),         # right-associative: 2^(3^2)
    ("x**2 - x^2", sp.Integer(0)),
    ("x^-1", 1 / x),
    ("(w*x + b)^2", (w * x + b) ** 2),
    ("0.1 + 0.2", sp.Rational(3, 10)),  # exact rationals, not floats
    ("1e-3*x", x / 1000),
    ("e^x", sp.exp(x)),
    ("pi/2", sp.pi / 2),
    ("sqrt(x^2)", sp.Abs(x)),           # names are real symbols
    ("max(x, y) - min(x, y)", sp.Max(x, y) - sp.Min(x, y)),
    ("abs(-3)", sp.Integer(3)),
    ("2^1000", sp.Integer(2) ** 1000),
])
def test_parse_builds_the_expected_expression(text, expected):
    got = parse(text)
    assert sp.simplify(got - expected) == 0 and got.atoms(sp.Float) == set()


def test_parse_keeps_the_network_functions_and_prints_them():
    e = parse("sigmoid(w*x + b) + relu(x) + softplus(x) + gelu(x)")
    assert {type(f).__name__ for f in e.atoms(sp.Function)} == {"Sigmoid", "ReLU", "Softplus", "GELU"}
    assert sp.latex(parse("sigmoid(x)")) == r"\sigma\left(x\right)"
    assert sp.latex(parse("relu(x)^2")) == r"\operatorname{ReLU}\left(x\right)^{2}"
    assert sp.latex(parse("q.k/sqrt(d)")) == r"\frac{\mathbf{k} \cdot \mathbf{q}}{\sqrt{d}}"
    assert parse("sigmoid(0)") == sp.Rational(1, 2) and parse("relu(-2)") == 0 and parse("relu(x^2)") == x**2


def test_dot_product_is_symmetric_and_differentiates_to_the_other_vector():
    assert parse("q.k") == parse("k.q")
    e = parse("q.k / sqrt(d)")
    assert sp.simplify(sp.diff(e, q) - k / sp.sqrt(d)) == 0
    assert sp.simplify(sp.diff(parse("q.q"), q) - 2 * q) == 0
    parsed = build("q.k / sqrt(d)")
    assert parsed.scalars == ("d",) and parsed.vectors == ("k", "q")


def test_names_as_written_are_kept_even_if_they_cancel():
    parsed = build("x - x + y")
    assert parsed.expr == y and parsed.scalars == ("x", "y")


@pytest.mark.parametrize("text,code,column", [
    ("2x + 1", "syntax", 2),
    ("x y", "syntax", 3),
    ("x +", "syntax", 3),
    ("x*/y", "syntax", 3),
    ("sigmoid(x", "syntax", 8),
    ("x)", "syntax", 2),
    ("x // 2", "not_allowed", 3),
    ("1 + 1/0", "division_by_zero", 7),
    ("3^2000", "exponent_too_large", 3),
    ("7^1000*7^1000", "result_too_large", 8),
    ("10000001*x", "number_too_large", 1),
    ("sigmoid(x, y)", "arity", 1),
    ("x + Sigmoid(x)", "unknown_function", 5),
    ("exp + 1", "reserved_name", 1),
    ("x + 2×x", "bad_character", 6),
    ("q.k + q", "vector_as_number", 7),
    ("log(x) + log(0)", "not_finite", 10),
    ("sqrt(-4)", "not_real", 1),
    ("x.__class__", "bad_name", 1),
])
def test_errors_say_where(text, code, column):
    with pytest.raises(FormulaError) as e:
        parse(text)
    assert e.value.code == code, str(e.value)
    assert e.value.params.get("column") == column, (e.value.params, str(e.value))
    assert f"column {column}" in str(e.value) or f"Column {column}" in str(e.value)


@pytest.mark.parametrize("text,hint", [
    ("2x", "2*x"), ("Sigmoid(x)", "did you mean sigmoid"), ("x·y", "write *"), ("x−1", "write -"),
    ("x²", "^2"), ("а*x", "write a"), ("x\u200b", "invisible"), ("x // 2", "write /"),
    ("max(x, y, z)", "takes 2 arguments"), ("sigmoid", "sigmoid(x)"), ("x = 1", "without '='"),
])
def test_errors_say_what_to_write_instead(text, hint):
    with pytest.raises(FormulaError) as e:
        parse(text)
    assert hint in str(e.value)


# ----- the function table -------------------------------------------------------------------------


@pytest.mark.parametrize("name", [n for n, s in FUNCTIONS.items() if not s.display_only])
@pytest.mark.parametrize("seed", [0, 1])
def test_sympy_form_matches_torch(name, seed):
    spec = FUNCTIONS[name]
    rng = np.random.default_rng(seed)
    args = [np.concatenate([rng.uniform(-8, 8, 64), [-1.0, -0.5, 0.25, 1.0, 3.0]]) for _ in range(spec.arity)]
    if name in ("log", "sqrt"):
        args = [np.abs(a) + 1e-3 for a in args]
    symbols = sp.symbols(f"u0:{spec.arity}", real=True)
    expr = spec.sympy(*symbols)
    reference = spec.torch(*(torch.tensor(a, dtype=torch.float64) for a in args)).numpy()
    for form in (expr, elementary(expr)):
        got = np.broadcast_to(numeric(form, symbols)(*args), reference.shape)
        np.testing.assert_allclose(got, reference, rtol=1e-12, atol=1e-14)


def test_every_function_has_both_forms():
    for name, spec in FUNCTIONS.items():
        assert callable(spec.sympy) and callable(spec.torch) and spec.arity in (1, 2), name
    assert FUNCTIONS["softmax"].display_only and not FUNCTIONS["sigmoid"].display_only


# derivatives: SymPy's derivative of the *elementary* definition against the known textbook form
@pytest.mark.parametrize("text,known", [
    ("sigmoid(x)", "sigmoid(x)*(1 - sigmoid(x))"),
    ("tanh(x)", "1 - tanh(x)^2"),
    ("softplus(x)", "sigmoid(x)"),
    ("sigmoid(w*x + b)", "w*sigmoid(w*x + b)*(1 - sigmoid(w*x + b))"),
    ("x^2 + sin(x)", "2*x + cos(x)"),
])
def test_derivative_known_forms(text, known):
    f, known = parse(text), parse(known)
    from_definition = sp.diff(elementary(f).rewrite(sp.exp), x)
    assert sp.simplify(from_definition - elementary(known).rewrite(sp.exp)) == 0
    # the classes' own derivative (what pages show) is the same function
    assert sp.simplify(elementary(sp.diff(f, x) - known).rewrite(sp.exp)) == 0


def test_gelu_derivative_is_phi_plus_x_times_density():
    known = (1 + sp.erf(x / sp.sqrt(2))) / 2 + x * sp.exp(-x**2 / 2) / sp.sqrt(2 * sp.pi)
    assert sp.simplify(sp.diff(elementary(parse("gelu(x)")), x) - known) == 0
    assert sp.simplify(sp.diff(parse("gelu(x)"), x) - known) == 0


def test_relu_derivative_is_the_step():
    assert sp.diff(parse("relu(x)"), x) == sp.Heaviside(x)
    assert sp.diff(elementary(parse("relu(x)")), x) == sp.Heaviside(x)
    t = torch.tensor([-1.5, 2.0], dtype=torch.float64, requires_grad=True)
    torch.relu(t).sum().backward()
    assert t.grad.tolist() == [float(sp.Heaviside(-1.5)), float(sp.Heaviside(2.0))] == [0.0, 1.0]


def test_softmax_cross_entropy_gradient_is_p_minus_y():
    a, b_, c, y1, y2, y3 = sp.symbols("a b c y1 y2 y3", real=True)
    grad = sp.diff(parse(SOFTMAX_CE), a).subs(y3, 1 - y1 - y2)
    p_a = sp.exp(a) / (sp.exp(a) + sp.exp(b_) + sp.exp(c))
    assert sp.simplify(grad - (p_a - y1)) == 0
    # and against torch's own cross-entropy with probability targets
    rng = np.random.default_rng(0)
    z, t = rng.normal(size=(16, 3)), rng.dirichlet(np.ones(3), size=16)
    logits = torch.tensor(z, requires_grad=True)
    F.cross_entropy(logits, torch.tensor(t), reduction="sum").backward()
    symbols = [a, b_, c, y1, y2, y3]
    ours = np.stack([numeric(sp.diff(parse(SOFTMAX_CE), v), symbols)(*z.T, *t.T) for v in (a, b_, c)], axis=1)
    np.testing.assert_allclose(ours, logits.grad.numpy(), atol=1e-12)


# ----- analyse ------------------------------------------------------------------------------------


def test_analyse_sigmoid_neuron_on_a_grid():
    out = formula.analyse("sigmoid(w*x + b)", values={"w": 2.0, "b": -1.0}, x_range=(-4, 4), n_grid=81)
    s = special.expit(2 * out.x - 1)
    np.testing.assert_allclose(out.f, s, rtol=1e-13)
    np.testing.assert_allclose(out.df, 2 * s * (1 - s), rtol=1e-12)
    assert out.grid_variable == "x" and out.fixed == {"b": -1.0, "w": 2.0} and out.variables == ("b", "w", "x")
    assert set(out.derivatives) == {"b", "w", "x"} and r"\sigma" in out.derivatives["x"]
    assert out.latex == r"\sigma\left(b + w x\right)"
    assert out.value == pytest.approx(float(special.expit(2 * 0.5 - 1)))


def test_analyse_masks_values_that_are_not_finite():
    out = formula.analyse("log(x)", x_range=(-1, 1), n_grid=5)
    assert np.isnan(out.f[:3]).all() and out.f[3] == pytest.approx(np.log(0.5)) and out.f[4] == 0
    assert np.isnan(out.df[:3]).all() and out.df[3] == pytest.approx(2.0)
    out = formula.analyse("sqrt(x)", x_range=(0, 1), n_grid=3)
    assert np.isnan(out.df[0]) and out.df[2] == pytest.approx(0.5)


def test_analyse_vectors_and_constants():
    out = formula.analyse("q.k / sqrt(d)", x_range=(1, 4), n_grid=4)
    qv, kv = (np.array(out.vector_values[n]) for n in ("q", "k"))
    np.testing.assert_allclose(out.f, qv @ kv / np.sqrt(out.x), rtol=1e-13)
    assert out.vectors == ("k", "q") and r"\mathbf{k}" in out.derivatives["q"]
    const = formula.analyse("2^10 - 24")
    assert const.grid_variable is None and const.x.size == 0 and const.value == 1000.0


def test_analyse_choice_of_variable_and_simplification():
    out = formula.analyse("(y - p)^2", variable="y", values={"p": 1.0}, x_range=(0, 2), n_grid=3)
    np.testing.assert_allclose(out.f, [1.0, 0.0, 1.0])
    np.testing.assert_allclose(out.df, [-2.0, 0.0, 2.0])
    raw = formula.analyse("x*x + x*x", simplify=False)
    assert raw.simplified_latex is None and raw.latex == "2 x^{2}"


@pytest.mark.parametrize("kwargs,error", [
    ({"variable": "z"}, ValueError), ({"n_grid": 1}, LimitError), ({"timeout": 0}, ValueError),
    ({"timeout": float("inf")}, ValueError), ({"x_range": (1, 0)}, ValueError),
    ({"x_range": (0, float("nan"))}, ValueError), ({"values": {"x": float("nan")}}, ValueError),
    ({"simplify_budget": 1.5}, ValueError), ({"vector_dim": 0}, LimitError),
])
def test_analyse_bad_arguments(kwargs, error):
    with pytest.raises(error):
        formula.analyse("x^2 + y", **kwargs)


def test_softmax_is_display_only():
    assert sp.latex(parse("softmax(x)")) == r"\operatorname{softmax}\left(x\right)"
    for call in (lambda: formula.analyse("softmax(x)"), lambda: formula.autograd_check("softmax(x)")):
        with pytest.raises(FormulaError) as e:
            call()
        assert e.value.code == "display_only"


# ----- autograd check -----------------------------------------------------------------------------

GALLERY = [
    ("sigmoid(w*x + b)", (-2.0, 2.0)),
    ("x^2 + sin(x)", (-2.0, 2.0)),
    ("(y - p)^2", (-2.0, 2.0)),
    ("-(y*log(p) + (1-y)*log(1-p))", {"p": (0.01, 0.99), "y": (0.0, 1.0)}),
    (SOFTMAX_CE, {"*": (-3.0, 3.0), "y1": (0.0, 1.0), "y2": (0.0, 1.0), "y3": (0.0, 1.0)}),
    ("q.k / sqrt(d)", {"d": (1.0, 64.0), "*": (-2.0, 2.0)}),
    ("gelu(x) + softplus(x) * tanh(x) - relu(x)", (-3.0, 3.0)),
]


@pytest.mark.parametrize("text,domain", GALLERY)
@pytest.mark.parametrize("seed", [0, 7])
def test_autograd_check_gallery(text, domain, seed):
    out = formula.autograd_check(text, n_points=48, seed=seed, domain=domain)
    assert out.passed and out.n_compared == 48 and out.n_nonfinite == 0
    assert out.max_abs_diff < 1e-9 and out.value_diff < 1e-9
    assert set(out.per_variable) == set(read(text).scalars + read(text).vectors)


def test_autograd_check_sets_kinks_aside():
    out = formula.autograd_check("relu(x)", points={"x": [-1.0, 0.0, 2.0]})
    assert (out.n_kinks, out.n_compared, out.n_nonfinite) == (1, 2, 0) and out.passed
    out = formula.autograd_check("max(x, y) + abs(x - 1)", points={"x": [0.5, 1.0, 2.0], "y": [0.5, 3.0, 1.0]})
    assert (out.n_kinks, out.n_compared) == (2, 1)


def test_autograd_check_sets_non_finite_points_aside():
    out = formula.autograd_check("log(x) + sqrt(x)", points={"x": [-1.0, 0.0, 0.5, 2.0]})
    assert (out.n_nonfinite, out.n_compared) == (2, 2) and out.passed


def test_autograd_comparison_can_fail():
    # the comparison itself, fed a symbolic gradient that is off by 1e-6 at one point
    names, n = ("x",), 5
    pts = {"x": np.linspace(-1, 1, n)[:, None]}
    good = {"x": np.cos(pts["x"])}
    bad = {"x": good["x"].copy()}
    bad["x"][3, 0] += 1e-6
    f = np.sin(pts["x"])
    valid, none = np.ones(n, dtype=bool), np.zeros(n, dtype=bool)
    ok = _compare(names, pts, f, f, good, good, valid, none, valid, 1e-9)
    assert ok["passed"] and ok["max_abs_diff"] == 0
    out = _compare(names, pts, f, f, bad, good, valid, none, valid, 1e-9)
    assert not out["passed"] and out["max_abs_diff"] == pytest.approx(1e-6)
    assert out["worst"]["variable"] == "x" and out["worst"]["point"]["x"] == pytest.approx(0.5)


def test_autograd_check_bad_points():
    with pytest.raises(ValueError):
        formula.autograd_check("x*y", points={"x": [1.0]})
    with pytest.raises(ValueError):
        formula.autograd_check("q.k", points={"q": [[1.0, 2.0]], "k": [[1.0, 2.0]]})  # vector_dim is 3
    with pytest.raises(LimitError):
        formula.autograd_check("x", n_points=0)


# ----- identities ---------------------------------------------------------------------------------


@pytest.mark.parametrize("lhs,rhs", [
    ("sigmoid(-x)", "1 - sigmoid(x)"),
    ("softplus(x) - softplus(-x)", "x"),
    ("tanh(x)", "2*sigmoid(2*x) - 1"),
    ("q.k", "k.q"),
    ("(x + 1)^2", "x^2 + 2*x + 1"),
])
def test_identity_proved_symbolically(lhs, rhs):
    # the symbolic budget is wall-clock time: a generous one, so a busy machine (the whole suite
    # runs side by side) does not turn a proof into the numeric fallback
    out = formula.check_identity(lhs, rhs, symbolic_budget=0.9, timeout=30.0)
    assert (out.status, out.method) == ("equal", "symbolic")


@pytest.mark.parametrize("lhs,rhs", [("relu(x) - relu(-x)", "x"), ("max(x, y) + min(x, y)", "x + y")])
def test_identity_equal(lhs, rhs):
    out = formula.check_identity(lhs, rhs)
    assert out.status == "equal" and out.counterexample is None


@pytest.mark.parametrize("lhs,rhs", [
    # attention errata, two scores: scaling inside the softmax is not a constant factor outside it
    ("exp(a/s)/(exp(a/s) + exp(b/s))", "exp(a)/(exp(a) + exp(b))/s"),
    ("sin(x)", "cos(x)"),  # positional-encoding errata: sin and cos of the same angle
    # FFN errata (scalar): no activation around the output layer
    ("relu(w2*relu(w1*x + b1) + b2)", "w2*relu(w1*x + b1) + b2"),
    ("sigmoid(x)^2", "sigmoid(x)*(1 - sigmoid(x))"),
])
def test_identity_counterexample(lhs, rhs):
    out = formula.check_identity(lhs, rhs)
    assert out.status == "not_equal" and out.method == "numeric"
    point = out.counterexample["point"]
    values = [float(parse(side).subs({sp.Symbol(n, real=True): v for n, v in point.items()}).evalf())
              for side in (lhs, rhs)]
    assert values == pytest.approx([out.counterexample["lhs"], out.counterexample["rhs"]], rel=1e-9)
    assert abs(values[0] - values[1]) > 1e-6


def test_identity_constant_gap_is_found_symbolically():
    out = formula.check_identity("(x + y)^30", "(y + x)^30 + 1e-12")
    assert (out.status, out.method) == ("not_equal", "symbolic")


def test_identity_undecided_without_real_values():
    out = formula.check_identity("sqrt(-1 - x^2)", "sqrt(-2 - x^2)")
    assert out.status == "undecided" and out.n_compared == 0


def test_identity_falls_back_to_numbers_when_simplify_is_slow():
    # SymPy expands both sides of this one: far past the symbolic share of the timeout
    out = formula.check_identity("(x + 1)^300*(x - 1)^300", "(x^2 - 1)^300", domain=(-0.9, 0.9),
                                 timeout=3.0, symbolic_budget=0.2)
    assert out.symbolic_ran_out and (out.status, out.method) == ("equal", "numeric")


# ----- layout ------------------------------------------------------------------------------------

FORMULA_DIR = Path(formula.__file__).parent


def _imported_formula_modules(path: Path) -> set[str]:
    """The engine.formula modules a file imports anywhere in it, function-level imports included
    ('engine.formula' itself stands for the package's __init__)."""
    found = set()
    submodules = {p.stem for p in FORMULA_DIR.glob("*.py")}
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("engine.formula")}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from . import x / from .x import y
                base = "engine.formula" + (f".{base}" if base else "")
            if base == "engine.formula":
                found |= {f"engine.formula.{a.name}" if a.name in submodules else base for a in node.names}
            elif base.startswith("engine.formula."):
                found.add(base)
    return found


def _formula_import_graph() -> dict[str, set[str]]:
    graph = {}
    for path in FORMULA_DIR.glob("*.py"):
        name = "engine.formula" if path.stem == "__init__" else f"engine.formula.{path.stem}"
        graph[name] = _imported_formula_modules(path) - {name}
    return graph


def test_formula_modules_import_one_way_without_a_cycle():
    """read → build → analyses → pool → api: the import graph of engine/formula (function-level
    imports counted) has no cycle, no module imports the package back, and the pool never imports api."""
    graph = _formula_import_graph()
    assert {"engine.formula.read", "engine.formula.build", "engine.formula.analyses", "engine.formula.pool",
            "engine.formula.api"} <= set(graph)
    state: dict[str, str] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = "open"
        for nxt in sorted(graph.get(node, ())):
            assert state.get(nxt) != "open", " → ".join([*path, node, nxt])
            if nxt not in state:
                visit(nxt, [*path, node])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [])
    assert not [m for m, deps in graph.items() if m != "engine.formula" and "engine.formula" in deps]
    chain = ["read", "build", "analyses", "pool", "api"]
    for i, lower in enumerate(chain):
        later = {f"engine.formula.{m}" for m in chain[i + 1:]}
        assert not graph[f"engine.formula.{lower}"] & later, (lower, graph[f"engine.formula.{lower}"] & later)


def test_the_cycle_check_sees_function_level_imports(tmp_path):
    """The graph above counts an import hidden inside a function (the old formula ↔ worker cycle)."""
    hidden = tmp_path / "m.py"
    hidden.write_text("def f():\n    from engine.formula.api import analyse\n    from . import pool\n")
    assert _imported_formula_modules(hidden) == {"engine.formula.api", "engine.formula.pool"}
