"""The from-scratch backward pass through SeedCNN (engine.ops.backprop) equals torch.autograd in
float64 for every parameter and the input, over random models, batch sizes and the shipped model;
max-pool ties are routed as torch routes them; one SGD step is W − η∇W."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from engine.limits import LimitError
from engine.models.cnn import SeedCNN, load_network, seeded
from engine.ops.backprop import (
    PARAM_NAMES,
    autograd_grads,
    cnn_backward,
    conv_backward,
    max_delta,
    params_of,
    pool_backward,
    sgd_step,
    unflatten,
)
from engine.ops.pooling import max_pool2d_trace

TOL = 1e-10


def _batch(N: int, seed: int):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(N, 1, 28, 28, generator=g, dtype=torch.float64), torch.randint(0, 10, (N,), generator=g)


def _assert_equal_to_autograd(model, x, y):
    ours, ref = cnn_backward(model, x, y), autograd_grads(model, x, y)
    assert set(ours.param_grads) == {n for n, _ in model.named_parameters()} == set(PARAM_NAMES)
    for name, g in ref.param_grads.items():
        assert ours.param_grads[name].shape == g.shape
        assert torch.allclose(ours.param_grads[name], g, atol=TOL, rtol=0), name
    assert ours.input_grad.shape == x.shape
    assert torch.allclose(ours.input_grad, ref.input_grad, atol=TOL, rtol=0)
    assert abs(ours.loss - ref.loss) <= TOL
    assert max_delta(ours, ref) <= TOL
    return ours


@pytest.mark.parametrize("seed,N", [(0, 1), (1, 2), (2, 5)])
def test_equal_to_autograd_on_random_models(seed, N):
    model = seeded(seed).double()
    with torch.no_grad():  # non-zero biases: Keras starts them at 0, which hides bias bugs
        for p in model.parameters():
            if p.ndim == 1:
                p.uniform_(-0.1, 0.1)
    x, y = _batch(N, seed + 10)
    ours = _assert_equal_to_autograd(model, x, y)
    # the gradients are not trivially zero
    assert all(float(g.abs().max()) > 0 for g in ours.param_grads.values())


def test_equal_to_autograd_with_a_torch_seeded_model():
    torch.manual_seed(7)
    model = SeedCNN().double().eval()
    _assert_equal_to_autograd(model, *_batch(2, 3))


@pytest.mark.parametrize("N", [1, 5])
def test_equal_to_autograd_on_the_shipped_model(N):
    model = load_network().model64
    _assert_equal_to_autograd(model, *_batch(N, 42))


def test_float32_model_with_float64_input_is_computed_in_float64():
    model = seeded(4)  # float32 weights
    x, y = _batch(1, 5)
    ours = cnn_backward(model, x, y)
    assert ours.input_grad.dtype == torch.float64
    assert max_delta(ours, autograd_grads(model, x, y)) <= TOL


def test_pool_ties_route_to_the_first_max_like_torch():
    """An all-zero input region with a positive conv1 bias makes equal positive values in every
    2×2 window of a1 there: torch sends the window's gradient to the first of them; so must we."""
    model = seeded(5).double()
    with torch.no_grad():
        model.conv1.bias.fill_(0.05)
        model.conv1.weight.abs_()  # every a1 > 0 where the image is not blank
    x, y = _batch(2, 6)
    x[:, :, :14, :] = 0.0  # the top half blank
    ours = _assert_equal_to_autograd(model, x, y)
    a1 = ours.fwd.a1
    window = a1[0, 0, 0:2, 0:2]
    assert torch.all(window == window[0, 0]) and window[0, 0] > 0  # a real tie
    # torch's own routing on the tie: the first cell of each window
    a = a1.clone().requires_grad_(True)
    g = torch.rand_like(ours.fwd.pool1.output)
    (F.max_pool2d(a, 2) * g).sum().backward()
    assert torch.equal(pool_backward(g, ours.fwd.pool1, a1.shape), a.grad)
    assert torch.equal(pool_backward(g, max_pool2d_trace(a1, 2), a1.shape)[0, 0, 0:2, 0:2] != 0,
                       torch.tensor([[True, False], [False, False]]))


def test_odd_map_last_row_and_column_get_no_gradient():
    bw = cnn_backward(seeded(1).double(), *_batch(1, 2))
    assert bw.dL_da2.shape[-1] == 11
    assert float(bw.dL_da2[..., 10, :].abs().max()) == 0 and float(bw.dL_da2[..., :, 10].abs().max()) == 0


