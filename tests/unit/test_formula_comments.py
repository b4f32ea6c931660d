"""The arithmetic formulas written in engine comments agree with the code below them.

docs/ARCHITECTURE.md, style rule 2: "formulas in comments must match the code … a wrong comment is worse than none".
Each formula is read from the source (not copied here), turned into an expression tree with a
small whitelist evaluator (no eval), and computed with the same quantities the code uses.
"""

from __future__ import annotations

import ast
import inspect
import itertools
import re

import pytest

import engine.models.cnn as models
import engine.ops.conv as conv


def comment_formula(func, lhs: str) -> str:
    """The right-hand side of the comment `# <lhs> = <rhs>` inside `func`'s source."""
    source = inspect.getsource(func)
    found = re.findall(rf"#\s*{re.escape(lhs)}\s*=\s*(.+)$", source, flags=re.MULTILINE)
    assert len(found) == 1, f"expected one comment '# {lhs} = …' in {func.__name__}, found {found}"
    return found[0].strip()


def to_python(formula: str) -> str:
    """'⌊(n + 2p − k)/s⌋ + 1' → '((n + 2*p - k)//s) + 1'; 'k_h·k_w' → 'k_h*k_w'."""
    text = formula.replace("·", "*").replace("−", "-").replace("×", "*")
    # ⌊a/b⌋ is floor division: rewrite the one '/' inside the brackets
    text = re.sub(r"⌊(.*?)/(.*?)⌋", r"((\1)//(\2))", text)
    # implicit products: '2p' → '2*p'
    return re.sub(r"(\d)([A-Za-z_])", r"\1*\2", text)


_OPS = {ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b,
        ast.Mult: lambda a, b: a * b, ast.FloorDiv: lambda a, b: a // b}


def evaluate(formula: str, **values: int) -> int:
    """Integer arithmetic over named values: + − · and ⌊/⌋ only."""

    def walk(node):
        if isinstance(node, ast.Expression):
            return walk(node.body)
        if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
            return _OPS[type(node.op)](walk(node.left), walk(node.right))
        if isinstance(node, ast.Constant) and isinstance(node.value, int):
            return node.value
        if isinstance(node, ast.Name):
            return values[node.id]
        raise ValueError(f"unsupported in a comment formula: {ast.dump(node)}")

    return walk(ast.parse(to_python(formula), mode="eval"))


def test_evaluator():
    assert evaluate("⌊(n + 2p − k)/s⌋ + 1", n=28, p=0, k=3, s=1) == 26
    assert evaluate("3·3·32·64 + 64") == 18_496
    with pytest.raises(ValueError):
        evaluate("max(0, x)", x=1)


@pytest.mark.parametrize("n,k,s,p", [c for c in itertools.product((5, 13, 28), (1, 2, 3, 5), (1, 2, 3), (0, 1, 2))])
def test_output_size_comment(n, k, s, p):
    formula = comment_formula(conv.output_size, "n_out")
    assert evaluate(formula, n=n, k=k, s=s, p=p) == conv.output_size(n, k, s, p)


def test_output_size_docstring_states_the_same_formula():
    formula = comment_formula(conv.output_size, "n_out")
    assert formula in conv.output_size.__doc__


@pytest.fixture(scope="module")
def model_rows():
    model = models.SeedCNN()
    layers = {"conv1": model.conv1, "conv2": model.conv2, "conv3": model.conv3, "fc1": model.fc1, "fc2": model.fc2}
    return [(row, layers[row.name]) for row in models.summary(model) if row.name in layers]


def test_conv_params_and_macs_comments(model_rows):
    params_f = comment_formula(models._conv_row, "params")
    macs_f = comment_formula(models._conv_row, "MACs")
    for row, layer in model_rows:
        if row.kind != "Conv2D":
            continue
        C_out, C_in, k_h, k_w = layer.weight.shape
        _, H_out, W_out = row.output_shape
        symbols = dict(C_out=C_out, C_in=C_in, k_h=k_h, k_w=k_w, H_out=H_out, W_out=W_out)
        assert evaluate(params_f, **symbols) == row.params == sum(p.numel() for p in layer.parameters())
        assert evaluate(macs_f, **symbols) == row.mult_adds


def test_dense_params_comment(model_rows):
    formula = comment_formula(models._dense_row, "params")
    for row, layer in model_rows:
        if row.kind != "Dense":
            continue
        n_out, n_in = layer.weight.shape
        assert evaluate(formula, n_in=n_in, n_out=n_out) == row.params == sum(p.numel() for p in layer.parameters())
