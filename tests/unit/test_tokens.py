"""engine.data.tokens: how sentences become tokens and seeded embeddings."""

from __future__ import annotations

import pytest
import torch

from engine.data.tokens import TokenError, embed, token_vector, tokenize
from engine.limits import BOUNDS


@pytest.mark.parametrize("text,tokens", [
    ("The cat sat.", ["The", "cat", "sat", "."]),
    ("  it's  fine!  ", ["it", "'", "s", "fine", "!"]),
    ("我爱你", ["我", "爱", "你"]),
    ("猫 sat on 垫子。", ["猫", "sat", "on", "垫", "子", "。"]),
    ("x1 = 42", ["x1", "=", "42"]),
    ("naïve café", ["naïve", "café"]),
])
def test_tokenize(text, tokens):
    assert tokenize(text) == tokens


@pytest.mark.parametrize("text", ["", "   ", "\n\t", "\u200b", "\u202e\u200d"])
def test_blank_text_is_refused(text):
    with pytest.raises(TokenError) as e:
        tokenize(text)
    assert e.value.code == "no_tokens"


def test_invisible_characters_are_dropped():
    assert tokenize("ca\u200bt\u202e sat") == ["cat", "sat"]


def test_too_many_tokens_is_refused_with_the_bound():
    high = BOUNDS["tokens"].high
    assert len(tokenize("a " * high)) == high
    with pytest.raises(TokenError) as e:
        tokenize("a " * (high + 1))
    assert e.value.code == "too_many_tokens" and e.value.params == {"n": high + 1, "high": high}
    with pytest.raises(TokenError):
        tokenize(None)


@pytest.mark.parametrize("d_model,seed", [(1, 0), (8, 0), (16, 3), (64, 12345)])
def test_embeddings_are_seeded_per_token(d_model, seed):
    X = embed(["the", "cat", "the", "我"], d_model, seed)
    assert X.shape == (4, d_model) and X.dtype == torch.float64
    assert torch.equal(X[0], X[2]) and not torch.equal(X[0], X[1])
    assert torch.equal(X[1], token_vector("cat", d_model, seed))
    assert torch.equal(embed(["cat"], d_model, seed)[0], X[1])
    assert not torch.equal(token_vector("cat", d_model, seed + 1), X[1])
    assert not torch.equal(token_vector("Cat", d_model, seed), X[1])


def test_embeddings_look_like_standard_normals():
    X = embed([f"w{i}" for i in range(128)], 64, 0)
    assert abs(float(X.mean())) < 0.05 and abs(float(X.std()) - 1) < 0.05


def test_embedding_sizes_are_bounded():
    with pytest.raises(ValueError):
        embed(["a"], BOUNDS["d_model"].high + 1, 0)
    with pytest.raises(ValueError):
        embed(["a"] * (BOUNDS["tokens"].high + 1), 4, 0)
