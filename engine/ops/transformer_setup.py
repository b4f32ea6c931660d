"""Helpers for the Transformer-block lesson: the learner's sentence as a block input, the
FFN with the wrong extra outer activation seen in tutorials, and per-position moments.

- The block input is X = E + PE: seeded per-token embeddings (engine.data.tokens.embed, not trained)
  plus the sinusoidal position table (engine.ops.positional.sinusoidal). Equal tokens get equal rows
  of E, but PE makes their rows of X differ.
- The correct feed-forward network is FFN(x) = W_2·act(W_1 x + b_1) + b_2. Some tutorials
  (and the source article) write act(W_2·act(W_1 x + b_1)) + b_2: one activation too many. With
  ReLU outside, every negative entry of W_2·act(·) becomes 0, so the output can never fall
  below b_2. Both are computed here on the same input so a page can show they differ.
- position_moments is an independent check of LayerNorm's invariant: after normalising (before
  γ and β) every position has mean 0 and variance σ²/(σ² + ε) ≈ 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from engine.data.tokens import embed
from engine.ops.positional import sinusoidal
from engine.ops.transformer import ACTIVATIONS, FFNTrace, ffn


@dataclass(frozen=True)
class BlockInput:
    """X = E + PE for a sentence of T tokens; every field (T, d_model), float64."""

    embedding: torch.Tensor  # E: row t is the seeded vector of token t
    position: torch.Tensor  # PE: sinusoidal table, rows 0 … T − 1
    X: torch.Tensor  # E + PE


def block_input(tokens: list[str], d_model: int, seed: int) -> BlockInput:
    """The sentence as the block sees it: seeded token embeddings plus sinusoidal PE."""
    E = embed(tokens, d_model, seed)
    PE = sinusoidal(len(tokens), d_model)
    # X = E + PE
    X = E + PE
    return BlockInput(E, PE, X)


@dataclass(frozen=True)
class OuterActivationTrace:
    """The right FFN and the wrong one with an extra outer activation, on the same input."""

    right: FFNTrace  # FFN(x) = W_2 act(W_1 x + b_1) + b_2
    projected: torch.Tensor  # p = W_2 act(W_1 x + b_1), before b_2, (..., E)
    wrong: torch.Tensor  # act(p) + b_2, (..., E)

    @property
    def delta(self) -> torch.Tensor:
        """right − wrong, elementwise; with ReLU it is min(p, 0)."""
        return self.right.output - self.wrong

    @property
    def negative(self) -> torch.Tensor:
        """bool: where p < 0, the entries the outer activation changes (ReLU sets them to 0)."""
        return self.projected < 0


def ffn_outer_activation(x, W_1, b_1, W_2, b_2, activation: str = "relu") -> OuterActivationTrace:
    """FFN(x) and the erratum act(W_2·act(W_1 x + b_1)) + b_2 with the same weights (torch's
    nn.Linear layout: W_1 (d_ff, E), W_2 (E, d_ff)); b_2 may be None (zero)."""
    right = ffn(x, W_1, b_1, W_2, b_2, activation)
    # p = W_2 act(W_1 x + b_1): the same FFN without its last bias
    projected = ffn(x, W_1, b_1, W_2, None, activation).output
    b_2 = x.new_zeros(x.shape[-1]) if b_2 is None else b_2
    # wrong = act(W_2 act(W_1 x + b_1)) + b_2
    wrong = ACTIVATIONS[activation](projected) + b_2
    return OuterActivationTrace(right, projected, wrong)


def position_moments(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and biased variance of each position's features (last axis): two (...,) tensors."""
    # mean_t = (1/E) Σ_e x_te ; var_t = (1/E) Σ_e (x_te − mean_t)²
    return x.mean(dim=-1), x.var(dim=-1, correction=0)
