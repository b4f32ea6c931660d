"""Recurrent cells (RNN, LSTM, GRU) from scratch: a plain loop over time steps.

Tensors use torch's layouts, so a result compares with nn.RNN / nn.LSTM / nn.GRU in one line:
x is (T, B, D) (batch_first=False); weight_ih is (G·H, D), weight_hh is (G·H, H), biases (G·H,),
with the G gate blocks stacked in torch's order: i, f, g, o for the LSTM and r, z, n for the GRU.
Rows of x_t are batch items, so the formula's W x_t is computed as x_t @ Wᵀ.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from engine.limits import check

# how many (W_ih, W_hh, b_ih, b_hh) blocks each cell stacks
GATES = {"rnn": 1, "gru": 3, "lstm": 4}


# ----- traces -------------------------------------------------------------------------------


@dataclass(frozen=True)
class RNNTrace:
    """Every step of an Elman RNN. pre, h: (T, B, H); h0: (B, H)."""

    pre: torch.Tensor  # a_t = W_ih x_t + b_ih + W_hh h_{t−1} + b_hh
    h: torch.Tensor  # h_t = tanh(a_t); equals nn.RNN's output
    h0: torch.Tensor

    @property
    def h_n(self) -> torch.Tensor:
        return self.h[-1]


@dataclass(frozen=True)
class LSTMTrace:
    """Every step of an LSTM. Gates, states and pre-activations are (T, B, H); h0, c0: (B, H)."""

    i: torch.Tensor
    f: torch.Tensor
    g: torch.Tensor
    o: torch.Tensor
    c: torch.Tensor
    h: torch.Tensor  # equals nn.LSTM's output
    pre_i: torch.Tensor
    pre_f: torch.Tensor
    pre_g: torch.Tensor
    pre_o: torch.Tensor
    h0: torch.Tensor
    c0: torch.Tensor

    @property
    def h_n(self) -> torch.Tensor:
        return self.h[-1]

    @property
    def c_n(self) -> torch.Tensor:
        return self.c[-1]


@dataclass(frozen=True)
class GRUTrace:
    """Every step of a GRU. r, z, n, h: (T, B, H); h0: (B, H).

    hn is the recurrent part of the candidate as each variant computes it:
    torch's W_hn h_{t−1} + b_hn (before the reset), the textbook's W_hn (r_t ⊙ h_{t−1}) + b_hn.
    """

    r: torch.Tensor
    z: torch.Tensor
    n: torch.Tensor
    h: torch.Tensor  # equals nn.GRU's output (torch variant)
    hn: torch.Tensor
    h0: torch.Tensor

    @property
    def h_n(self) -> torch.Tensor:
        return self.h[-1]


# ----- one time step per cell ---------------------------------------------------------------


def rnn_step(x_t, h_prev, weight_ih, weight_hh, bias_ih, bias_hh):
    """One Elman step: (x_t (B, D), h_{t−1} (B, H)) → (a_t, h_t), each (B, H)."""
    W_ih, W_hh, b_ih, b_hh = weight_ih, weight_hh, bias_ih, bias_hh
    # a_t = W_ih x_t + b_ih + W_hh h_{t−1} + b_hh
    a_t = x_t @ W_ih.T + b_ih + h_prev @ W_hh.T + b_hh
    # h_t = tanh(a_t)
    h_t = torch.tanh(a_t)
    return a_t, h_t


def lstm_step(x_t, h_prev, c_prev, weight_ih, weight_hh, bias_ih, bias_hh, force=None):
    """One LSTM step → dict of i_t, f_t, g_t, o_t, c_t, h_t and the pre-activations, each (B, H).

    force (ablations only): {gate: value} replaces that gate by a constant, e.g. {"f": 1.0}
    keeps the whole cell state, {"o": 1.0} removes the output gate. None: the real LSTM."""
    # torch stacks the four gates' blocks in the order i, f, g, o
    W_ii, W_if, W_ig, W_io = weight_ih.chunk(4)
    W_hi, W_hf, W_hg, W_ho = weight_hh.chunk(4)
    b_ii, b_if, b_ig, b_io = bias_ih.chunk(4)
    b_hi, b_hf, b_hg, b_ho = bias_hh.chunk(4)
    # i_t = σ(W_ii x_t + b_ii + W_hi h_{t−1} + b_hi)
    pre_i = x_t @ W_ii.T + b_ii + h_prev @ W_hi.T + b_hi
    i_t = torch.sigmoid(pre_i)
    # f_t = σ(W_if x_t + b_if + W_hf h_{t−1} + b_hf)
    pre_f = x_t @ W_if.T + b_if + h_prev @ W_hf.T + b_hf
    f_t = torch.sigmoid(pre_f)
    # g_t = tanh(W_ig x_t + b_ig + W_hg h_{t−1} + b_hg)
    pre_g = x_t @ W_ig.T + b_ig + h_prev @ W_hg.T + b_hg
    g_t = torch.tanh(pre_g)
    # o_t = σ(W_io x_t + b_io + W_ho h_{t−1} + b_ho)
    pre_o = x_t @ W_io.T + b_io + h_prev @ W_ho.T + b_ho
    o_t = torch.sigmoid(pre_o)
    if force:
        i_t, f_t, g_t, o_t = (torch.full_like(v, float(force[k])) if k in force else v
                              for k, v in zip("ifgo", (i_t, f_t, g_t, o_t)))
    # c_t = f_t ⊙ c_{t−1} + i_t ⊙ g_t
    c_t = f_t * c_prev + i_t * g_t
    # h_t = o_t ⊙ tanh(c_t)
    h_t = o_t * torch.tanh(c_t)
    return dict(i=i_t, f=f_t, g=g_t, o=o_t, c=c_t, h=h_t,
                pre_i=pre_i, pre_f=pre_f, pre_g=pre_g, pre_o=pre_o)


def _gru_gates(x_t, h_prev, weight_ih, weight_hh, bias_ih, bias_hh):
    """r_t, z_t and the blocks the candidate needs; torch stacks the gates as r, z, n."""
    W_ir, W_iz, W_in = weight_ih.chunk(3)
    W_hr, W_hz, W_hn = weight_hh.chunk(3)
    b_ir, b_iz, b_in = bias_ih.chunk(3)
    b_hr, b_hz, b_hn = bias_hh.chunk(3)
    # r_t = σ(W_ir x_t + b_ir + W_hr h_{t−1} + b_hr)
    r_t = torch.sigmoid(x_t @ W_ir.T + b_ir + h_prev @ W_hr.T + b_hr)
    # z_t = σ(W_iz x_t + b_iz + W_hz h_{t−1} + b_hz)
    z_t = torch.sigmoid(x_t @ W_iz.T + b_iz + h_prev @ W_hz.T + b_hz)
    return r_t, z_t, (W_in, b_in, W_hn, b_hn)


def gru_step(x_t, h_prev, weight_ih, weight_hh, bias_ih, bias_hh):
    """One GRU step as torch computes it: the reset gate scales (W_hn h_{t−1} + b_hn)."""
    r_t, z_t, (W_in, b_in, W_hn, b_hn) = _gru_gates(x_t, h_prev, weight_ih, weight_hh, bias_ih, bias_hh)
    # hn_t = W_hn h_{t−1} + b_hn
    hn_t = h_prev @ W_hn.T + b_hn
    # n_t = tanh(W_in x_t + b_in + r_t ⊙ (W_hn h_{t−1} + b_hn))
    n_t = torch.tanh(x_t @ W_in.T + b_in + r_t * hn_t)
    # h_t = (1 − z_t) ⊙ n_t + z_t ⊙ h_{t−1}
    h_t = (1 - z_t) * n_t + z_t * h_prev
    return dict(r=r_t, z=z_t, n=n_t, h=h_t, hn=hn_t)


def gru_textbook_step(x_t, h_prev, weight_ih, weight_hh, bias_ih, bias_hh):
    """One GRU step as Cho et al. (2014) write it: the reset gate scales h_{t−1} before W_hn."""
    r_t, z_t, (W_in, b_in, W_hn, b_hn) = _gru_gates(x_t, h_prev, weight_ih, weight_hh, bias_ih, bias_hh)
    # hn_t = W_hn (r_t ⊙ h_{t−1}) + b_hn
    hn_t = (r_t * h_prev) @ W_hn.T + b_hn
    # n_t = tanh(W_in x_t + b_in + W_hn (r_t ⊙ h_{t−1}) + b_hn)
    n_t = torch.tanh(x_t @ W_in.T + b_in + hn_t)
    # h_t = (1 − z_t) ⊙ n_t + z_t ⊙ h_{t−1}
    h_t = (1 - z_t) * n_t + z_t * h_prev
    return dict(r=r_t, z=z_t, n=n_t, h=h_t, hn=hn_t)


# ----- checks shared by the public functions ------------------------------------------------


def _checked(kind, x, weight_ih, weight_hh, bias_ih, bias_hh):
    """Bound the sizes (engine.limits) and check torch's layouts; returns (T, B, D, H, b_ih, b_hh)."""
    if x.dim() != 3:
        raise ValueError(f"x must be (T, B, D), got shape {tuple(x.shape)}")
    T, B, D = x.shape
    G = GATES[kind]
    H = weight_hh.shape[-1]
    check("seq_len", T)
    check("batch", B)
    check("input_size", D)
    check("hidden_size", H)
    if tuple(weight_ih.shape) != (G * H, D) or tuple(weight_hh.shape) != (G * H, H):
        raise ValueError(f"{kind}: weight_ih must be ({G}·H, D) = {(G * H, D)} and weight_hh "
                         f"({G}·H, H) = {(G * H, H)}; got {tuple(weight_ih.shape)}, {tuple(weight_hh.shape)}")
    zeros = x.new_zeros(G * H)
    b_ih = zeros if bias_ih is None else bias_ih
    b_hh = zeros if bias_hh is None else bias_hh
    if tuple(b_ih.shape) != (G * H,) or tuple(b_hh.shape) != (G * H,):
        raise ValueError(f"{kind}: biases must be ({G * H},)")
    return T, B, D, H, b_ih, b_hh


