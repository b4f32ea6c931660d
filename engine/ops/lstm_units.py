"""Looking inside a trained character LSTM: ablations, next-character predictions, and the search
for units whose state tracks a property of the text (the "interpretable cell" view of Karpathy,
Johnson and Fei-Fei, 2015), computed on whatever text is given, never picked by hand.

Weights are dicts in torch's layout (engine.models.charlm.lstm_weights): weight_ih (4H, D), weight_hh
(4H, H), bias_ih, bias_hh (4H,), gate blocks stacked i, f, g, o.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from engine.limits import BOUNDS
from engine.ops.recurrent import LSTMTrace, lstm

WEIGHTS = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
# the gate blocks, in torch's order, as row slices of a (4H, ·) weight
BLOCK = {"i": 0, "f": 1, "g": 2, "o": 3}
VOWELS = set("aeiouAEIOU")


class ProbeError(ValueError):
    """A question the text cannot answer; `code` and `params` let a page translate it."""

    def __init__(self, code: str, message: str, **params):
        self.code = code
        self.params = params
        super().__init__(message)


# ----- ablations ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ablation:
    """Changes to a trained LSTM. The default changes nothing.

    f_bias: added to the forget gate's bias b_if (f_t = σ(… + b_if + δ + …)).
    force_f: f_t replaced by this constant (1: the cell keeps everything; 0: no memory in c).
    no_output_gate: o_t replaced by 1, so h_t = tanh(c_t).
    shared_wx: the common mistake, one input matrix W_x for all four gates (here the mean of
    the four trained blocks, the single matrix closest to all of them in the least-squares sense).
    """

    f_bias: float = 0.0
    force_f: float | None = None
    no_output_gate: bool = False
    shared_wx: bool = False

    @property
    def force(self) -> dict[str, float] | None:
        force = {}
        if self.force_f is not None:
            force["f"] = float(self.force_f)
        if self.no_output_gate:
            force["o"] = 1.0
        return force or None


INTACT = Ablation()  # no change: the trained model as it is


def ablated_weights(W: dict[str, torch.Tensor], ablation: Ablation) -> dict[str, torch.Tensor]:
    """Copies of the weights with the ablation's edits; the originals are never changed."""
    W = {name: W[name].clone() for name in WEIGHTS}
    H = W["weight_hh"].shape[1]
    f = slice(BLOCK["f"] * H, (BLOCK["f"] + 1) * H)
    # pre_f = W_if x_t + (b_if + δ) + W_hf h_{t−1} + b_hf
    W["bias_ih"][f] += float(ablation.f_bias)
    if ablation.shared_wx:
        # (4H, D) → (4, H, D): one block per gate; W_x = (W_ii + W_if + W_ig + W_io) / 4
        W_x = W["weight_ih"].reshape(4, H, -1).mean(dim=0)
        W["weight_ih"] = W_x.repeat(4, 1)
    return W


def run(x: torch.Tensor, W: dict[str, torch.Tensor], ablation: Ablation = INTACT,
        h0=None, c0=None) -> LSTMTrace:
    """The LSTM (engine.ops.recurrent.lstm) on x (T, B, D) with an ablation applied."""
    W = ablated_weights(W, ablation)
    return lstm(x, *(W[name] for name in WEIGHTS), h0=h0, c0=c0, force=ablation.force)


def run_long(x: torch.Tensor, W: dict[str, torch.Tensor], ablation: Ablation = INTACT,
             chunk: int | None = None) -> LSTMTrace:
    """run() over a sequence longer than one call allows: chunks of at most BOUNDS["seq_len"]
    steps, each starting from the previous chunk's (h, c), so the result equals one long run."""
    chunk = chunk or BOUNDS["seq_len"].high
    parts, h0, c0 = [], None, None
    for start in range(0, x.shape[0], chunk):
        part = run(x[start:start + chunk], W, ablation, h0=h0, c0=c0)
        h0, c0 = part.h[-1], part.c[-1]
        parts.append(part)
    fields = ("i", "f", "g", "o", "c", "h", "pre_i", "pre_f", "pre_g", "pre_o")
    return LSTMTrace(**{k: torch.cat([getattr(p, k) for p in parts]) for k in fields},
                     h0=parts[0].h0, c0=parts[0].c0)


