"""What the recurrent pages show beside the cells themselves: seeded character-model weights, one
unit at one step split into the terms of its formula, the readout on every h_t, and the GRU's two
reset placements (torch's and Cho et al.'s) compared.

Weights are dicts in torch's layout (engine.ops.recurrent.WEIGHTS: weight_ih (G·H, D), weight_hh
(G·H, H), bias_ih, bias_hh (G·H,), gate blocks stacked i, f, g, o / r, z, n); the input is one-hot,
so W_i x_t is one column of W_i: the column of the character's id k.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from engine.ops.recurrent import GATES, WEIGHTS, GRUTrace, gru, gru_textbook, seeded_uniform

# the gate blocks of each cell, in torch's order, as row blocks of a (G·H, ·) weight
BLOCKS = {"rnn": ("h",), "lstm": ("i", "f", "g", "o"), "gru": ("r", "z", "n")}


# ----- seeded weights -----------------------------------------------------------------------


@dataclass(frozen=True)
class CharWeights:
    """A character model's weights: the cell (WEIGHTS, torch's layout) and the head W_hy (V, H), b_y (V,)."""

    cell: dict[str, torch.Tensor]
    head: dict[str, torch.Tensor]

    @property
    def H(self) -> int:
        return self.cell["weight_hh"].shape[1]


def random_char_model(cell: str, V: int, H: int, seed: int) -> CharWeights:
    """Weights as torch initialises nn.RNN/nn.GRU/nn.LSTM and nn.Linear(H, V): U(−1/√H, 1/√H),
    float64, drawn in the order weight_ih, weight_hh, bias_ih, bias_hh, W_hy, b_y from one
    generator seeded with `seed` (so the cell's weights do not depend on the head)."""
    if cell not in GATES:
        raise ValueError(f"cell must be one of {sorted(GATES)}, got {cell!r}")
    G = GATES[cell]
    W = seeded_uniform({"weight_ih": (G * H, V), "weight_hh": (G * H, H), "bias_ih": (G * H,),
                        "bias_hh": (G * H,), "W_hy": (V, H), "b_y": (V,)}, H, seed)
    return CharWeights(cell={k: W[k] for k in WEIGHTS}, head={"W_hy": W["W_hy"], "b_y": W["b_y"]})


# ----- one unit at one step -----------------------------------------------------------------


@dataclass(frozen=True)
class GateTerms:
    """One gate of unit j at one step, term by term, for a one-hot input at id k:
    pre = w_x + b_i + recurrent + b_h (the GRU's candidate n: w_x + b_i + r·(recurrent + b_h)),
    value = the activation of pre, as the trace holds it."""

    w_x: float  # W_i·[j, k] = (W_i· x_t)[j]
    b_i: float
    w_h: torch.Tensor  # row j of W_h· (H,)
    h_prev: torch.Tensor  # h_{t−1} (H,)
    recurrent: float  # Σ_m W_h·[j, m] h_{t−1}[m]
    b_h: float
    pre: float
    value: float


@dataclass(frozen=True)
class UnitStep:
    """Unit j at 0-based step `step`: each gate's terms, and every traced quantity of unit j there
    (h, c, i, … as floats) with h_prev and c_prev, its state before the step."""

    gates: dict[str, GateTerms]
    values: dict[str, float]


def _previous(trace, name: str, step: int) -> torch.Tensor:
    """state_{t−1} of batch item 0, (H,): the initial state at the first step."""
    return (getattr(trace, f"{name}0") if step == 0 else getattr(trace, name)[step - 1])[0]


def unit_step(cell: str, W: dict[str, torch.Tensor], trace, k: int, step: int, j: int) -> UnitStep:
    """The terms of unit j's formulas at 0-based `step` of `trace` (batch item 0; the input there
    one-hot at id k), from the weights W the trace was computed with."""
    if cell not in BLOCKS:
        raise ValueError(f"cell must be one of {sorted(BLOCKS)}, got {cell!r}")
    H = W["weight_hh"].shape[1]
    h_prev = _previous(trace, "h", step)
    names = ("i", "f", "g", "o", "c", "h") if cell == "lstm" else ("r", "z", "n", "h") if cell == "gru" else ("h",)
    values = {q: float(getattr(trace, q)[step, 0, j]) for q in names}
    values["h_prev"] = float(h_prev[j])
    if cell == "lstm":
        values["c_prev"] = float(_previous(trace, "c", step)[j])
    gates = {}
    for b, gate in enumerate(BLOCKS[cell]):
        row = b * H + j
        w_h = W["weight_hh"][row]
        # Σ_m W_h·[j, m] h_{t−1}[m]
        recurrent = float(w_h @ h_prev)
        w_x, b_i, b_h = float(W["weight_ih"][row, k]), float(W["bias_ih"][row]), float(W["bias_hh"][row])
        if cell == "gru" and gate == "n":
            # pre_n = W_in[j,k] + b_in[j] + r_t[j]·(Σ_m W_hn[j,m] h_{t−1}[m] + b_hn[j])
            pre = w_x + b_i + values["r"] * (recurrent + b_h)
        elif cell == "gru":
            # pre = W_i·[j,k] + b_i·[j] + Σ_m W_h·[j,m] h_{t−1}[m] + b_h·[j]
            pre = w_x + b_i + recurrent + b_h
        else:
            pre = float((trace.pre if cell == "rnn" else getattr(trace, f"pre_{gate}"))[step, 0, j])
        gates[gate] = GateTerms(w_x=w_x, b_i=b_i, w_h=w_h, h_prev=h_prev, recurrent=recurrent, b_h=b_h,
                                pre=pre, value=values[gate])
    return UnitStep(gates=gates, values=values)


# ----- the readout ------------------------------------------------------------------------


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

    def top(self, k: int) -> list[list[tuple[int, float]]]:
        """Each step's k likeliest next ids with their probabilities, likeliest first."""
        p, i = self.probs.topk(k, dim=-1)
        return [list(zip(ids, ps, strict=True)) for ids, ps in zip(i.tolist(), p.tolist(), strict=True)]

    def next_probs(self, ids: torch.Tensor) -> list[float]:
        """p_t[char_{t+1}] for t = 1..T−1: the probability given to the character that came."""
        return self.probs[:-1].gather(1, ids[1:, None])[:, 0].tolist()

    def changed(self, other: Predictions) -> int:
        """At how many steps the likeliest next character differs from `other`'s."""
        return int((self.probs.argmax(-1) != other.probs.argmax(-1)).sum())


def predict(h: torch.Tensor, W_hy: torch.Tensor, b_y: torch.Tensor, ids: torch.Tensor) -> Predictions:
    """h (T, H) from one sequence, the head W_hy (V, H), b_y (V,), the character ids (T,)."""
    # y_t = W_hy h_t + b_y
    logits = h @ W_hy.T + b_y
    # p_t = softmax(y_t)
    log_p = torch.log_softmax(logits, dim=-1)
    # ℓ_t = −log p_t[char_{t+1}]
    loss = -log_p[:-1].gather(1, ids[1:, None])[:, 0]
    return Predictions(logits=logits, probs=log_p.exp(), loss=loss)


@dataclass(frozen=True)
class Tempered:
    """One step's next-character distribution at temperature τ: probs (V,), its entropy in nats,
    and the `k` likeliest ids with their probabilities."""

    probs: torch.Tensor
    entropy: float
    top: list[tuple[int, float]]


def at_temperature(logits: torch.Tensor, tau: float, k: int = 10) -> Tempered:
    """logits (V,) → p_k = exp(y_k/τ) / Σ_m exp(y_m/τ), its entropy H = −Σ_k p_k ln p_k, the top k."""
    if not tau > 0:
        raise ValueError(f"tau must be > 0, got {tau}")
    # p_k = exp(y_k/τ) / Σ_m exp(y_m/τ)
    p = torch.softmax(logits / tau, dim=-1)
    # H = −Σ_k p_k ln p_k (0·ln 0 = 0)
    entropy = float(-(p * p.clamp_min(1e-300).log()).sum())
    top = p.topk(min(k, p.numel()))
    return Tempered(probs=p, entropy=entropy, top=list(zip(top.indices.tolist(), top.values.tolist(), strict=True)))


# ----- the GRU's two reset placements -----------------------------------------------------

OPEN_RESET = 20.0  # b_ir = b_hr = 20 with W_ir = W_hr = 0: r_t = σ(40) ≈ 1 − 4·10⁻¹⁸


@dataclass(frozen=True)
class VariantGap:
    """max |h_torch − h_textbook| at the first step and over all steps."""

    first: float
    overall: float


@dataclass(frozen=True)
class GRUVariants:
    """Both GRUs on the same x and weights; gaps for the weights given ("yours") and two edited
    copies: b_hn = 0 ("no_bhn"), and the reset gate forced open, r_t ≈ 1 ("open_r");
    b_hn_max = max_j |b_hn[j]|, the term by which the two differ at a step from h_{t−1} = 0."""

    torch_trace: GRUTrace
    textbook: GRUTrace
    gaps: dict[str, VariantGap]
    b_hn_max: float


def _gap(x, W) -> VariantGap:
    args = (x, *(W[name] for name in WEIGHTS))
    gap = (gru(*args).h - gru_textbook(*args).h).abs()
    return VariantGap(first=float(gap[0].max()), overall=float(gap.max()))


def gru_variants(x: torch.Tensor, W: dict[str, torch.Tensor]) -> GRUVariants:
    """torch's GRU and the textbook's on x (T, B, D), and where they agree (see GRUVariants)."""
    H = W["weight_hh"].shape[1]
    no_bhn = {name: w.clone() for name, w in W.items()}
    no_bhn["bias_hh"][2 * H:] = 0
    open_r = {name: w.clone() for name, w in W.items()}
    # rows [0, H) of every block are the reset gate's (torch stacks r, z, n)
    open_r["weight_ih"][:H] = 0
    open_r["weight_hh"][:H] = 0
    open_r["bias_ih"][:H] = OPEN_RESET
    open_r["bias_hh"][:H] = OPEN_RESET
    with torch.no_grad():
        args = (x, *(W[name] for name in WEIGHTS))
        gaps = {name: _gap(x, weights) for name, weights in (("yours", W), ("no_bhn", no_bhn), ("open_r", open_r))}
        return GRUVariants(torch_trace=gru(*args), textbook=gru_textbook(*args), gaps=gaps,
                           b_hn_max=float(W["bias_hh"][2 * H:].abs().max()))