def _initial(state, B, H, like, name):
    """An initial state as (B, H): None → zeros; torch's (1, B, H) is accepted too."""
    if state is None:
        return like.new_zeros(B, H)
    if state.dim() == 3 and state.shape[0] == 1:
        # (1, B, H) → (B, H): torch's num_layers·num_directions axis, here always 1
        state = state[0]
    if tuple(state.shape) != (B, H):
        raise ValueError(f"{name} must be (B, H) = {(B, H)} or (1, B, H); got {tuple(state.shape)}")
    return state


def _stack(steps: list[dict], key: str) -> torch.Tensor:
    # T tensors of (B, H) → (T, B, H)
    return torch.stack([s[key] for s in steps])


# ----- whole sequences ----------------------------------------------------------------------


def rnn(x, weight_ih, weight_hh, bias_ih, bias_hh, h0=None) -> RNNTrace:
    """Elman RNN over x (T, B, D), equal to nn.RNN(nonlinearity="tanh"): h_t = tanh(a_t)."""
    T, B, _, H, b_ih, b_hh = _checked("rnn", x, weight_ih, weight_hh, bias_ih, bias_hh)
    h0 = _initial(h0, B, H, x, "h0")
    h_t, pre, hs = h0, [], []
    for t in range(T):
        a_t, h_t = rnn_step(x[t], h_t, weight_ih, weight_hh, b_ih, b_hh)
        pre.append(a_t)
        hs.append(h_t)
    return RNNTrace(pre=torch.stack(pre), h=torch.stack(hs), h0=h0)


