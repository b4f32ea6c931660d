"""Generation one token at a time: the model's logits for the last position, the sampling filters
(engine.ops.sampling), one seeded draw, the chosen token appended, again.

The draw for the token at step s (s = 0 for the first generated token) uses its own generator,
seeded from (seed, s): pressing "next token" three times gives the same tokens as "generate 3",
and a rerun of the page gives the same continuation.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from engine.limits import BOUNDS, check
from engine.ops.sampling import SamplingSettings, SamplingTrace, choose, filter_logits

LogitsFn = Callable[[tuple[int, ...]], torch.Tensor]


@dataclass(frozen=True)
class GenStep:
    """One generated token and the probabilities it was chosen with."""

    step: int  # 0 for the first generated token
    token_id: int
    q: float  # its probability after the filters: the chance it had of being drawn
    p: float  # its probability in the raw distribution softmax(z)
    rank: int  # its rank in the raw distribution (0 = the most probable)
    n_kept: int  # how many tokens survived the filters at this step


@dataclass(frozen=True)
class Generation:
    steps: tuple[GenStep, ...]
    ids: tuple[int, ...]  # the prompt followed by every generated token
    stopped: bool  # an end-of-sequence token was chosen


def step_generator(seed: int, step: int) -> torch.Generator:
    """The generator that draws the token at `step`, seeded from (seed, step) alone."""
    check("seed", seed)
    return torch.Generator().manual_seed(seed * 1_000_003 + step)


def last_logits(model, ids: Sequence[int]) -> torch.Tensor:
    """z: the logits (V,) for the token after `ids`, from our engine's SmolLM2 forward."""
    from engine.models.smollm import forward

    return forward(model, list(ids)).logits[-1]


def gen_step(z: torch.Tensor, s: SamplingSettings, seed: int, step: int) -> tuple[GenStep, SamplingTrace]:
    """Filter the logits z, draw one token with the step's generator; its probabilities."""
    trace = filter_logits(z, s)
    token = choose(trace, step_generator(seed, step))
    # rank = the number of tokens strictly more probable than the chosen one
    rank = int((trace.p > trace.p[token]).sum())
    return GenStep(step=step, token_id=token, q=float(trace.q[token]), p=float(trace.p[token]),
                   rank=rank, n_kept=int(trace.kept.numel())), trace


def generate(logits_fn: LogitsFn, prompt_ids: Sequence[int], n: int, s: SamplingSettings, seed: int,
             done: Sequence[int] = (), eos_ids: Sequence[int] = ()) -> Generation:
    """n more tokens after the prompt and the tokens `done` already generated (so steps are
    numbered on from len(done)); stops early when an id of `eos_ids` is chosen.

    `logits_fn(ids)` gives the next-token logits for a tuple of ids (the page caches it).
    """
    check("generate_tokens", n)
    check("continuation_tokens", len(done) + n)
    ids, steps = [*prompt_ids, *done], []
    for i in range(n):
        step, _ = gen_step(logits_fn(tuple(ids)), s, seed, len(done) + i)
        steps.append(step)
        ids.append(step.token_id)
        if step.token_id in eos_ids:
            return Generation(tuple(steps), tuple(ids), stopped=True)
    return Generation(tuple(steps), tuple(ids), stopped=False)


def room_left(prompt_len: int, done: int) -> int:
    """How many more tokens may be generated: the continuation's bound, and the engine's
    "tokens" bound on prompt + continuation."""
    return max(0, min(BOUNDS["continuation_tokens"].high - done, BOUNDS["tokens"].high - prompt_len - done))
