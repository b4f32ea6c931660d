"""The errata page's counterexamples: for each wrong form of the errata table (docs/ARCHITECTURE.md),
the right form and the wrong one computed on the same seeded inputs, as one typed case, and each
right form checked against PyTorch's own layer or function.

The wrong forms themselves are computed literally in engine.ops.errata (and beside their lessons:
the (1/d_v) attention identity in engine.ops.attention_setup, the FFN's outer activation in
engine.ops.ffn, the LSTM without a cell state in engine.ops.lstm_units). Every case draws its
inputs from its own generator (gen(seed, salt)), so redrawing one never shifts another's numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from engine.data.corpus import CorpusError, decode, encode, one_hot
from engine.data.digits import DataError, embedded_mnist
from engine.data.tokens import tokenize
from engine.models import char_rnn
from engine.models.cnn import FirstLayer
from engine.models.cnn import first_layer as cnn_first_layer
from engine.ops import lstm_units
from engine.ops.attention import AttentionTrace, scaled_dot_product
from engine.ops.attention_setup import WrongIdentity, wrong_identity
from engine.ops.conv import ConvCellTrace, conv2d, conv_cell
from engine.ops.errata import (
    attention_unscaled,
    conv_without_window,
    kernels_summed,
    pool_without_window,
)
from engine.ops.ffn import OuterActivationTrace, ffn_outer_activation
from engine.ops.pooling import max_pool2d
from engine.ops.positional import sinusoidal
from engine.ops.recurrent import torch_output
from engine.ops.recurrent_units import CharWeights
from engine.ops.transformer import (
    BlockConfig,
    EncoderParams,
    FFNParams,
    block_input,
    encoder_block,
    seeded_block_params,
    torch_encoder_layer,
)

T_ATT, D_ATT = 4, 4  # attention: tokens and d_k = d_v
T_FLOW, D_FLOW = 6, 64  # the flow erratum: tokens and d_k (a size real models use)
L_PE, D_PE = 50, 16  # positional table
SIDE, K_SIZE = 6, 3  # the toy image and kernel of the convolution and pooling rows
CONV_BIAS = 1.0
PASSAGE = 120  # characters of held-out text for the LSTM row
LSTM_H = 64  # hidden size of the random LSTM used when the shipped one cannot be loaded
FALLBACK_PASSAGE = "to be, or not to be, that is the question: whether 'tis nobler in the mind to suffer "
ENC = BlockConfig(d_model=16, h=4, d_ff=32)
FFN_T, FFN_D = 4, 8


def gen(seed: int, salt: int) -> torch.Generator:
    """One generator per erratum, so redrawing one input never shifts another's numbers."""
    return torch.Generator().manual_seed(int(seed) * 101 + salt)


# ----- attention: the (1/d_v) identity, and the softmax moved to the end -------------------------


@dataclass(frozen=True)
class AttentionCase:
    """softmax(QKᵀ/√d_k)V against (1/d_v)·softmax(QKᵀ)V on Q, K, V (T_ATT, D_ATT) from N(0, 1);
    ratio_lo, ratio_hi: the range of right ÷ wrong (not a constant factor)."""

    Q: torch.Tensor
    K: torch.Tensor
    V: torch.Tensor
    trace: WrongIdentity
    ratio_lo: float
    ratio_hi: float


def attention_case(seed: int) -> AttentionCase:
    g = gen(seed, 1)
    # three (T, d) matrices from N(0, 1)
    Q, K, V = (torch.randn(T_ATT, D_ATT, generator=g, dtype=torch.float64) for _ in range(3))
    w = wrong_identity(Q, K, V)
    ratio = (w.correct / w.wrong).flatten()
    return AttentionCase(Q, K, V, w, float(ratio.min()), float(ratio.max()))


@dataclass(frozen=True)
class WeightStats:
    """How peaked attention weights A (T, S) are, from their scores S: the spread of the scores,
    each row's largest weight, each row's entropy (nats; log S at most), and the size of the
    softmax's gradient ‖∂a_i/∂s_i‖_F (small when a row is nearly one-hot), averaged over rows."""

    score_std: float
    max_weight: float
    entropy: float
    jacobian: float