def lstm(x, weight_ih, weight_hh, bias_ih, bias_hh, h0=None, c0=None, force=None) -> LSTMTrace:
    """LSTM over x (T, B, D), equal to nn.LSTM; the trace holds every gate at every step.
    force: see lstm_step (ablations; the default None is the real LSTM)."""
    T, B, _, H, b_ih, b_hh = _checked("lstm", x, weight_ih, weight_hh, bias_ih, bias_hh)
    if force is not None and (set(force) - set("ifgo")):
        raise ValueError(f"force may only name the gates i, f, g, o; got {sorted(force)}")
    h0 = _initial(h0, B, H, x, "h0")
    c0 = _initial(c0, B, H, x, "c0")
    h_t, c_t, steps = h0, c0, []
    for t in range(T):
        step = lstm_step(x[t], h_t, c_t, weight_ih, weight_hh, b_ih, b_hh, force)
        h_t, c_t = step["h"], step["c"]
        steps.append(step)
    keys = ("i", "f", "g", "o", "c", "h", "pre_i", "pre_f", "pre_g", "pre_o")
    return LSTMTrace(**{k: _stack(steps, k) for k in keys}, h0=h0, c0=c0)


def _gru_loop(step_fn, kind, x, weight_ih, weight_hh, bias_ih, bias_hh, h0) -> GRUTrace:
    T, B, _, H, b_ih, b_hh = _checked(kind, x, weight_ih, weight_hh, bias_ih, bias_hh)
    h0 = _initial(h0, B, H, x, "h0")
    h_t, steps = h0, []
    for t in range(T):
        step = step_fn(x[t], h_t, weight_ih, weight_hh, b_ih, b_hh)
        h_t = step["h"]
        steps.append(step)
    return GRUTrace(**{k: _stack(steps, k) for k in ("r", "z", "n", "h", "hn")}, h0=h0)


