"""The position-wise feed-forward network of a Transformer block, its activations, and the
erratum that adds one activation too many.

- The FFN is FFN(x) = W_2·act(W_1 x + b_1) + b_2, applied to every position (row) on its own,
  with act = ReLU or GELU. There is no activation after W_2.
- Some tutorials (and the source article) write act(W_2·act(W_1 x + b_1)) + b_2: one activation
  too many. With ReLU outside, every negative entry of W_2·act(·) becomes 0, so the output can
  never fall below b_2. ffn_outer_activation computes both on the same input so a page can
  show that they differ.

Layouts follow torch's nn.Linear (W_1 (d_ff, E), W_2 (E, d_ff)), so every function compares
with nn.Linear → nn.ReLU/nn.GELU → nn.Linear in one line.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from engine.limits import check


def relu(a: torch.Tensor) -> torch.Tensor:
    # ReLU(a) = max(0, a)
    return torch.clamp_min(a, 0.0)


def gelu(a: torch.Tensor) -> torch.Tensor:
    # GELU(a) = a·Φ(a) = a·½·(1 + erf(a/√2)), Φ the standard normal CDF (torch's exact GELU)
    return a * 0.5 * (1.0 + torch.erf(a / math.sqrt(2.0)))


ACTIVATIONS = {"relu": relu, "gelu": gelu}


def activation_fn(name: str):
    """The activation called `name` ("relu" or "gelu"); ValueError for any other name."""
    if name not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {name!r}")
    return ACTIVATIONS[name]


@dataclass(frozen=True)
class FFNTrace:
    """FFN(x) = W_2·act(W_1 x + b_1) + b_2 at every position: no activation after W_2."""

    hidden: torch.Tensor  # a = W_1 x + b_1, (..., d_ff)
    activated: torch.Tensor  # act(a), (..., d_ff)
    output: torch.Tensor  # W_2 act(a) + b_2, (..., E)

    def active_units(self, *index) -> int:
        """How many hidden units have a > 0 at one position (index into the leading axes)."""
        return int((self.hidden[index] > 0).sum())


def ffn(x, W_1, b_1, W_2, b_2, activation: str = "relu") -> FFNTrace:
    """Position-wise FFN on x (..., E); W_1 (d_ff, E), W_2 (E, d_ff) as nn.Linear stores them.
    Biases may be None (zero). Rows of x are positions, so W x is computed as x @ Wᵀ."""
    act = activation_fn(activation)
    E, d_ff = x.shape[-1], W_1.shape[0]
    check("d_model", E)
    check("d_ff", d_ff)
    if tuple(W_1.shape) != (d_ff, E) or tuple(W_2.shape) != (E, d_ff):
        raise ValueError(f"W_1 must be (d_ff, E) and W_2 (E, d_ff) for E={E}; got "
                         f"{tuple(W_1.shape)}, {tuple(W_2.shape)}")
    b_1 = x.new_zeros(d_ff) if b_1 is None else b_1
    b_2 = x.new_zeros(E) if b_2 is None else b_2
    # a = W_1 x + b_1
    hidden = x @ W_1.T + b_1
    activated = act(hidden)
    # FFN(x) = W_2 act(a) + b_2
    output = activated @ W_2.T + b_2
    return FFNTrace(hidden, activated, output)


# ----- the erratum: an extra outer activation -----------------------------------------------


@dataclass(frozen=True)
class OuterActivationTrace:
    """The right FFN and the wrong one with an extra outer activation, on the same input."""

    right: FFNTrace  # FFN(x) = W_2 act(W_1 x + b_1) + b_2
    projected: torch.Tensor  # p = W_2 act(W_1 x + b_1), before b_2, (..., E)
    wrong: torch.Tensor  # act(p) + b_2, (..., E)
    b_2: torch.Tensor  # the last bias both forms add, (E,)

    @property
    def delta(self) -> torch.Tensor:
        """right − wrong, elementwise; with ReLU it is min(p, 0)."""
        return self.right.output - self.wrong

    @property
    def negative(self) -> torch.Tensor:
        """bool: where p < 0, the entries the outer activation changes (ReLU sets them to 0)."""
        return self.projected < 0

    @property
    def n_negative(self) -> int:
        return int(self.negative.sum())

    @property
    def max_delta(self) -> float:
        """max |right − wrong|."""
        return float(self.delta.abs().max())

    @property
    def floor(self) -> float:
        """min (wrong − b_2) = min act(p): never below 0 with ReLU outside."""
        return float((self.wrong - self.b_2).min())


def ffn_outer_activation(x, W_1, b_1, W_2, b_2, activation: str = "relu") -> OuterActivationTrace:
    """FFN(x) and the erratum act(W_2·act(W_1 x + b_1)) + b_2 with the same weights (torch's
    nn.Linear layout: W_1 (d_ff, E), W_2 (E, d_ff)); b_2 may be None (zero)."""
    right = ffn(x, W_1, b_1, W_2, b_2, activation)
    # p = W_2 act(W_1 x + b_1): the same FFN without its last bias
    projected = ffn(x, W_1, b_1, W_2, None, activation).output
    b_2 = x.new_zeros(x.shape[-1]) if b_2 is None else b_2
    # wrong = act(W_2 act(W_1 x + b_1)) + b_2
    wrong = ACTIVATIONS[activation](projected) + b_2
    return OuterActivationTrace(right, projected, wrong, b_2)


# ----- SwiGLU: the gated feed-forward network of Llama-style models (SmolLM2) ----------------


def silu(a: torch.Tensor) -> torch.Tensor:
    # SiLU(a) = a·σ(a) = a / (1 + e^(−a))
    return a * torch.sigmoid(a)


@dataclass(frozen=True)
class SwiGLUTrace:
    """FFN(x) = W_down (SiLU(W_gate x) ⊙ W_up x) at every position; no biases (Shazeer, 2020)."""

    gate: torch.Tensor  # W_gate x, (..., d_ff)
    up: torch.Tensor  # W_up x, (..., d_ff)
    activated: torch.Tensor  # SiLU(W_gate x) ⊙ W_up x, (..., d_ff)
    output: torch.Tensor  # W_down · activated, (..., E)


def swiglu(x, W_gate, W_up, W_down) -> SwiGLUTrace:
    """SwiGLU FFN on x (..., E); W_gate, W_up (d_ff, E) and W_down (E, d_ff) as nn.Linear stores
    them. The sizes come from a model's weights, not from a learner, so they are not bounded."""
    E, d_ff = x.shape[-1], W_gate.shape[0]
    if tuple(W_gate.shape) != (d_ff, E) or tuple(W_up.shape) != (d_ff, E) \
            or tuple(W_down.shape) != (E, d_ff):
        raise ValueError(f"W_gate, W_up must be (d_ff, E) and W_down (E, d_ff) for E={E}; got "
                         f"{tuple(W_gate.shape)}, {tuple(W_up.shape)}, {tuple(W_down.shape)}")
    # a = W_gate x
    gate = x @ W_gate.T
    # b = W_up x
    up = x @ W_up.T
    # u = SiLU(a) ⊙ b
    activated = silu(gate) * up
    # FFN(x) = W_down u
    output = activated @ W_down.T
    return SwiGLUTrace(gate, up, activated, output)
