"""engine.ops.recurrent: RNN, LSTM and GRU from scratch equal torch's (float64), and their traces
obey the cell equations; parameter counts, gradient norms through time, spectral radius."""

from __future__ import annotations

import ast
import inspect
import re

import pytest
import torch
from torch import nn

import engine.ops.recurrent as rec
from engine.limits import BOUNDS, LimitError

TOL = 1e-6
# (T, B, D, H): B = 1, T = 1, D ≠ H, D = H
SHAPES = [(1, 1, 1, 1), (1, 3, 4, 5), (5, 1, 3, 4), (7, 2, 5, 3), (12, 4, 6, 6)]
TORCH_CELLS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}
OURS = {"rnn": rec.rnn, "lstm": rec.lstm, "gru": rec.gru}


def make(kind, T, B, D, H, seed=0, bias=True):
    """A torch module with seeded float64 weights, and an input x (T, B, D)."""
    torch.manual_seed(seed)
    module = TORCH_CELLS[kind](D, H, bias=bias).double()
    x = torch.randn(T, B, D, dtype=torch.float64)
    return module, x


def weights(module):
    b_ih = getattr(module, "bias_ih_l0", None)
    b_hh = getattr(module, "bias_hh_l0", None)
    return [w.detach() if w is not None else None
            for w in (module.weight_ih_l0, module.weight_hh_l0, b_ih, b_hh)]


def states(kind, B, H, seed, torch_layout):
    g = torch.Generator().manual_seed(seed + 100)
    shape = (1, B, H) if torch_layout else (B, H)
    h0 = torch.randn(*shape, generator=g, dtype=torch.float64)
    c0 = torch.randn(*shape, generator=g, dtype=torch.float64)
    return h0, c0


# ----- equal to torch -----------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(OURS))
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("init", ["zeros", "given (B,H)", "given (1,B,H)"])
def test_equals_torch(kind, shape, init):
    T, B, D, H = shape
    module, x = make(kind, T, B, D, H, seed=sum(shape))
    h0 = c0 = None
    torch_state = None
    if init != "zeros":
        h0, c0 = states(kind, B, H, sum(shape), torch_layout=init.endswith("(1,B,H)"))
        h0_t, c0_t = h0.reshape(1, B, H), c0.reshape(1, B, H)
        torch_state = (h0_t, c0_t) if kind == "lstm" else h0_t
    with torch.no_grad():
        out, final = module(x, torch_state)
    kwargs = {"h0": h0, "c0": c0} if kind == "lstm" else {"h0": h0}
    trace = OURS[kind](x, *weights(module), **kwargs)
    assert trace.h.shape == (T, B, H)
    assert (trace.h - out).abs().max() < TOL
    h_n = final[0] if kind == "lstm" else final
    assert (trace.h_n - h_n[0]).abs().max() < TOL
    if kind == "lstm":
        assert (trace.c_n - final[1][0]).abs().max() < TOL


@pytest.mark.parametrize("kind", sorted(OURS))
def test_equals_torch_without_bias(kind):
    module, x = make(kind, 4, 2, 3, 5, seed=7, bias=False)
    with torch.no_grad():
        out, _ = module(x)
    trace = OURS[kind](x, *weights(module))
    assert (trace.h - out).abs().max() < TOL


# ----- trace invariants ---------------------------------------------------------------------


@pytest.fixture(scope="module", params=[(6, 3, 4, 5), (1, 1, 2, 3)])
def lstm_trace(request):
    T, B, D, H = request.param
    module, x = make("lstm", T, B, D, H, seed=3)
    h0, c0 = states("lstm", B, H, 3, torch_layout=False)
    return rec.lstm(x, *weights(module), h0=h0, c0=c0)