def gru(x, weight_ih, weight_hh, bias_ih, bias_hh, h0=None) -> GRUTrace:
    """GRU over x (T, B, D), equal to nn.GRU (reset gate applied to W_hn h_{t−1} + b_hn)."""
    return _gru_loop(gru_step, "gru", x, weight_ih, weight_hh, bias_ih, bias_hh, h0)


def gru_textbook(x, weight_ih, weight_hh, bias_ih, bias_hh, h0=None) -> GRUTrace:
    """The GRU of Cho et al. (2014): reset applied to h_{t−1} before W_hn. Not equal to nn.GRU
    in general. Equal when r_t ≡ 1; at a step where h_{t−1} = 0 only if also b_hn = 0 (torch
    then adds r_t ⊙ b_hn, the textbook b_hn)."""
    return _gru_loop(gru_textbook_step, "gru", x, weight_ih, weight_hh, bias_ih, bias_hh, h0)


# ----- torch's own modules, for the checks -------------------------------------------------

# the from-scratch weight names, in torch's layout; nn.RNN/LSTM/GRU call them <name>_l0
WEIGHTS = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
_MODULES = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}


def torch_reference(cell: str, weights) -> torch.nn.Module:
    """nn.RNN (tanh), nn.LSTM or nn.GRU in float64, one layer, batch_first=False, with the given
    from-scratch weights (a mapping with weight_ih, weight_hh, bias_ih, bias_hh in torch's layout)
    copied in: its output is what rnn/lstm/gru compute, by torch's own kernels."""
    if cell not in _MODULES:
        raise ValueError(f"cell must be one of {sorted(_MODULES)}, got {cell!r}")
    missing = [name for name in WEIGHTS if name not in weights]
    if missing:
        raise ValueError(f"weights lack {missing}; expected {list(WEIGHTS)}")
    G = GATES[cell]
    H = weights["weight_hh"].shape[-1]
    D = weights["weight_ih"].shape[-1]
    if tuple(weights["weight_ih"].shape) != (G * H, D) or tuple(weights["weight_hh"].shape) != (G * H, H):
        raise ValueError(f"{cell}: weight_ih must be ({G}·H, D) and weight_hh ({G}·H, H); got "
                         f"{tuple(weights['weight_ih'].shape)}, {tuple(weights['weight_hh'].shape)}")
    module = _MODULES[cell](D, H).double()
    with torch.no_grad():
        for name in WEIGHTS:
            getattr(module, f"{name}_l0").copy_(weights[name])
    return module


