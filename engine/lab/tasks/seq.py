"""A tiny Transformer (engine.models.tiny_transformer) on the toy sequence tasks copy / reverse /
sort / add (engine.data.seq_tasks): the live task the training page runs."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from itertools import count
from typing import ClassVar

import torch
import torch.nn as nn
import torch.nn.functional as F

from engine.data.seq_tasks import IGNORE, SEQ_TASKS, VOCAB, input_length, make_batch
from engine.lab.loop import StepOut
from engine.lab.tasks.base import (
    BATCH,
    HELD_OUT_SEED,
    MemoryEstimate,
    Prepared,
    StepsFromConfig,
    generator,
    seeded,
)
from engine.limits import check
from engine.models.tiny_transformer import (
    TinyTransformer,
    TinyTransformerConfig,
    anti_diagonal_mass,
    attention_maps,
)
from engine.models.tiny_transformer import param_count as transformer_param_count


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


class SeqTask(StepsFromConfig, Prepared):
    """Per-position cross-entropy; exact-match accuracy on held-out sequences; attention maps."""

    kind: ClassVar[str] = "seq"
    EVAL_CHUNK = 512

    def __init__(self, config: SeqConfig = SeqConfig()):
        self.config = config

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

    def extras(self, model: nn.Module, step: int) -> list:
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