def test_lstm_trace_shapes_and_ranges(lstm_trace):
    tr = lstm_trace
    for name in ("i", "f", "g", "o", "c", "h", "pre_i", "pre_f", "pre_g", "pre_o"):
        assert getattr(tr, name).shape == tr.h.shape, name
    for gate in (tr.i, tr.f, tr.o):
        assert ((gate > 0) & (gate < 1)).all()
    for value in (tr.g, tr.h):
        assert ((value > -1) & (value < 1)).all()
    assert (tr.i - torch.sigmoid(tr.pre_i)).abs().max() < 1e-12
    assert (tr.g - torch.tanh(tr.pre_g)).abs().max() < 1e-12


def test_lstm_cell_and_hidden_equations_hold_on_the_trace(lstm_trace):
    tr = lstm_trace
    c_prev = torch.cat([tr.c0[None], tr.c[:-1]])
    # c_t = f_t ⊙ c_{t−1} + i_t ⊙ g_t
    assert (tr.c - (tr.f * c_prev + tr.i * tr.g)).abs().max() < 1e-12
    # h_t = o_t ⊙ tanh(c_t)
    assert (tr.h - tr.o * torch.tanh(tr.c)).abs().max() < 1e-12


def test_lstm_pre_activations_are_the_affine_maps():
    module, x = make("lstm", 3, 2, 4, 3, seed=11)
    W_ih, W_hh, b_ih, b_hh = weights(module)
    tr = rec.lstm(x, W_ih, W_hh, b_ih, b_hh)
    h_prev = torch.cat([tr.h0[None], tr.h[:-1]])
    pre = torch.cat([tr.pre_i, tr.pre_f, tr.pre_g, tr.pre_o], dim=-1)
    # all four gates at once, torch's stacked layout: x_t W_ihᵀ + b_ih + h_{t−1} W_hhᵀ + b_hh
    assert (pre - (x @ W_ih.T + b_ih + h_prev @ W_hh.T + b_hh)).abs().max() < 1e-12


@pytest.mark.parametrize("init", [False, True])
def test_rnn_trace(init):
    T, B, D, H = 6, 2, 3, 4
    module, x = make("rnn", T, B, D, H, seed=5)
    W_ih, W_hh, b_ih, b_hh = weights(module)
    h0 = states("rnn", B, H, 5, False)[0] if init else None
    tr = rec.rnn(x, W_ih, W_hh, b_ih, b_hh, h0=h0)
    assert tr.pre.shape == tr.h.shape == (T, B, H)
    h_prev = torch.cat([tr.h0[None], tr.h[:-1]])
    # a_t = W_ih x_t + b_ih + W_hh h_{t−1} + b_hh;  h_t = tanh(a_t)
    assert (tr.pre - (x @ W_ih.T + b_ih + h_prev @ W_hh.T + b_hh)).abs().max() < 1e-12
    assert (tr.h - torch.tanh(tr.pre)).abs().max() < 1e-12
    assert ((tr.h > -1) & (tr.h < 1)).all()
    if not init:
        assert (tr.h0 == 0).all()


@pytest.mark.parametrize("variant", [rec.gru, rec.gru_textbook])
def test_gru_trace(variant):
    T, B, D, H = 6, 3, 4, 5
    module, x = make("gru", T, B, D, H, seed=9)
    h0 = states("gru", B, H, 9, False)[0]
    tr = variant(x, *weights(module), h0=h0)
    for name in ("r", "z", "n", "h", "hn"):
        assert getattr(tr, name).shape == (T, B, H)
    for gate in (tr.r, tr.z):
        assert ((gate > 0) & (gate < 1)).all()
    assert ((tr.n > -1) & (tr.n < 1)).all()
    h_prev = torch.cat([tr.h0[None], tr.h[:-1]])
    # h_t = (1 − z_t) ⊙ n_t + z_t ⊙ h_{t−1}
    assert (tr.h - ((1 - tr.z) * tr.n + tr.z * h_prev)).abs().max() < 1e-12
    W_in, W_hn = module.weight_ih_l0.detach()[2 * H:], module.weight_hh_l0.detach()[2 * H:]
    b_in, b_hn = module.bias_ih_l0.detach()[2 * H:], module.bias_hh_l0.detach()[2 * H:]
    if variant is rec.gru:
        # n_t = tanh(W_in x_t + b_in + r_t ⊙ hn_t), hn_t = W_hn h_{t−1} + b_hn
        assert (tr.hn - (h_prev @ W_hn.T + b_hn)).abs().max() < 1e-12
        assert (tr.n - torch.tanh(x @ W_in.T + b_in + tr.r * tr.hn)).abs().max() < 1e-12
    else:
        # n_t = tanh(W_in x_t + b_in + hn_t), hn_t = W_hn (r_t ⊙ h_{t−1}) + b_hn
        assert (tr.hn - ((tr.r * h_prev) @ W_hn.T + b_hn)).abs().max() < 1e-12
        assert (tr.n - torch.tanh(x @ W_in.T + b_in + tr.hn)).abs().max() < 1e-12


