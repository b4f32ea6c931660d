"""The training lab's three tasks behind one interface, and how much memory each will need.

    cnn    the source article's CNN (engine.models.cnn.SeedCNN) on MNIST digits (engine.data.digits)
    char   a character-level LSTM, GRU or RNN (engine.models.char_rnn) on Shakespeare or pasted text
    seq    a tiny Transformer (engine.models.tiny_transformer) on copy / reverse / sort / add (engine.data.seq_tasks)

A task knows its data, its model and its loss; engine.lab.trainer.Trainer owns the loop, the optimiser,
the thread and the checkpoints. Every task is seeded the same way: the model's initial weights
come from the run's seed, and batch s of the run from sub_seed(seed, tag, s), so a run repeats
bit for bit on the CPU and can resume at any step (a checkpoint stores only the step).

Nothing is allocated when a task is constructed: its config is checked against engine.limits and
estimate() computes the memory from the config alone, so an oversized run is refused before any
tensor exists; prepare(device) then loads the data.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from functools import cache
from itertools import count
from typing import Any, ClassVar, Protocol

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from engine.data import corpus
from engine.data.digits import embedded_mnist, fashion_mnist, full_mnist
from engine.data.seq_tasks import IGNORE, SEQ_TASKS, VOCAB, input_length, make_batch
from engine.lab.loop import AugmentConfig, as_batch, new_model, random_affine
from engine.limits import check
from engine.models import charlm
from engine.models import cnn as models
from engine.models.char_rnn import CharRNN, CharRNNConfig, gate_trace
from engine.models.char_rnn import param_count as char_param_count
from engine.models.tiny_transformer import (
    TinyTransformer,
    TinyTransformerConfig,
    anti_diagonal_mass,
    attention_maps,
)
from engine.models.tiny_transformer import param_count as transformer_param_count
from engine.ops.recurrent import GATES


class TrainError(Exception):
    """A problem with a training run or a checkpoint; `code` and `params` let a page translate it."""

    def __init__(self, code: str, message: str, **params):
        self.code = code
        self.params = params
        super().__init__(message)


# ----- seeds --------------------------------------------------------------------------------

# tags that keep the streams of random numbers apart
ORDER, AUGMENT, BATCH = 1, 2, 3
HELD_OUT_SEED = 20_240  # the toy tasks' held-out sequences are the same for every run


def sub_seed(seed: int, *keys: int) -> int:
    """A seed for one (seed, keys…), e.g. (run seed, BATCH, step); streams for different keys
    are independent (numpy's SeedSequence hashes them)."""
    state = np.random.SeedSequence([int(seed), *map(int, keys)]).generate_state(1, np.uint64)[0]
    return int(state >> np.uint64(1))  # 63 bits: torch.Generator.manual_seed takes an int64


def generator(seed: int, *keys: int) -> torch.Generator:
    """A CPU generator seeded with sub_seed(seed, *keys)."""
    return torch.Generator().manual_seed(sub_seed(seed, *keys))


def seeded(seed: int, build):
    """build() with torch's global RNG seeded by `seed`, restored afterwards (global state untouched)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        return build()


# ----- the interface ------------------------------------------------------------------------


@dataclass(frozen=True)
class MemoryEstimate:
    """What a run will hold in memory, from its config alone (float32 everywhere).

    16 bytes per parameter: the weight, its gradient and Adam's two moments (4 bytes each; SGD
    needs less, so this is an upper bound). A training example keeps A activations for the
    backward pass and gets a gradient of the same size: 8·A bytes per example, B examples a
    step. Evaluation runs E examples at a time forward only: 4·A bytes each. D is the data
    kept on the device.
    """

    P: int  # learnable parameters
    A: int  # activations one example keeps (floats)
    B: int  # training batch size
    E: int  # examples per evaluation chunk
    D: int  # bytes of data on the device

    @property
    def bytes(self) -> int:
        # M = 16·P + 4·A·max(2·B, E) + D
        return 16 * self.P + 4 * self.A * max(2 * self.B, self.E) + self.D

    def as_params(self) -> dict[str, int]:
        return {**asdict(self), "bytes": self.bytes}


@dataclass(frozen=True)
class StepOut:
    """One training step's result: the mean loss of the batch (differentiable), the number of
    examples in the batch, and sums to add up over a report interval on the device (correct
    predictions and how many were scored)."""

    loss: torch.Tensor
    samples: int
    sums: dict[str, Any] = field(default_factory=dict)


class Task(Protocol):
    kind: ClassVar[str]
    config: Any

    @property
    def total_steps(self) -> int: ...
    @property
    def steps_per_epoch(self) -> int: ...
    @property
    def batch_size(self) -> int: ...
    def estimate(self) -> MemoryEstimate: ...
    def prepare(self, device: torch.device) -> None: ...
    def make_model(self, seed: int, device: torch.device | None = None) -> nn.Module: ...
    def batches(self, seed: int, start: int = 0) -> Iterator: ...
    def step(self, model: nn.Module, batch) -> StepOut: ...
    def evaluate(self, model: nn.Module) -> dict[str, float]: ...
    def extras(self, model: nn.Module, step: int) -> list[dict]: ...
    def probe(self, model: nn.Module) -> dict[str, torch.Tensor]: ...


# Per-step host → device copies use non_blocking=True: torch then does not wait for the device
# to finish its queued work (a blocking copy synchronises the stream every step). The source
# tensors are small and freshly made, and CUDA stages pageable memory before returning.


def _device_of(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


class _Prepared:
    """Shared by the tasks: the device the data went to, and a clear error before prepare()."""

    _device: torch.device | None = None

    def _need_data(self) -> None:
        if self._device is None:
            raise TrainError("not_prepared", "prepare(device) must run before the task is used.")


# ----- 1. the article's CNN on MNIST digits -------------------------------------------------

# (train, held-out) images of each dataset engine.data.digits can give, known before loading it
DATASETS = {"mnist-5k": (4000, 1000), "mnist-full": (60000, 10000), "fashion-mnist": (60000, 10000)}
_LOADERS = {"mnist-5k": embedded_mnist, "mnist-full": full_mnist, "fashion-mnist": fashion_mnist}
CLASSES = 10
MAX_SHOWN = 32  # misclassified examples returned by the probe


@dataclass(frozen=True)
class CnnConfig:
    dataset: str = "mnist-5k"
    batch_size: int = 64
    epochs: int = 10
    augment: bool = True  # random affine: ±10°, scale 0.9–1.1, shift ±2 px (AugmentConfig)

    def __post_init__(self):
        if self.dataset not in DATASETS:
            raise ValueError(f"dataset must be one of {sorted(DATASETS)}, got {self.dataset!r}")
        check("batch", self.batch_size)
        check("epochs", self.epochs)
        if not isinstance(self.augment, bool):
            raise ValueError(f"augment must be True or False, got {self.augment!r}")


def cnn_activations() -> int:
    """Floats one 28×28 image keeps in SeedCNN's forward pass (input and augmented input,
    each conv's z and ReLU(z), each pooled map, the flattened vector, the dense layers)."""
    # A = 2·784 + 2·32·26·26 + 32·13·13 + 2·64·11·11 + 64·5·5 + 2·64·3·3 + 576 + 2·64 + 10
    return 2 * 784 + 2 * 32 * 26 * 26 + 32 * 13 * 13 + 2 * 64 * 11 * 11 + 64 * 5 * 5 + 2 * 64 * 3 * 3 + 576 + 2 * 64 + 10


