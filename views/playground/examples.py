"""The playground's gallery (formulas and identities to pick), what names usually mean (slider
bounds, plotted range, where test points are drawn), and the pickers' on_change callbacks."""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st


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


@dataclass(frozen=True)
class Identity:
    key: str
    lhs: str
    rhs: str


IDENTITIES = (
    Identity("tanh", "tanh(x)", "2*sigmoid(2*x) - 1"),
    Identity("relu_x", "relu(x) + relu(-x)", "x"),
    Identity("relu_abs", "relu(x) + relu(-x)", "abs(x)"),
    Identity("softplus", "softplus(x) - softplus(-x)", "x"),
    Identity("softmax2", "exp(z1)/(exp(z1) + exp(z2))", "sigmoid(z1 - z2)"),
    Identity("sigmoid_slope", "sigmoid(x)*(1 - sigmoid(x))", "exp(-x)/(1 + exp(-x))^2"),
    Identity("gelu_relu", "gelu(x)", "relu(x)"),
    Identity("undecided", "sqrt(-1 - x^2)", "sqrt(-2 - x^2)"),
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
    """Sampling intervals by name (engine.formula's {name: (low, high), "*": default} form)."""
    return {n: scale(n).sample for n in names if n in SCALES} | {"*": OTHER.sample}


def example_for(text: str) -> Example | None:
    return next((e for e in EXAMPLES if e.text == text.strip()), None)


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
    pair = next((p for p in IDENTITIES if p.key == key), None)
    if pair is not None:
        st.session_state["pg_lhs"], st.session_state["pg_rhs"] = pair.lhs, pair.rhs
    st.session_state["pg_id_example"] = None
