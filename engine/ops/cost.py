"""What each layer of SeedCNN costs for a batch of N images: parameters, multiply-adds, bytes
moved and arithmetic intensity, forward and backward — counted, not measured.

The counting model (stated once, used everywhere on the "Where the time goes" page):

- ReLU folds into the layer before it (conv1, conv2, conv3, fc1): max(0, ·) is applied to each
  output as it is written, so it adds no multiply-add and no memory traffic of its own; in the
  backward pass its mask is read from the saved output y (one more read of y).
- FLOPs = 2·MACs (one multiply and one add), as torch.utils.flop_counter counts convolutions and
  matrix multiplies. Bias additions are not counted (they are N·|y|, tiny beside the MACs).
  Pooling does no multiply-add; its forward pass makes k²−1 = 3 comparisons per output, which
  we count as its operations so it can sit on a roofline; its backward pass only routes each
  gradient to its argmax cell (no arithmetic).
- Bytes: a minimal-traffic model in float32 (4 bytes a number): every tensor a pass needs is read
  or written exactly once, as if caches held nothing between layers and everything inside one.
  Forward: read x and θ, write y. Backward: read ∂y (and y for the ReLU mask), read x (for ∂W),
  read θ (only for ∂x), write ∂θ, and write ∂x when the layer's input needs a gradient (not conv1's:
  the images are data). Pooling's backward reads ∂y and the argmax index (counted as 4 bytes)
  and writes ∂x.
- Backward MACs: ∂W costs as many multiply-adds as the forward pass (each product x·w is met once
  more, now as x·∂y), and so does ∂x (each w·∂y): backward ≈ 2 × forward, except conv1 (1×).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from engine.limits import check
from engine.ops.conv import output_size

BYTES_PER_NUMBER = 4  # float32
POOL = 2  # SeedCNN's 2×2 max pooling, stride 2
LAYER_NAMES = ("conv1", "pool1", "conv2", "pool2", "conv3", "fc1", "fc2")


@dataclass(frozen=True)
class PassCost:
    """One pass (forward or backward) of one layer on a batch: work and traffic."""

    macs: int  # multiply-adds
    flops: int  # 2·MACs (pooling: its comparisons)
    bytes: int  # the minimal traffic in float32

    @property
    def intensity(self) -> float:
        """Arithmetic intensity I = FLOPs / bytes (FLOP per byte)."""
        # I = FLOPs / bytes
        return self.flops / self.bytes if self.bytes else 0.0


@dataclass(frozen=True)
class LayerCost:
    """One layer of SeedCNN for a batch of N: what it holds, reads and makes, and both passes."""

    name: str  # conv1 … fc2
    kind: str  # conv, pool, dense
    relu: bool  # ReLU folded in
    params: int  # |θ|
    x_shape: tuple[int, ...]  # one image's input, channels first
    y_shape: tuple[int, ...]  # one image's output
    forward: PassCost
    backward: PassCost


@dataclass(frozen=True)
class CostTable:
    """Every layer of SeedCNN for a batch of N, in the order the data flows, and the totals."""

    N: int
    layers: tuple[LayerCost, ...]

    def layer(self, name: str) -> LayerCost:
        for row in self.layers:
            if row.name == name:
                return row
        raise KeyError(f"no layer {name!r}; the layers are {', '.join(LAYER_NAMES)}")

    @property
    def params(self) -> int:
        return sum(r.params for r in self.layers)

    @property
    def forward(self) -> PassCost:
        return _total(r.forward for r in self.layers)

    @property
    def backward(self) -> PassCost:
        return _total(r.backward for r in self.layers)


def _total(passes) -> PassCost:
    passes = list(passes)
    return PassCost(*(sum(getattr(p, f) for p in passes) for f in ("macs", "flops", "bytes")))


def _numel(shape: tuple[int, ...]) -> int:
    n = 1
    for s in shape:
        n *= s
    return n


def _pass(N: int, macs: int, reads: int, writes: int, flops: int | None = None) -> PassCost:
    """A pass whose reads and writes are counted in numbers (already multiplied out by N)."""
    # FLOPs = 2·MACs
    flops = 2 * macs if flops is None else flops
    # bytes = 4·(numbers read + numbers written)
    return PassCost(macs, flops, BYTES_PER_NUMBER * (reads + writes))


def conv_cost(name: str, conv: nn.Conv2d, x_shape: tuple[int, int, int], N: int, needs_dx: bool) -> LayerCost:
    """A convolution followed by ReLU, stride 1, no padding, on N inputs of shape x_shape."""
    C_out, C_in, k_h, k_w = conv.weight.shape
    _, H, W = x_shape
    H_out, W_out = output_size(H, k_h), output_size(W, k_w)
    y_shape = (C_out, H_out, W_out)
    P = conv.weight.numel() + (conv.bias.numel() if conv.bias is not None else 0)
    n_x, n_y = N * _numel(x_shape), N * _numel(y_shape)
    # MACs = N·H_out·W_out·C_out·k_h·k_w·C_in
    macs = N * H_out * W_out * C_out * k_h * k_w * C_in
    return LayerCost(name, "conv", True, P, tuple(x_shape), y_shape,
                     _pass(N, macs, reads=n_x + P, writes=n_y),
                     _backward(N, macs, n_x, n_y, P, needs_dx, relu=True))


def dense_cost(name: str, fc: nn.Linear, N: int, needs_dx: bool, relu: bool) -> LayerCost:
    """A dense layer y = W x + b (and ReLU when `relu`) on N vectors."""
    n_out, n_in = fc.weight.shape
    P = fc.weight.numel() + (fc.bias.numel() if fc.bias is not None else 0)
    # MACs = N·n_in·n_out
    macs = N * n_in * n_out
    return LayerCost(name, "dense", relu, P, (n_in,), (n_out,),
                     _pass(N, macs, reads=N * n_in + P, writes=N * n_out),
                     _backward(N, macs, N * n_in, N * n_out, P, needs_dx, relu))


def _backward(N: int, macs: int, n_x: int, n_y: int, P: int, needs_dx: bool, relu: bool) -> PassCost:
    """∂W = ∂y ⊗ x costs the forward's MACs; ∂x = Wᵀ ∂y costs them again when it is needed."""
    # MACs_back = MACs·(1 + [∂x needed])
    macs_back = macs * (1 + int(needs_dx))
    reads = n_y + (n_y if relu else 0) + n_x + (P if needs_dx else 0)  # ∂y, y (mask), x, θ
    writes = P + (n_x if needs_dx else 0)  # ∂θ, ∂x
    return _pass(N, macs_back, reads, writes)