def weight_stats(S: torch.Tensor, A: torch.Tensor) -> WeightStats:
    # H_i = −Σ_j A_ij log A_ij
    H = -(A * torch.log(A.clamp_min(1e-300))).sum(dim=-1)
    # ∂a_i/∂s_i = diag(a_i) − a_i a_iᵀ
    J = torch.diag_embed(A) - A.unsqueeze(-1) * A.unsqueeze(-2)
    return WeightStats(float(S.std()), float(A.max(dim=-1).values.mean()), float(H.mean()),
                       float(torch.linalg.matrix_norm(J).mean()))


@dataclass(frozen=True)
class FlowCase:
    """The article's chart Q → K → V → dot product → softmax → weighted sum → output against
    attention, on Q, K, V (T_FLOW, D_FLOW) from N(0, 1). Its two faults, computed: V is drawn
    before the dot product, yet the weights come from Q and K alone (v_delta: the weights after V
    is replaced by another V, exactly 0, while the output moves by out_delta); and the chart has
    no ÷√d_k step, so at d_k = D_FLOW its weights softmax(QKᵀ) saturate (wrong against right)."""

    right: AttentionTrace
    unscaled: torch.Tensor
    v_delta: float
    out_delta: float
    right_stats: WeightStats
    wrong_stats: WeightStats


def flow_case(seed: int) -> FlowCase:
    g = gen(seed, 9)
    # four (T, d_k) matrices from N(0, 1): V2 is the "other V"
    Q, K, V, V2 = (torch.randn(T_FLOW, D_FLOW, generator=g, dtype=torch.float64) for _ in range(4))
    right, other = scaled_dot_product(Q, K, V), scaled_dot_product(Q, K, V2)
    unscaled = attention_unscaled(Q, K)
    return FlowCase(right, unscaled,
                    v_delta=float((other.weights - right.weights).abs().max()),
                    out_delta=float((other.output - right.output).abs().max()),
                    right_stats=weight_stats(right.scaled, right.weights),
                    wrong_stats=weight_stats(right.scores, unscaled))


# ----- positional encoding: sin ≠ cos --------------------------------------------------------------


@dataclass(frozen=True)
class PECase:
    """The table PE (L_PE, D_PE) and one pair i at one position: PE[pos, 2i] = sin θ, PE[pos, 2i+1] = cos θ."""

    PE: torch.Tensor
    pos: int
    i: int
    sin: float
    cos: float

    @property
    def theta(self) -> float:
        # θ = pos / 10000^{2i/d}
        return self.pos / 10000 ** (2 * self.i / D_PE)


def pe_case(seed: int) -> PECase:
    g = gen(seed, 2)
    pos = int(torch.randint(1, L_PE, (1,), generator=g))
    # pair 1 or 2: waves that turn visibly within L_PE positions (pair 0's period, 2π, is too short
    # for whole-number positions to draw it smoothly)
    i = int(torch.randint(1, 3, (1,), generator=g))
    PE = sinusoidal(L_PE, D_PE)
    return PECase(PE, pos, i, float(PE[pos, 2 * i]), float(PE[pos, 2 * i + 1]))


# ----- convolution and pooling without their window ------------------------------------------------


@dataclass(frozen=True)
class ConvCase:
    """A small integer image x (SIDE, SIDE) and kernel w (K_SIZE, K_SIZE) with bias b: the convolution
    and max pooling (2×2) right, and both without their window (wrong); cell: out[0, 0] written out."""

    x: torch.Tensor
    w: torch.Tensor
    b: float
    right: torch.Tensor
    wrong: torch.Tensor
    cell: ConvCellTrace
    pooled: torch.Tensor
    unpooled: torch.Tensor

    @property
    def w_sum(self) -> float:
        """Σ w: the one number the wrong convolution multiplies every pixel by."""
        return float(self.w.sum())

    @property
    def pool_delta(self) -> float:
        """max |unpooled − x|: 0, the wrong pooling returns its input."""
        return float((self.unpooled - self.x).abs().max())


