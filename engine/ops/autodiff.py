"""Reverse-mode automatic differentiation on a small expression graph, written out.

A learner's expression (read by the formula playground's safe reader, engine.formula.read; never
evaluated as Python) becomes a graph of scalar nodes: one node per variable (shared by every use),
one per number, one per operation. Forward: each node's value. Backward: each node's gradient
ḡ = ∂f/∂node, from the output (ḡ_f = 1) towards the variables; every edge child → parent carries a
local derivative ∂parent/∂child, and the child receives local × upstream (a node used twice adds
both shares). Beside it, torch's own graph for the same expression (`grad_fn.next_functions`) and
the gradients torch.autograd computes (`torch_grads`).

Values are float64 0-d tensors computed with the same torch functions engine.formula uses, so the
forward values equal torch's exactly; the local derivatives follow torch's own backward formulas
(ReLU'(0) = 0, max/min split a tie ½ and ½, softplus is the identity above 50).
"""

from __future__ import annotations

import ast
import math
from dataclasses import dataclass

import numpy as np
import torch

from engine.formula.errors import FormulaError
from engine.formula.functions import TORCH_CONSTANTS, FunctionSpec
from engine.formula.read import Syntax, read
from engine.formula.walk import Walker
from engine.limits import CodedError, check_float

OPS = {ast.Add: "add", ast.Sub: "sub", ast.Mult: "mul", ast.Div: "div", ast.Pow: "pow"}
OP_SIGN = {"add": "+", "sub": "−", "mul": "×", "div": "÷", "pow": "^", "neg": "−"}
# the expressions a learner starts from
GALLERY = (
    "sigmoid(w*x + b)",
    "(x + y) * z",
    "tanh(w1*x1 + w2*x2 + b)",
    "log(1 + exp(x))",
    "x*y + sin(x)",
    "relu(w*x + b)",
    "x^2 / (1 + y^2)",
)
# the variables' values a learner starts from (any name not here starts at 1.0)
DEFAULT_VALUES = {"x": 2.0, "y": -3.0, "z": 4.0, "w": 0.5, "b": -1.0, "x1": 1.5, "x2": -0.5,
                  "w1": 0.8, "w2": -1.2}


class GraphError(CodedError):
    """An expression this page cannot draw as a scalar graph; `code` and `params` translate it."""


@dataclass(frozen=True)
class Node:
    """One scalar of the graph: a variable, a number or an operation on its inputs."""

    id: int
    kind: str  # "var", "const", "add", "sub", "mul", "div", "pow", "neg", or a function name
    name: str  # what formulas call it: the variable's name, the number, u1, u2, …, or f
    text: str  # the sub-expression it computes, as written
    inputs: tuple[int, ...]
    value: float
    grad: float | None  # ∂f/∂node; None for numbers (nothing asks for their gradient)


@dataclass(frozen=True)
class Edge:
    """child → parent, and the share of ∂f/∂child that flows along it."""

    child: int
    parent: int
    slot: int  # which argument of the parent the child is (0, 1)
    local: float  # ∂parent/∂child
    upstream: float  # ∂f/∂parent
    contribution: float  # local · upstream, added into ∂f/∂child


@dataclass(frozen=True)
class GraphTrace:
    """The forward values and backward gradients of an expression's graph."""

    text: str
    nodes: tuple[Node, ...]  # children before parents; the last one is the output f
    edges: tuple[Edge, ...]  # in the order the backward pass visits them
    values: dict[str, float]  # the variables' values
    grads: dict[str, float]  # ∂f/∂variable
    bad_node: int | None  # the first node whose value or gradient is not finite (None: all finite)

    @property
    def output(self) -> Node:
        return self.nodes[-1]

    @property
    def finite(self) -> bool:
        return self.bad_node is None