def pool_cost(name: str, x_shape: tuple[int, int, int], N: int, k: int = POOL) -> LayerCost:
    """k×k max pooling with stride k on N inputs of shape x_shape."""
    C, H, W = x_shape
    y_shape = (C, H // k, W // k)
    n_x, n_y = N * _numel(x_shape), N * _numel(y_shape)
    # comparisons = (k·k − 1)·N·C·H_out·W_out
    comparisons = (k * k - 1) * n_y
    forward = _pass(N, 0, reads=n_x, writes=n_y, flops=comparisons)
    backward = _pass(N, 0, reads=2 * n_y, writes=n_x)  # ∂y and the argmax index in; ∂x out
    return LayerCost(name, "pool", False, 0, tuple(x_shape), y_shape, forward, backward)


def seed_cnn_costs(model: nn.Module, N: int) -> CostTable:
    """Every layer of SeedCNN (engine.models.cnn.SeedCNN) for a batch of N images of 1×28×28.

    Shapes come from the model's own weights; N is bounded by limits "roof_batch"."""
    N = check("roof_batch", N)
    rows: list[LayerCost] = []
    shape: tuple[int, ...] = (1, 28, 28)
    for l, conv in enumerate((model.conv1, model.conv2, model.conv3), start=1):
        rows.append(conv_cost(f"conv{l}", conv, shape, N, needs_dx=l > 1))
        shape = rows[-1].y_shape
        if l < 3:
            rows.append(pool_cost(f"pool{l}", shape, N))
            shape = rows[-1].y_shape
    rows.append(dense_cost("fc1", model.fc1, N, needs_dx=True, relu=True))
    rows.append(dense_cost("fc2", model.fc2, N, needs_dx=True, relu=False))
    return CostTable(N, tuple(rows))


def attainable(I: float, peak: float, bandwidth: float) -> float:
    """The roofline: the best rate (FLOP/s) a kernel of intensity I can reach on a machine of
    peak π (FLOP/s) and memory bandwidth β (bytes/s)."""
    # P = min(π, β·I)
    return min(peak, bandwidth * I)


def ridge(peak: float, bandwidth: float) -> float:
    """The ridge point I* = π / β: below it a kernel is memory-bound, above it compute-bound."""
    # I* = π / β
    return peak / bandwidth


@dataclass(frozen=True)
class CountedFlops:
    """torch's own count (torch.utils.flop_counter) of SeedCNN's FLOPs per layer, for a batch of N."""

    N: int
    forward: dict[str, int]  # layer → FLOPs of the forward pass (pooling: 0, torch counts no comparisons)
    backward: dict[str, int]


def torch_flops(model: nn.Module, N: int) -> CountedFlops:
    """Count with FlopCounterMode on shape-only ("meta") tensors: no arithmetic is done, so any N
    is instant. The backward pass is that of the mean cross-entropy, the images needing no gradient."""
    N = check("roof_batch", N)
    meta = copy.deepcopy(model).to(torch.device("meta"))
    x = torch.empty(N, 1, 28, 28, device=meta.conv1.weight.device)
    y = torch.zeros(N, dtype=torch.long, device=x.device)
    with FlopCounterMode(display=False) as forward:
        F.cross_entropy(meta(x), y)
    # the counter files backward work under a module only when it saw that module's forward too
    with FlopCounterMode(display=False) as both:
        F.cross_entropy(meta(x), y).backward()
    f, b = _by_layer(forward, type(model).__name__), _by_layer(both, type(model).__name__)
    return CountedFlops(N, f, {name: b[name] - f[name] for name in LAYER_NAMES})


def _by_layer(counter: FlopCounterMode, root: str) -> dict[str, int]:
    counts = counter.get_flop_counts()
    return {name: int(sum(counts.get(f"{root}.{name}", {}).values())) for name in LAYER_NAMES}


def torch_gap(table: CostTable, counted: CountedFlops) -> int:
    """max |2·MACs − torch's FLOPs| over every layer and both passes (0 when the counts agree)."""
    return max(abs(2 * getattr(r, p).macs - getattr(counted, p)[r.name])
               for r in table.layers for p in ("forward", "backward"))