def torch_output(cell: str, weights, x: torch.Tensor) -> torch.Tensor:
    """The output of torch_reference(cell, weights) on x (T, B, D): every h_t, (T, B, H)."""
    module = torch_reference(cell, weights)
    with torch.no_grad():
        out, _ = module(x.double())
    return out


def torch_gap(cell: str, weights, x: torch.Tensor, h: torch.Tensor) -> float:
    """max |h − torch's h| over every step, unit and batch item: h (T, B, H) from rnn/lstm/gru on
    x, against torch_output(cell, weights, x)."""
    return float((h - torch_output(cell, weights, x)).abs().max())


def torch_param_count(cell: str, D: int, H: int) -> int:
    """Learnable numbers of one layer of nn.RNN / nn.GRU / nn.LSTM, counted by torch."""
    if cell not in _MODULES:
        raise ValueError(f"cell must be one of {sorted(_MODULES)}, got {cell!r}")
    check("input_size", D)
    check("hidden_size", H)
    return sum(p.numel() for p in _MODULES[cell](D, H).parameters())


# ----- sizes --------------------------------------------------------------------------------


def seeded_uniform(shapes: dict[str, tuple[int, ...]], H: int, seed: int) -> dict[str, torch.Tensor]:
    """Random weights as torch initialises nn.RNN, nn.GRU and nn.LSTM: every entry drawn from
    U(−1/√H, 1/√H), in float64, from a generator seeded with `seed`, in the order of `shapes`."""
    gen = torch.Generator().manual_seed(int(seed))
    # k = 1/√H
    k = 1.0 / math.sqrt(H)
    # U(−k, k) = (2·U(0, 1) − 1)·k
    return {name: (2 * torch.rand(*shape, generator=gen, dtype=torch.float64) - 1) * k
            for name, shape in shapes.items()}


def param_count(kind: str, D: int, H: int) -> int:
    """Learnable numbers in one layer (torch keeps two biases per gate block, b_ih and b_hh).

    RNN: H·D + H·H + 2H;  GRU: 3·(H·D + H·H + 2H);  LSTM: 4·(H·D + H·H + 2H).
    """
    if kind not in GATES:
        raise ValueError(f"kind must be one of {sorted(GATES)}, got {kind!r}")
    check("input_size", D)
    check("hidden_size", H)
    G = GATES[kind]
    # params = G·(H·D + H·H + 2H)
    return G * (H * D + H * H + 2 * H)


# ----- gradients through time ---------------------------------------------------------------

_STEPS = {"rnn": rnn_step, "lstm": lstm_step, "gru": gru_step}


