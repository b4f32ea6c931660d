"""A character-level language model with a selectable cell: LSTM, GRU or a plain (Elman) RNN.

    x_t = one_hot(char_t)             (V,)   the one-hot vector the pages show
    h_t = cell(x_t, h_{t−1}[, c_t])   (H,)   torch's nn.LSTM / nn.GRU / nn.RNN (tanh)
    y_t = W_hy h_t + b_y              (V,)   logits for char_{t+1}

The same interface as engine.models.charlm.CharLSTM (`config.vocab`, `config.V`, forward(ids, state)),
so engine.models.charlm.sample and next_char_probs work on it. gate_trace runs the from-scratch
engine.ops.recurrent cell on the model's own weights and returns every gate at every step.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from engine.data.corpus import VOCAB, encode
from engine.limits import check
from engine.ops import recurrent

CELLS = ("lstm", "gru", "rnn")
_MODULES = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}
# what gate_trace returns for each cell, in the order the pages draw them
GATE_NAMES = {"lstm": ("i", "f", "g", "o", "c", "h"), "gru": ("r", "z", "n", "h"), "rnn": ("h",)}


@dataclass(frozen=True)
class CharRNNConfig:
    """One recurrent layer of H units on one-hot input of size V = len(vocab)."""

    cell: str = "lstm"
    H: int = 128
    vocab: str = VOCAB

    def __post_init__(self):
        if self.cell not in CELLS:
            raise ValueError(f"cell must be one of {CELLS}, got {self.cell!r}")
        check("hidden_size", self.H)
        check("input_size", len(self.vocab))

    @property
    def V(self) -> int:
        return len(self.vocab)


def param_count(config: CharRNNConfig) -> int:
    """Learnable numbers: the cell's G·(H·V + H·H + 2H) plus the output layer's V·H + V."""
    # P = G·(H·V + H·H + 2H) + V·H + V
    return recurrent.param_count(config.cell, config.V, config.H) + config.V * config.H + config.V


class CharRNN(nn.Module):
    """ids (T, B) → (logits (T, B, V), state); batch_first=False like engine.ops.recurrent."""

    def __init__(self, config: CharRNNConfig):
        super().__init__()
        self.config = config
        self.rnn = _MODULES[config.cell](input_size=config.V, hidden_size=config.H, num_layers=1)
        self.head = nn.Linear(config.H, config.V)

    def forward(self, ids: torch.Tensor, state=None):
        x = F.one_hot(ids, self.config.V).to(self.head.weight.dtype)  # (T, B, V)
        h, state = self.rnn(x, state)  # h: (T, B, H)
        # y_t = W_hy h_t + b_y
        return self.head(h), state


def cell_weights(model: CharRNN) -> dict[str, torch.Tensor]:
    """weight_ih (G·H, V), weight_hh (G·H, H), bias_ih, bias_hh (G·H,), detached, in torch's
    gate order (i, f, g, o / r, z, n): the arguments of engine.ops.recurrent.lstm / gru / rnn."""
    rnn = model.rnn
    return {"weight_ih": rnn.weight_ih_l0.detach(), "weight_hh": rnn.weight_hh_l0.detach(),
            "bias_ih": rnn.bias_ih_l0.detach(), "bias_hh": rnn.bias_hh_l0.detach()}


@torch.no_grad()
def gate_trace(model: CharRNN, text: str) -> dict[str, torch.Tensor]:
    """Every gate and state of the cell on `text`, each (T, H), computed by engine.ops.recurrent
    from the model's weights (on the CPU, in the model's dtype): i, f, g, o, c, h for the LSTM;
    r, z, n, h for the GRU; h for the RNN."""
    if not text:
        raise ValueError("the probe text is empty")
    weights = {k: v.to("cpu") for k, v in cell_weights(model).items()}
    dtype = weights["weight_ih"].dtype
    # ids (T,) → one-hot x (T, 1, V)
    x = F.one_hot(encode(text, model.config.vocab), model.config.V).to(dtype).unsqueeze(1)
    trace = getattr(recurrent, model.config.cell)(x, **weights)
    # (T, 1, H) → (T, H)
    return {name: getattr(trace, name)[:, 0] for name in GATE_NAMES[model.config.cell]}
