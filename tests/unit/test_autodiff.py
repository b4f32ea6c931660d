"""The small expression graph (engine.ops.autodiff): our reverse-mode gradients equal
torch.autograd's, shared nodes accumulate, torch's own graph has the expected node kinds, and
hostile or unsuitable text is refused with a code."""

from __future__ import annotations

import math

import pytest
import torch

from engine.formula import FormulaError
from engine.ops.autodiff import (
    GALLERY,
    GraphError,
    graph,
    local_derivative,
    parse_scalar,
    torch_delta,
    torch_graph,
)

EXPRESSIONS = GALLERY + (
    "x*y + sin(x)",
    "max(x, y) * x - min(x, 2*y)",
    "abs(x)^3 + gelu(x) - softplus(x*y) / sqrt(x^2 + 1)",
    "2^x + exp(-x^2) * cos(y)",
    "-x * cos(x) / (2 + sin(y))",
    "x*x*x - 3*x",
    "sigmoid(tanh(w*x) * (x - b))",
    "relu(x - y) + pi*e*x",
    "cosh(x) * sinh(y) + erf(x*y) - tan(x / 3)",
)


def _values(names, seed):
    g = torch.Generator().manual_seed(seed)
    return {n: float(torch.empty(1).uniform_(-2.0, 2.0, generator=g)) for n in names}


@pytest.mark.parametrize("text", EXPRESSIONS)
def test_gradients_equal_autograd(text):
    syntax = parse_scalar(text)
    for seed in range(4):
        values = _values(syntax.scalars, seed)
        ours, theirs = graph(syntax, values), torch_graph(syntax, values)
        assert ours.finite
        assert ours.output.value == theirs.value  # the same torch functions, forward
        for name in syntax.scalars:
            g = theirs.grads[name]
            assert abs(ours.grads[name] - g) <= 1e-12 * max(1.0, abs(g)), (text, name, ours.grads[name], g)
        assert torch_delta(ours, theirs) <= 1e-12 * max(1.0, *map(abs, theirs.grads.values()))


def test_shared_variable_accumulates_both_edges():
    tr = graph("x*y + sin(x)", {"x": 2.0, "y": 3.0})
    x = next(n for n in tr.nodes if n.name == "x")
    into_x = [e for e in tr.edges if e.child == x.id]
    assert len(into_x) == 2
    # ∂f/∂x = y + cos(x), the sum of the two shares
    assert math.isclose(sum(e.contribution for e in into_x), 3.0 + math.cos(2.0), rel_tol=1e-15)
    assert tr.grads["x"] == x.grad
    mul = next(e for e in into_x if tr.nodes[e.parent].kind == "mul")
    assert (mul.local, mul.upstream, mul.contribution) == (3.0, 1.0, 3.0)


def test_edge_is_local_times_upstream_and_nodes_ordered():
    tr = graph("sigmoid(w*x + b)", {"w": 0.5, "x": 2.0, "b": -1.0})
    assert tr.output.name == "f" and tr.output.grad == 1.0
    for e in tr.edges:
        assert e.child < e.parent
        assert e.contribution == e.local * e.upstream
        assert e.upstream == tr.nodes[e.parent].grad
    for node in tr.nodes:
        if node.grad is not None and node.kind != "var" and node is not tr.output:
            assert node.grad == sum(e.contribution for e in tr.edges if e.child == node.id)


def test_numbers_get_no_gradient():
    tr = graph("3*x + 1", {"x": 1.0})
    assert [n.grad for n in tr.nodes if n.kind == "const"] == [None, None]
    assert tr.grads == {"x": 3.0}


def test_ties_follow_torch():
    for text in ("max(x, y)", "min(x, y)", "relu(x)", "abs(x)"):
        syntax = parse_scalar(text)
        values = {n: 0.0 for n in syntax.scalars}
        assert graph(syntax, values).grads == torch_graph(syntax, values).grads, text


def test_torch_graph_has_expected_node_kinds():
    tg = torch_graph("x*y + sin(x)", {"x": 2.0, "y": 3.0})
    names = [n.name for n in tg.nodes]
    assert names[0] == "AddBackward0"
    assert {"MulBackward0", "SinBackward0"} <= set(names)
    leaves = [n for n in tg.nodes if n.name == "AccumulateGrad"]
    assert sorted(n.leaf for n in leaves) == ["x", "y"]  # x once, though used twice
    x = next(n.id for n in leaves if n.leaf == "x")
    assert sum(1 for _, b in tg.edges if b == x) == 2  # reached from Mul and from Sin
    assert "SigmoidBackward0" in [n.name for n in torch_graph("sigmoid(w*x + b)", {"w": 1, "x": 1, "b": 1}).nodes]


def test_non_finite_values_are_flagged_not_raised():
    tr = graph("log(x)", {"x": 0.0})
    assert not tr.finite and tr.nodes[tr.bad_node].value == -math.inf
    tr = graph("x / (y - 1)", {"x": 1.0, "y": 1.0})
    assert not tr.finite
    tr = graph("exp(exp(x))", {"x": 10.0})
    assert not tr.finite
    assert local_derivative("log", 0, [-1.0], math.nan) == -1.0  # 1/u is finite where log(−1) is NaN
    assert not graph("log(x)", {"x": -1.0}).finite


@pytest.mark.parametrize("text,code", [
    ("__import__('os')", "bad_character"),
    ("x.__class__", "bad_name"),
    ("x" * 500, "too_long"),
    ("(x + ", "syntax"),
    ("softmax(x)", "display_only"),
    ("lambda: 1", "bad_character"),
])
def test_hostile_or_broken_text_refused(text, code):
    with pytest.raises(FormulaError) as info:
        parse_scalar(text)
    assert info.value.code == code


@pytest.mark.parametrize("text,code", [("1 + 2*pi", "graph_no_variables"), ("a.b + x", "graph_vector")])
def test_unsuitable_expressions_refused_with_code(text, code):
    with pytest.raises(GraphError) as info:
        parse_scalar(text)
    assert info.value.code == code