def parse_scalar(text: str) -> Syntax:
    """The safe reader, then this page's own refusals: vectors (a.b), display-only functions and an
    expression without variables. Raises FormulaError (the reader's) or GraphError."""
    syntax = read(text)
    if syntax.vectors:
        raise GraphError("graph_vector", "This graph holds numbers only: a.b (a dot product of vectors) "
                         "is not drawn here; write a sum such as a1*b1 + a2*b2.", names=", ".join(syntax.vectors))
    shown_only = syntax.display_only()
    if shown_only:
        raise FormulaError("display_only", f"{shown_only}(…) is shown, not computed.", function=shown_only)
    if not syntax.scalars:
        raise GraphError("graph_no_variables", "The expression has no variables: there is nothing to "
                         "differentiate. Use a name such as x or w.")
    return syntax


class _GraphBackend:
    """Walker backend that records a node per operation and computes its value with torch."""

    def __init__(self, source: str, values: dict[str, float]):
        self.source = source
        self.values = values
        self.kinds: list[str] = []
        self.texts: list[str] = []
        self.inputs: list[tuple[int, ...]] = []
        self.out: list[torch.Tensor] = []
        self.var_ids: dict[str, int] = {}

    def _add(self, kind: str, text: str, inputs: tuple[int, ...], value: torch.Tensor) -> int:
        self.kinds.append(kind)
        self.texts.append(text)
        self.inputs.append(inputs)
        self.out.append(value)
        return len(self.kinds) - 1

    def _text(self, node) -> str:
        return ast.unparse(node).replace("**", "^")

    def number(self, value, literal: str, node, walker) -> int:
        return self._add("const", literal, (), torch.tensor(float(value), dtype=torch.float64))

    def constant(self, name: str) -> int:
        return self._add("const", name, (), torch.tensor(TORCH_CONSTANTS[name], dtype=torch.float64))

    def scalar(self, name: str) -> int:
        if name not in self.var_ids:
            self.var_ids[name] = self._add("var", name, (), torch.tensor(self.values[name], dtype=torch.float64))
        return self.var_ids[name]

    def dot(self, a: str, b: str) -> int:
        raise GraphError("graph_vector", "a.b is not drawn here.", names=f"{a}, {b}")

    def neg(self, value: int, node, walker) -> int:
        return self._add("neg", self._text(node), (value,), -self.out[value])

    def binary(self, op, left: int, right: int, node, walker) -> int:
        l, r = self.out[left], self.out[right]
        if op is ast.Pow:
            result = torch.pow(l, r)
        else:
            result = {ast.Add: torch.add, ast.Sub: torch.sub, ast.Mult: torch.mul, ast.Div: torch.div}[op](l, r)
        return self._add(OPS[op], self._text(node), (left, right), result)

    def call(self, spec: FunctionSpec, args: list[int], node, walker) -> int:
        return self._add(spec.name, self._text(node), tuple(args), spec.torch(*(self.out[a] for a in args)))


def local_derivative(kind: str, slot: int, inputs: list[float], value: float) -> float:
    """∂parent/∂(its input number `slot`), by torch's own backward formula, in IEEE float64
    (1/0 is ∞, log of a negative number NaN: said on the page, never raised)."""
    with np.errstate(all="ignore"):
        return float(_local(kind, slot, [np.float64(v) for v in inputs], np.float64(value)))


def _local(kind: str, slot: int, inputs: list, value):
    if kind in ("add", "sub"):
        # ∂(a ± b)/∂a = 1, ∂(a − b)/∂b = −1
        return -1.0 if (kind == "sub" and slot == 1) else 1.0
    if kind == "mul":
        # ∂(a·b)/∂a = b, ∂(a·b)/∂b = a
        return inputs[1 - slot]
    if kind == "div":
        a, b = inputs
        # ∂(a/b)/∂a = 1/b, ∂(a/b)/∂b = −a/b²
        return 1.0 / b if slot == 0 else -a / (b * b)
    if kind == "pow":
        a, b = inputs
        if slot == 0:
            # ∂(a^b)/∂a = b·a^(b−1)  (0 when b = 0)
            return 0.0 if b == 0 else b * np.power(a, b - 1)
        # ∂(a^b)/∂b = a^b · ln a  (0 when a = 0 and b ≥ 0)
        return 0.0 if (a == 0 and b >= 0) else value * np.log(a)
    if kind in ("max", "min"):
        a, b = inputs if slot == 0 else inputs[::-1]
        wins = a > b if kind == "max" else a < b
        # the winner takes the gradient; a tie splits it ½ and ½ (as torch does)
        return 0.5 if a == b else float(wins)
    return _unary_local(kind, inputs[0], value)


