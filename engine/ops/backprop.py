"""Backpropagation through the article's CNN, from scratch: no autograd inside.

Forward with our own ops (engine.ops.conv.conv2d, engine.ops.pooling.max_pool2d_trace for the
argmax routing, ReLU), keeping every intermediate; then backward stage by stage, each gradient
named after its formula (dL_dz5 = ∂L/∂z₅, dL_dW5 = ∂L/∂W₅, …). The loss is the MEAN
cross-entropy over the batch. The model's layers are read by name (conv1, conv2, conv3, fc1,
fc2); dropout, if the model has any, is the identity here (eval mode).

    z1 = W1 ⋆ x + b1, a1 = ReLU(z1), p1 = maxpool(a1)          (N, 32, 26, 26) → (N, 32, 13, 13)
    z2 = W2 ⋆ p1 + b2, a2 = ReLU(z2), p2 = maxpool(a2)         (N, 64, 11, 11) → (N, 64, 5, 5)
    z3 = W3 ⋆ p2 + b3, a3 = ReLU(z3), f = flatten(a3)          (N, 64, 3, 3) → (N, 576), channels last
    z4 = f W4ᵀ + b4, a4 = ReLU(z4), z5 = a4 W5ᵀ + b5            (N, 64) → (N, 10) logits
    L = (1/N) Σ_n −log softmax(z5[n])[y_n]
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from engine.limits import check_float
from engine.ops.conv import conv2d, convolve2d, relu
from engine.ops.loss import cross_entropy, cross_entropy_grad, softmax
from engine.ops.pooling import MaxPoolTrace, max_pool2d_trace

LAYERS = ("conv1", "conv2", "conv3", "fc1", "fc2")
PARAM_NAMES = tuple(f"{layer}.{p}" for layer in LAYERS for p in ("weight", "bias"))


def params_of(model, dtype: torch.dtype = torch.float64) -> dict[str, torch.Tensor]:
    """The model's weights by name (conv1.weight, …, fc2.bias), detached, on the CPU in `dtype`."""
    return {name: getattr(getattr(model, name.split(".")[0]), name.split(".")[1]).detach().cpu().to(dtype)
            for name in PARAM_NAMES}


@dataclass(frozen=True)
class Forward:
    """Every intermediate of the forward pass (the backward pass reads them)."""

    x: torch.Tensor  # (N, 1, 28, 28)
    z1: torch.Tensor
    a1: torch.Tensor
    pool1: MaxPoolTrace  # .output = p1, .rows/.cols = where each max came from
    z2: torch.Tensor
    a2: torch.Tensor
    pool2: MaxPoolTrace
    z3: torch.Tensor
    a3: torch.Tensor
    f: torch.Tensor  # (N, 576)
    z4: torch.Tensor
    a4: torch.Tensor
    z5: torch.Tensor  # logits (N, 10)
    p: torch.Tensor  # softmax(z5)
    loss: float  # mean cross-entropy


def flatten(a: torch.Tensor) -> torch.Tensor:
    """Keras's channels-last flatten: (N, C, H, W) → (N, H, W, C) → (N, H·W·C)."""
    return a.permute(0, 2, 3, 1).reshape(a.shape[0], -1)


def unflatten(g: torch.Tensor, C: int, H: int, W: int) -> torch.Tensor:
    """The inverse of `flatten`: (N, H·W·C) → (N, H, W, C) → (N, C, H, W)."""
    return g.reshape(g.shape[0], H, W, C).permute(0, 3, 1, 2)


def forward(P: dict[str, torch.Tensor], x: torch.Tensor, y: torch.Tensor) -> Forward:
    """The forward pass with our own ops, keeping every intermediate."""
    z1 = conv2d(x, P["conv1.weight"], P["conv1.bias"])
    a1 = relu(z1)
    pool1 = max_pool2d_trace(a1, 2)
    z2 = conv2d(pool1.output, P["conv2.weight"], P["conv2.bias"])
    a2 = relu(z2)
    pool2 = max_pool2d_trace(a2, 2)
    z3 = conv2d(pool2.output, P["conv3.weight"], P["conv3.bias"])
    a3 = relu(z3)
    f = flatten(a3)
    # z4 = f W4ᵀ + b4
    z4 = f @ P["fc1.weight"].T + P["fc1.bias"]
    a4 = relu(z4)
    # z5 = a4 W5ᵀ + b5
    z5 = a4 @ P["fc2.weight"].T + P["fc2.bias"]
    # L = (1/N) Σ_n −log softmax(z5[n])[y_n]  (engine.ops.loss: log-sum-exp, no overflow)
    loss = float(cross_entropy(z5, y)) + 0.0  # + 0.0: never show −0.0
    return Forward(x, z1, a1, pool1, z2, a2, pool2, z3, a3, f, z4, a4, z5, softmax(z5), loss)