# ----- torch's GRU vs the textbook's --------------------------------------------------------


def test_gru_textbook_differs_from_torch_in_general():
    module, x = make("gru", 5, 2, 3, 4, seed=21)
    w = weights(module)
    h0 = states("gru", 2, 4, 21, False)[0]
    ours, book = rec.gru(x, *w, h0=h0), rec.gru_textbook(x, *w, h0=h0)
    assert (ours.h - book.h).abs().max() > 1e-3
    # nonetheless the textbook cell is a proper GRU: same gates' formulas, same update rule
    assert (ours.r[0] - book.r[0]).abs().max() < 1e-12 and (ours.z[0] - book.z[0]).abs().max() < 1e-12


def test_gru_textbook_equals_torch_when_reset_is_one():
    module, x = make("gru", 5, 2, 3, 4, seed=22)
    W_ih, W_hh, b_ih, b_hh = weights(module)
    H = 4
    b_ih = b_ih.clone()
    # a huge positive reset bias makes r_t = σ(…) ≡ 1 in float64
    b_ih[:H] = 1e3
    h0 = states("gru", 2, H, 22, False)[0]
    ours = rec.gru(x, W_ih, W_hh, b_ih, b_hh, h0=h0)
    book = rec.gru_textbook(x, W_ih, W_hh, b_ih, b_hh, h0=h0)
    assert (ours.r == 1).all()
    assert (ours.h - book.h).abs().max() < 1e-12


def test_gru_textbook_equals_torch_at_the_first_step_from_zero():
    module, x = make("gru", 5, 3, 3, 4, seed=23)
    W_ih, W_hh, b_ih, b_hh = weights(module)
    # h_0 = 0: torch adds r_1 ⊙ (W_hn·0 + b_hn) = r_1 ⊙ b_hn, the textbook W_hn (r_1 ⊙ 0) + b_hn = b_hn
    ours, book = rec.gru(x, W_ih, W_hh, b_ih, b_hh), rec.gru_textbook(x, W_ih, W_hh, b_ih, b_hh)
    assert (ours.h[0] - book.h[0]).abs().max() > 1e-4  # so they differ at t = 1 while b_hn ≠ 0
    assert (ours.hn[0] - b_hh[2 * 4:]).abs().max() < 1e-12 and (book.hn[0] - b_hh[2 * 4:]).abs().max() < 1e-12
    # … and agree there once b_hn = 0
    b_hh = b_hh.clone()
    b_hh[2 * 4:] = 0
    ours, book = rec.gru(x, W_ih, W_hh, b_ih, b_hh), rec.gru_textbook(x, W_ih, W_hh, b_ih, b_hh)
    assert (ours.h[0] - book.h[0]).abs().max() < 1e-12
    assert (ours.h[1:] - book.h[1:]).abs().max() > 1e-4


# ----- formulas in the comments -------------------------------------------------------------

