"""The training lab's three tasks behind one interface (engine.lab.tasks.base.Task), and the registry.

    cnn    the source article's CNN on MNIST digits                     engine.lab.tasks.cnn
    char   a character-level LSTM, GRU or RNN on Shakespeare or text    engine.lab.tasks.charlm
    seq    a tiny Transformer on copy / reverse / sort / add            engine.lab.tasks.seq
"""

from __future__ import annotations

from dataclasses import asdict

from engine.lab.loop import StepOut
from engine.lab.tasks.base import (
    HELD_OUT_SEED,
    MemoryEstimate,
    Task,
    TrainError,
    generator,
    seeded,
    sub_seed,
)
from engine.lab.tasks.charlm import EVAL_CHARS, EVAL_WINDOWS, PROBE_TEXT, CharConfig, CharTask
from engine.lab.tasks.cnn import (
    CLASSES,
    DATASETS,
    MAX_SHOWN,
    CnnConfig,
    CnnTask,
    cnn_activations,
    cnn_params,
)
from engine.lab.tasks.seq import SeqConfig, SeqTask
from engine.models.tiny_transformer import TinyTransformerConfig

__all__ = [
    "CLASSES", "DATASETS", "EVAL_CHARS", "EVAL_WINDOWS", "HELD_OUT_SEED", "MAX_SHOWN", "PROBE_TEXT", "TASKS",
    "CharConfig", "CharTask", "CnnConfig", "CnnTask", "MemoryEstimate", "SeqConfig", "SeqTask", "StepOut",
    "Task", "TrainError", "cnn_activations", "cnn_params", "config_dict", "config_from_dict", "generator",
    "make_task", "seeded", "sub_seed",
]

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