@dataclass(frozen=True)
class LayerGrads:
    """One layer's backward step: its weight and bias gradients, and the gradient of its input."""

    dW: torch.Tensor
    db: torch.Tensor
    d_in: torch.Tensor


def dense_backward(delta: torch.Tensor, a_in: torch.Tensor, W: torch.Tensor) -> LayerGrads:
    """z = a Wᵀ + b, with δ = ∂L/∂z (N, n_out) and a the layer's input (N, n_in)."""
    # ∂L/∂W = δᵀ a  (summed over the batch): (n_out, N) @ (N, n_in)
    dW = delta.T @ a_in
    # ∂L/∂b = Σ_n δ
    db = delta.sum(dim=0)
    # ∂L/∂a = δ W: (N, n_out) @ (n_out, n_in)
    return LayerGrads(dW, db, delta @ W)


def conv_backward(delta: torch.Tensor, x_in: torch.Tensor, W: torch.Tensor) -> LayerGrads:
    """z = W ⋆ x + b (stride 1, no padding), with δ = ∂L/∂z (N, C_out, h, w)."""
    k = W.shape[-1]
    # ∂L/∂W[o,c,m,n] = Σ_N Σ_ij δ[N,o,i,j]·x[N,c,i+m,j+n]: the input cross-correlated with δ,
    # the batch playing the channel axis: x (C_in, N, H, W) ⋆ δ (C_out, N, h, w) → (C_in, C_out, k, k)
    dW = conv2d(x_in.transpose(0, 1), delta.transpose(0, 1)).transpose(0, 1)
    # ∂L/∂b[o] = Σ_N Σ_ij δ[N,o,i,j]
    db = delta.sum(dim=(0, 2, 3))
    # ∂L/∂x = δ ∗ W, the full (padding k − 1) true convolution, summed over o: W as (C_in, C_out, k, k)
    d_in = convolve2d(delta, W.transpose(0, 1), padding=k - 1)
    return LayerGrads(dW, db, d_in)


