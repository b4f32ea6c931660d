"""The CNN recipe (engine.lab.tasks.cnn) through the one loop (engine.lab.loop): augmentation
(engine.data.augment), the one-cycle schedule (engine.lab.schedule), reproducible training, the
shipped checkpoint."""

from __future__ import annotations

import math

import pytest
import torch

from engine.data.augment import AugmentConfig, affine, affine_theta, random_affine
from engine.data.digits import embedded_mnist
from engine.lab.schedule import geometric, one_cycle
from engine.lab.tasks.cnn import (
    CnnRecipe,
    accuracy,
    as_batch,
    new_model,
    plain_state_dict,
    train_seed_cnn,
)
from engine.models.cnn import (
    CHECKPOINT,
    SeedCNN,
    checkpoint_meta,
    forward_from_scratch,
    load_default,
)


def _zeros(n):
    return torch.zeros(n)


def test_affine_is_identity_at_zero_angle_shift_and_unit_scale():
    x = torch.rand(5, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    out = affine(x, _zeros(5), torch.ones(5), _zeros(5), _zeros(5))
    assert out.shape == x.shape
    # float32 rounding of the sampling grid: a few ulps
    assert torch.allclose(out, x, atol=1e-5)
    x64 = x.double()
    out64 = affine(x64, _zeros(5).double(), torch.ones(5).double(), _zeros(5).double(), _zeros(5).double())
    assert torch.allclose(out64, x64, atol=1e-12)


def test_identity_theta_is_the_identity_matrix():
    theta = affine_theta(_zeros(2), torch.ones(2), _zeros(2), _zeros(2))
    assert theta.shape == (2, 2, 3)
    assert torch.equal(theta, torch.tensor([[1.0, 0, 0], [0, 1.0, 0]]).expand(2, 2, 3))


def test_whole_pixel_shift_moves_the_image_by_that_many_pixels():
    x = torch.zeros(1, 1, 28, 28)
    x[0, 0, 10, 12] = 1.0
    # shift right by 2 px and down by 1 px
    out = affine(x, _zeros(1), torch.ones(1), torch.tensor([2.0]), torch.tensor([1.0]))
    assert out[0, 0, 11, 14] == pytest.approx(1.0, abs=1e-5)
    assert float(out.sum()) == pytest.approx(1.0, abs=1e-5)


def test_random_affine_keeps_shape_range_and_is_seeded():
    x = as_batch(embedded_mnist().x_train[:16])
    a = random_affine(x, AugmentConfig(), torch.Generator().manual_seed(3))
    b = random_affine(x, AugmentConfig(), torch.Generator().manual_seed(3))
    c = random_affine(x, AugmentConfig(), torch.Generator().manual_seed(4))
    assert a.shape == x.shape and a.dtype == x.dtype
    assert float(a.min()) >= 0.0 and float(a.max()) <= 1.0 + 1e-6
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    assert not torch.equal(a, x)


def test_one_cycle_warms_up_to_max_lr_then_anneals():
    model = SeedCNN()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    sched = one_cycle(opt, max_lr=3e-3, total_steps=20)
    assert isinstance(sched, torch.optim.lr_scheduler.OneCycleLR)
    lrs = []
    for _ in range(20):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    peak = max(range(20), key=lambda i: lrs[i])
    assert lrs[peak] == pytest.approx(3e-3)
    assert lrs[0] < lrs[peak] / 10 and lrs[-1] < lrs[0]
    assert 4 <= peak <= 7  # pct_start=0.3 of 20 steps


def test_geometric_decays_from_lr_to_lr_final():
    opt = torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=4e-3)
    sched = geometric(opt, 4e-3, 4e-4, total_steps=10)
    lrs = []
    for _ in range(11):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs[0] == pytest.approx(4e-3) and lrs[10] == pytest.approx(4e-4)
    # lr_s = lr · (lr_final / lr)^(s / steps): a constant ratio between steps
    assert all(b / a == pytest.approx(0.1 ** 0.1) for a, b in zip(lrs, lrs[1:], strict=False))


def _tiny_run(seed: int):
    split = embedded_mnist()
    x, y = as_batch(split.x_train[:128]), torch.as_tensor(split.y_train[:128])
    cfg = CnnRecipe(seed=seed, epochs=1, batch_size=64)
    return train_seed_cnn(cfg, x, y, x[:64], y[:64])


def test_a_short_seeded_run_is_reproducible_bit_for_bit():
    a, b, c = _tiny_run(7), _tiny_run(7), _tiny_run(8)
    sa, sb, sc = plain_state_dict(a.model), plain_state_dict(b.model), plain_state_dict(c.model)
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert a.epoch_accuracy == b.epoch_accuracy
    assert not all(torch.equal(sa[k], sc[k]) for k in sa)