def _unary_local(kind: str, u, value):
    """The derivative of a one-argument function at u (value = the function's value there)."""
    if kind == "neg":
        return -1.0
    if kind == "sigmoid":
        # σ'(u) = σ(u)·(1 − σ(u))
        return value * (1.0 - value)
    if kind == "tanh":
        # tanh'(u) = 1 − tanh²(u)
        return 1.0 - value * value
    if kind == "exp":
        # exp'(u) = exp(u)
        return value
    if kind == "log":
        # log'(u) = 1/u
        return 1.0 / u
    if kind == "sqrt":
        # sqrt'(u) = 1/(2·sqrt(u))
        return 1.0 / (2.0 * value)
    if kind == "sin":
        # sin'(u) = cos(u)
        return np.cos(u)
    if kind == "cos":
        # cos'(u) = −sin(u)
        return -np.sin(u)
    if kind == "tan":
        # tan'(u) = 1 + tan²(u)
        return 1.0 + value * value
    if kind == "sinh":
        # sinh'(u) = cosh(u)
        return np.cosh(u)
    if kind == "cosh":
        # cosh'(u) = sinh(u)
        return np.sinh(u)
    if kind == "erf":
        # erf'(u) = 2/√π · e^(−u²)
        return 2.0 / math.sqrt(math.pi) * np.exp(-u * u)
    if kind == "abs":
        # |u|' = sign(u), 0 at u = 0
        return np.sign(u)
    if kind == "relu":
        # ReLU'(u) = [u > 0]
        return float(u > 0)
    if kind == "softplus":
        # softplus'(u) = σ(u) = e^u/(e^u + 1); the identity above u = 50 (as FUNCTIONS computes it)
        return 1.0 if u > 50 else np.exp(u) / (np.exp(u) + 1.0)
    if kind == "gelu":
        # GELU'(u) = Φ(u) + u·φ(u)
        return 0.5 * (1.0 + math.erf(u / math.sqrt(2.0))) + u * np.exp(-0.5 * u * u) / math.sqrt(2.0 * math.pi)
    raise ValueError(f"no derivative for {kind!r}")


def graph(formula: Syntax | str, values: dict[str, float]) -> GraphTrace:
    """Forward values and reverse-mode gradients of a scalar expression at `values` (one float per
    variable; missing ones are refused by KeyError)."""
    syntax = formula if isinstance(formula, Syntax) else parse_scalar(formula)
    values = {name: check_float("graph_value", values[name]) for name in syntax.scalars}
    b = _GraphBackend(syntax.source, values)
    Walker(b, syntax.origin).walk(syntax.root)
    vals = [float(v) for v in b.out]
    needs = _needs_grad(b.kinds, b.inputs)
    grads, edges = _backward(b.kinds, b.inputs, vals, needs)
    names = _names(b.kinds, b.texts)
    nodes = tuple(Node(i, b.kinds[i], names[i], b.texts[i], b.inputs[i], vals[i], grads[i] if needs[i] else None)
                  for i in range(len(vals)))
    bad = next((n.id for n in nodes if not math.isfinite(n.value)),
               next((n.id for n in nodes if n.grad is not None and not math.isfinite(n.grad)), None))
    var_grads = {name: grads[i] for name, i in b.var_ids.items()}
    return GraphTrace(syntax.text, nodes, tuple(edges), values, var_grads, bad)


def _needs_grad(kinds: list[str], inputs: list[tuple[int, ...]]) -> list[bool]:
    """A node needs a gradient when a variable lies below it (inputs come before their parents)."""
    needs: list[bool] = []
    for kind, ins in zip(kinds, inputs):
        needs.append(kind == "var" or any(needs[i] for i in ins))
    return needs


