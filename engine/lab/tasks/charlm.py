"""A character-level recurrent model (engine.models.char_rnn: LSTM, GRU or RNN) on Shakespeare or
a pasted text: the live task the training page runs, and the recipe that trains the shipped
checkpoint assets/char_lstm.pt (scripts/train_char_lstm.py), both through engine.lab.loop.run_steps.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from itertools import count
from typing import ClassVar

import torch
import torch.nn as nn
import torch.nn.functional as F

from engine.data import corpus
from engine.lab.loop import StepOut, TrainConfig, make_optimizer, make_schedule, run_steps
from engine.lab.records import SampleRecord
from engine.lab.tasks.base import (
    BATCH,
    MemoryEstimate,
    Prepared,
    StepsFromConfig,
    TrainError,
    device_of,
    generator,
    seeded,
)
from engine.limits import check
from engine.models import char_rnn
from engine.models.char_rnn import CharRNN, CharRNNConfig, gate_trace
from engine.models.char_rnn import param_count as char_param_count
from engine.ops.recurrent import GATES

PROBE_TEXT = "To be, or not to be, that is the question:"
SHAKESPEARE_CHARS = 5_000_000  # an upper bound of len(corpus.shakespeare()), for the estimate
EVAL_CHARS = 16_384  # held-out characters scored by evaluate()
EVAL_WINDOWS = 64
PASTED_HELD_OUT = 0.1  # the last 10 % of a pasted text is held out


@dataclass(frozen=True)
class CharConfig:
    cell: str = "lstm"
    H: int = 128
    B: int = 32
    T: int = 64  # characters per training window (truncated backpropagation through time)
    steps: int = 2000
    text: str | None = None  # None: Shakespeare (engine.data.corpus); else a pasted text
    temperature: float = 0.8  # for the samples taken at each evaluation
    sample_chars: int = 200
    probe_text: str = PROBE_TEXT

    def __post_init__(self):
        CharRNNConfig(self.cell, self.H)  # checks the cell and H
        check("batch", self.B)
        check("seq_len", self.T)
        check("train_steps", self.steps)
        if self.text is not None:
            if not isinstance(self.text, str):
                raise ValueError("text must be a string or None")
            check("text_chars", len(self.text))
            n_train = len(self.text) - _held_out_chars(len(self.text))
            if self.T + 1 > n_train:
                raise TrainError("text_short", f"The text needs more than {self.T + 1} training characters "
                                 f"for windows of T = {self.T}; it has {n_train}.", T=self.T, chars=n_train)
        char_rnn.check_temperature(self.temperature)
        if not 1 <= self.sample_chars <= char_rnn.MAX_SAMPLE_CHARS:
            raise ValueError(f"sample_chars must be between 1 and {char_rnn.MAX_SAMPLE_CHARS}")
        if not 1 <= len(self.probe_text) <= 200:
            raise ValueError("probe_text must have 1 to 200 characters")

    @property
    def model(self) -> CharRNNConfig:
        return CharRNNConfig(self.cell, self.H)


def _held_out_chars(n: int) -> int:
    return max(2, int(n * PASTED_HELD_OUT))


@cache
def _shakespeare_ids() -> torch.Tensor:
    return corpus.encode(corpus.shakespeare())


def _cpu_copy(model: nn.Module) -> nn.Module:
    """The model itself on the CPU, else a CPU copy (char_rnn.sample builds its inputs on the CPU)."""
    if device_of(model).type == "cpu":
        return model
    return copy.deepcopy(model).to("cpu")


class CharTask(StepsFromConfig, Prepared):
    """Next-character cross-entropy on random windows of the text; samples at each evaluation."""

    kind: ClassVar[str] = "char"

    def __init__(self, config: CharConfig = CharConfig()):
        self.config = config

    def estimate(self) -> MemoryEstimate:
        c, V = self.config, len(corpus.VOCAB)
        G = GATES[c.cell]
        # A = T·(3V + (2G + 3)·H): one-hot x_t, logits and their softmax; G gate pre-activations
        # and activations, c_t, tanh(c_t) and h_t at every step
        A = c.T * (3 * V + (2 * G + 3) * c.H)
        chars = SHAKESPEARE_CHARS if c.text is None else len(c.text)
        # D = 8·chars: one int64 id per character
        return MemoryEstimate(P=char_param_count(c.model), A=A, B=c.B, E=EVAL_WINDOWS, D=8 * chars)

    def prepare(self, device: torch.device) -> None:
        if self.config.text is None:
            train, val = char_rnn.split_ids(_shakespeare_ids())
        else:
            ids = corpus.encode(self.config.text)
            n_val = _held_out_chars(ids.numel())
            train, val = ids[:-n_val], ids[-n_val:]
        self._train = train.to(device)
        self._val = val[:EVAL_CHARS].to(device)
        self._device = device

    def make_model(self, seed: int, device: torch.device | None = None) -> nn.Module:
        model = seeded(seed, lambda: CharRNN(self.config.model))
        return model.to(device) if device is not None else model

    def batches(self, seed: int, start: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Batch s: B windows of T + 1 characters at seeded random places; x = chars 0…T−1,
        y = chars 1…T of each window, both (T, B)."""
        self._need_data()
        T, B, n = self.config.T, self.config.B, self._train.numel()
        offsets = torch.arange(T + 1, device=self._device)
        for s in count(start):
            starts = torch.randint(0, n - T, (B,), generator=generator(seed, BATCH, s))
            starts = starts.to(self._device, non_blocking=True)
            # (B, 1) + (T + 1,) → (B, T + 1) ids → (T + 1, B)
            w = self._train[starts[:, None] + offsets].t()
            yield w[:-1], w[1:]

    def _loss(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor):
        logits, _ = model(x)
        V = logits.shape[-1]
        # L = −(1/(T·B)) Σ_t Σ_b log softmax(y_tb)[char_{t+1}]
        loss = F.cross_entropy(logits.reshape(-1, V), y.reshape(-1))
        correct = (logits.detach().argmax(dim=-1) == y).sum()
        return loss, correct

    def step(self, model: nn.Module, batch) -> StepOut:
        x, y = batch
        loss, correct = self._loss(model, x, y)
        return StepOut(loss, y.shape[1], {"correct": correct, "total": y.numel()})

    @torch.no_grad()
    def evaluate(self, model: nn.Module) -> dict[str, float]:
        """Cross-entropy (nats per character) and next-character accuracy on up to
        EVAL_WINDOWS held-out windows, each from a zero state."""
        self._need_data()
        n = self._val.numel()
        T = min(self.config.T, n - 1)
        k = min(EVAL_WINDOWS, (n - 1) // T)
        starts = torch.arange(k, device=self._device) * T
        # (k, 1) + (T + 1,) → (k, T + 1) → (T + 1, k)
        w = self._val[starts[:, None] + torch.arange(T + 1, device=self._device)].t()
        loss, correct = self._loss(model, w[:-1], w[1:])
        loss, accuracy = torch.stack([loss, correct / (T * k)]).tolist()
        return {"held_out_loss": loss, "held_out_accuracy": accuracy}

    def sample(self, model: nn.Module, temperature: float = 1.0, n: int = 200, prompt: str = "",
               seed: int = 0) -> str:
        """n characters after `prompt` from the model being trained (engine.models.char_rnn.sample)."""
        return char_rnn.sample(_cpu_copy(model), prompt, n, temperature, seed)

    def extras(self, model: nn.Module, step: int) -> list[SampleRecord]:
        text = self.sample(model, self.config.temperature, self.config.sample_chars, seed=step)
        return [SampleRecord(step, self.config.temperature, text)]

    def probe(self, model: nn.Module) -> dict[str, torch.Tensor]:
        """Every gate and state on the probe text, each (T, H), plus its ids (T,)."""
        trace = gate_trace(model, self.config.probe_text)
        return {**trace, "ids": corpus.encode(self.config.probe_text)}


# ----- the recipe of the shipped checkpoint (scripts/train_char_lstm.py) ---------------------


@dataclass(frozen=True)
class CharRecipe:
    """The shipped LSTM's run: truncated BPTT over B parallel streams of the text, T characters
    per step, Adam with a geometric learning-rate decay 4e-3 → 4e-4 and gradient clipping at 1."""

    seed: int = 0
    steps: int = 4000
    H: int = 128
    B: int = 64
    T: int = 100
    train: TrainConfig = TrainConfig("adam", 4e-3, "geometric", clip=1.0, lr_final=4e-4)


def stream_batches(train_ids: torch.Tensor, B: int, T: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """The text as B parallel streams (char_rnn.streams) read T characters at a time, from the
    start again at the end: (pos, x, y) with x and y (T, B), y one character ahead; pos = 0 marks
    the start of the streams, where BpttStep drops the carried state."""
    data = char_rnn.streams(train_ids, B)  # (N, B)
    pos = 0
    while True:
        if pos + T + 1 > data.shape[0]:
            pos = 0
        yield pos, data[pos: pos + T], data[pos + 1: pos + T + 1]
        pos += T


class BpttStep:
    """The step of truncated backpropagation through time: the state is carried from one window
    to the next (its values kept, its graph cut) and dropped when the streams start again."""

    def __init__(self):
        self.state = None

    def __call__(self, model: CharRNN, batch) -> StepOut:
        pos, x, target = batch
        if pos == 0:
            self.state = None
        logits, state = model(x, self.state)
        # truncated BPTT: keep the state's values, cut the graph
        self.state = tuple(s.detach() for s in state) if isinstance(state, tuple) else state.detach()
        # L = −(1/(T·B)) Σ_t Σ_b log softmax(y_tb)[char_{t+1}]
        loss = F.cross_entropy(logits.reshape(-1, model.config.V), target.reshape(-1))
        return StepOut(loss, x.shape[1])


def train_char_lm(recipe: CharRecipe, train_ids: torch.Tensor, vocab: str = corpus.VOCAB,
                  on_step: Callable[[int, float, CharRNN], None] | None = None) -> CharRNN:
    """Seeded: the weights come from recipe.seed and the data order is fixed, so a run repeats
    bit for bit. `on_step(step, loss, model)` after every step."""
    torch.manual_seed(recipe.seed)
    model = CharRNN(CharRNNConfig("lstm", recipe.H, vocab))
    optimizer = make_optimizer(model.parameters(), recipe.train)
    scheduler = make_schedule(optimizer, recipe.train, recipe.steps)
    batches = stream_batches(train_ids, recipe.B, recipe.T)
    steps = run_steps(model, optimizer, batches, BpttStep(), recipe.train.clip, scheduler)
    for step, out in zip(range(1, recipe.steps + 1), steps, strict=False):
        if on_step is not None:
            on_step(step, out.loss.item(), model)
    return model.eval()
