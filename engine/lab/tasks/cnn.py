"""The article's CNN (engine.models.cnn.SeedCNN) on MNIST digits (engine.data.digits): the live
task the training page runs, and the recipe that trains the shipped checkpoint assets/seed_cnn.pt
(scripts/train_default_cnn.py), both through engine.lab.loop.run_steps.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import count, islice
from typing import ClassVar

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from engine.data.augment import AugmentConfig, random_affine
from engine.data.digits import embedded_mnist, fashion_mnist, full_mnist
from engine.lab.loop import StepOut, TrainConfig, make_optimizer, make_schedule, run_steps
from engine.lab.tasks.base import (
    AUGMENT,
    ORDER,
    MemoryEstimate,
    Prepared,
    TrainError,
    device_of,
    generator,
)
from engine.limits import BOUNDS, LimitError, check, check_float
from engine.models import cnn as models
from engine.models.cnn import SeedCNN, seeded
from engine.models.cnn_prune import METHODS, MaskedCNN, masked_model

# (train, held-out) images of each dataset engine.data.digits can give, known before loading it
DATASETS = {"mnist-5k": (4000, 1000), "mnist-full": (60000, 10000), "fashion-mnist": (60000, 10000)}
_LOADERS = {"mnist-5k": embedded_mnist, "mnist-full": full_mnist, "fashion-mnist": fashion_mnist}
CLASSES = 10
MAX_SHOWN = 32  # misclassified examples returned by the probe


@dataclass(frozen=True)
class CnnConfig:
    """The CNN task's data and model. `train_size` (when set) trains on a fixed, seeded, stratified
    subset of that many training images (stratified_subset; the held-out split is unchanged);
    `dropout` is SeedCNN's drop probability p before the dense layers (its masks come from
    torch's global generator, so a run with p > 0 does not repeat bit for bit).
    `start` = "shipped" starts from the shipped checkpoint's weights instead of the seed's
    initialisation; `prune` (a method of engine.models.cnn_prune, "none" = no pruning) and
    `sparsity` prune those starting weights by magnitude and hold the masks fixed while the run
    trains (the pruning page's fine-tune)."""

    dataset: str = "mnist-5k"
    batch_size: int = 64
    epochs: int = 10
    augment: bool = True  # random affine: ±10°, scale 0.9–1.1, shift ±2 px (AugmentConfig)
    train_size: int | None = None  # None: the whole training split
    dropout: float = 0.0
    start: str = "seed"  # "seed" (a fresh initialisation) or "shipped" (assets/seed_cnn.pt)
    prune: str = "none"  # "none" or a method of engine.models.cnn_prune.METHODS
    sparsity: float = 0.0  # the fraction pruned (weights, or channels for "channels")

    def __post_init__(self):
        if self.dataset not in DATASETS:
            raise ValueError(f"dataset must be one of {sorted(DATASETS)}, got {self.dataset!r}")
        check("batch", self.batch_size)
        check("epochs", self.epochs)
        if not isinstance(self.augment, bool):
            raise ValueError(f"augment must be True or False, got {self.augment!r}")
        if self.train_size is not None:
            name, n_train = "train_size", DATASETS[self.dataset][0]
            check(name, self.train_size)
            if self.train_size > n_train:  # no more than the dataset's training split holds
                raise LimitError(name, self.train_size, BOUNDS[name].low, n_train)
        check_float("dropout", self.dropout)
        if self.start not in STARTS:
            raise ValueError(f"start must be one of {STARTS}, got {self.start!r}")
        if self.prune != "none" and self.prune not in METHODS:
            raise ValueError(f"prune must be 'none' or one of {METHODS}, got {self.prune!r}")
        check_float("sparsity", self.sparsity)


STARTS = ("seed", "shipped")


SUBSET_SEED = 20_241  # the training subset is the same for every run (and every run's seed)


def stratified_subset(y: np.ndarray, n: int, seed: int = SUBSET_SEED) -> np.ndarray:
    """Indices of n images of labels y, each class k in proportion to its count N_k (largest
    remainders round), drawn by a seeded generator; sorted, so the subset is a fixed set."""
    y = np.asarray(y)
    classes, N_k = np.unique(y, return_counts=True)
    # n_k = ⌊n · N_k / N⌋, then one more for the largest remainders until Σ n_k = n
    share = n * N_k / len(y)
    n_k = np.floor(share).astype(int)
    extra = np.argsort(-(share - n_k), kind="stable")[: n - int(n_k.sum())]
    n_k[extra] += 1
    rng = np.random.default_rng(seed)
    picked = [rng.permutation(np.flatnonzero(y == k))[:m] for k, m in zip(classes, n_k, strict=True)]
    return np.sort(np.concatenate(picked))


def cnn_activations() -> int:
    """Floats one 28×28 image keeps in SeedCNN's forward pass (input and augmented input,
    each conv's z and ReLU(z), each pooled map, the flattened vector, the dense layers)."""
    # A = 2·784 + 2·32·26·26 + 32·13·13 + 2·64·11·11 + 64·5·5 + 2·64·3·3 + 576 + 2·64 + 10
    return 2 * 784 + 2 * 32 * 26 * 26 + 32 * 13 * 13 + 2 * 64 * 11 * 11 + 64 * 5 * 5 + 2 * 64 * 3 * 3 + 576 + 2 * 64 + 10


def cnn_params() -> int:
    """SeedCNN's 93,322 parameters: three 3×3 convolutions and two dense layers, each k·k·C_in·C_out + C_out."""
    # P = (3·3·1·32 + 32) + (3·3·32·64 + 64) + (3·3·64·64 + 64) + (576·64 + 64) + (64·10 + 10)
    return (3 * 3 * 1 * 32 + 32) + (3 * 3 * 32 * 64 + 64) + (3 * 3 * 64 * 64 + 64) + (576 * 64 + 64) + (64 * 10 + 10)


def as_batch(images: np.ndarray) -> torch.Tensor:
    """(N, 28, 28) float images → (N, 1, 28, 28) float32 tensor."""
    return torch.as_tensor(np.asarray(images, dtype=np.float32)).unsqueeze(1)


def new_model(seed: int, dropout: float = 0.0) -> SeedCNN:
    """A freshly initialised SeedCNN whose weights depend only on `seed` (engine.models.cnn.seeded),
    in training mode; `dropout` leaves the weights unchanged."""
    return seeded(seed, dropout).train()


def shipped_model(dropout: float = 0.0) -> SeedCNN:
    """The shipped checkpoint's SeedCNN (with dropout p, which has no weights), in training mode."""
    shipped = models.load_default()
    if shipped is None:
        raise TrainError("no_checkpoint", f"No shipped checkpoint at {models.CHECKPOINT}.",
                         file=str(models.CHECKPOINT))
    if dropout == 0.0:
        return shipped.train()
    model = SeedCNN(dropout)
    model.load_state_dict(shipped.state_dict())
    return model.train()


def cross_entropy_step(model: nn.Module, batch) -> StepOut:
    """Cross-entropy of a batch of images (x, y); counts the correct predictions."""
    xb, yb = batch
    z = model(xb)
    # L = −(1/B) Σ_b log softmax(z_b)[y_b]
    loss = F.cross_entropy(z, yb)
    correct = (z.detach().argmax(dim=1) == yb).sum()
    return StepOut(loss, yb.numel(), {"correct": correct, "total": yb.numel()})


class CnnTask(Prepared):
    """SeedCNN, channels_last, cross-entropy; train accuracy, held-out accuracy and loss."""

    kind: ClassVar[str] = "cnn"
    EVAL_CHUNK = 500

    def __init__(self, config: CnnConfig = CnnConfig()):
        self.config = config
        self.n_train, self.n_test = DATASETS[config.dataset]
        if config.train_size is not None:
            self.n_train = config.train_size

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
        x_train, y_train = split.x_train, split.y_train
        if self.config.train_size is not None and self.config.train_size <= len(y_train):
            keep = stratified_subset(y_train, self.config.train_size)
            x_train, y_train = x_train[keep], y_train[keep]
        if len(y_train) > self.n_train or len(split.y_test) > self.n_test:
            raise TrainError("dataset_size", f"{split.name} holds more images than its memory estimate allows.",
                             dataset=split.name, train=len(split.y_train), test=len(split.y_test))
        self.n_train, self.n_test = len(y_train), len(split.y_test)

        def images(x):
            return as_batch(x).to(device).contiguous(memory_format=torch.channels_last)

        self.x_train, self.x_test = images(x_train), images(split.x_test)
        self.y_train = torch.as_tensor(y_train).to(device)
        self.y_test = torch.as_tensor(split.y_test).to(device)
        self._device = device

    def make_model(self, seed: int, device: torch.device | None = None) -> nn.Module:
        c = self.config
        model = new_model(seed, c.dropout) if c.start == "seed" else shipped_model(c.dropout)
        if c.prune != "none":
            # the masks come from the starting weights and stay fixed (MaskedCNN)
            model = masked_model(model, c.prune, c.sparsity, c.dropout).train()
        model = model.to(memory_format=torch.channels_last)
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
        if isinstance(model, MaskedCNN):
            # W ← W ⊙ M after the previous update (a no-op: the masked gradient kept them 0)
            model.reapply_()
        return cross_entropy_step(model, batch)

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

    def extras(self, model: nn.Module, step: int) -> list:
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
        x = x.reshape(1, 1, 28, 28).to(device_of(model)).contiguous(memory_format=torch.channels_last)
        was_training = model.training
        model.eval()
        # p_k = exp(z_k) / Σ_j exp(z_j)
        p = torch.softmax(model(x)[0], dim=-1)
        model.train(was_training)
        return p.cpu()


# ----- the recipe of the shipped checkpoint (scripts/train_default_cnn.py) -------------------


@dataclass(frozen=True)
class CnnRecipe:
    """The shipped SeedCNN's run: Adam with a one-cycle rate peaking at 3e-3, batch 64, 20
    epochs, random-affine augmentation, channels_last; data order and augmentation from `seed`."""

    seed: int = 0
    epochs: int = 20
    batch_size: int = 64
    train: TrainConfig = TrainConfig("adam", 3e-3, "one_cycle")
    augment: AugmentConfig | None = AugmentConfig()
    channels_last: bool = True


@dataclass(frozen=True)
class CnnResult:
    model: SeedCNN
    epoch_accuracy: tuple[float, ...]  # held-out accuracy after each epoch
    seconds: float  # training time (evaluation excluded)


@torch.no_grad()
def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 1000) -> float:
    """The fraction of images whose arg-max logit is the label."""
    was_training = model.training
    model.eval()
    correct = 0
    for start in range(0, x.shape[0], batch_size):
        xb = x[start : start + batch_size]
        # ŷ = argmax_k z_k
        correct += int((model(xb).argmax(dim=1) == y[start : start + batch_size]).sum())
    model.train(was_training)
    return correct / x.shape[0]