def _backward(kinds, inputs, vals, needs) -> tuple[list[float], list[Edge]]:
    """ḡ_f = 1; then, parents before children: ḡ_child += ∂parent/∂child · ḡ_parent."""
    grads = [0.0] * len(vals)
    grads[-1] = 1.0
    edges: list[Edge] = []
    for parent in range(len(vals) - 1, -1, -1):
        for slot, child in enumerate(inputs[parent]):
            if not needs[child]:
                continue
            local = local_derivative(kinds[parent], slot, [vals[i] for i in inputs[parent]], vals[parent])
            # ∂f/∂child += ∂parent/∂child · ∂f/∂parent
            share = local * grads[parent]
            grads[child] += share
            edges.append(Edge(child, parent, slot, local, grads[parent], share))
    return grads, edges


def _names(kinds: list[str], texts: list[str]) -> list[str]:
    """Variables and numbers by their text; operations u1, u2, … in order; the output f."""
    names, k = [], 0
    for i, (kind, text) in enumerate(zip(kinds, texts)):
        if kind in ("var", "const"):
            names.append(text)
        elif i == len(kinds) - 1:
            names.append("f")
        else:
            k += 1
            names.append(f"u{k}")
    return names


# ----- torch's own graph ------------------------------------------------------------------------


@dataclass(frozen=True)
class TorchNode:
    """One node of torch's backward graph: a grad_fn (MulBackward0, …) or a leaf's AccumulateGrad."""

    id: int
    name: str  # type(grad_fn).__name__
    leaf: str | None  # the variable an AccumulateGrad writes into


@dataclass(frozen=True)
class TorchGraph:
    """torch's backward graph for the expression: nodes, and edges (from, to) in backward order."""

    nodes: tuple[TorchNode, ...]
    edges: tuple[tuple[int, int], ...]
    value: float
    grads: dict[str, float]  # torch.autograd.grad of f with respect to each variable


def torch_graph(formula: Syntax | str, values: dict[str, float]) -> TorchGraph:
    """The expression built by torch (engine.formula.build.torch_value) on float64 leaves that
    require grad; its grad_fn graph walked through next_functions; and torch.autograd.grad."""
    from engine.formula.build import torch_value

    syntax = formula if isinstance(formula, Syntax) else parse_scalar(formula)
    leaves = {n: torch.tensor(float(values[n]), dtype=torch.float64, requires_grad=True) for n in syntax.scalars}
    f = torch_value(syntax, leaves)
    nodes, edges = _walk_grad_fn(f.grad_fn, {id(t): n for n, t in leaves.items()})
    if f.grad_fn is None:
        grads = {n: 0.0 for n in leaves}
    else:
        got = torch.autograd.grad(f, list(leaves.values()), allow_unused=True)
        grads = {n: (0.0 if g is None else float(g)) for n, g in zip(leaves, got)}
    return TorchGraph(tuple(nodes), tuple(edges), float(f.detach()), grads)


def _walk_grad_fn(root, leaf_names: dict[int, str]) -> tuple[list[TorchNode], list[tuple[int, int]]]:
    """Breadth-first over grad_fn.next_functions, each function once (shared leaves accumulate)."""
    if root is None:
        return [], []
    ids: dict[int, int] = {}
    nodes: list[TorchNode] = []
    edges: list[tuple[int, int]] = []

    def visit(fn) -> int:
        if id(fn) not in ids:
            ids[id(fn)] = len(nodes)
            variable = getattr(fn, "variable", None)
            nodes.append(TorchNode(len(nodes), type(fn).__name__,
                                   leaf_names.get(id(variable)) if variable is not None else None))
            queue.append(fn)
        return ids[id(fn)]

    queue: list = []
    visit(root)
    while queue:
        fn = queue.pop(0)
        for nxt, _ in fn.next_functions:
            if nxt is not None:
                edges.append((ids[id(fn)], visit(nxt)))
    return nodes, edges


def torch_delta(ours: GraphTrace, theirs: TorchGraph) -> float:
    """max over the variables of |∂f/∂v (ours) − ∂f/∂v (torch.autograd)|."""
    return max(abs(ours.grads[n] - theirs.grads[n]) for n in ours.grads)