# ----- next-character predictions --------------------------------------------------------------


@dataclass(frozen=True)
class Predictions:
    """The output layer on every h_t. logits, probs: (T, V); loss: (T−1,), the cross-entropy of
    the character that really came next (none after the last one)."""

    logits: torch.Tensor
    probs: torch.Tensor
    loss: torch.Tensor

    @property
    def mean_loss(self) -> float:
        """Mean cross-entropy in nats per character (nan for a one-character text)."""
        return float(self.loss.mean()) if self.loss.numel() else float("nan")

    def accuracy(self, ids: torch.Tensor) -> float:
        """How often the most likely next character was the one that came."""
        return float((self.probs[:-1].argmax(dim=-1) == ids[1:]).double().mean()) if len(ids) > 1 else float("nan")


def predict(h: torch.Tensor, W_hy: torch.Tensor, b_y: torch.Tensor, ids: torch.Tensor) -> Predictions:
    """h (T, H) from one sequence, the head W_hy (V, H), b_y (V,), the character ids (T,)."""
    # y_t = W_hy h_t + b_y
    logits = h @ W_hy.T + b_y
    # p_t = softmax(y_t)
    log_p = torch.log_softmax(logits, dim=-1)
    # ℓ_t = −log p_t[char_{t+1}]
    loss = -log_p[:-1].gather(1, ids[1:, None])[:, 0]
    return Predictions(logits=logits, probs=log_p.exp(), loss=loss)


# ----- units that track a property of the text -------------------------------------------------

PROPERTIES = ("quotes", "line_position", "vowel", "uppercase", "space")


def text_property(text: str, name: str) -> torch.Tensor:
    """One number per character (T,) float64:
    quotes: 1 from an opening '"' up to (not including) its closing one, else 0;
    line_position: characters since the last newline, this one included (0 on a newline);
    vowel, uppercase, space: 1 where the character is one, else 0."""
    if name not in PROPERTIES:
        raise ValueError(f"property must be one of {PROPERTIES}, got {name!r}")
    values, inside, column = [], False, 0
    for ch in text:
        inside ^= ch == '"'
        column = 0 if ch == "\n" else column + 1
        values.append({"quotes": inside, "line_position": column,
                       "vowel": ch in VOWELS, "uppercase": ch.isupper(), "space": ch == " "}[name])
    return torch.tensor(values, dtype=torch.float64)


def unit_correlations(values: torch.Tensor, prop: torch.Tensor) -> torch.Tensor:
    """Pearson's r between each unit's values (T, H) and the property (T,): (H,).

    r_j = Σ_t (a_tj − ā_j)(p_t − p̄) / √(Σ_t (a_tj − ā_j)² · Σ_t (p_t − p̄)²), via torch.corrcoef.
    A unit that never changes on this text has r = 0. A property that never changes raises
    ProbeError: there is nothing to track."""
    if values.dim() != 2 or prop.shape != values.shape[:1]:
        raise ValueError(f"values must be (T, H) and prop (T,); got {tuple(values.shape)}, {tuple(prop.shape)}")
    if values.shape[0] < 2 or bool((prop == prop[0]).all()):
        raise ProbeError("constant_property", "The property has the same value at every character of this "
                         "text, so no unit can track it.")
    # (T, H) → (H + 1, T): one row per unit, the property last
    rows = torch.cat([values.T, prop[None].to(values.dtype)])
    r = torch.corrcoef(rows)[-1, :-1]
    return torch.nan_to_num(r, nan=0.0)


def best_units(r: torch.Tensor, k: int = 5) -> list[int]:
    """The k units with the largest |r|, best first."""
    return torch.argsort(r.abs(), descending=True, stable=True)[:k].tolist()