def hidden_grad_norms(kind, x, weight_ih, weight_hh, bias_ih, bias_hh, h0=None, c0=None,
                      wrt: str = "h") -> torch.Tensor:
    """‖∂h_T/∂h_t‖_F for t = 1..T, through autograd: a (T,) tensor (index t−1).

    What is measured: the full Jacobian J_t = ∂h_T/∂h_t (H × H, one per batch item; items do not
    interact), as its Frobenius norm over the whole batch, √(Σ_b ‖J_t^b‖²_F); for B = 1 this is
    plainly ‖∂h_T/∂h_t‖_F. With wrt="h" the last entry is ‖I‖_F = √(B·H).

    LSTM: h_t reaches h_T only through the gates of later steps; the cell state c_t is a separate
    input of step t+1, held fixed in ∂h_T/∂h_t. wrt="c" measures ‖∂h_T/∂c_t‖_F instead, the path
    through the cell state (c_t = f_t ⊙ c_{t−1} + …), where long-range gradient survives.

    How: row k of J_t is the gradient of h_T[k] alone. Rather than H backward passes, the
    sequence is copied once per unit k along the batch axis and copy k is seeded with e_k, so one
    forward and one backward pass give every row (in chunks, to bound memory at large sizes).
    """
    if kind not in _STEPS:
        raise ValueError(f"kind must be one of {sorted(_STEPS)}, got {kind!r}")
    if wrt not in ("h", "c") or (wrt == "c" and kind != "lstm"):
        raise ValueError("wrt must be 'h' (or 'c' for the LSTM)")
    T, B, _, H, b_ih, b_hh = _checked(kind, x, weight_ih, weight_hh, bias_ih, bias_hh)
    weights = [w.detach() for w in (weight_ih, weight_hh, b_ih, b_hh)]
    h0 = _initial(h0, B, H, x, "h0").detach()
    c0 = _initial(c0, B, H, x, "c0").detach()
    sq = x.new_zeros(T)
    chunk = max(1, min(H, _GRAD_ELEMENTS // (T * B * H)))
    for k0 in range(0, H, chunk):
        sq = sq + _jacobian_rows_sq(kind, x.detach(), weights, h0, c0, wrt, range(k0, min(H, k0 + chunk)))
    # ‖J_t‖_F = √(Σ_k Σ_b Σ_j (∂h_T[b,k]/∂state_t[b,j])²)
    return sq.sqrt()


# states kept per backward pass (T·copies·B·H numbers per state), to bound memory
_GRAD_ELEMENTS = 1 << 22


def _jacobian_rows_sq(kind, x, weights, h0, c0, wrt, units: range) -> torch.Tensor:
    """Σ over the rows k in `units` of ‖∂h_T[:, k]/∂state_t‖², for every t: a (T,) tensor."""
    K, B = len(units), x.shape[1]
    with torch.enable_grad():
        # x (T, B, D) → (T, K·B, D), h0, c0 (B, H) → (K·B, H): item k·B + b is copy k of item b
        states = _unrolled_states(kind, x.repeat(1, K, 1), weights, h0.repeat(K, 1), c0.repeat(K, 1), wrt)
        # seed e_k on copy k: (K, H) rows of the identity → (K·B, H)
        seed = torch.eye(h0.shape[1], dtype=x.dtype, device=x.device)[list(units)]
        seed = seed.repeat_interleave(B, dim=0)
        grads = torch.autograd.grad(states["h"][-1], states[wrt], grad_outputs=seed)
    return torch.stack([g.pow(2).sum() for g in grads])


def _unrolled_states(kind, x, weights, h0, c0, wrt) -> dict[str, list[torch.Tensor]]:
    """Run the cell step by step, keeping every h_t and c_t (graph nodes autograd.grad can
    differentiate to). Only the initial state we measure from requires grad; weights are fixed."""
    step_fn = _STEPS[kind]
    h_t = h0.clone().requires_grad_(wrt == "h")
    c_t = c0.clone().requires_grad_(wrt == "c")
    hs, cs = [], []
    for t in range(x.shape[0]):
        if kind == "lstm":
            step = step_fn(x[t], h_t, c_t, *weights)
            h_t, c_t = step["h"], step["c"]
        elif kind == "gru":
            h_t = step_fn(x[t], h_t, *weights)["h"]
        else:
            h_t = step_fn(x[t], h_t, *weights)[1]
        hs.append(h_t)
        cs.append(c_t)
    return {"h": hs, "c": cs}


def scale_spectral_radius(W_hh: torch.Tensor, rho: float) -> torch.Tensor:
    """W_hh rescaled so that its spectral radius max|λ| equals rho (for a square matrix).

    ρ(αW) = |α|·ρ(W), so W · rho / ρ(W) has radius rho. Below 1, products of the step Jacobians
    shrink (vanishing gradients); above 1 they can grow (exploding).
    """
    if W_hh.dim() != 2 or W_hh.shape[0] != W_hh.shape[1]:
        raise ValueError(f"W_hh must be square (H, H), got {tuple(W_hh.shape)}")
    rho = float(rho)
    if not (rho >= 0 and rho < float("inf")):
        raise ValueError(f"rho must be a finite number ≥ 0, got {rho}")
    # ρ(W) = max_k |λ_k(W)|
    radius = torch.linalg.eigvals(W_hh).abs().max().item()
    if radius == 0:
        raise ValueError("W_hh has spectral radius 0 (nilpotent): it cannot be rescaled")
    return W_hh * (rho / radius)
