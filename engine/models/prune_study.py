"""The pruning page's measurements on the shipped SeedCNN and the 1,000 held-out digits:
accuracy against sparsity for each method, what one prune saves (parameters, non-zeros,
multiply-adds; the smaller network of a structured prune and its gap to the masked model), and
the check of our masks against torch.nn.utils.prune.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.utils.prune as torch_prune

from engine.data.digits import embedded_mnist
from engine.models.cnn_prune import (
    METHODS,
    SPARSITIES,
    Pruning,
    apply_masks,
    check_method,
    prune_masks,
)
from engine.models.cnn_slim import Counts, counts, shrink

EVAL_CHUNK = 250  # images per forward pass (faster than 1,000 at once on a CPU)


@dataclass(frozen=True)
class HeldOut:
    """The held-out digits: x (N, 1, 28, 28) float32 channels_last, y (N,) labels."""

    x: torch.Tensor
    y: torch.Tensor


def held_out() -> HeldOut:
    """The 1,000 held-out digits of the embedded MNIST split (engine.data.digits.embedded_mnist)."""
    split = embedded_mnist()
    x = torch.as_tensor(split.x_test).unsqueeze(1).contiguous(memory_format=torch.channels_last)
    return HeldOut(x, torch.as_tensor(split.y_test))


@torch.inference_mode()
def accuracy(model: nn.Module, data: HeldOut) -> float:
    """The fraction of held-out images whose arg-max logit is the label (eval mode)."""
    model.eval()
    x, y = data.x.to(next(model.parameters()).device), data.y.to(next(model.parameters()).device)
    # ŷ = argmax_k z_k
    correct = sum(int((model(x[i: i + EVAL_CHUNK]).argmax(dim=1) == y[i: i + EVAL_CHUNK]).sum())
                  for i in range(0, x.shape[0], EVAL_CHUNK))
    return correct / x.shape[0]


@dataclass(frozen=True)
class Curve:
    """Held-out accuracy of one method at each sparsity, and the parameters left non-zero."""

    method: str
    s: tuple[float, ...]
    accuracy: tuple[float, ...]
    nonzero: tuple[int, ...]  # non-zero parameters (weights and biases) of the pruned model

    def at(self, s: float) -> float:
        """The accuracy at sparsity s (one of the curve's points)."""
        return self.accuracy[min(range(len(self.s)), key=lambda i: abs(self.s[i] - s))]


def pruned_for_eval(model: nn.Module, pruning: Pruning) -> nn.Module:
    """The pruned model to score: the masked copy, or for a structured prune the smaller network
    (the same logits, fewer multiply-adds), channels_last."""
    masked = apply_masks(model, pruning)
    fast = shrink(masked, pruning) if pruning.method == "channels" else masked
    return fast.to(memory_format=torch.channels_last)


def accuracy_curve(model: nn.Module, data: HeldOut, method: str,
                   sparsities: Sequence[float] = SPARSITIES) -> Curve:
    """Prune the model by `method` at every sparsity and score it on the held-out digits."""
    acc, nz = [], []
    for s in sparsities:
        pruning = prune_masks(model, method, s)
        acc.append(accuracy(pruned_for_eval(model, pruning), data))
        nz.append(counts(apply_masks(model, pruning)).nonzero)
    return Curve(method, tuple(float(s) for s in sparsities), tuple(acc), tuple(nz))


def curves(model: nn.Module, data: HeldOut, sparsities: Sequence[float] = SPARSITIES) -> tuple[Curve, ...]:
    """One curve per method (engine.models.cnn_prune.METHODS)."""
    return tuple(accuracy_curve(model, data, m, sparsities) for m in METHODS)


@dataclass(frozen=True)
class PruneReport:
    """One prune (method, s) of a model: its masks and what it keeps.

    dense: the model before; pruned: the masked model (same shapes: an unstructured prune only
    writes zeros); slim: the smaller network of a structured prune (None otherwise) and
    slim_gap, max |logits(slim) − logits(masked)| on the digits given."""

    pruning: Pruning
    dense: Counts
    pruned: Counts
    slim: Counts | None
    slim_gap: float | None


def report(model: nn.Module, method: str, s: float, x: torch.Tensor) -> PruneReport:
    """What the prune of `model` by `method` at s keeps; x: digits (N, 1, 28, 28) in the model's
    dtype for the smaller network's check (pass the float64 model and digits)."""
    pruning = prune_masks(model, method, s)
    masked = apply_masks(model, pruning)
    slim, gap = None, None
    if method == "channels":
        small = shrink(masked, pruning)
        with torch.no_grad():
            gap = float((small(x) - masked(x)).abs().max())
        slim = counts(small)
    return PruneReport(pruning, counts(model), counts(masked), slim, gap)


def torch_masks(model: nn.Module, method: str, s: float) -> list[torch.Tensor]:
    """torch.nn.utils.prune's masks for the same prune, in the order of prune_masks's layers."""
    check_method(method)
    copy_ = copy.deepcopy(model)
    names = [lm.name for lm in prune_masks(model, method, s).layers]
    modules = [getattr(copy_, n) for n in names]
    if method == "layer":
        for m in modules:
            torch_prune.l1_unstructured(m, "weight", amount=s)
    elif method == "global":
        torch_prune.global_unstructured([(m, "weight") for m in modules], pruning_method=torch_prune.L1Unstructured,
                                       amount=s)
    else:
        for m in modules:
            torch_prune.ln_structured(m, "weight", amount=s, n=1, dim=0)
    return [m.weight_mask.detach() for m in modules]


def torch_gap(model: nn.Module, method: str, s: float) -> float:
    """max |M − M_torch| over every masked layer (0 when our masks equal torch's)."""
    ours = prune_masks(model, method, s).layers
    theirs = torch_masks(model, method, s)
    return max(float((lm.mask.M - M.to(lm.mask.M.dtype)).abs().max()) for lm, M in zip(ours, theirs, strict=True))
