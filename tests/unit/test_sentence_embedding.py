"""engine.ops.sentence_embedding: masked mean pooling equals a hand-written loop (the formula
sentence-transformers applies), normalisation equals F.normalize, the cosine matrix equals
F.cosine_similarity (float64, several shapes and seeds); padding never moves an embedding."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import engine.ops.sentence_embedding as se

f64 = torch.float64
SHAPES = [(1, 1, 1), (1, 5, 3), (3, 7, 4), (4, 12, 384)]  # (B, T, d)


def randn(*shape, seed):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=f64)


def random_mask(B, T, seed):
    """Each row keeps a random prefix of at least one token, as a padded batch does."""
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(1, T + 1, (B,), generator=g)
    return (torch.arange(T)[None] < lengths[:, None]).long()


def loop_mean_pool(H, mask):
    B, T, d = H.shape
    out = torch.zeros(B, d, dtype=f64)
    for b in range(B):
        n = sum(int(mask[b, t]) for t in range(T))
        for t in range(T):
            if mask[b, t]:
                out[b] += H[b, t] / n
    return out


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_mean_pool_equals_loop_and_normalize_equals_torch(shape, seed):
    B, T, d = shape
    H, mask = randn(B, T, d, seed=seed), random_mask(B, T, seed)
    u = se.mean_pool(H, mask)
    torch.testing.assert_close(u, loop_mean_pool(H, mask), rtol=0, atol=1e-12)
    torch.testing.assert_close(se.l2_normalize(u), F.normalize(u, p=2, dim=-1), rtol=0, atol=1e-14)
    trace = se.sentence_embedding(H, mask)
    torch.testing.assert_close(trace.u, u, rtol=0, atol=0)
    torch.testing.assert_close(trace.norm, torch.linalg.vector_norm(u, dim=-1), rtol=0, atol=1e-14)
    torch.testing.assert_close(trace.count, mask.sum(1).to(f64), rtol=0, atol=0)
    torch.testing.assert_close(trace.e.norm(dim=-1), torch.ones(B, dtype=f64), rtol=0, atol=1e-14)


@pytest.mark.parametrize("n,d,seed", [(1, 3, 0), (4, 8, 1), (6, 384, 2)])
def test_cosine_matrix_equals_torch(n, d, seed):
    E = randn(n, d, seed=seed)
    cos = se.cosine_matrix(E)
    reference = F.cosine_similarity(E[:, None, :], E[None, :, :], dim=-1)
    torch.testing.assert_close(cos, reference, rtol=0, atol=1e-14)
    torch.testing.assert_close(cos, cos.T, rtol=0, atol=0)
    torch.testing.assert_close(torch.diagonal(cos), torch.ones(n, dtype=f64), rtol=0, atol=1e-14)
    assert (cos.abs() <= 1 + 1e-14).all()


def test_padding_does_not_change_the_embedding():
    """Padded positions (mask 0) can hold anything: the mean over the mask ignores them."""
    H = randn(1, 4, 6, seed=3)
    padded = torch.cat([H, 1e3 * randn(1, 3, 6, seed=4)], dim=1)
    mask = torch.tensor([[1, 1, 1, 1, 0, 0, 0]])
    alone = se.sentence_embedding(H, torch.ones(1, 4)).e
    torch.testing.assert_close(se.sentence_embedding(padded, mask).e, alone, rtol=0, atol=1e-14)


def test_zero_vector_and_empty_mask_stay_finite():
    u = torch.zeros(2, 3, dtype=f64)
    assert torch.equal(se.l2_normalize(u), F.normalize(u, dim=-1))
    H = randn(1, 3, 2, seed=0)
    assert torch.isfinite(se.mean_pool(H, torch.zeros(1, 3))).all()


def test_bad_shapes_are_refused():
    with pytest.raises(ValueError):
        se.mean_pool(torch.ones(2, 3), torch.ones(2))
    with pytest.raises(ValueError):
        se.mean_pool(torch.ones(2, 3, 4), torch.ones(2, 4))
    with pytest.raises(ValueError):
        se.cosine_matrix(torch.ones(3))
