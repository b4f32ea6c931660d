"""Magnitude pruning of the shipped SeedCNN (engine.ops.prune on its five weight tensors).

Three methods, one sparsity s each:

    layer       every weight tensor loses its own round(s·n) smallest |W|    (unstructured)
    global      round(s·Σn) smallest |W| of all five tensors together         (unstructured)
    channels    conv1, conv2, conv3 and fc1 each lose their round(s·C_out) output channels of
                smallest L1 norm (fc2's ten outputs are the classes and stay)  (structured)

As torch.nn.utils.prune does, a mask covers a layer's weight only; the biases stay. A pruned
model is a copy of the model with W ← W ⊙ M. An unstructured prune only writes zeros (a dense
kernel does the same multiply-adds); a structured one lets engine.models.cnn_slim build a truly
smaller network with the same logits. MaskedCNN holds the masks fixed during a fine-tune;
engine.models.prune_study scores the pruned models on the held-out digits.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
import torch.nn as nn

from engine.limits import check_float
from engine.models.cnn import SeedCNN
from engine.ops.prune import PruneMask, global_unstructured, l1_unstructured, ln_structured

METHODS = ("layer", "global", "channels")
WEIGHTS = ("conv1", "conv2", "conv3", "fc1", "fc2")  # every conv and dense layer's weight
SHRUNK = ("conv1", "conv2", "conv3", "fc1")  # the layers a structured prune removes channels from
# the curves' points and the slider's stops: every 10 %, then 85 % and 95 % where the curves fall
SPARSITIES = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95)


@dataclass(frozen=True)
class LayerMask:
    """One layer's mask, by the layer's name."""

    name: str
    mask: PruneMask


@dataclass(frozen=True)
class Pruning:
    """The masks one method at sparsity s gives the model's layers (those it prunes)."""

    method: str
    s: float
    layers: tuple[LayerMask, ...]

    def layer(self, name: str) -> PruneMask | None:
        """The mask of layer `name`, or None when the method leaves that layer whole."""
        return next((lm.mask for lm in self.layers if lm.name == name), None)


def check_method(method: str) -> str:
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    return method


def prune_masks(model: nn.Module, method: str, s: float) -> Pruning:
    """The masks of `method` at sparsity s, from the model's current weights (s checked against
    engine.limits: 0 ≤ s ≤ 0.95)."""
    check_method(method)
    s = check_float("sparsity", s)
    W = [getattr(model, name).weight for name in WEIGHTS]
    if method == "layer":
        masks = [l1_unstructured(w, s) for w in W]
    elif method == "global":
        masks = global_unstructured(W, s)
    else:
        return Pruning(method, s, tuple(LayerMask(n, ln_structured(getattr(model, n).weight, s)) for n in SHRUNK))
    return Pruning(method, s, tuple(LayerMask(n, m) for n, m in zip(WEIGHTS, masks, strict=True)))


@torch.no_grad()
def apply_masks(model: nn.Module, pruning: Pruning) -> nn.Module:
    """A copy of the model with every masked weight multiplied by its mask (biases untouched)."""
    pruned = copy.deepcopy(model)
    for lm in pruning.layers:
        W = getattr(pruned, lm.name).weight
        # W ← W ⊙ M
        W.mul_(lm.mask.M.to(W.device, W.dtype))
    return pruned


class MaskedCNN(SeedCNN):
    """SeedCNN whose pruned weights stay exactly 0 while it trains: the gradient of every masked
    weight is multiplied by its mask (so no optimiser of the lab moves a pruned weight: its
    gradient, momentum and Adam moments stay 0, and weight decay of a zero is zero), and
    reapply_() writes W ← W ⊙ M again. The masks are non-persistent buffers: the state_dict is
    SeedCNN's, so checkpoints are unchanged."""

    def __init__(self, pruning: Pruning, dropout: float = 0.0):
        super().__init__(dropout)
        self.masked = tuple(lm.name for lm in pruning.layers)
        for lm in pruning.layers:
            self.register_buffer(f"mask_{lm.name}", lm.mask.M.detach().clone().float(), persistent=False)
            getattr(self, lm.name).weight.register_hook(self._grad_hook(lm.name))

    def _grad_hook(self, name: str):
        def hook(grad: torch.Tensor) -> torch.Tensor:
            # ∂L/∂W ← ∂L/∂W ⊙ M
            return grad * getattr(self, f"mask_{name}")
        return hook

    @torch.no_grad()
    def pruned_zero(self) -> tuple[int, int]:
        """(pruned weights that are exactly 0, pruned weights): equal while the masks hold."""
        zero = sum(int((getattr(self, n).weight[getattr(self, f"mask_{n}") == 0] == 0).sum()) for n in self.masked)
        return zero, sum(int((getattr(self, f"mask_{n}") == 0).sum()) for n in self.masked)

    @torch.no_grad()
    def reapply_(self) -> None:
        for name in self.masked:
            W = getattr(self, name).weight
            # W ← W ⊙ M
            W.mul_(getattr(self, f"mask_{name}"))


def masked_model(model: SeedCNN, method: str, s: float, dropout: float = 0.0) -> MaskedCNN:
    """A MaskedCNN holding `model`'s weights pruned by `method` at sparsity s (masks from them)."""
    pruning = prune_masks(model, method, s)
    masked = MaskedCNN(pruning, dropout)
    masked.load_state_dict(model.state_dict())
    masked.reapply_()
    return masked.to(next(model.parameters()).device)
