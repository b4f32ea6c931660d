"""The source article's Keras CNN, reproduced exactly in PyTorch, with a teaching trace.

Keras (from the article):
    Conv2D(32, 3×3, relu, input 28×28×1) → MaxPooling2D(2×2) → Conv2D(64, 3×3, relu)
    → MaxPooling2D(2×2) → Conv2D(64, 3×3, relu) → Flatten → Dense(64, relu) → Dense(10, softmax)
The torch module returns logits; softmax is applied in the trace and in the loss.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from engine.ops import conv as scratch

CHECKPOINT = Path(__file__).resolve().parents[2] / "assets" / "seed_cnn.pt"


class SeedCNN(nn.Module):
    """(N, 1, 28, 28) → logits (N, 10); 93,322 parameters, Keras's initialisers."""

    def __init__(self):
        super().__init__()
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
        x = F.relu(self.fc1(x))  # (N, 64)
        return self.fc2(x)  # (N, 10) logits


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
    p1 = scratch.max_pool2d(scratch.relu(scratch.conv2d(x, p(model.conv1.weight), p(model.conv1.bias))), 2)
    p2 = scratch.max_pool2d(scratch.relu(scratch.conv2d(p1, p(model.conv2.weight), p(model.conv2.bias))), 2)
    a3 = scratch.relu(scratch.conv2d(p2, p(model.conv3.weight), p(model.conv3.bias)))  # (N, 64, 3, 3)
    flat = keras_flatten(a3)  # (N, 576)
    # a4 = ReLU(W4 · flat + b4), one row per image: flat (N, 576) @ W4ᵀ (576, 64)
    a4 = scratch.relu(flat @ p(model.fc1.weight).T + p(model.fc1.bias))
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


def load_default(path: Path = CHECKPOINT, device: torch.device | None = None) -> SeedCNN | None:
    """The shipped checkpoint (trained by scripts/train_default_cnn.py), or None if absent."""
    if not path.exists():
        return None
    model = SeedCNN()
    state = torch.load(path, map_location="cpu", weights_only=True)
    model.load_state_dict(state["model"] if "model" in state else state)
    model.eval()
    return model.to(device) if device is not None else model


def checkpoint_meta(path: Path = CHECKPOINT) -> dict:
    """Metadata saved beside the weights (held-out accuracy, seed, data split)."""
    if not path.exists():
        return {}
    state = torch.load(path, map_location="cpu", weights_only=True)
    return dict(state.get("meta", {}))
