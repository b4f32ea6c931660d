"""What a prune saves: parameters, non-zeros and multiply-adds, and the truly smaller network a
structured prune leaves.

A structured prune zeroes whole output channels of conv1, conv2, conv3 and fc1, but (as torch's
prune does) keeps their biases. A removed channel c therefore outputs a constant,
r_c = ReLU(b_c), at every position (max pooling keeps a constant). The next layer's valid
convolution (or dense layer) turns a constant input into a constant, which folds into its bias:

    b'_o = b_o + Σ_{c removed} r_c · Σ_{m,n} W[o, c, m, n]          (a convolution)
    b'_u = b_u + Σ_{c removed} r_c · Σ_{p ∈ 3×3} W[u, p·C + c]        (fc1 after the channels-last flatten)

so the smaller network (fewer output channels in a layer and fewer input channels in the next)
gives the masked model's logits exactly, with fewer multiply-adds.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from engine.models.cnn import keras_flatten
from engine.models.cnn_prune import Pruning
from engine.ops.prune import kept_channels

POSITIONS = {"conv1": 26 * 26, "conv2": 11 * 11, "conv3": 3 * 3, "fc1": 1, "fc2": 1}  # outputs per weight
FLAT_POSITIONS = 3 * 3  # conv3's output is 3×3 per channel


class SlimCNN(nn.Module):
    """SeedCNN's architecture with c1, c2, c3 conv channels and h dense units (SeedCNN: 32, 64, 64, 64)."""

    def __init__(self, c1: int, c2: int, c3: int, h: int):
        super().__init__()
        self.conv1 = nn.Conv2d(1, c1, 3)
        self.conv2 = nn.Conv2d(c1, c2, 3)
        self.conv3 = nn.Conv2d(c2, c3, 3)
        self.fc1 = nn.Linear(FLAT_POSITIONS * c3, h)
        self.fc2 = nn.Linear(h, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)  # (N, c1, 13, 13)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)  # (N, c2, 5, 5)
        x = F.relu(self.conv3(x))  # (N, c3, 3, 3)
        x = keras_flatten(x)  # (N, 9·c3), channels last
        x = F.relu(self.fc1(x))  # (N, h)
        return self.fc2(x)  # (N, 10) logits


def _dropped(n: int, keep: torch.Tensor) -> torch.Tensor:
    gone = torch.ones(n, dtype=torch.bool)
    gone[keep] = False
    return gone.nonzero().flatten()


@torch.no_grad()
def shrink(masked: nn.Module, pruning: Pruning) -> SlimCNN:
    """The smaller network of a structured prune: `masked` is the model with its masks applied
    (engine.models.cnn_prune.apply_masks). Same dtype as `masked`; its logits equal masked's."""
    if pruning.method != "channels":
        raise ValueError("only a structured prune (method 'channels') removes whole channels")
    keep = {n: kept_channels(pruning.layer(n)).cpu() for n in ("conv1", "conv2", "conv3", "fc1")}
    W = {n: getattr(masked, n).weight.detach().cpu() for n in ("conv1", "conv2", "conv3", "fc1", "fc2")}
    b = {n: getattr(masked, n).bias.detach().cpu() for n in W}
    slim = SlimCNN(*(len(keep[n]) for n in ("conv1", "conv2", "conv3", "fc1"))).to(W["fc2"].dtype)
    slim.conv1.weight.copy_(W["conv1"][keep["conv1"]])
    slim.conv1.bias.copy_(b["conv1"][keep["conv1"]])
    for prev, name in (("conv1", "conv2"), ("conv2", "conv3")):
        gone = _dropped(W[prev].shape[0], keep[prev])
        r = F.relu(b[prev][gone])  # (removed,) the constant each removed channel outputs
        Wk = W[name][keep[name]]  # (kept out, C_in, 3, 3)
        getattr(slim, name).weight.copy_(Wk[:, keep[prev]])
        # b'_o = b_o + Σ_{c removed} r_c · Σ_{m,n} W[o, c, m, n]
        getattr(slim, name).bias.copy_(b[name][keep[name]] + Wk[:, gone].sum(dim=(2, 3)) @ r)
    _fold_dense(slim, W, b, keep)
    return slim.to(next(masked.parameters()).device).eval()


def _fold_dense(slim: SlimCNN, W: dict, b: dict, keep: dict) -> None:
    """fc1 reads the channels-last flatten of conv3 (column p·C + c); fc2 reads fc1's units."""
    C = W["conv3"].shape[0]
    gone3 = _dropped(C, keep["conv3"])
    r3 = F.relu(b["conv3"][gone3])
    # column of (position p, channel c) in the flatten: p·C + c, position-major as the slim flatten
    cols = (torch.arange(FLAT_POSITIONS)[:, None] * C + keep["conv3"][None, :]).reshape(-1)
    gone_cols = torch.arange(FLAT_POSITIONS)[:, None] * C + gone3[None, :]  # (9, removed)
    W1 = W["fc1"][keep["fc1"]]  # (kept units, 9·C)
    slim.fc1.weight.copy_(W1[:, cols])
    # b'_u = b_u + Σ_{c removed} r_c · Σ_p W[u, p·C + c]
    slim.fc1.bias.copy_(b["fc1"][keep["fc1"]] + W1[:, gone_cols].sum(dim=1) @ r3)
    gone4 = _dropped(W["fc1"].shape[0], keep["fc1"])
    r4 = F.relu(b["fc1"][gone4])
    slim.fc2.weight.copy_(W["fc2"][:, keep["fc1"]])
    # b'_k = b_k + Σ_{u removed} r_u · W[k, u]
    slim.fc2.bias.copy_(b["fc2"] + W["fc2"][:, gone4] @ r4)


@dataclass(frozen=True)
class LayerCount:
    """One layer's storage and work for one 28×28 image."""

    name: str
    shape: tuple[int, ...]  # its weight's shape
    params: int  # weights and biases stored
    nonzero: int  # of those, not 0
    macs: int  # multiply-adds a dense kernel does
    macs_nonzero: int  # multiply-adds with a non-zero weight (what a sparse kernel could keep)


@dataclass(frozen=True)
class Counts:
    """A model's layers and their totals."""

    layers: tuple[LayerCount, ...]

    @property
    def params(self) -> int:
        return sum(c.params for c in self.layers)

    @property
    def nonzero(self) -> int:
        return sum(c.nonzero for c in self.layers)

    @property
    def macs(self) -> int:
        return sum(c.macs for c in self.layers)

    @property
    def macs_nonzero(self) -> int:
        return sum(c.macs_nonzero for c in self.layers)


def layer_count(name: str, layer: nn.Module) -> LayerCount:
    W, bias = layer.weight.detach(), layer.bias.detach()
    P = POSITIONS[name]  # outputs computed per weight (H_out·W_out for a conv, 1 for a dense layer)
    # MACs = H_out·W_out·C_out·(k_h·k_w·C_in) = positions · #W
    return LayerCount(name, tuple(W.shape), W.numel() + bias.numel(),
                      int(W.count_nonzero()) + int(bias.count_nonzero()),
                      P * W.numel(), P * int(W.count_nonzero()))


def counts(model: nn.Module) -> Counts:
    """Parameters, non-zeros and multiply-adds per image of a SeedCNN or SlimCNN."""
    return Counts(tuple(layer_count(n, getattr(model, n)) for n in POSITIONS))
