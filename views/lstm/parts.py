"""The LSTM page's cached engine calls and its formulas written out with live numbers."""

from __future__ import annotations

import streamlit as st
import torch

from engine.models import char_rnn
from engine.ops import lstm_units
from engine.ops.lstm_units import INTACT, Ablation, CharWeights, Traced, TrainedLSTM
from engine.ops.recurrent_units import GateTerms, UnitStep
from widgets.latex import num, recurrent_sum

PASSAGE_CHARS = 2000  # held-out Shakespeare for the unit search
TERMS = 4  # of the 128 recurrent products, written out before \dots
GATE_ACTS = (("i", r"\sigma"), ("f", r"\sigma"), ("g", r"\tanh"), ("o", r"\sigma"))


# ----- cached engine calls ------------------------------------------------------------------


@st.cache_resource(show_spinner=False)
def trained() -> TrainedLSTM:
    """The shipped model and its float64 weights (CorpusError when the checkpoint is missing)."""
    return lstm_units.load_trained()


@st.cache_data(show_spinner=False, max_entries=16)
def random_weights(H: int, seed: int) -> CharWeights:
    return lstm_units.random_lstm(H, seed)


def weights(source: str, seed: int) -> CharWeights:
    """"trained": the shipped model's; "random": torch's initialisation, seeded, same H."""
    if source == "trained":
        return trained().weights
    return random_weights(trained().weights.H, seed)


@st.cache_data(show_spinner=False, max_entries=64)
def traced(text: str, source: str, seed: int, ablation: Ablation = INTACT) -> Traced:
    """The LSTM trace on the text, and the predictions of the head on every h_t."""
    return lstm_units.trace_text(text, weights(source, seed), ablation)


@st.cache_data(show_spinner=False, max_entries=32)
def search(source_text: str, source: str, seed: int, quantity: str) -> torch.Tensor:
    """Each unit's `quantity` (c or h) over a text, (T, H): long texts run in chunks."""
    return lstm_units.unit_values(source_text, weights(source, seed).cell, quantity)


@st.cache_data(show_spinner=False, max_entries=16)
def passage() -> str:
    return char_rnn.held_out_text(PASSAGE_CHARS)


@st.cache_data(show_spinner=False, max_entries=16)
def gradient_norms(text: str, seed: int) -> dict[str, torch.Tensor]:
    return lstm_units.gradient_comparison(text, trained().weights, seed)


def sample(text: str, n_chars: int, tau: float, seed: int) -> str:
    return char_rnn.sample(trained().model, text, n_chars, tau, seed)


def clamp(key: str, low: int, high: int, default: int) -> None:
    """Keep a slider's remembered value inside its (new) range before the slider is drawn."""
    st.session_state[key] = min(max(int(st.session_state.get(key, default)), low), high)


# ----- formulas with live numbers -----------------------------------------------------------


def gate_equation(gate: str, fn: str, terms: GateTerms, k: int, tt: int, j: int) -> str:
    """One gate of unit j at step tt (1-based; input: one-hot id k), with its numbers."""
    return (rf"\begin{{aligned}} {recurrent_sum('h' + gate, j, tt, terms.w_h, terms.h_prev, TERMS)} \\ "
            rf"{gate}_{{{tt}}}[{j}] &= {fn}\big(W_{{i{gate}}}[{j},{k}] + b_{{i{gate}}}[{j}] + "
            rf"\textstyle\sum_m W_{{h{gate}}}[{j},m]\,h_{{{tt - 1}}}[m] + b_{{h{gate}}}[{j}]\big) \\ "
            rf"&= {fn}\big({num(terms.w_x)} + {num(terms.b_i)} + {num(terms.recurrent)} + {num(terms.b_h)}\big) "
            rf"= {fn}({terms.pre:.4f}) = {terms.value:.4f} \end{{aligned}}")


def state_equations(unit: UnitStep, tt: int, j: int) -> str:
    """c_t[j] and h_t[j] with the numbers."""
    v = unit.values
    i, f, g, o, c, h, c_prev = (v[q] for q in ("i", "f", "g", "o", "c", "h", "c_prev"))
    return (rf"\begin{{aligned}} c_{{{tt}}}[{j}] &= f_{{{tt}}}[{j}]\,c_{{{tt - 1}}}[{j}] + i_{{{tt}}}[{j}]\,"
            rf"g_{{{tt}}}[{j}] = {f:.4f}\cdot{num(c_prev, 4)} + {i:.4f}\cdot{num(g, 4)} = {c:.4f} \\ "
            rf"h_{{{tt}}}[{j}] &= o_{{{tt}}}[{j}]\,\tanh(c_{{{tt}}}[{j}]) = {o:.4f}\cdot\tanh({num(c, 4)}) "
            rf"= {h:.4f} \end{{aligned}}")


def top5(pred, label) -> list[str]:
    """The five likeliest next characters of each step, as 'e 31.2%   a 12.0%  …'."""
    return ["   ".join(f"{label(i)} {100 * q:.1f}%" for i, q in row) for row in pred.top(5)]