STEP_FORMULAS = {
    rec.rnn_step: ["a_t = W_ih x_t + b_ih + W_hh h_{t−1} + b_hh", "h_t = tanh(a_t)"],
    rec.lstm_step: [
        "i_t = σ(W_ii x_t + b_ii + W_hi h_{t−1} + b_hi)",
        "f_t = σ(W_if x_t + b_if + W_hf h_{t−1} + b_hf)",
        "g_t = tanh(W_ig x_t + b_ig + W_hg h_{t−1} + b_hg)",
        "o_t = σ(W_io x_t + b_io + W_ho h_{t−1} + b_ho)",
        "c_t = f_t ⊙ c_{t−1} + i_t ⊙ g_t",
        "h_t = o_t ⊙ tanh(c_t)",
    ],
    rec._gru_gates: ["r_t = σ(W_ir x_t + b_ir + W_hr h_{t−1} + b_hr)",
                     "z_t = σ(W_iz x_t + b_iz + W_hz h_{t−1} + b_hz)"],
    rec.gru_step: ["n_t = tanh(W_in x_t + b_in + r_t ⊙ (W_hn h_{t−1} + b_hn))",
                   "h_t = (1 − z_t) ⊙ n_t + z_t ⊙ h_{t−1}"],
    rec.gru_textbook_step: ["n_t = tanh(W_in x_t + b_in + W_hn (r_t ⊙ h_{t−1}) + b_hn)",
                            "h_t = (1 − z_t) ⊙ n_t + z_t ⊙ h_{t−1}"],
}


@pytest.mark.parametrize("func", list(STEP_FORMULAS), ids=lambda f: f.__name__)
def test_step_formula_comments_sit_above_their_code(func):
    lines = inspect.getsource(func).splitlines()
    comments = [i for i, line in enumerate(lines) if line.strip().startswith("# ")]
    for formula in STEP_FORMULAS[func]:
        at = [i for i in comments if lines[i].strip() == f"# {formula}"]
        assert len(at) == 1, f"{func.__name__}: missing comment '# {formula}'"
        code = lines[at[0] + 1].strip()
        symbol = formula.split(" = ")[0]
        # the next line computes the symbol (or, for gates, its pre-activation first)
        assert code.startswith(f"{symbol} =") or code.startswith("pre_"), code


def _evaluate(formula: str, **values: int) -> int:
    """'G·(H·D + H·H + 2H)' with + and · only, through a whitelisted AST (no eval)."""
    text = re.sub(r"(\d)([A-Za-z_])", r"\1*\2", formula.replace("·", "*"))

    def walk(node):
        if isinstance(node, ast.Expression):
            return walk(node.body)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add | ast.Mult):
            a, b = walk(node.left), walk(node.right)
            return a + b if isinstance(node.op, ast.Add) else a * b
        if isinstance(node, ast.Constant) and isinstance(node.value, int):
            return node.value
        if isinstance(node, ast.Name):
            return values[node.id]
        raise ValueError(ast.dump(node))

    return walk(ast.parse(text, mode="eval"))


# ----- parameter counts ---------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(OURS))
@pytest.mark.parametrize("D,H", [(1, 1), (3, 5), (28, 64), (65, 128)])
def test_param_count_matches_torch_and_its_comment(kind, D, H):
    n_torch = sum(p.numel() for p in TORCH_CELLS[kind](D, H).parameters())
    assert rec.param_count(kind, D, H) == n_torch
    found = re.findall(r"#\s*params\s*=\s*(.+)$", inspect.getsource(rec.param_count), re.MULTILINE)
    assert len(found) == 1
    assert _evaluate(found[0].strip(), G=rec.GATES[kind], D=D, H=H) == n_torch
    # the docstring spells the per-kind formula out; it agrees too
    doc = re.search(rf"{kind.upper()}: ([^;]+?)(;|\.\s*$)", rec.param_count.__doc__, re.MULTILINE)
    assert _evaluate(doc.group(1).strip(), D=D, H=H) == n_torch


