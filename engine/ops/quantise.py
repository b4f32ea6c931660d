"""Affine (asymmetric) and symmetric quantisation to b bits, from scratch, equal to torch.

A real number x is stored as a b-bit integer q and read back as x̂:

    q = clamp(round(x / s) + z, q_min, q_max)        x̂ = s·(q − z)

s (the scale, a float32) is the step between two neighbouring levels and z (the zero point, an
integer) is the level that stands for 0.0. From a range [min, max] for b bits:

- affine:    q ∈ [0, 2^b − 1],  s = (max⁺ − min⁻)/(q_max − q_min),  z = q_min − round(min⁻/s)
- symmetric: q ∈ [−2^(b−1), 2^(b−1) − 1],  s = max(−min⁻, max⁺)/((q_max − q_min)/2),  z = 0

where min⁻ = min(min, 0) and max⁺ = max(max, 0) (the range always holds 0, so 0.0 is stored
exactly), as torch.ao.quantization's MinMaxObserver computes them (s at least float32's ε).
Per tensor: one (s, z) for the whole tensor; per output channel: one (s, z) per row of axis 0.

`fake_quantise` quantises and dequantises at once (x → x̂) exactly as
torch.fake_quantize_per_tensor_affine / torch.fake_quantize_per_channel_affine do on the CPU:
they multiply by 1/s (computed in float32) rather than divide by s, and round half to even.
Those accept float32, float64, float16 and bfloat16 inputs, a float32 scale and an int32 zero point.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from engine.limits import LimitError, check

EPS = torch.finfo(torch.float32).eps  # the smallest scale, as torch's observers use
WEIGHT_INDEX = "weight_index"  # the LimitError name of a weight index outside its tensor


@dataclass(frozen=True)
class QParams:
    """Scale(s) and zero point(s) for b bits: 0-dim tensors per tensor, (C,) per channel (axis 0)."""

    s: torch.Tensor  # float32
    z: torch.Tensor  # int32
    q_min: int
    q_max: int
    bits: int
    symmetric: bool

    @property
    def per_channel(self) -> bool:
        return self.s.dim() == 1

    def levels(self, channel: int | None = None) -> torch.Tensor:
        """Every value x̂ can take: s·(q − z) for q = q_min … q_max (float64), of one channel."""
        s, z = (self.s, self.z) if channel is None else (self.s[channel], self.z[channel])
        q = torch.arange(self.q_min, self.q_max + 1, dtype=torch.float64)
        # x̂ = s·(q − z)
        return float(s) * (q - int(z))


@dataclass(frozen=True)
class QRange:
    q_min: int
    q_max: int


def qrange(bits: int, symmetric: bool = False) -> QRange:
    """The integers a b-bit code can hold: [0, 2^b − 1] (affine) or [−2^(b−1), 2^(b−1) − 1] (symmetric)."""
    b = check("quant_bits", bits)
    if symmetric:
        return QRange(-(2 ** (b - 1)), 2 ** (b - 1) - 1)
    return QRange(0, 2**b - 1)


def qparams(x_min: torch.Tensor, x_max: torch.Tensor, bits: int, symmetric: bool = False) -> QParams:
    """(s, z) from a range [min, max] (0-dim or one value per channel), in float32 like torch's observers."""
    r = qrange(bits, symmetric)
    lo = torch.as_tensor(x_min, dtype=torch.float32)
    hi = torch.as_tensor(x_max, dtype=torch.float32)
    # min⁻ = min(min, 0), max⁺ = max(max, 0)
    lo, hi = torch.clamp(lo, max=0.0), torch.clamp(hi, min=0.0)
    if symmetric:
        # s = max(−min⁻, max⁺) / ((q_max − q_min)/2)
        s = torch.maximum(-lo, hi) / (float(r.q_max - r.q_min) / 2)
        z = torch.zeros_like(lo, dtype=torch.int32)
        return QParams(torch.clamp(s, min=EPS), z, r.q_min, r.q_max, bits, True)
    # s = (max⁺ − min⁻) / (q_max − q_min)
    s = torch.clamp((hi - lo) / float(r.q_max - r.q_min), min=EPS)
    # z = q_min − round(min⁻ / s), kept inside [q_min, q_max]
    z = torch.clamp(r.q_min - torch.round(lo / s), r.q_min, r.q_max).to(torch.int32)
    return QParams(s, z, r.q_min, r.q_max, bits, False)


def per_tensor(x: torch.Tensor, bits: int, symmetric: bool = False) -> QParams:
    """One (s, z) for the whole tensor, from its min and max."""
    return qparams(x.detach().min().float(), x.detach().max().float(), bits, symmetric)


def per_channel(x: torch.Tensor, bits: int, symmetric: bool = False) -> QParams:
    """One (s, z) per output channel (axis 0), from each channel's min and max."""
    rows = x.detach().reshape(x.shape[0], -1).float()  # (C, everything else)
    return qparams(rows.min(dim=1).values, rows.max(dim=1).values, bits, symmetric)