def conv_case(seed: int) -> ConvCase:
    g = gen(seed, 3)
    # a small integer image and kernel, so every product can be checked by hand
    x = torch.randint(0, 10, (SIDE, SIDE), generator=g).double()
    w = torch.randint(-2, 3, (K_SIZE, K_SIZE), generator=g).double()
    if float(w.sum()) == 0:
        w[K_SIZE // 2, K_SIZE // 2] += 1  # Σ w ≠ 0: the wrong form is then a visible copy of x, not a constant
    b = torch.tensor([CONV_BIAS], dtype=torch.float64)
    x4, w4 = x[None, None], w[None, None]
    return ConvCase(x, w, CONV_BIAS, right=conv2d(x4, w4, b)[0, 0], wrong=conv_without_window(x4, w4, b)[0, 0],
                    cell=conv_cell(x, w, CONV_BIAS, 0, 0), pooled=max_pool2d(x4, 2)[0, 0],
                    unpooled=pool_without_window(x4)[0, 0])


# ----- 32 kernels summed into one map ------------------------------------------------------------


def first_layer() -> FirstLayer:
    """The shipped CNN's 32 first-layer filters (32, 1, 3, 3) and biases (engine.models.cnn's,
    Glorot ones when there is no checkpoint), in float64."""
    layer = cnn_first_layer()
    return FirstLayer(layer.weight.double(), layer.bias.double(), layer.trained)


@dataclass(frozen=True)
class KernelsCase:
    """A test digit (index, label; None when the embedded set is missing and x is random noise)
    through the first layer: its 32 maps (32, 26, 26) and their sum (26, 26), the wrong form.
    (i, j): the cell where the maps respond most in total (a digit's centre is often blank)."""

    x: torch.Tensor
    index: int | None
    label: int | None
    layer: FirstLayer
    maps: torch.Tensor
    summed: torch.Tensor
    i: int
    j: int

    @property
    def at_cell(self) -> torch.Tensor:
        """(z_1, …, z_32)[i, j]."""
        return self.maps[:, self.i, self.j]


def kernels_case(seed: int, layer: FirstLayer) -> KernelsCase:
    try:
        split = embedded_mnist()
        index = int(seed) % len(split.x_test)
        x = torch.from_numpy(np.asarray(split.x_test[index], dtype=np.float64))
        label = int(split.y_test[index])
    except DataError:
        index, label = None, None
        x = torch.rand(28, 28, generator=gen(seed, 4), dtype=torch.float64)
    maps = conv2d(x[None, None], layer.weight, layer.bias)[0]  # (32, 26, 26)
    summed = kernels_summed(x[None, None], layer.weight, layer.bias)[0, 0]  # (26, 26)
    i, j = divmod(int(maps.abs().sum(dim=0).argmax()), maps.shape[-1])
    return KernelsCase(x, index, label, layer, maps, summed, i, j)


# ----- an LSTM without its cell state --------------------------------------------------------------


def trained_lstm() -> CharWeights | None:
    """The shipped char-LSTM's weights (float64, cell and head), or None if it cannot be loaded."""
    try:
        return lstm_units.load_trained().weights
    except CorpusError:
        return None


@dataclass(frozen=True)
class LSTMRun:
    """One form of the LSTM over the passage: c_t and h_t (T, H), the next-character loss
    (nats per character) and accuracy of the head on h_t."""

    c: torch.Tensor
    h: torch.Tensor
    loss: float
    acc: float


@dataclass(frozen=True)
class LSTMCase:
    """A held-out passage (a fixed line when the model is not trained) through the LSTM: right,
    without its cell state (no_cell, f_t = 0) and with one W_x for all gates (shared_wx)."""

    text: str
    trained: bool
    weights: CharWeights
    x: torch.Tensor  # (T, 1, V), one-hot
    right: LSTMRun
    no_cell: LSTMRun
    shared_wx: LSTMRun

    def busiest_unit(self, steps: int) -> int:
        """The unit whose c_t varies most over the first `steps` steps of the right run."""
        return int(self.right.c[:steps].std(dim=0).argmax())


ABLATIONS = {"right": lstm_units.INTACT, "no_cell": lstm_units.Ablation(force_f=0.0),
             "shared_wx": lstm_units.Ablation(shared_wx=True)}


def _passage(seed: int) -> str:
    text = char_rnn.held_out_text(char_rnn.MAX_SAMPLE_CHARS)
    start = int(torch.randint(0, len(text) - 2 * PASSAGE, (1,), generator=gen(seed, 5)))
    # begin at a word: just after the next space or line break
    start = min((p for p in (text.find(" ", start), text.find("\n", start)) if p >= 0), default=start - 1) + 1
    return text[start:start + PASSAGE]


def lstm_case(seed: int, trained: CharWeights | None) -> LSTMCase:
    """trained: trained_lstm(); None → a random LSTM (LSTM_H units, seeded) on FALLBACK_PASSAGE."""
    if trained is None:
        weights, passage = lstm_units.random_lstm(LSTM_H, seed), FALLBACK_PASSAGE
    else:
        weights, passage = trained, _passage(seed)
    ids = encode(passage)
    runs = {}
    for name, ablation in ABLATIONS.items():
        traced = lstm_units.trace_text(passage, weights, ablation)
        runs[name] = LSTMRun(c=traced.trace.c[:, 0], h=traced.trace.h[:, 0], loss=traced.pred.mean_loss,
                             acc=traced.pred.accuracy(ids))
    return LSTMCase(decode(ids), trained is not None, weights, one_hot(ids, len(char_rnn.VOCAB)), **runs)


# ----- the Transformer: the FFN's outer activation, and the encoder's "one vector" ----------------


@dataclass(frozen=True)
class FFNCase:
    """x (FFN_T, FFN_D) from N(0, 1) through a seeded FFN (d_ff = 4·FFN_D), right and wrong."""

    x: torch.Tensor
    params: FFNParams
    trace: OuterActivationTrace


def ffn_case(seed: int) -> FFNCase:
    P = seeded_block_params(BlockConfig(d_model=FFN_D, h=2, d_ff=4 * FFN_D), seed).ffn
    x = torch.randn(FFN_T, FFN_D, generator=gen(seed, 6), dtype=torch.float64)
    return FFNCase(x, P, ffn_outer_activation(x, P.W_1, P.b_1, P.W_2, P.b_2, "relu"))


@dataclass(frozen=True)
class EncoderCase:
    """A sentence through a seeded encoder block (ENC): X (1, T, d) in, Y (T, d) out, one row per
    token; min_distance, the smallest distance between two rows of Y (no two are equal)."""

    tokens: list[str]
    X: torch.Tensor
    Y: torch.Tensor
    min_distance: float
    params: EncoderParams


def encoder_case(sentence: str, seed: int) -> EncoderCase:
    params = seeded_block_params(ENC, seed)
    tokens = tokenize(sentence)
    # (T, d) → (1, T, d): a batch of one sentence
    X = block_input(tokens, ENC.d_model, seed).X[None]
    Y = encoder_block(X, params, ENC.h).output[0]
    # ‖y_s − y_t‖ for s ≠ t (the diagonal pushed out of reach)
    distances = torch.cdist(Y, Y) + torch.eye(len(tokens), dtype=Y.dtype) * 1e9
    return EncoderCase(tokens, X, Y, float(distances.min()), params)


# ----- every right form against PyTorch ------------------------------------------------------------


@dataclass(frozen=True)
class TorchCheck:
    """One right form (the erratum's key) against PyTorch's `reference`: max |Δ|."""

    key: str
    reference: str
    gap: float


def _gap(ours: torch.Tensor, theirs: torch.Tensor) -> float:
    return float((ours - theirs).abs().max())


def torch_checks(att: AttentionCase, conv: ConvCase, kern: KernelsCase, lstm: LSTMCase, ffn: FFNCase,
                 enc: EncoderCase) -> list[TorchCheck]:
    """Each right form against PyTorch's own layer or function, in float64."""
    x = conv.x[None, None]
    P = ffn.params
    with torch.no_grad():
        lstm_ref = torch_output("lstm", lstm.weights.cell, lstm.x)[:, 0]
        ffn_ref = F.linear(F.relu(F.linear(ffn.x, P.W_1, P.b_1)), P.W_2, P.b_2)
        enc_ref = torch_encoder_layer(ENC, enc.params)(enc.X)[0]
        bias = torch.tensor([conv.b], dtype=torch.float64)
        return [
            TorchCheck("attention", "F.scaled_dot_product_attention",
                       _gap(att.trace.correct, F.scaled_dot_product_attention(att.Q, att.K, att.V))),
            TorchCheck("conv", "F.conv2d", _gap(conv.right, F.conv2d(x, conv.w[None, None], bias)[0, 0])),
            TorchCheck("kernels", "F.conv2d",
                       _gap(kern.maps, F.conv2d(kern.x[None, None], kern.layer.weight, kern.layer.bias)[0])),
            TorchCheck("pooling", "F.max_pool2d", _gap(conv.pooled, F.max_pool2d(x, 2)[0, 0])),
            TorchCheck("lstm", "nn.LSTM", _gap(lstm.right.h, lstm_ref)),
            TorchCheck("ffn", "nn.Linear → ReLU → nn.Linear", _gap(ffn.trace.right.output, ffn_ref)),
            TorchCheck("encoder", "nn.TransformerEncoderLayer", _gap(enc.Y, enc_ref)),
        ]