def relu_backward(g: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    # ∂L/∂z = ∂L/∂a ⊙ [z > 0]
    return g * (z > 0).to(g.dtype)


def pool_backward(g: torch.Tensor, pool: MaxPoolTrace, shape: torch.Size) -> torch.Tensor:
    """Each window's gradient goes to its winner (the first max on ties, as torch); the others,
    and cells no window covers (the last row and column of an odd map), get 0."""
    N, C, H, W = shape
    out = g.new_zeros(N * C, H * W)
    # winner's flat index r·W + s, one per window: (N·C, h·w)
    idx = (pool.rows * W + pool.cols).reshape(N * C, -1)
    out.scatter_add_(1, idx, g.reshape(N * C, -1))
    return out.reshape(N, C, H, W)


@dataclass(frozen=True)
class CNNBackward:
    """The forward pass and every stage of the backward pass, named after the formulas."""

    fwd: Forward
    y: torch.Tensor
    dL_dz5: torch.Tensor  # (p − onehot(y))/N
    fc2: LayerGrads  # dW = ∂L/∂W5, db = ∂L/∂b5, d_in = ∂L/∂a4
    dL_dz4: torch.Tensor
    fc1: LayerGrads  # d_in = ∂L/∂f
    dL_da3: torch.Tensor  # unflatten(∂L/∂f)
    dL_dz3: torch.Tensor
    conv3: LayerGrads  # d_in = ∂L/∂p2
    dL_da2: torch.Tensor  # routed by pool2
    dL_dz2: torch.Tensor
    conv2: LayerGrads  # d_in = ∂L/∂p1
    dL_da1: torch.Tensor  # routed by pool1
    dL_dz1: torch.Tensor
    conv1: LayerGrads  # d_in = ∂L/∂x
    param_grads: dict[str, torch.Tensor]  # conv1.weight, …, fc2.bias → ∂L/∂(that parameter)

    @property
    def input_grad(self) -> torch.Tensor:
        """∂L/∂x, (N, 1, 28, 28)."""
        return self.conv1.d_in

    @property
    def loss(self) -> float:
        return self.fwd.loss


def backward(P: dict[str, torch.Tensor], x: torch.Tensor, y: torch.Tensor) -> CNNBackward:
    """Forward, then every stage of the backward pass with the weights P (params_of)."""
    fw = forward(P, x, y)
    # ∂L/∂z5 = (p − y)/N: softmax with cross-entropy, averaged over the batch
    dL_dz5 = cross_entropy_grad(fw.z5, y)
    fc2 = dense_backward(dL_dz5, fw.a4, P["fc2.weight"])
    dL_dz4 = relu_backward(fc2.d_in, fw.z4)
    fc1 = dense_backward(dL_dz4, fw.f, P["fc1.weight"])
    dL_da3 = unflatten(fc1.d_in, *fw.a3.shape[1:])
    dL_dz3 = relu_backward(dL_da3, fw.z3)
    conv3 = conv_backward(dL_dz3, fw.pool2.output, P["conv3.weight"])
    dL_da2 = pool_backward(conv3.d_in, fw.pool2, fw.a2.shape)
    dL_dz2 = relu_backward(dL_da2, fw.z2)
    conv2 = conv_backward(dL_dz2, fw.pool1.output, P["conv2.weight"])
    dL_da1 = pool_backward(conv2.d_in, fw.pool1, fw.a1.shape)
    dL_dz1 = relu_backward(dL_da1, fw.z1)
    conv1 = conv_backward(dL_dz1, x, P["conv1.weight"])
    layers = {"conv1": conv1, "conv2": conv2, "conv3": conv3, "fc1": fc1, "fc2": fc2}
    grads = {name: getattr(layers[name.split(".")[0]], "dW" if name.endswith("weight") else "db")
             for name in PARAM_NAMES}
    return CNNBackward(fw, y, dL_dz5, fc2, dL_dz4, fc1, dL_da3, dL_dz3, conv3, dL_da2, dL_dz2, conv2,
                       dL_da1, dL_dz1, conv1, grads)


def cnn_backward(model, x: torch.Tensor, y: torch.Tensor) -> CNNBackward:
    """∂L/∂(every parameter) and ∂L/∂x of the mean cross-entropy, from scratch.

    x: (N, 1, 28, 28), y: (N,) integer labels. Computed in x's dtype (pass float64 to compare
    with autograd); `param_grads` is keyed by the names of model.named_parameters()."""
    x = x.detach().cpu()
    return backward(params_of(model, x.dtype), x, torch.as_tensor(y, dtype=torch.long).cpu().view(-1))


# ----- the check against autograd ---------------------------------------------------------------


@dataclass(frozen=True)
class AutogradGrads:
    """torch.autograd's gradients of the same loss, on a float64 copy of the model."""

    loss: float
    param_grads: dict[str, torch.Tensor]
    input_grad: torch.Tensor


def autograd_grads(model, x: torch.Tensor, y: torch.Tensor) -> AutogradGrads:
    """loss = F.cross_entropy(model(x), y) (mean) on a float64 CPU copy; autograd.grad of it."""
    m = copy.deepcopy(model).cpu().double().eval()
    x64 = x.detach().cpu().double().requires_grad_(True)
    names, params = zip(*m.named_parameters())
    loss = F.cross_entropy(m(x64), torch.as_tensor(y, dtype=torch.long).view(-1))
    *g, gx = torch.autograd.grad(loss, [*params, x64])
    return AutogradGrads(float(loss.detach()), dict(zip(names, g)), gx)


def max_delta(ours: CNNBackward, ref: AutogradGrads) -> float:
    """max |Δ| over every parameter's gradient and the input gradient."""
    deltas = [float((ours.param_grads[n] - g).abs().max()) for n, g in ref.param_grads.items()]
    return max(deltas + [float((ours.input_grad - ref.input_grad).abs().max())])


STAGE_NAMES = ("output", "fc2", "fc1", "flatten", "conv3", "pool2", "conv2", "pool1", "conv1")


def stage_deltas(model, bw: CNNBackward) -> dict[str, float]:
    """Each stage's max |ours − autograd| over the gradients it produces, autograd reading the same
    intermediates off torch's own forward pass (the model's float64 copy, on bw's batch)."""
    m = copy.deepcopy(model).cpu().double().eval()
    x = bw.fwd.x.detach().double().requires_grad_(True)  # detach: never mark the trace's own x
    z1 = m.conv1(x)
    p1 = F.max_pool2d(a1 := F.relu(z1), 2)
    z2 = m.conv2(p1)
    p2 = F.max_pool2d(a2 := F.relu(z2), 2)
    z3 = m.conv3(p2)
    f = flatten(a3 := F.relu(z3))
    z4 = m.fc1(f)
    z5 = m.fc2(a4 := F.relu(z4))
    inner = (z5, a4, z4, f, a3, z3, p2, a2, z2, p1, a1, z1, x)
    names, params = zip(*m.named_parameters())
    got = torch.autograd.grad(F.cross_entropy(z5, bw.y), [*inner, *params])
    g = dict(zip(("z5", "a4", "z4", "f", "a3", "z3", "p2", "a2", "z2", "p1", "a1", "z1", "x", *names), got))
    P = bw.param_grads

    def layer(name: str, d_in: str) -> list:
        grads = getattr(bw, name)
        return [(P[f"{name}.weight"], g[f"{name}.weight"]), (P[f"{name}.bias"], g[f"{name}.bias"]), (grads.d_in, g[d_in])]

    pairs = {
        "output": [(bw.dL_dz5, g["z5"])], "fc2": layer("fc2", "a4"),
        "fc1": [(bw.dL_dz4, g["z4"]), *layer("fc1", "f")], "flatten": [(bw.dL_da3, g["a3"])],
        "conv3": [(bw.dL_dz3, g["z3"]), *layer("conv3", "p2")], "pool2": [(bw.dL_da2, g["a2"])],
        "conv2": [(bw.dL_dz2, g["z2"]), *layer("conv2", "p1")], "pool1": [(bw.dL_da1, g["a1"])],
        "conv1": [(bw.dL_dz1, g["z1"]), *layer("conv1", "x")],
    }
    return {stage: max(float((ours - ref).abs().max()) for ours, ref in pairs[stage]) for stage in STAGE_NAMES}


# ----- one step of gradient descent -------------------------------------------------------------


@dataclass(frozen=True)
class SGDStep:
    """W ← W − η ∇W on one batch, and what it did to the loss on that batch."""

    eta: float
    loss_before: float
    loss_after: float
    p_before: float  # the true label's probability (first image) before the step
    p_after: float
    grad_norm: float  # ‖∇‖ over all parameters
    step_norm: float  # ‖η∇‖
    held_before: float | None = None  # mean cross-entropy on other (held-out) digits, if given
    held_after: float | None = None

    @property
    def went_up(self) -> bool:
        """Did the loss on this batch go up?"""
        return self.loss_after > self.loss_before

    @property
    def held_went_up(self) -> bool:
        return self.held_before is not None and self.held_after > self.held_before


def held_out_loss(model, P: dict[str, torch.Tensor], x, y) -> float:
    """Mean cross-entropy of the model with the weights P on other digits (torch's own forward in
    float32: only an evaluation, fast on many digits)."""
    x = torch.as_tensor(x, dtype=torch.float32)
    x = x[:, None] if x.ndim == 3 else x  # (n, 28, 28) → (n, 1, 28, 28)
    with torch.no_grad():
        P32 = {name: W.float() for name, W in P.items()}
        z = torch.func.functional_call(model, P32, (x,)).double()
        return float(F.cross_entropy(z, torch.as_tensor(y, dtype=torch.long).view(-1)))


def sgd_step(model, x: torch.Tensor, y: torch.Tensor, eta: float,
             held: tuple | None = None, held_before: float | None = None) -> SGDStep:
    """One plain SGD step with our gradients; the model itself is left unchanged. `held` =
    (x, y) of other digits (arrays or tensors, x (n, 28, 28) or (n, 1, 28, 28)): their loss before
    and after the same step, too (`held_before`, if given, is the loss before: the same for every
    digit, so a caller may compute it once with held_out_loss)."""
    eta = check_float("backprop_eta", eta)
    x64 = x.detach().cpu().double()
    y = torch.as_tensor(y, dtype=torch.long).view(-1)
    P = params_of(model, torch.float64)
    bw = backward(P, x64, y)
    # W ← W − η ∇W, for every parameter
    P_new = {name: W - eta * bw.param_grads[name] for name, W in P.items()}
    after = forward(P_new, x64, y)
    # ‖∇‖ = sqrt(Σ over every parameter of its squared gradient entries)
    norm = float(torch.sqrt(sum((g**2).sum() for g in bw.param_grads.values())))
    k = int(y[0])
    if held is None:
        held_losses = (None, None)
    else:
        before = held_out_loss(model, P, *held) if held_before is None else float(held_before)
        held_losses = (before, held_out_loss(model, P_new, *held))
    return SGDStep(eta, bw.loss, after.loss, float(bw.fwd.p[0, k]), float(after.p[0, k]), norm, eta * norm,
                   *held_losses)


# ----- what the page writes out -----------------------------------------------------------------


def top_channels(g: torch.Tensor, k: int) -> list[int]:
    """The k channels of g (C, H, W) with the largest gradient norm, in channel order."""
    # ‖g_c‖ = sqrt(Σ_ij g[c,i,j]²)
    norms = g.flatten(1).norm(dim=1)
    return sorted(int(c) for c in norms.topk(min(k, g.shape[0])).indices)


@dataclass(frozen=True)
class WeightCell:
    """∂L/∂W_l[o,c,m,n] = Σ_ij δ_l[o,i,j] · in[c, i+m, j+n] (one image), written out."""

    o: int
    c: int
    m: int
    n: int
    terms: torch.Tensor  # (h·w,) the products, row by row
    value: float  # their sum
    traced: float  # the same entry of the trace's ∂L/∂W_l


def conv_layer_input(bw: CNNBackward, l: int) -> torch.Tensor:
    """The input of conv layer l: x, p1 or p2."""
    return {1: bw.fwd.x, 2: bw.fwd.pool1.output, 3: bw.fwd.pool2.output}[l]


def weight_cell(bw: CNNBackward, l: int, o: int, c: int, m: int, n: int) -> WeightCell:
    """One entry of conv layer l's weight gradient as its sum of products (image 0 of a batch of one)."""
    delta = getattr(bw, f"dL_dz{l}")[0, o]  # (h, w)
    h, w = delta.shape
    x_in = conv_layer_input(bw, l)[0, c, m : m + h, n : n + w]
    # δ[o,i,j] · in[c, i+m, j+n] for every (i, j)
    terms = (delta * x_in).flatten()
    traced = float(getattr(bw, f"conv{l}").dW[o, c, m, n])
    return WeightCell(o, c, m, n, terms, float(terms.sum()), traced)


@dataclass(frozen=True)
class PoolRoute:
    """One 2×2 window of max pool l: its values, its winner, and where its gradient goes."""

    c: int
    i: int
    j: int
    window: torch.Tensor  # (2, 2) a_l[c, 2i:2i+2, 2j:2j+2]
    winner: tuple[int, int]  # (row, col) inside the window
    g: float  # ∂L/∂p_l[c,i,j]
    routed: torch.Tensor  # (2, 2) ∂L/∂a_l on the window: g at the winner, 0 elsewhere


def pool_route(bw: CNNBackward, l: int, c: int, i: int, j: int) -> PoolRoute:
    """The routing of one pooled cell (image 0)."""
    pool, a = getattr(bw.fwd, f"pool{l}"), getattr(bw.fwd, f"a{l}")
    r, s = int(pool.rows[0, c, i, j]) - 2 * i, int(pool.cols[0, c, i, j]) - 2 * j
    g = float(getattr(bw, f"conv{l + 1}").d_in[0, c, i, j])
    routed = getattr(bw, f"dL_da{l}")[0, c, 2 * i : 2 * i + 2, 2 * j : 2 * j + 2]
    return PoolRoute(c, i, j, a[0, c, 2 * i : 2 * i + 2, 2 * j : 2 * j + 2], (r, s), g, routed)


def strongest_cell(g: torch.Tensor) -> tuple[int, ...]:
    """The index of the largest |g| (first on ties)."""
    flat = int(g.abs().flatten().argmax())
    return tuple(int(v) for v in torch.unravel_index(torch.tensor(flat), g.shape))


def probabilities(model, x: torch.Tensor) -> torch.Tensor:
    """softmax(z5) of a batch, with the same from-scratch forward pass (the labels play no part)."""
    x = x.detach().cpu()
    return forward(params_of(model, x.dtype), x, torch.zeros(x.shape[0], dtype=torch.long)).p