def test_param_count_rejects():
    with pytest.raises(ValueError):
        rec.param_count("transformer", 3, 4)
    with pytest.raises(LimitError):
        rec.param_count("lstm", 3, BOUNDS["hidden_size"].high + 1)


# ----- bounds and bad shapes ----------------------------------------------------------------


def test_expected_bounds():
    assert BOUNDS["seq_len"].low == 1 and BOUNDS["seq_len"].high == 200
    assert BOUNDS["hidden_size"].low == 1 and BOUNDS["hidden_size"].high == 256
    assert BOUNDS["input_size"].low == 1 and BOUNDS["input_size"].high == 512


@pytest.mark.parametrize("kind", sorted(OURS))
def test_too_long_sequence_is_refused(kind):
    module, _ = make(kind, 1, 1, 2, 3)
    x = torch.zeros(BOUNDS["seq_len"].high + 1, 1, 2, dtype=torch.float64)
    with pytest.raises(LimitError) as e:
        OURS[kind](x, *weights(module))
    assert e.value.params["name"] == "seq_len"


def test_too_wide_input_and_empty_sequence_are_refused():
    D = BOUNDS["input_size"].high + 1
    with pytest.raises(LimitError) as e:
        rec.rnn(torch.zeros(2, 1, D), torch.zeros(3, D), torch.zeros(3, 3), None, None)
    assert e.value.params["name"] == "input_size"
    with pytest.raises(LimitError) as e:
        rec.rnn(torch.zeros(0, 1, 2), torch.zeros(3, 2), torch.zeros(3, 3), None, None)
    assert e.value.params["name"] == "seq_len"
    with pytest.raises(LimitError):
        rec.hidden_grad_norms("rnn", torch.zeros(0, 1, 2), torch.zeros(3, 2), torch.zeros(3, 3), None, None)


def test_wrong_layouts_are_refused():
    module, x = make("lstm", 3, 2, 4, 5)
    W_ih, W_hh, b_ih, b_hh = weights(module)
    with pytest.raises(ValueError):
        rec.gru(x, W_ih, W_hh, b_ih, b_hh)  # LSTM weights (4H) are not GRU weights (3H)
    with pytest.raises(ValueError):
        rec.lstm(x[0], W_ih, W_hh, b_ih, b_hh)  # (B, D) is not (T, B, D)
    with pytest.raises(ValueError):
        rec.lstm(x, W_ih, W_hh, b_ih, b_hh, h0=torch.zeros(3, 5, dtype=torch.float64))


def test_traces_are_frozen():
    module, x = make("rnn", 2, 1, 2, 2)
    tr = rec.rnn(x, *weights(module))
    with pytest.raises(AttributeError):
        tr.h = None


# ----- gradients through time ---------------------------------------------------------------


def _autograd_jacobian_norms(kind, x, w, h0):
    """Reference: torch.autograd.functional.jacobian of h_T w.r.t. each h_t, for B = 1."""
    step = {"rnn": lambda x_t, h: rec.rnn_step(x_t, h, *w)[1],
            "gru": lambda x_t, h: rec.gru_step(x_t, h, *w)["h"]}[kind]
    norms = []
    T = x.shape[0]
    for t in range(T):
        h_t = h0
        for s in range(t + 1):
            h_t = step(x[s], h_t)

        def rest(h, t=t):
            for s in range(t + 1, T):
                h = step(x[s], h)
            return h

        norms.append(torch.autograd.functional.jacobian(rest, h_t).norm())
    return torch.stack(norms)


@pytest.mark.parametrize("kind", ["rnn", "gru"])
def test_grad_norms_equal_the_full_jacobian(kind):
    T, H = 6, 4
    module, x = make(kind, T, 1, 3, H, seed=31)
    w = weights(module)
    h0 = torch.zeros(1, H, dtype=torch.float64)
    norms = rec.hidden_grad_norms(kind, x, *w)
    assert norms.shape == (T,)
    assert (norms - _autograd_jacobian_norms(kind, x, w, h0)).abs().max() < 1e-10
    assert abs(norms[-1].item() - H ** 0.5) < 1e-12  # ∂h_T/∂h_T = I


