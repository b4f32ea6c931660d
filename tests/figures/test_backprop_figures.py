"""figures.backprop draws what the traces hold: the DOT text of both graphs (escaped, the picked
edge marked), the chain-rule step with the edge's numbers, and the CNN's gradient figures."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.models.cnn import seeded
from engine.ops.autodiff import graph, torch_graph
from engine.ops.backprop import cnn_backward, pool_route, weight_cell
from figures import backprop as fb
from figures.cnn import num
from tests.pages.apptest import plotly_array


@pytest.fixture(scope="module")
def bw():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(1, 1, 28, 28, generator=g, dtype=torch.float64)
    return cnn_backward(seeded(0).double(), x, [3])


def test_dot_escape_keeps_labels_inside_their_quotes():
    assert fb.dot_escape('a"b\\c\nd') == 'a\\"b\\\\c\\nd'


def test_graph_dot_has_every_node_value_and_the_picked_edge():
    tr = graph("x*y + sin(x)", {"x": 2.0, "y": 3.0})
    dot = fb.graph_dot(tr, picked=0, value="value", grad="grad")
    assert dot.startswith("digraph") and dot.rstrip().endswith("}")
    for n in tr.nodes:
        assert f"n{n.id} [" in dot
    assert "u1 = x × y" in dot and "value = 6" in dot
    e = tr.edges[0]
    assert f'n{e.child} -> n{e.parent} [label="{fb.fmt(e.local)}", color="{fb.PICKED}"' in dot
    assert dot.count(fb.PICKED) == 2  # the edge and its label colour, nothing else


def test_graph_dot_marks_a_non_finite_node():
    tr = graph("log(x)", {"x": 0.0})
    dot = fb.graph_dot(tr)
    assert "−∞" in dot and 'color="#DC2626", penwidth=2' in dot


def test_torch_dot_names_grad_fns_and_leaves():
    dot = fb.torch_dot(torch_graph("x*y + sin(x)", {"x": 2.0, "y": 3.0}))
    assert "AddBackward0" in dot and "MulBackward0" in dot and "SinBackward0" in dot
    assert "AccumulateGrad\\n(x)" in dot and "AccumulateGrad\\n(y)" in dot


def test_edge_latex_writes_local_times_upstream():
    tr = graph("x*y + sin(x)", {"x": 2.0, "y": 3.0})
    mul_to_x = next(e for e in tr.edges if tr.nodes[e.child].name == "x" and tr.nodes[e.parent].kind == "mul")
    tex = fb.edge_latex(tr, mul_to_x)
    assert r"\frac{\partial f}{\partial x} \mathrel{+}=" in tex
    assert "= y \\cdot 1.0000 = 3.0000 \\cdot 1.0000 = 3.0000" in tex
    x = next(n for n in tr.nodes if n.name == "x")
    assert fb.node_sum_latex(tr, x).endswith(num(3.0 + np.cos(2.0), 4))


def test_local_tex_covers_every_function():
    from engine.formula.functions import FUNCTIONS

    for name, spec in FUNCTIONS.items():
        if not spec.display_only:
            assert fb.local_tex(name, 0, "a", "b" if spec.arity == 2 else None)


def test_output_figure_is_dL_dz5(bw):
    fig = fb.output_figure(bw, "t")
    assert np.allclose(plotly_array(fig.data[0].y), bw.dL_dz5[0].numpy())
    assert abs(float(bw.dL_dz5[0].sum())) < 1e-12


def test_saliency_is_abs_input_grad(bw):
    _, sal = fb.saliency_figures(bw.fwd.x[0, 0], bw.input_grad[0, 0], ("a", "b"))
    assert np.allclose(plotly_array(sal.data[0].z), bw.input_grad[0, 0].abs().numpy())


def test_stage_formulas_carry_the_traced_numbers(bw):
    cell = weight_cell(bw, 2, 5, 7, 1, 2)
    assert abs(cell.value - cell.traced) < 1e-12 and len(cell.terms) == 11 * 11
    assert num(cell.value, 4) in fb.conv_weight_latex(2, "p_1", cell)
    route = pool_route(bw, 1, 0, 4, 4)
    assert float(route.routed.sum()) == pytest.approx(route.g)
    assert r"\boxed" in fb.pool_latex(1, route)
    assert num(float(bw.fc2.dW[3, 7]), 4) in fb.dense_latex(bw, 5, 3, 7)