def _broadcast(v: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """A per-channel (C,) vector shaped (C, 1, 1, …) against x; a 0-dim one unchanged."""
    return v.reshape(-1, *([1] * (x.dim() - 1))) if v.dim() == 1 else v


def _work_dtype(x: torch.Tensor) -> torch.dtype:
    """torch's kernels multiply a float16/bfloat16/float32 input by 1/s in float32, a float64 one in float64."""
    return torch.float64 if x.dtype == torch.float64 else torch.float32


def quantise(x: torch.Tensor, p: QParams) -> torch.Tensor:
    """The stored integers q (int64), shaped like x."""
    s, z = _broadcast(p.s, x), _broadcast(p.z, x).to(torch.int64)
    inv_s = (1.0 / s).to(torch.float32)  # 1/s in float32, as torch computes it
    # q = clamp(round(x·(1/s)) + z, q_min, q_max); round half to even
    q = torch.round(x.to(_work_dtype(x)) * inv_s).to(torch.int64) + z
    return torch.clamp(q, p.q_min, p.q_max)


def dequantise(q: torch.Tensor, p: QParams, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """x̂ = s·(q − z) in dtype. torch's kernels multiply in float32 per tensor and in float64 per
    channel, then round to the input's dtype; the same arithmetic here keeps the two bit for bit equal."""
    work = torch.float64 if p.per_channel else torch.float32
    s, z = _broadcast(p.s, q).to(work), _broadcast(p.z, q).to(torch.int64)
    # x̂ = s·(q − z)
    return (s * (q - z).to(work)).to(dtype)


def fake_quantise(x: torch.Tensor, p: QParams) -> torch.Tensor:
    """x → x̂ in x's dtype: equal to torch.fake_quantize_per_tensor_affine / _per_channel_affine."""
    return dequantise(quantise(x, p), p, x.dtype)


def torch_fake_quantise(x: torch.Tensor, p: QParams) -> torch.Tensor:
    """torch's own fake quantisation with the same (s, z): the reference."""
    if p.per_channel:
        return torch.fake_quantize_per_channel_affine(x, p.s, p.z, 0, p.q_min, p.q_max)
    return torch.fake_quantize_per_tensor_affine(x, float(p.s), int(p.z), p.q_min, p.q_max)


def torch_gap(x: torch.Tensor, p: QParams) -> float:
    """max |x̂ − torch's x̂| over the tensor (0.0 when equal bit for bit)."""
    return float((fake_quantise(x, p).double() - torch_fake_quantise(x, p).double()).abs().max())


@dataclass(frozen=True)
class WeightSteps:
    """One weight quantised, every step written out (floats, ints)."""

    x: float  # the weight
    s: float  # the scale of its tensor or channel
    z: int  # the zero point
    q_min: int
    q_max: int
    x_over_s: float  # x/s
    rounded: int  # round(x/s), half to even
    unclamped: int  # round(x/s) + z
    q: int  # clamp(round(x/s) + z, q_min, q_max)
    x_hat: float  # s·(q − z)
    error: float  # x − x̂
    clamped: bool  # q ≠ round(x/s) + z: x lay outside the range


def weight_steps(w: torch.Tensor, index: int, p: QParams) -> WeightSteps:
    """Weight number `index` of w (flat, row-major; its channel is index // (w.numel() / C))."""
    flat = w.detach().reshape(-1)
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < flat.numel():
        raise LimitError(WEIGHT_INDEX, index, 0, flat.numel() - 1)
    c = index // (flat.numel() // w.shape[0])  # the output channel holding it
    s = p.s[c] if p.per_channel else p.s
    z = int(p.z[c] if p.per_channel else p.z)
    x = flat[index].to(_work_dtype(flat))
    # x/s as torch computes it: x·(1/s), with 1/s rounded to float32
    x_over_s = x * (1.0 / s)
    rounded = int(torch.round(x_over_s))
    q = min(max(rounded + z, p.q_min), p.q_max)
    x_hat = float(fake_quantise(w.detach(), p).reshape(-1)[index])  # s·(q − z), as the whole tensor gets it
    return WeightSteps(float(x), float(s), z, p.q_min, p.q_max, float(x_over_s), rounded, rounded + z, q,
                       x_hat, float(x) - x_hat, q != rounded + z)


@dataclass(frozen=True)
class TensorQuant:
    """A tensor fake-quantised: the weights x, their x̂ and error x − x̂ (float64), and the parameters."""

    x: torch.Tensor
    x_hat: torch.Tensor
    error: torch.Tensor
    p: QParams

    @property
    def rms(self) -> float:
        """√(mean (x − x̂)²)."""
        return float(self.error.pow(2).mean().sqrt())

    @property
    def zeros(self) -> int:
        """How many weights are stored as the level 0.0 (x̂ = 0): at few bits, most of a layer."""
        return int((self.x_hat == 0).sum())


def tensor_quant(w: torch.Tensor, bits: int, channelwise: bool, symmetric: bool = False) -> TensorQuant:
    """w quantised per tensor or per output channel."""
    p = (per_channel if channelwise else per_tensor)(w, bits, symmetric)
    x = w.detach()
    x_hat = fake_quantise(x, p)
    # e = x − x̂
    return TensorQuant(x.double(), x_hat.double(), (x - x_hat).double(), p)


def channel_rms(t: TensorQuant) -> torch.Tensor:
    """The RMS error of each output channel (C,)."""
    e = t.error.reshape(t.error.shape[0], -1)
    # rms_c = √(mean_i e_ci²)
    return e.pow(2).mean(dim=1).sqrt()