def cnn_params() -> int:
    """SeedCNN's 93,322 parameters: three 3×3 convolutions and two dense layers, each k·k·C_in·C_out + C_out."""
    # P = (3·3·1·32 + 32) + (3·3·32·64 + 64) + (3·3·64·64 + 64) + (576·64 + 64) + (64·10 + 10)
    return (3 * 3 * 1 * 32 + 32) + (3 * 3 * 32 * 64 + 64) + (3 * 3 * 64 * 64 + 64) + (576 * 64 + 64) + (64 * 10 + 10)


class CnnTask(_Prepared):
    """SeedCNN, channels_last, cross-entropy; train accuracy, held-out accuracy and loss."""

    kind: ClassVar[str] = "cnn"
    EVAL_CHUNK = 500

    def __init__(self, config: CnnConfig = CnnConfig()):
        self.config = config
        self.n_train, self.n_test = DATASETS[config.dataset]

    @property
    def batch_size(self) -> int:
        return self.config.batch_size

    @property
    def steps_per_epoch(self) -> int:
        return math.ceil(self.n_train / self.config.batch_size)

    @property
    def total_steps(self) -> int:
        return self.config.epochs * self.steps_per_epoch

    def estimate(self) -> MemoryEstimate:
        n = self.n_train + self.n_test
        # D = 4·784·n + 8·n: float32 images and int64 labels
        D = 4 * 784 * n + 8 * n
        return MemoryEstimate(P=cnn_params(), A=cnn_activations(), B=self.config.batch_size,
                              E=self.EVAL_CHUNK, D=D)

    def prepare(self, device: torch.device) -> None:
        split = _LOADERS[self.config.dataset]()
        if len(split.y_train) > self.n_train or len(split.y_test) > self.n_test:
            raise TrainError("dataset_size", f"{split.name} holds more images than its memory estimate allows.",
                             dataset=split.name, train=len(split.y_train), test=len(split.y_test))
        self.n_train, self.n_test = len(split.y_train), len(split.y_test)

        def images(x):
            return as_batch(x).to(device).contiguous(memory_format=torch.channels_last)

        self.x_train, self.x_test = images(split.x_train), images(split.x_test)
        self.y_train = torch.as_tensor(split.y_train).to(device)
        self.y_test = torch.as_tensor(split.y_test).to(device)
        self._device = device

    def make_model(self, seed: int, device: torch.device | None = None) -> nn.Module:
        model = new_model(seed).to(memory_format=torch.channels_last)
        return model.to(device) if device is not None else model

    def batches(self, seed: int, start: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Batch s: images [s mod S]·B … of epoch ⌊s/S⌋'s seeded order (S steps an epoch),
        randomly rotated, scaled and shifted when augment is on."""
        self._need_data()
        B, S, augment = self.config.batch_size, self.steps_per_epoch, AugmentConfig()
        order, order_epoch = None, -1
        for s in count(start):
            epoch, i = divmod(s, S)
            if epoch != order_epoch:
                order = torch.randperm(self.n_train, generator=generator(seed, ORDER, epoch))
                order = order.to(self._device, non_blocking=True)
                order_epoch = epoch
            idx = order[i * B: (i + 1) * B]
            xb, yb = self.x_train[idx], self.y_train[idx]
            if self.config.augment:
                xb = random_affine(xb, augment, generator(seed, AUGMENT, s))
            yield xb.contiguous(memory_format=torch.channels_last), yb

    def step(self, model: nn.Module, batch) -> StepOut:
        xb, yb = batch
        z = model(xb)
        # L = −(1/B) Σ_b log softmax(z_b)[y_b]
        loss = F.cross_entropy(z, yb)
        correct = (z.detach().argmax(dim=1) == yb).sum()
        return StepOut(loss, yb.numel(), {"correct": correct, "total": yb.numel()})

    @torch.no_grad()
    def _logits(self, model: nn.Module) -> torch.Tensor:
        was_training = model.training
        model.eval()
        z = torch.cat([model(self.x_test[i: i + self.EVAL_CHUNK])
                       for i in range(0, self.n_test, self.EVAL_CHUNK)])
        model.train(was_training)
        return z

    def evaluate(self, model: nn.Module) -> dict[str, float]:
        self._need_data()
        z = self._logits(model)
        loss = F.cross_entropy(z, self.y_test)
        accuracy = (z.argmax(dim=1) == self.y_test).float().mean()
        loss, accuracy = torch.stack([loss, accuracy]).tolist()  # one host sync
        return {"held_out_loss": loss, "held_out_accuracy": accuracy}

    def extras(self, model: nn.Module, step: int) -> list[dict]:
        return []

    def probe(self, model: nn.Module, index: int = 0) -> dict[str, torch.Tensor]:
        """On the held-out set: the confusion matrix, misclassified examples, the first layer's
        filters, and the first layer's feature maps ReLU(z1) of held-out image `index`."""
        self._need_data()
        pred = self._logits(model).argmax(dim=1).cpu()
        y = self.y_test.cpu()
        # C[t, p] = #{held-out images of class t predicted as p}
        confusion = torch.bincount(y * CLASSES + pred, minlength=CLASSES * CLASSES).reshape(CLASSES, CLASSES)
        wrong = (pred != y).nonzero().flatten()[:MAX_SHOWN]
        index = int(index) % self.n_test
        with torch.no_grad():
            tr = models.trace(model, self.x_test[index: index + 1])
        return {
            "confusion": confusion,
            "misclassified": wrong,
            "misclassified_true": y[wrong],
            "misclassified_pred": pred[wrong],
            "misclassified_images": self.x_test[wrong.to(self._device), 0].cpu(),
            "filters": model.conv1.weight.detach().cpu().contiguous(),  # (32, 1, 3, 3)
            "probe_index": torch.tensor(index),
            "probe_image": self.x_test[index, 0].cpu(),  # (28, 28)
            "feature_maps": tr.a1[0].cpu().contiguous(),  # (32, 26, 26)
            "probe_probs": tr.probs[0].cpu(),
        }

    @torch.no_grad()
    def classify(self, model: nn.Module, image) -> torch.Tensor:
        """P(class | image) (10,) for one prepared 28×28 image in [0, 1] (engine.data.digits.prepare_digit)."""
        x = torch.as_tensor(np.asarray(image, dtype=np.float32))
        if tuple(x.shape) != (28, 28) or not torch.isfinite(x).all():
            raise ValueError(f"the image must be 28×28 finite values, got shape {tuple(x.shape)}")
        x = x.reshape(1, 1, 28, 28).to(_device_of(model)).contiguous(memory_format=torch.channels_last)
        was_training = model.training
        model.eval()
        # p_k = exp(z_k) / Σ_j exp(z_j)
        p = torch.softmax(model(x)[0], dim=-1)
        model.train(was_training)
        return p.cpu()


# ----- 2. a character-level recurrent model -------------------------------------------------

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
        charlm.check_temperature(self.temperature)
        if not 1 <= self.sample_chars <= charlm.MAX_SAMPLE_CHARS:
            raise ValueError(f"sample_chars must be between 1 and {charlm.MAX_SAMPLE_CHARS}")
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
    """The model itself on the CPU, else a CPU copy (charlm.sample builds its inputs on the CPU)."""
    if _device_of(model).type == "cpu":
        return model
    return copy.deepcopy(model).to("cpu")


class CharTask(_Prepared):
    """Next-character cross-entropy on random windows of the text; samples at each evaluation."""

    kind: ClassVar[str] = "char"

    def __init__(self, config: CharConfig = CharConfig()):
        self.config = config

    @property
    def batch_size(self) -> int:
        return self.config.B

    @property
    def steps_per_epoch(self) -> int:
        return self.config.steps

    @property
    def total_steps(self) -> int:
        return self.config.steps

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
            train, val = charlm.split_ids(_shakespeare_ids())
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
        """n characters after `prompt` from the model being trained (engine.models.charlm.sample)."""
        return charlm.sample(_cpu_copy(model), prompt, n, temperature, seed)

    def extras(self, model: nn.Module, step: int) -> list[dict]:
        text = self.sample(model, self.config.temperature, self.config.sample_chars, seed=step)
        return [{"kind": "sample", "step": step, "temperature": self.config.temperature, "text": text}]

    def probe(self, model: nn.Module) -> dict[str, torch.Tensor]:
        """Every gate and state on the probe text, each (T, H), plus its ids (T,)."""
        trace = gate_trace(model, self.config.probe_text)
        return {**trace, "ids": corpus.encode(self.config.probe_text)}


# ----- 3. a tiny Transformer on toy sequence tasks ------------------------------------------


@dataclass(frozen=True)
class SeqConfig:
    task: str = "reverse"
    length: int = 8  # L digits (add: two L-digit numbers)
    B: int = 64
    steps: int = 1500
    model: TinyTransformerConfig = TinyTransformerConfig()
    held_out: int = 512  # held-out sequences for exact-match accuracy

    def __post_init__(self):
        if self.task not in SEQ_TASKS:
            raise ValueError(f"task must be one of {SEQ_TASKS}, got {self.task!r}")
        check("toy_len", self.length)
        check("batch", self.B)
        check("train_steps", self.steps)
        check("samples", self.held_out)
        if not isinstance(self.model, TinyTransformerConfig):
            raise ValueError("model must be a TinyTransformerConfig")

    @property
    def T(self) -> int:
        return input_length(self.task, self.length)


class SeqTask(_Prepared):
    """Per-position cross-entropy; exact-match accuracy on held-out sequences; attention maps."""

    kind: ClassVar[str] = "seq"
    EVAL_CHUNK = 512

    def __init__(self, config: SeqConfig = SeqConfig()):
        self.config = config

    @property
    def batch_size(self) -> int:
        return self.config.B

    @property
    def steps_per_epoch(self) -> int:
        return self.config.steps

    @property
    def total_steps(self) -> int:
        return self.config.steps

    def estimate(self) -> MemoryEstimate:
        c, m, T = self.config, self.config.model, self.config.T
        d, V = m.d_model, VOCAB
        # A = T·(3d + 2V) + N·(T·(10d + 2·d_ff) + 2·h·T²): embeddings, final norm, logits and
        # softmax; per layer the norms, Q, K, V, heads, projections, residuals, FFN, and the
        # h (T, T) score and weight maps
        A = T * (3 * d + 2 * V) + m.N * (T * (10 * d + 2 * m.d_ff) + 2 * m.h * T * T)
        # D = 2·8·n·T: held-out inputs and targets, int64
        D = 2 * 8 * c.held_out * T
        return MemoryEstimate(P=transformer_param_count(m, V, T), A=A, B=c.B,
                              E=min(c.held_out, self.EVAL_CHUNK), D=D)

    def prepare(self, device: torch.device) -> None:
        c = self.config
        x, y = make_batch(c.task, c.held_out, c.length, torch.Generator().manual_seed(HELD_OUT_SEED))
        self.x_held, self.y_held = x.to(device), y.to(device)
        self._device = device

    def make_model(self, seed: int, device: torch.device | None = None) -> nn.Module:
        model = seeded(seed, lambda: TinyTransformer(self.config.model, VOCAB, self.config.T))
        return model.to(device) if device is not None else model

    def batches(self, seed: int, start: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Batch s: B fresh random examples drawn from sub_seed(seed, BATCH, s)."""
        self._need_data()
        c = self.config
        for s in count(start):
            x, y = make_batch(c.task, c.B, c.length, generator(seed, BATCH, s))
            yield x.to(self._device, non_blocking=True), y.to(self._device, non_blocking=True)

    def _scores(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor):
        z = model(x)  # (B, T, V)
        # L = mean over scored positions of −log softmax(z_bt)[y_bt]
        loss = F.cross_entropy(z.reshape(-1, VOCAB), y.reshape(-1), ignore_index=IGNORE)
        scored = y != IGNORE
        right = (z.detach().argmax(dim=-1) == y) & scored
        return loss, right, scored

    def step(self, model: nn.Module, batch) -> StepOut:
        x, y = batch
        loss, right, scored = self._scores(model, x, y)
        return StepOut(loss, x.shape[0], {"correct": right.sum(), "total": scored.sum()})

    @torch.no_grad()
    def evaluate(self, model: nn.Module) -> dict[str, float]:
        """Held-out loss, token accuracy and exact match (every scored position right)."""
        self._need_data()
        loss, right, scored = self._scores(model, self.x_held, self.y_held)
        exact = (right | ~scored).all(dim=1).float().mean()
        token = right.sum() / scored.sum()
        loss, token, exact = torch.stack([loss, token, exact]).tolist()
        return {"held_out_loss": loss, "held_out_accuracy": token, "exact_match": exact}

    def extras(self, model: nn.Module, step: int) -> list[dict]:
        return []

    @torch.no_grad()
    def probe(self, model: nn.Module, index: int = 0) -> dict[str, torch.Tensor]:
        """Held-out sequence `index`: its tokens, target and prediction (T,), every head's
        attention (N, h, T, T) and each head's anti-diagonal mass (N, h)."""
        self._need_data()
        i = int(index) % self.config.held_out
        x = self.x_held[i: i + 1]
        A = attention_maps(model, x)[:, 0].cpu()  # (N, h, T, T)
        return {"tokens": x[0].cpu(), "target": self.y_held[i].cpu(),
                "prediction": model(x)[0].argmax(dim=-1).cpu(),
                "attention": A, "anti_diagonal": anti_diagonal_mass(A)}


# ----- the registry -------------------------------------------------------------------------

TASKS = {"cnn": (CnnTask, CnnConfig), "char": (CharTask, CharConfig), "seq": (SeqTask, SeqConfig)}


def config_dict(config) -> dict:
    """A task config as plain types (what a checkpoint stores)."""
    return asdict(config)


def config_from_dict(kind: str, values: dict):
    """The inverse of config_dict for a task kind; the config's own checks run again."""
    if kind not in TASKS:
        raise TrainError("wrong_task", f"Unknown task {kind!r}.", got=str(kind), expected=sorted(TASKS))
    values = dict(values)
    if kind == "seq" and isinstance(values.get("model"), dict):
        values["model"] = TinyTransformerConfig(**values["model"])
    return TASKS[kind][1](**values)


def make_task(kind: str, config=None) -> Task:
    if kind not in TASKS:
        raise ValueError(f"task kind must be one of {sorted(TASKS)}, got {kind!r}")
    task_cls, config_cls = TASKS[kind]
    return task_cls(config if config is not None else config_cls())
