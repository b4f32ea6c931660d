"""K simulated workers (engine/ops/data_parallel.py): the all-reduce mean Σ_k (n_k/N) ∇L_k equals
the full batch's gradient in float64; the plain mean over unequal shards does not."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from engine.limits import CodedError, LimitError
from engine.models.cnn import seeded
from engine.ops import data_parallel as dp


def _batch(seed: int, B: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(B, 1, 28, 28, generator=g, dtype=torch.float64), torch.randint(0, 10, (B,), generator=g)


@pytest.mark.parametrize("N,K", [(1, 1), (7, 2), (10, 3), (12, 4), (64, 16), (128, 5), (15, 5)])
@pytest.mark.parametrize("split", dp.SPLITS)
def test_shard_sizes_cover_the_batch(N, K, split):
    n = dp.shard_sizes(N, K, split)
    assert len(n) == K and sum(n) == N and min(n) >= 1
    if split == "even":
        assert max(n) - min(n) <= 1
        assert (len(set(n)) == 1) == (N % K == 0)
    elif N >= K * (K + 1) // 2 and K > 1:
        assert n[-1] > n[0]  # the last shard is the largest: visibly unequal


def test_shard_sizes_refuse_more_workers_than_examples_and_unknown_splits():
    with pytest.raises(CodedError) as e:
        dp.shard_sizes(3, 4)
    assert e.value.code == "workers_over_batch" and e.value.params == {"K": 4, "N": 3}
    with pytest.raises(CodedError) as e:
        dp.shard_sizes(8, 2, "random")
    assert e.value.code == "bad_split"


@pytest.mark.parametrize("seed,B,K,split", [(0, 8, 2, "even"), (1, 10, 3, "even"), (2, 12, 4, "uneven"),
                                            (3, 9, 2, "uneven"), (4, 16, 5, "even"), (5, 6, 6, "even")])
def test_the_all_reduce_mean_equals_the_full_batch_gradient(seed, B, K, split):
    model = seeded(seed).double()
    x, y = _batch(seed, B)
    tr = dp.simulate(model, x, y, K, split)
    assert tr.n == dp.shard_sizes(B, K, split) and tr.N == B
    assert sum(tr.w) == pytest.approx(1.0, abs=1e-15)
    assert tr.delta_weighted <= 1e-12
    # and the full-batch gradient is torch's own: autograd on the whole batch
    L = F.cross_entropy(model(x), y)
    ref = dict(zip([n for n, _ in model.named_parameters()], torch.autograd.grad(L, list(model.parameters())),
                   strict=True))
    assert max(float((tr.g_full[k] - ref[k]).abs().max()) for k in ref) == 0.0
    if tr.equal_shards:
        assert tr.delta_plain <= 1e-12
    else:  # the wrong form: a plain mean over unequal shards is far off, not a rounding error
        assert tr.delta_plain > 1e-6 > 1e6 * tr.delta_weighted


def test_the_weighted_mean_equals_the_mean_of_per_example_gradients():
    """An independent route: ∇L = (1/N) Σ_i ∇ℓ_i, one example at a time."""
    model = seeded(7).double()
    x, y = _batch(7, 11)
    tr = dp.simulate(model, x, y, 3, "uneven")
    params = list(model.parameters())
    G = torch.stack([torch.cat([g.reshape(-1) for g in torch.autograd.grad(
        F.cross_entropy(model(x[i:i + 1]), y[i:i + 1]), params)]) for i in range(11)])  # (N, P)
    flat = torch.cat([tr.g_weighted[n].reshape(-1) for n, _ in model.named_parameters()])
    assert float((flat - G.mean(0)).abs().max()) <= 1e-12


def test_rows_name_every_parameter_and_entry_writes_one_coordinate_out():
    model = seeded(1).double()
    x, y = _batch(1, 10)
    tr = dp.simulate(model, x, y, 3, "uneven")
    assert [r.name for r in tr.rows] == [n for n, _ in model.named_parameters()]
    assert all(r.shape == tuple(p.shape) for r, (_, p) in zip(tr.rows, model.named_parameters(), strict=True))
    e = dp.entry(tr, "fc2.bias")
    assert e.n == tr.n and len(e.g_k) == 3
    assert e.weighted == pytest.approx(sum(n / e.N * g for n, g in zip(e.n, e.g_k, strict=True)), abs=1e-15)
    assert e.plain == pytest.approx(sum(e.g_k) / 3, abs=1e-15)
    assert abs(e.weighted - e.full) <= 1e-12
    # the default coordinate is where the plain mean is furthest off
    gap = (tr.g_plain["fc2.bias"] - tr.g_full["fc2.bias"]).abs()
    assert abs(e.plain - e.full) == pytest.approx(float(gap.max()))
    assert dp.entry(tr, "conv1.weight", (3, 0, 1, 2)).index == (3, 0, 1, 2)
    with pytest.raises(KeyError):
        dp.entry(tr, "fc3.bias")


def test_bounds_are_checked_on_the_server():
    import numpy as np

    with pytest.raises(LimitError):
        dp.batch(np.zeros((200, 28, 28)), np.zeros(200), 129)
    x, y = dp.batch(np.zeros((200, 28, 28), np.float32), np.arange(200) % 10, 5)
    assert x.shape == (5, 1, 28, 28) and x.dtype == torch.float64 and y.tolist() == [0, 1, 2, 3, 4]
    model = seeded(0).double()
    xb, yb = _batch(0, 20)
    with pytest.raises(LimitError):
        dp.simulate(model, xb, yb, 17)
