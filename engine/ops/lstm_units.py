"""Looking inside a trained character LSTM: ablations, next-character predictions, and the search
for units whose state tracks a property of the text (the "interpretable cell" view of Karpathy,
Johnson and Fei-Fei, 2015), computed on whatever text is given, never picked by hand.

Weights are dicts in torch's layout (engine.models.char_rnn.cell_weights): weight_ih (4H, D),
weight_hh (4H, H), bias_ih, bias_hh (4H,), gate blocks stacked i, f, g, o. The readout on h_t
(predict, Predictions) is engine.ops.recurrent_units', shared with the RNN page.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from engine.data.corpus import VOCAB, encode, one_hot
from engine.limits import BOUNDS, CodedError
from engine.models import char_rnn
from engine.ops.recurrent import WEIGHTS, LSTMTrace, hidden_grad_norms, lstm
from engine.ops.recurrent_units import CharWeights, Predictions, predict, random_char_model

__all__ = ["WEIGHTS", "Predictions", "predict"]  # re-exported: the errata page and tests use them here
# the gate blocks, in torch's order, as row slices of a (4H, ·) weight
BLOCK = {"i": 0, "f": 1, "g": 2, "o": 3}
VOWELS = set("aeiouAEIOU")


class ProbeError(CodedError):
    """A question the text cannot answer; `code` and `params` let a page translate it."""


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


# ----- the shipped model, and a text run through it --------------------------------------------


@dataclass(frozen=True)
class TrainedLSTM:
    """The shipped character LSTM: the torch model (for sampling), its weights in float64 (the
    cell in torch's layout and the head) and the training meta (losses, corpus size)."""

    model: char_rnn.CharRNN
    weights: CharWeights
    meta: dict


def load_trained(path=char_rnn.CHECKPOINT) -> TrainedLSTM:
    """The checkpoint at `path` (CorpusError if it is missing or not a char-RNN)."""
    model, meta = char_rnn.load_checkpoint(path)
    cell = {k: v.double() for k, v in char_rnn.cell_weights(model).items()}
    head = {k: v.double() for k, v in char_rnn.head_weights(model).items()}
    return TrainedLSTM(model=model, weights=CharWeights(cell=cell, head=head), meta=meta)


def random_lstm(H: int, seed: int, V: int = len(VOCAB)) -> CharWeights:
    """An untrained LSTM and head, as torch initialises them (engine.ops.recurrent_units)."""
    return random_char_model("lstm", V, H, seed)


@dataclass(frozen=True)
class Traced:
    """A text through an LSTM: ids (T,), the trace (batch of one) and the readout on every h_t."""

    ids: torch.Tensor
    trace: LSTMTrace
    pred: Predictions


def trace_text(text: str, weights: CharWeights, ablation: Ablation = INTACT) -> Traced:
    """One-hot the text, run the (ablated) LSTM on it, and read out every step."""
    ids = encode(text)
    with torch.no_grad():
        trace = run(one_hot(ids, len(VOCAB)), weights.cell, ablation)
        pred = predict(trace.h[:, 0], weights.head["W_hy"], weights.head["b_y"], ids)
    return Traced(ids=ids, trace=trace, pred=pred)


def unit_values(text: str, W: dict[str, torch.Tensor], quantity: str) -> torch.Tensor:
    """Each unit's c_t or h_t over a text of any length, (T, H) (run_long, in chunks)."""
    if quantity not in ("c", "h"):
        raise ValueError(f"quantity must be 'c' or 'h', got {quantity!r}")
    with torch.no_grad():
        trace = run_long(one_hot(encode(text), len(VOCAB)), W)
    return getattr(trace, quantity)[:, 0]


# ----- what the page compares -----------------------------------------------------------------


def gradient_comparison(text: str, trained: CharWeights, seed: int) -> dict[str, torch.Tensor]:
    """‖∂h_T/∂h_t‖ (T,) on the same text and H for an RNN with torch's initial weights ("rnn"),
    a random LSTM ("lstm_random"), the trained LSTM ("lstm"), and the trained LSTM's path
    through the cell state, ‖∂h_T/∂c_t‖ ("lstm_c")."""
    x = one_hot(encode(text), len(VOCAB))
    H = trained.H
    R = random_char_model("rnn", len(VOCAB), H, seed).cell
    W_rand = random_lstm(H, seed).cell
    W = trained.cell
    return {"rnn": hidden_grad_norms("rnn", x, *(R[k] for k in WEIGHTS)),
            "lstm_random": hidden_grad_norms("lstm", x, *(W_rand[k] for k in WEIGHTS)),
            "lstm": hidden_grad_norms("lstm", x, *(W[k] for k in WEIGHTS)),
            "lstm_c": hidden_grad_norms("lstm", x, *(W[k] for k in WEIGHTS), wrt="c")}


def gate_summary(values: torch.Tensor, kind: str) -> float:
    """For a gate (i, f, o): the share of values nearly shut (< 0.1) or nearly open (> 0.9), in %;
    for g, c, h: the mean |value|."""
    if kind in ("i", "f", "o"):
        return 100 * float(((values < 0.1) | (values > 0.9)).double().mean())
    return float(values.abs().mean())


@dataclass(frozen=True)
class StateChange:
    """How far an ablated run's states moved from the intact run's: max |Δh|, max |Δc|."""

    dh: float
    dc: float


def state_change(intact: LSTMTrace, changed: LSTMTrace) -> StateChange:
    return StateChange(dh=float((changed.h - intact.h).abs().max()), dc=float((changed.c - intact.c).abs().max()))


@dataclass(frozen=True)
class SharedWxGaps:
    """The one-W_x mistake: max |i_t − f_t| with the right weights (gap) and with one shared W_x
    (gap_wrong), and how much of the gap between pre_i and pre_f the shared W_x removed (pre)."""

    gap: float
    gap_wrong: float
    pre: float


def shared_wx_gaps(right: LSTMTrace, shared: LSTMTrace) -> SharedWxGaps:
    pre = float((shared.pre_i - shared.pre_f - (right.pre_i - right.pre_f)).abs().max())
    return SharedWxGaps(gap=float((right.i - right.f).abs().max()),
                        gap_wrong=float((shared.i - shared.f).abs().max()), pre=pre)


def input_weights(W: dict[str, torch.Tensor], j: int, k: int) -> dict[str, float]:
    """W_i·[j, k] for each gate · of i, f, g, o: the input weights a one-hot x_t at id k reaches."""
    H = W["weight_hh"].shape[1]
    return {gate: float(W["weight_ih"][BLOCK[gate] * H + j, k]) for gate in "ifgo"}