def recipe_batches(recipe: CnnRecipe, x: torch.Tensor, y: torch.Tensor,
                   rng: torch.Generator) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Epoch after epoch: a seeded random order, each batch augmented with draws from `rng`."""
    for _ in range(recipe.epochs):
        order = torch.randperm(x.shape[0], generator=rng)
        for start in range(0, x.shape[0], recipe.batch_size):
            idx = order[start : start + recipe.batch_size]
            xb, yb = x[idx], y[idx]
            if recipe.augment is not None:
                xb = random_affine(xb, recipe.augment, rng)
            if recipe.channels_last:
                xb = xb.contiguous(memory_format=torch.channels_last)
            yield xb, yb


def train_seed_cnn(recipe: CnnRecipe, x_train: torch.Tensor, y_train: torch.Tensor,
                   x_test: torch.Tensor | None = None, y_test: torch.Tensor | None = None,
                   on_epoch: Callable[[int, float, float], None] | None = None) -> CnnResult:
    """Train a SeedCNN by the recipe; data order and augmentation come from recipe.seed.

    x_*: (N, 1, 28, 28) float32 in [0, 1]; y_*: (N,) int64. `on_epoch(epoch, accuracy, seconds)`
    is called after each epoch (accuracy is NaN without a held-out set).
    """
    model = new_model(recipe.seed)
    if recipe.channels_last:
        model = model.to(memory_format=torch.channels_last)
        if x_test is not None:
            x_test = x_test.contiguous(memory_format=torch.channels_last)
    steps_per_epoch = math.ceil(x_train.shape[0] / recipe.batch_size)
    optimizer = make_optimizer(model.parameters(), recipe.train)
    scheduler = make_schedule(optimizer, recipe.train, recipe.epochs * steps_per_epoch)
    rng = torch.Generator().manual_seed(recipe.seed)
    steps = run_steps(model, optimizer, recipe_batches(recipe, x_train, y_train, rng), cross_entropy_step,
                      recipe.train.clip, scheduler)
    accuracies: list[float] = []
    seconds = 0.0
    for epoch in range(1, recipe.epochs + 1):
        start = time.perf_counter()
        model.train()
        for _ in islice(steps, steps_per_epoch):
            pass
        seconds += time.perf_counter() - start
        acc = accuracy(model, x_test, y_test) if x_test is not None else float("nan")
        accuracies.append(acc)
        if on_epoch is not None:
            on_epoch(epoch, acc, seconds)
    return CnnResult(model.eval(), tuple(accuracies), seconds)


def plain_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """The weights as ordinary contiguous float32 CPU tensors (channels_last undone)."""
    return {k: v.detach().to("cpu", torch.float32).contiguous() for k, v in model.state_dict().items()}
