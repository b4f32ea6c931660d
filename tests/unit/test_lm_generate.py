"""Generation one token at a time: seeded, resumable (step by step = all at once), bounded, and
on the real SmolLM2 through our engine."""

from __future__ import annotations

import pytest
import torch

from engine.limits import BOUNDS, LimitError
from engine.models.lm_generate import generate, last_logits, room_left, step_generator
from engine.models.lm_prompt import prompt_tokens
from engine.ops.sampling import filter_logits, settings

V = 300


def fake_logits(ids: tuple[int, ...]) -> torch.Tensor:
    """Logits that depend on the ids only (a stand-in model)."""
    g = torch.Generator().manual_seed(hash(ids) % 2**31)
    return torch.randn(V, generator=g, dtype=torch.float64) * 2


def test_seeded_generation_is_reproducible_and_resumable():
    s = settings(0.9, 40, 0.95)
    whole = generate(fake_logits, [5, 6, 7], 6, s, seed=3)
    assert whole == generate(fake_logits, [5, 6, 7], 6, s, seed=3)
    done: list[int] = []
    for _ in range(6):  # "next token" six times = "generate 6"
        one = generate(fake_logits, [5, 6, 7], 1, s, seed=3, done=done)
        assert one.steps[0].step == len(done)
        done.append(one.steps[0].token_id)
    assert done == [st.token_id for st in whole.steps]
    assert whole.ids == (5, 6, 7, *done)
    other = generate(fake_logits, [5, 6, 7], 6, s, seed=4)
    assert [st.token_id for st in other.steps] != done


def test_each_step_records_the_chosen_tokens_probabilities():
    s = settings(0.8, 20, 0.9)
    gen = generate(fake_logits, [1, 2], 5, s, seed=0)
    ids = [1, 2]
    for st in gen.steps:
        tr = filter_logits(fake_logits(tuple(ids)), s)
        assert st.token_id in tr.kept.tolist()
        assert st.q == pytest.approx(float(tr.q[st.token_id]), abs=0)
        assert st.p == pytest.approx(float(tr.p[st.token_id]), abs=0)
        assert st.rank == int((tr.p > tr.p[st.token_id]).sum()) and st.n_kept == tr.kept.numel()
        assert 0 < st.q <= 1  # a drawn token had a chance
        ids.append(st.token_id)


def test_greedy_generation_takes_the_argmax_and_stops_at_eos():
    gen = generate(fake_logits, [9], 4, settings(0.0), seed=0)
    ids = [9]
    for st in gen.steps:
        assert st.token_id == int(torch.argmax(fake_logits(tuple(ids)))) and st.q == 1.0 and st.rank == 0
        ids.append(st.token_id)
    first = gen.steps[0].token_id
    stopped = generate(fake_logits, [9], 4, settings(0.0), seed=0, eos_ids=[first])
    assert stopped.stopped and len(stopped.steps) == 1


def test_generation_is_bounded():
    with pytest.raises(LimitError):
        generate(fake_logits, [1], BOUNDS["generate_tokens"].high + 1, settings(), seed=0)
    with pytest.raises(LimitError):
        generate(fake_logits, [1], 2, settings(), seed=0, done=[3] * BOUNDS["continuation_tokens"].high)
    with pytest.raises(LimitError):
        step_generator(-1, 0)
    assert room_left(BOUNDS["prompt_tokens"].high, 0) == min(
        BOUNDS["continuation_tokens"].high, BOUNDS["tokens"].high - BOUNDS["prompt_tokens"].high)
    assert room_left(10, BOUNDS["continuation_tokens"].high) == 0


def test_real_model_greedy_continuation(smollm, smollm_tok):
    prompt = prompt_tokens(smollm_tok, "The capital of France is")
    gen = generate(lambda ids: last_logits(smollm, ids), prompt.ids, 2, settings(0.0), seed=0)
    assert smollm_tok.decode([gen.steps[0].token_id]) == " Paris"
    assert gen.steps[0].p > 0.3