def test_grad_norms_over_a_batch_are_the_root_sum_of_squares():
    module, x = make("lstm", 5, 3, 2, 4, seed=32)
    w = weights(module)
    whole = rec.hidden_grad_norms("lstm", x, *w)
    single = torch.stack([rec.hidden_grad_norms("lstm", x[:, b:b + 1], *w) for b in range(3)])
    assert (whole - single.pow(2).sum(0).sqrt()).abs().max() < 1e-12


def test_lstm_grad_norms_through_h_and_c():
    module, x = make("lstm", 8, 1, 3, 4, seed=33)
    w = weights(module)
    h0, c0 = states("lstm", 1, 4, 33, False)
    by_h = rec.hidden_grad_norms("lstm", x, *w, h0=h0, c0=c0)
    by_c = rec.hidden_grad_norms("lstm", x, *w, h0=h0, c0=c0, wrt="c")
    assert by_h.shape == by_c.shape == (8,)
    assert torch.isfinite(by_h).all() and torch.isfinite(by_c).all()
    assert (by_h > 0).all() and (by_c > 0).all()
    # at t = T: ∂h_T/∂c_T = diag(o_T ⊙ (1 − tanh²(c_T)))
    tr = rec.lstm(x, *w, h0=h0, c0=c0)
    expected = (tr.o[-1] * (1 - torch.tanh(tr.c[-1]) ** 2)).norm()
    assert abs(by_c[-1].item() - expected.item()) < 1e-12
    with pytest.raises(ValueError):
        rec.hidden_grad_norms("rnn", x, *weights(make("rnn", 8, 1, 3, 4)[0]), wrt="c")


@pytest.mark.parametrize("kind,wrt", [("rnn", "h"), ("lstm", "h"), ("lstm", "c")])
def test_grad_norms_in_chunks_equal_one_pass(kind, wrt, monkeypatch):
    module, x = make(kind, 5, 2, 3, 7, seed=35)
    w = weights(module)
    one_pass = rec.hidden_grad_norms(kind, x, *w, wrt=wrt)
    # memory budget for 3 of the 7 rows at a time: chunks of 3, 3, 1
    monkeypatch.setattr(rec, "_GRAD_ELEMENTS", 5 * 2 * 7 * 3)
    assert (rec.hidden_grad_norms(kind, x, *w, wrt=wrt) - one_pass).abs().max() < 1e-12


def test_grad_norms_leave_no_graph_and_work_under_no_grad():
    module, x = make("rnn", 4, 1, 2, 3, seed=34)
    with torch.no_grad():
        norms = rec.hidden_grad_norms("rnn", x, *weights(module))
    assert not norms.requires_grad and norms.shape == (4,)


def test_scale_spectral_radius():
    torch.manual_seed(40)
    W = torch.randn(6, 6, dtype=torch.float64)
    for rho in (0.0, 0.5, 1.0, 2.5):
        scaled = rec.scale_spectral_radius(W, rho)
        assert abs(torch.linalg.eigvals(scaled).abs().max().item() - rho) < 1e-9
    with pytest.raises(ValueError):
        rec.scale_spectral_radius(torch.zeros(8, 4), 1.0)  # LSTM's stacked (4H, H) is not square
    with pytest.raises(ValueError):
        rec.scale_spectral_radius(torch.triu(torch.ones(3, 3), diagonal=1), 1.0)  # nilpotent
    with pytest.raises(ValueError):
        rec.scale_spectral_radius(W, float("nan"))