def test_training_changes_the_weights_and_plain_state_dict_is_contiguous():
    result = _tiny_run(1)
    state = plain_state_dict(result.model)
    assert all(v.is_contiguous() and v.dtype == torch.float32 for v in state.values())
    fresh = SeedCNN()
    fresh.load_state_dict(state)
    assert len(result.epoch_accuracy) == 1 and 0.0 <= result.epoch_accuracy[0] <= 1.0
    assert result.seconds > 0


def test_shipped_checkpoint_loads_with_weights_only_and_has_plain_meta():
    assert CHECKPOINT.exists(), "run .venv/bin/python scripts/train_default_cnn.py"
    assert CHECKPOINT.stat().st_size < 2 * 2**20
    state = torch.load(CHECKPOINT, map_location="cpu", weights_only=True)
    assert set(state) == {"model", "meta"}
    meta = checkpoint_meta()
    for key in ("held_out_accuracy", "seed", "epochs", "train_size", "test_size", "seconds", "torch"):
        assert key in meta
    assert all(isinstance(v, (int, float, str)) for v in meta.values())
    assert meta["train_size"] == 4000 and meta["test_size"] == 1000


def test_shipped_checkpoint_reaches_098_on_the_held_out_split():
    model = load_default()
    assert model is not None
    split = embedded_mnist()
    acc = accuracy(model, as_batch(split.x_test), torch.as_tensor(split.y_test))
    assert acc >= 0.98
    assert math.isclose(acc, checkpoint_meta()["held_out_accuracy"], abs_tol=1e-9)


# ----- engine.models.cnn.forward_from_scratch (used by the CNN page's torch check) -----------------

@pytest.mark.parametrize("seed,batch", [(0, 1), (1, 2), (2, 5), (3, 16)])
def test_forward_from_scratch_equals_the_torch_model_in_float64(seed, batch):
    g = torch.Generator().manual_seed(seed)
    model = new_model(seed).double().eval()
    x = torch.rand(batch, 1, 28, 28, generator=g, dtype=torch.float64)
    with torch.no_grad():
        ours, ref = forward_from_scratch(model, x), model(x)
    assert ours.shape == (batch, 10) and ours.dtype == torch.float64
    assert float((ours - ref).abs().max()) < 1e-6


def test_forward_from_scratch_with_the_shipped_weights_on_real_digits():
    model = load_default().double()
    x = as_batch(embedded_mnist().x_test[:8]).double()
    with torch.no_grad():
        assert float((forward_from_scratch(model, x) - model(x)).abs().max()) < 1e-6


# ----- SeedCNN's optional dropout (the training knobs page, regularisation) ------------------------


@pytest.mark.parametrize("seed", [0, 1, 7])
def test_dropout_changes_neither_the_weights_nor_the_state_dict(seed):
    from engine.models.cnn import seeded

    plain, dropped = seeded(seed).state_dict(), seeded(seed, 0.5).state_dict()
    assert list(plain) == list(dropped)
    assert all(torch.equal(plain[k], dropped[k]) for k in plain)
    # the shipped checkpoint loads into a model with dropout unchanged (strict)
    state = torch.load(CHECKPOINT, map_location="cpu", weights_only=True)["model"]
    SeedCNN(dropout=0.3).load_state_dict(state, strict=True)


def test_dropout_is_the_identity_at_p0_and_in_eval_mode():
    x = torch.rand(6, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    base = new_model(0)
    with_p = new_model(0, dropout=0.5)
    with torch.no_grad():
        ref = base.eval()(x)
        assert torch.equal(with_p.eval()(x), ref)  # eval: identity
        assert torch.equal(base.train()(x), ref)  # p = 0 in training: identity too
        assert not torch.equal(with_p.train()(x), ref)  # p > 0 in training: masks drawn


def test_dropout_p0_draws_no_random_numbers():
    x = torch.rand(4, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    model = new_model(0).train()
    torch.manual_seed(123)
    before = torch.random.get_rng_state()
    with torch.no_grad():
        model(x)
    assert torch.equal(before, torch.random.get_rng_state())


def test_dropout_keeps_1_minus_p_and_scales_by_its_inverse():
    model = SeedCNN(dropout=0.25).train()
    torch.manual_seed(0)
    y = model._drop(torch.ones(200, 576))
    kept = y != 0
    assert torch.allclose(y[kept], torch.full_like(y[kept], 1 / 0.75))
    assert abs(kept.float().mean().item() - 0.75) < 0.01  # 115,200 draws: 4σ ≈ 0.005
    assert abs(y.mean().item() - 1.0) < 0.02  # E[y] = x


@pytest.mark.parametrize("p", [-0.1, 1.0, float("nan")])
def test_dropout_outside_0_1_is_refused(p):
    with pytest.raises(ValueError):
        SeedCNN(dropout=p)
