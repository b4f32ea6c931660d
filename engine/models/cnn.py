"""The source article's Keras CNN, reproduced exactly in PyTorch, with a teaching trace.

Keras (from the article):
    Conv2D(32, 3×3, relu, input 28×28×1) → MaxPooling2D(2×2) → Conv2D(64, 3×3, relu)
    → MaxPooling2D(2×2) → Conv2D(64, 3×3, relu) → Flatten → Dense(64, relu) → Dense(10, softmax)
The torch module returns logits; softmax is applied in the trace and in the loss.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, fields, replace
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from engine.device import get_device
from engine.ops.conv import ConvCellTrace, conv2d, conv_cell, glorot_filters, relu
from engine.ops.pooling import max_pool2d

CHECKPOINT = Path(__file__).resolve().parents[2] / "assets" / "seed_cnn.pt"


class SeedCNN(nn.Module):
    """(N, 1, 28, 28) → logits (N, 10); 93,322 parameters, Keras's initialisers.

    `dropout` = p > 0 puts inverted dropout before each dense layer (on the flattened 576 values
    and on fc1's 64 outputs): in training each value is kept with probability 1 − p and the kept
    ones are scaled by 1/(1 − p); in eval mode it is the identity. Dropout has no parameters, so
    the state_dict and the initial weights are those of p = 0.
    """

    def __init__(self, dropout: float = 0.0):
        super().__init__()
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
        self.dropout = float(dropout)
        self.conv1 = nn.Conv2d(1, 32, 3)
        self.conv2 = nn.Conv2d(32, 64, 3)
        self.conv3 = nn.Conv2d(64, 64, 3)
        self.fc1 = nn.Linear(3 * 3 * 64, 64)
        self.fc2 = nn.Linear(64, 10)
        for layer in (self.conv1, self.conv2, self.conv3, self.fc1, self.fc2):
            # Keras defaults: glorot_uniform kernels, zero biases
            nn.init.xavier_uniform_(layer.weight)
            nn.init.zeros_(layer.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)  # (N, 32, 13, 13)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)  # (N, 64, 5, 5)
        x = F.relu(self.conv3(x))  # (N, 64, 3, 3)
        x = keras_flatten(x)  # (N, 576)
        x = F.relu(self.fc1(self._drop(x)))  # (N, 64)
        return self.fc2(self._drop(x))  # (N, 10) logits

    def _drop(self, x: torch.Tensor) -> torch.Tensor:
        """Inverted dropout (training only); p = 0 skips it, so no random number is drawn."""
        if self.dropout == 0.0:
            return x
        # y = x · m / (1 − p),  m_i ~ Bernoulli(1 − p)
        return F.dropout(x, self.dropout, self.training)


def keras_flatten(x: torch.Tensor) -> torch.Tensor:
    """Flatten like Keras, channels last: (N, C, H, W) → (N, H, W, C) → (N, H·W·C)."""
    return x.permute(0, 2, 3, 1).reshape(x.shape[0], -1)


@dataclass(frozen=True)
class CNNTrace:
    """Every intermediate of SeedCNN on a batch, in the order the data flows."""

    x: torch.Tensor  # (N, 1, 28, 28)
    z1: torch.Tensor  # (N, 32, 26, 26) conv1 pre-activation
    a1: torch.Tensor  # ReLU(z1)
    p1: torch.Tensor  # (N, 32, 13, 13)
    z2: torch.Tensor  # (N, 64, 11, 11)
    a2: torch.Tensor
    p2: torch.Tensor  # (N, 64, 5, 5)
    z3: torch.Tensor  # (N, 64, 3, 3)
    a3: torch.Tensor
    flat: torch.Tensor  # (N, 576)
    z4: torch.Tensor  # (N, 64) dense pre-activation
    a4: torch.Tensor  # ReLU(z4)
    logits: torch.Tensor  # (N, 10)
    probs: torch.Tensor  # softmax(logits)

    def image(self, n: int = 0) -> CNNTrace:
        """The trace of image n alone, batch axis dropped, as CPU float64 tensors (for drawing)."""
        return replace(self, **{f.name: getattr(self, f.name)[n].detach().cpu().double() for f in fields(self)})

    def layer(self, name: str) -> CNNLayer:
        """One feature-map stage by its Keras name (conv1, pool1, conv2, pool2, conv3)."""
        if name not in LAYERS:
            raise KeyError(f"no layer {name!r}; the feature-map layers are {', '.join(LAYERS)}")
        l = int(name[-1])
        if name.startswith("conv"):
            source, source_name = (self.x, "x") if l == 1 else (getattr(self, f"p{l - 1}"), f"p_{l - 1}")
            return CNNLayer(name, "conv", l, source, source_name, getattr(self, f"z{l}"), getattr(self, f"a{l}"))
        a = getattr(self, f"a{l}")
        return CNNLayer(name, "pool", l, a, f"a_{l}", a, getattr(self, f"p{l}"))


LAYERS = ("conv1", "pool1", "conv2", "pool2", "conv3")  # the layers that make feature maps


@dataclass(frozen=True)
class CNNLayer:
    """One feature-map stage of a CNNTrace: what it read and what it made.

    A convolution shows z_l and ReLU(z_l); a pooling layer its input a_l and its output p_l.
    """

    name: str  # conv1, pool1, …
    kind: str  # "conv" or "pool"
    index: int  # l
    source: torch.Tensor  # its input: x or p_{l−1} for a conv, a_l for a pool
    source_name: str  # "x", "p_1", "a_1", … as the formulas write it
    before: torch.Tensor  # conv: z_l; pool: a_l
    after: torch.Tensor  # conv: a_l = ReLU(z_l); pool: p_l


@torch.no_grad()
def trace(model: SeedCNN, x: torch.Tensor) -> CNNTrace:
    """Run the model step by step, keeping every intermediate (equals model(x) at the end)."""
    z1 = model.conv1(x)
    a1 = F.relu(z1)
    p1 = F.max_pool2d(a1, 2)
    z2 = model.conv2(p1)
    a2 = F.relu(z2)
    p2 = F.max_pool2d(a2, 2)
    z3 = model.conv3(p2)
    a3 = F.relu(z3)
    flat = keras_flatten(a3)
    z4 = model.fc1(flat)
    a4 = F.relu(z4)
    logits = model.fc2(a4)
    # p_k = exp(z_k) / Σ_j exp(z_j)
    probs = torch.softmax(logits, dim=-1)
    return CNNTrace(x, z1, a1, p1, z2, a2, p2, z3, a3, flat, z4, a4, logits, probs)


def forward_from_scratch(model: SeedCNN, x: torch.Tensor) -> torch.Tensor:
    """SeedCNN's forward pass with our own conv2d, max_pool2d, ReLU and plain matmuls.

    Uses the model's weights cast to x's dtype (pass float64 to compare with torch); returns
    logits (N, 10) equal to model(x).
    """

    def p(t: torch.Tensor) -> torch.Tensor:
        return t.detach().to(x.dtype)

    # a = ReLU(W ⋆ x + b), then 2×2 max pooling
    p1 = max_pool2d(relu(conv2d(x, p(model.conv1.weight), p(model.conv1.bias))), 2)
    p2 = max_pool2d(relu(conv2d(p1, p(model.conv2.weight), p(model.conv2.bias))), 2)
    a3 = relu(conv2d(p2, p(model.conv3.weight), p(model.conv3.bias)))  # (N, 64, 3, 3)
    flat = keras_flatten(a3)  # (N, 576)
    # a4 = ReLU(W4 · flat + b4), one row per image: flat (N, 576) @ W4ᵀ (576, 64)
    a4 = relu(flat @ p(model.fc1.weight).T + p(model.fc1.bias))
    # z = W5 · a4 + b5: (N, 64) @ (64, 10)
    return a4 @ p(model.fc2.weight).T + p(model.fc2.bias)


@dataclass(frozen=True)
class LayerRow:
    """One row of a Keras-style model summary, computed from the module itself."""

    name: str
    kind: str  # Conv2D, MaxPooling2D, Flatten, Dense
    output_shape: tuple[int, ...]  # without the batch axis, channels first
    params: int
    params_formula: str  # e.g. "3·3·32·64 + 64"
    mult_adds: int  # multiply-accumulates for one image


def summary(model: SeedCNN, input_shape=(1, 28, 28)) -> list[LayerRow]:
    """Walk the model on a dummy input and report each layer like Keras's model.summary()."""
    rows: list[LayerRow] = []
    x = torch.zeros(1, *input_shape)
    with torch.no_grad():
        for name, conv in (("conv1", model.conv1), ("conv2", model.conv2), ("conv3", model.conv3)):
            x = conv(x)
            rows.append(_conv_row(name, conv, tuple(x.shape[1:])))
            if name != "conv3":
                x = F.max_pool2d(x, 2)
                rows.append(LayerRow(f"pool{name[-1]}", "MaxPooling2D", tuple(x.shape[1:]), 0, "0", 0))
        x = keras_flatten(x)
        rows.append(LayerRow("flatten", "Flatten", tuple(x.shape[1:]), 0, "0", 0))
        for name, fc in (("fc1", model.fc1), ("fc2", model.fc2)):
            x = fc(x)
            rows.append(_dense_row(name, fc))
    return rows


def _conv_row(name: str, conv: nn.Conv2d, out_shape) -> LayerRow:
    C_out, C_in, k_h, k_w = conv.weight.shape
    # params = k_h·k_w·C_in·C_out + C_out
    params = k_h * k_w * C_in * C_out + C_out
    # MACs = H_out·W_out·C_out·(k_h·k_w·C_in)
    macs = out_shape[1] * out_shape[2] * C_out * k_h * k_w * C_in
    return LayerRow(name, "Conv2D", out_shape, params, f"{k_h}·{k_w}·{C_in}·{C_out} + {C_out}", macs)


def _dense_row(name: str, fc: nn.Linear) -> LayerRow:
    n_out, n_in = fc.weight.shape
    # params = n_in·n_out + n_out
    return LayerRow(name, "Dense", (n_out,), n_in * n_out + n_out, f"{n_in}·{n_out} + {n_out}", n_in * n_out)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def load_default(path: Path | None = None, device: torch.device | None = None) -> SeedCNN | None:
    """The shipped checkpoint (trained by scripts/train_default_cnn.py), or None if absent."""
    path = CHECKPOINT if path is None else path
    if not path.exists():
        return None
    model = SeedCNN()
    state = torch.load(path, map_location="cpu", weights_only=True)
    model.load_state_dict(state["model"] if "model" in state else state)
    model.eval()
    return model.to(device) if device is not None else model


def checkpoint_meta(path: Path | None = None) -> dict:
    """Metadata saved beside the weights (held-out accuracy, seed, data split)."""
    path = CHECKPOINT if path is None else path
    if not path.exists():
        return {}
    state = torch.load(path, map_location="cpu", weights_only=True)
    return dict(state.get("meta", {}))


def checkpoint_mtime(path: Path | None = None) -> float | None:
    """The checkpoint's modification time (a cache key that picks up a newly trained file), or None."""
    path = CHECKPOINT if path is None else path
    return path.stat().st_mtime if path.exists() else None


def seeded(seed: int, dropout: float = 0.0) -> SeedCNN:
    """A freshly initialised SeedCNN whose weights depend only on `seed` (global RNG untouched);
    `dropout` does not change them (dropout has no parameters)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return SeedCNN(dropout).eval()


def _load_or_none(path: Path | None) -> tuple[SeedCNN | None, dict]:
    try:
        return load_default(path), checkpoint_meta(path)
    except Exception:  # a half-written or foreign file: fall back rather than fail the page
        return None, {}


# ----- the article's CNN as the lessons use it ---------------------------------------------------

@dataclass(frozen=True)
class Network:
    """The shipped SeedCNN (or a seed-0 Keras initialisation when there is none), ready to explain."""

    model: SeedCNN  # on the compute device
    model64: SeedCNN  # a float64 CPU copy: the written-out numbers and the torch check
    rows: list[LayerRow]  # its Keras-style summary
    meta: dict  # the checkpoint's metadata ({} when untrained)
    trained: bool  # loaded from the checkpoint?


def load_network(path: Path | None = None) -> Network:
    """The checkpoint at `path` (default CHECKPOINT) as a Network; an absent or unreadable file
    gives the untrained seed-0 model instead of an error."""
    model, meta = _load_or_none(path)
    trained = model is not None
    if model is None:
        model, meta = seeded(0), {}
    model64 = copy.deepcopy(model).double().eval()
    return Network(model.to(get_device()), model64, summary(model), meta, trained)


@dataclass(frozen=True)
class FirstLayer:
    """conv1's filters: the checkpoint's, or Glorot-random ones (seed 0) when there is none."""

    weight: torch.Tensor  # (32, 1, 3, 3)
    bias: torch.Tensor  # (32,)
    trained: bool


def first_layer(path: Path | None = None) -> FirstLayer:
    model, _ = _load_or_none(path)
    if model is None:
        return FirstLayer(glorot_filters(32, 1, 3, seed=0), torch.zeros(32), False)
    return FirstLayer(model.conv1.weight.detach().clone(), model.conv1.bias.detach().clone(), True)


def digit_batch(digit, dtype: torch.dtype = torch.float32, device: torch.device | None = None) -> torch.Tensor:
    """A 28×28 digit (array or tensor) as the batch of one the model reads: (1, 1, 28, 28)."""
    return torch.as_tensor(digit, dtype=dtype)[None, None].to(device or torch.device("cpu"))


def trace_digit(network: Network, digit) -> CNNTrace:
    """The network's trace of one digit, on the compute device, returned batch-free in CPU float64."""
    return trace(network.model, digit_batch(digit, device=get_device())).image(0)


@dataclass(frozen=True)
class Cell:
    """A cell of a stack of maps (K, H, W): map k, row i, column j."""

    k: int
    i: int
    j: int


def strongest(maps: torch.Tensor) -> Cell:
    """The largest value of maps (K, H, W) (first on ties)."""
    K, H, W = maps.shape
    k, rest = divmod(int(maps.reshape(-1).argmax()), H * W)
    return Cell(k, *divmod(rest, W))


@dataclass(frozen=True)
class ConvCellParts:
    """z_l[c,i,j] of a conv layer, one input channel's share at a time."""

    cells: list[ConvCellTrace]  # per input channel c': Σ_m Σ_n W[c,c',m,n] · src[c', i+m, j+n]
    bias: float  # b_l[c]
    z: float  # the traced z_l[c,i,j]


def conv_cell_parts(model: SeedCNN, layer: CNNLayer, c: int, i: int, j: int) -> ConvCellParts:
    """The written-out conv cell with `model`'s weights (pass the float64 copy)."""
    conv = getattr(model, layer.name)
    W_c, b_c = conv.weight[c].detach(), float(conv.bias[c].detach())  # (C_in, 3, 3), scalar
    cells = [conv_cell(layer.source[cp], W_c[cp], 0.0, i, j) for cp in range(W_c.shape[0])]
    return ConvCellParts(cells, b_c, float(layer.before[c, i, j]))


def pool_window(layer: CNNLayer, c: int, i: int, j: int) -> list[float]:
    """The 2×2 window of a_l that p_l[c,i,j] is the max of, row by row."""
    return layer.before[c, 2 * i : 2 * i + 2, 2 * j : 2 * j + 2].flatten().tolist()


@dataclass(frozen=True)
class DenseUnit:
    """z_l[u] = Σ_k W_l[u,k] · in[k] + b_l[u] for one unit of a dense layer."""

    layer: int  # 4 (fc1, reads f) or 5 (fc2, reads a_4)
    unit: int  # u
    n_in: int
    dot: float  # Σ_k W_l[u,k] · in[k]
    bias: float
    z: float  # the traced z_l[u]


def dense_unit(model: SeedCNN, tr: CNNTrace, layer: int, unit: int) -> DenseUnit:
    """One unit of fc1 (layer 4) or fc2 (layer 5) of a batch-free trace, with `model`'s weights."""
    fc, src, z = (model.fc1, tr.flat, tr.z4) if layer == 4 else (model.fc2, tr.a4, tr.logits)
    W, b = fc.weight.detach(), fc.bias.detach()
    # Σ_k W[u,k] · in[k]
    dot = float(W[unit] @ src)
    return DenseUnit(layer, unit, W.shape[1], dot, float(b[unit]), float(z[unit]))


def scratch_delta(model64: SeedCNN, digit) -> float:
    """max |forward_from_scratch − torch| on one digit, both in float64."""
    x64 = digit_batch(digit, dtype=torch.float64)
    with torch.no_grad():
        return float((forward_from_scratch(model64, x64) - model64(x64)).abs().max())