@pytest.mark.parametrize("rho,vanish", [(0.5, True), (1.5, False)])
def test_spectral_radius_decides_vanishing_or_exploding(rho, vanish):
    # a linear-ish RNN: tiny inputs and zero start keep tanh near its linear part, so
    # ∂h_T/∂h_t ≈ W_hh^(T−t) and its norm scales like rho^(T−t)
    T, H = 15, 8
    module, _ = make("rnn", T, 1, 3, H, seed=41)
    W_ih, W_hh, b_ih, b_hh = weights(module)
    x = 1e-4 * torch.randn(T, 1, 3, dtype=torch.float64)
    W_hh = rec.scale_spectral_radius(W_hh, rho)
    norms = rec.hidden_grad_norms("rnn", x, W_ih, W_hh, torch.zeros_like(b_ih), torch.zeros_like(b_hh))
    if vanish:
        assert norms[0] < 1e-2 * norms[-1]
        assert (norms[1:] > norms[:-1]).all()  # the further back from T, the smaller
    else:
        assert norms[0] > 1e2 * norms[-1]


def test_seeded_uniform_matches_torch_init_range_and_is_reproducible():
    from engine.ops.recurrent import seeded_uniform

    shapes = {"weight_ih": (12, 5), "weight_hh": (12, 4), "bias_ih": (12,), "bias_hh": (12,)}
    a, b = seeded_uniform(shapes, 4, seed=3), seeded_uniform(shapes, 4, seed=3)
    assert all(torch.equal(a[k], b[k]) for k in shapes)
    assert not torch.equal(a["weight_ih"], seeded_uniform(shapes, 4, seed=4)["weight_ih"])
    for name, shape in shapes.items():
        assert a[name].shape == shape and a[name].dtype == torch.float64
        # nn.GRU's init: U(−1/√H, 1/√H)
        assert a[name].abs().max() <= 0.5


# ----- torch's modules with our weights, and the one-hot input --------------------------------


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_torch_reference_holds_our_weights_and_equals_ours(kind):
    module, x = make(kind, 6, 2, 5, 4, seed=3)
    W = dict(zip(rec.WEIGHTS, weights(module), strict=True))
    ref = rec.torch_reference(kind, W)
    assert isinstance(ref, TORCH_CELLS[kind]) and ref.weight_ih_l0.dtype == torch.float64
    for name in rec.WEIGHTS:
        assert torch.equal(getattr(ref, f"{name}_l0").detach(), W[name])
    out = rec.torch_output(kind, W, x)
    assert (out - OURS[kind](x, *W.values()).h).abs().max() < TOL
    assert not out.requires_grad
    # the weights given are not aliased: editing the module leaves them alone
    with torch.no_grad():
        ref.weight_hh_l0.zero_()
    assert W["weight_hh"].abs().sum() > 0


def test_torch_reference_refuses_bad_input():
    module, _ = make("gru", 2, 1, 3, 4)
    W = dict(zip(rec.WEIGHTS, weights(module), strict=True))
    with pytest.raises(ValueError, match="cell"):
        rec.torch_reference("elman", W)
    with pytest.raises(ValueError, match="lack"):
        rec.torch_reference("gru", {k: W[k] for k in ("weight_ih", "weight_hh")})
    with pytest.raises(ValueError, match="lstm"):
        rec.torch_reference("lstm", W)


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_torch_param_count_equals_the_formula(kind):
    assert rec.torch_param_count(kind, 7, 5) == rec.param_count(kind, 7, 5)


def test_one_hot_is_torchs_one_hot_in_time_batch_feature_layout():
    from engine.data.corpus import VOCAB, encode, one_hot

    ids = encode("To be, or not to be¿\n")
    x = one_hot(ids, len(VOCAB))
    assert x.shape == (len(ids), 1, len(VOCAB)) and x.dtype == torch.float64
    assert torch.equal(x[:, 0], nn.functional.one_hot(ids, len(VOCAB)).double())
    assert one_hot(ids, len(VOCAB), torch.float32).dtype == torch.float32
    assert one_hot(torch.tensor([], dtype=torch.long), 4).shape == (0, 1, 4)
    with pytest.raises(ValueError):
        one_hot(torch.tensor([0, 4]), 4)
