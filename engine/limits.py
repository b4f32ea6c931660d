"""Every size a learner can choose, bounded in one place and checked on the server."""

from __future__ import annotations

from dataclasses import dataclass


class CodedError(ValueError):
    """An error a learner's input can cause: `code` picks the page's translated message
    (err_<code> in lessons/ui/*.toml) and `params` fill it; the English message is for logs."""

    def __init__(self, code: str, message: str, **params):
        self.code = code
        self.params = params
        super().__init__(message)


class LimitError(ValueError):
    """A value outside the allowed range; `code` and `params` let a page translate it."""

    def __init__(self, name: str, value, low, high):
        self.code = "limit"
        self.params = {"name": name, "value": value, "low": low, "high": high}
        super().__init__(f"{name} must be between {low} and {high} (got {value}).")


@dataclass(frozen=True)
class Bound:
    low: int
    high: int


BOUNDS: dict[str, Bound] = {
    "kernel_size": Bound(1, 7),
    "stride": Bound(1, 4),
    "padding": Bound(0, 3),
    "num_kernels": Bound(1, 32),
    "pool_size": Bound(1, 4),
    "shift": Bound(-4, 4),
    "image_side": Bound(8, 64),
    "batch": Bound(1, 4096),
    "seq_len": Bound(1, 200),
    "hidden_size": Bound(1, 256),
    "input_size": Bound(1, 512),
    # attention, positional encodings, Transformer blocks
    # d_model and d_ff reach MiniLM's real 384 and 1536 (the MiniLM replay page, views/real_replay/)
    "d_model": Bound(1, 384),
    "num_heads": Bound(1, 16),
    "d_ff": Bound(1, 1536),
    "tokens": Bound(1, 128),
    "max_len": Bound(1, 512),
    "position_shift": Bound(-512, 512),
    "samples": Bound(1, 10_000),
    # typed formulas (engine/formula/): grid points, random test points, length of a vector in a.b
    "formula_grid": Bound(2, 2001),
    "formula_points": Bound(1, 1000),
    "vector_dim": Bound(1, 16),
    # the training lab (engine/lab/trainer.py, engine/lab/tasks/)
    "epochs": Bound(1, 100),
    "train_steps": Bound(1, 100_000),
    "budget_s": Bound(1, 3600),
    "report_every": Bound(1, 10_000),
    "eval_every": Bound(1, 100_000),
    "text_chars": Bound(200, 200_000),
    "layers": Bound(1, 6),
    "toy_len": Bound(2, 32),
    "seed": Bound(0, 2**31 - 1),
    # the training knobs page, regularisation (views/knobs/regularise.py): a small training subset
    "train_size": Bound(10, 60_000),
    # the training knobs page (views/knobs/page.py): the initialisation study's MLP (width, depth)
    "init_width": Bound(8, 256),
    "init_depth": Bound(2, 30),
    # the optimisers page (views/optimisers/): the steps of a race on a 2-D surface
    "optim_steps": Bound(1, 1000),
    # the language model's next token (views/real_lm/): prompt length in tokens, tokens generated
    # per press, the whole continuation kept (prompt + continuation ≤ 128, the engine's "tokens"), top-k
    "prompt_tokens": Bound(1, 96),
    "generate_tokens": Bound(1, 10),
    "continuation_tokens": Bound(0, 32),
    "top_k": Bound(1, 49_152),
    # the MiniLM replay page (views/real_replay/): the learner's text in characters, and in WordPiece
    # tokens with [CLS] and [SEP] (longer text is truncated, with a message)
    "minilm_chars": Bound(1, 1000),
    "minilm_tokens": Bound(3, 64),
    # the MiniLM encoder page (views/real_encoder/) reads its sentence(s) with the same two bounds;
    # its similarity section compares at most minilm_sentences sentences, each cut at minilm_seq
    # tokens (the model's max_seq_length, sentence_bert_config.json)
    "minilm_sentences": Bound(2, 8),
    "minilm_seq": Bound(3, 256),
    # the "where the time goes" page (views/roofline/): the batch size N of its cost table and timed
    # layers, and the torch thread counts its measurement compares (also at most the machine's cores)
    "roof_batch": Bound(1, 1024),
    "roof_threads": Bound(1, 256),
    # the quantisation page (views/quantise/): the bit width b of weights and activations
    "quant_bits": Bound(2, 8),
    # the data-parallel page (views/data_parallel/): K simulated workers on the learner's batch of
    # dp_batch digits; the real 2-process run (engine/lab/ddp.py): its steps and combined batch
    "dp_workers": Bound(1, 16),
    "dp_batch": Bound(1, 128),
    "ddp_steps": Bound(1, 50),
    "ddp_batch": Bound(2, 256),
}


@dataclass(frozen=True)
class FloatBound:
    low: float
    high: float


# Real-valued settings a learner chooses (the training lab's optimiser).
FLOAT_BOUNDS: dict[str, FloatBound] = {
    "lr": FloatBound(1e-5, 1.0),
    "momentum": FloatBound(0.0, 0.999),
    "weight_decay": FloatBound(0.0, 0.1),
    "clip": FloatBound(0.0, 100.0),  # 0 = no gradient clipping
    # the backpropagation page (views/backprop/): one SGD step's η (large enough to overshoot),
    # and the values a learner gives the small graph's variables
    "backprop_eta": FloatBound(1e-4, 100.0),
    "graph_value": FloatBound(-100.0, 100.0),
    # the training knobs page, regularisation: dropout's drop probability p (p < 1: 1/(1 − p) is finite)
    "dropout": FloatBound(0.0, 0.9),
    # the optimisers page (views/optimisers/): the learning rate of a race on a 2-D surface
    "optim_lr": FloatBound(1e-6, 10.0),
    # the pruning page (views/prune/): the fraction of weights (or channels) pruned; ≤ 0.95 keeps
    # at least one channel of every layer a structured prune shrinks
    "sparsity": FloatBound(0.0, 0.95),
    # the "where the time goes" page (views/roofline/): the measurement run's time budget in seconds
    "roof_budget_s": FloatBound(0.05, 120.0),
}

# A training run is refused when its estimated memory (engine.lab.tasks.MemoryEstimate) is above this.
MAX_TRAIN_BYTES = 2 * 1024**3
# Uploaded training checkpoints larger than this are refused before they are read.
MAX_CHECKPOINT_BYTES = 32 * 1024 * 1024

MAX_UPLOAD_BYTES = 5 * 1024 * 1024
# Pillow's decompression-bomb guard: images above this many pixels are refused.
MAX_IMAGE_PIXELS = 4096 * 4096
MAX_KERNEL_ABS = 100.0
# the language model's next token (views/real_lm/): characters read from a prompt before tokenizing
MAX_PROMPT_CHARS = 2000


def check(name: str, value: int) -> int:
    """Return `value` if it lies within BOUNDS[name], else raise LimitError."""
    bound = BOUNDS[name]
    if isinstance(value, bool) or not isinstance(value, int):
        raise LimitError(name, value, bound.low, bound.high)
    if not bound.low <= value <= bound.high:
        raise LimitError(name, value, bound.low, bound.high)
    return value


def check_float(name: str, value: float) -> float:
    """Return `value` as a float if it is a finite number within FLOAT_BOUNDS[name], else raise LimitError."""
    bound = FLOAT_BOUNDS[name]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise LimitError(name, value, bound.low, bound.high)
    if not bound.low <= float(value) <= bound.high:  # NaN fails both comparisons
        raise LimitError(name, value, bound.low, bound.high)
    return float(value)