def test_unflatten_inverts_keras_flatten():
    a = torch.arange(2 * 64 * 3 * 3, dtype=torch.float64).reshape(2, 64, 3, 3)
    from engine.models.cnn import keras_flatten

    assert torch.equal(unflatten(keras_flatten(a), 64, 3, 3), a)


def test_conv_backward_equals_torch_on_its_own():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(3, 4, 9, 9, generator=g, dtype=torch.float64, requires_grad=True)
    W = torch.randn(5, 4, 3, 3, generator=g, dtype=torch.float64, requires_grad=True)
    b = torch.randn(5, generator=g, dtype=torch.float64, requires_grad=True)
    z = F.conv2d(x, W, b)
    delta = torch.randn(z.shape, generator=g, dtype=torch.float64)
    dx, dW, db = torch.autograd.grad(z, (x, W, b), delta)
    ours = conv_backward(delta, x.detach(), W.detach())
    assert torch.allclose(ours.dW, dW, atol=1e-12) and torch.allclose(ours.db, db, atol=1e-12)
    assert torch.allclose(ours.d_in, dx, atol=1e-12)


def test_sgd_step_is_w_minus_eta_grad_and_reports_the_loss():
    model = seeded(2).double()
    x, y = _batch(1, 8)
    step = sgd_step(model, x, y, 0.01)
    assert step.loss_after < step.loss_before and not step.went_up  # a small step downhill
    # the loss after equals torch's on W − η∇W
    moved = seeded(2).double()
    grads = cnn_backward(model, x, y).param_grads
    with torch.no_grad():
        for name, p in moved.named_parameters():
            p -= 0.01 * grads[name]
        assert abs(float(F.cross_entropy(moved(x), y)) - step.loss_after) <= TOL
    assert step.step_norm == pytest.approx(0.01 * step.grad_norm)
    before = params_of(model)
    assert all(torch.equal(before[n], params_of(model)[n]) for n in before)  # the model is untouched


def test_sgd_step_too_large_goes_up_honestly():
    model = seeded(2).double()
    x, y = _batch(4, 9)
    step = sgd_step(model, x, y, 100.0)
    assert step.went_up and step.loss_after > step.loss_before


@pytest.mark.parametrize("eta", [0.0, -0.1, 1e6, float("nan")])
def test_sgd_eta_is_bounded(eta):
    with pytest.raises(LimitError):
        sgd_step(seeded(0).double(), *_batch(1, 0), eta)


def test_sgd_step_measures_the_same_step_on_held_out_digits():
    model = seeded(2).double()
    x, y = _batch(1, 8)
    xs, ys = _batch(6, 11)
    step = sgd_step(model, x, y, 0.5, held=(xs[:, 0].numpy(), ys.numpy()))  # arrays (n, 28, 28) work too
    moved = seeded(2).double()
    grads = cnn_backward(model, x, y).param_grads
    with torch.no_grad():
        assert step.held_before == pytest.approx(float(F.cross_entropy(model(xs), ys)), rel=1e-5)
        for name, p in moved.named_parameters():
            p -= 0.5 * grads[name]
        assert step.held_after == pytest.approx(float(F.cross_entropy(moved(xs), ys)), rel=1e-5)
    assert step.held_went_up == (step.held_after > step.held_before)
    assert sgd_step(model, x, y, 0.5).held_before is None
    again = sgd_step(model, x, y, 0.5, held=(xs, ys), held_before=step.held_before)  # given, not recomputed
    assert (again.held_before, again.held_after) == (step.held_before, step.held_after)


def test_every_stage_equals_autograd_on_the_intermediates():
    from engine.ops.backprop import STAGE_NAMES, stage_deltas

    model = seeded(3).double()
    bw = cnn_backward(model, *_batch(2, 4))
    deltas = stage_deltas(model, bw)
    assert list(deltas) == list(STAGE_NAMES)
    assert max(deltas.values()) <= TOL
    # and it can tell: a wrong flatten order (channels first) is caught at the flatten stage
    wrong = type(bw)(**{**bw.__dict__, "dL_da3": bw.fc1.d_in.reshape(bw.dL_da3.shape)})
    assert stage_deltas(model, wrong)["flatten"] > 1e-6
