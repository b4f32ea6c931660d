"""engine.ops.quantise against torch: fake quantisation equal to torch.fake_quantize_per_tensor_affine
and torch.fake_quantize_per_channel_affine bit for bit (dtypes torch accepts, shapes, seeds, b = 2 … 8,
half-steps, values outside the range); scales and zero points equal to torch's MinMax observers;
the written-out weight agrees with the whole tensor's result."""

from __future__ import annotations

import pytest
import torch
from torch.ao.quantization.observer import MinMaxObserver, PerChannelMinMaxObserver

from engine.limits import LimitError
from engine.ops.quantise import (
    QParams,
    channel_rms,
    dequantise,
    fake_quantise,
    per_channel,
    per_tensor,
    qparams,
    qrange,
    quantise,
    tensor_quant,
    torch_fake_quantise,
    weight_steps,
)

DTYPES = (torch.float32, torch.float64, torch.float16, torch.bfloat16)  # what torch's kernels accept
SHAPES = ((7,), (5, 3), (8, 3, 3, 3), (64, 576))


def _data(shape, seed, dtype):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(shape, generator=g, dtype=torch.float64) * 2 + 0.3).to(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("symmetric", [False, True])
def test_fake_quantise_equals_torch_bit_for_bit(dtype, symmetric):
    for seed, shape in enumerate(SHAPES):
        x = _data(shape, seed, dtype)
        # the parameters come from a narrower slice, so some values fall outside the range and clamp
        narrow = x[..., : max(1, x.shape[-1] - 2)] * 0.7
        for bits in range(2, 9):
            for p in (per_tensor(narrow, bits, symmetric),) + ((per_channel(narrow, bits, symmetric),) if x.dim() > 1 else ()):
                ours, ref = fake_quantise(x, p), torch_fake_quantise(x, p)
                assert ours.dtype == ref.dtype == dtype
                assert torch.equal(ours, ref), (dtype, shape, bits, p.per_channel)
                # every x̂ is one of the levels, and the codes stay in [q_min, q_max]
                q = quantise(x, p)
                assert int(q.min()) >= p.q_min and int(q.max()) <= p.q_max


def test_half_steps_round_to_even_and_outside_values_clamp():
    # s = 0.25 (1/s exact in float32), z = 3, 4 bits: x/s = k + 0.5 exactly
    p = QParams(torch.tensor(0.25), torch.tensor(3, dtype=torch.int32), 0, 15, 4, False)
    k = torch.arange(-20, 21, dtype=torch.float64)
    x = (k + 0.5) * 0.25
    q = quantise(x, p)
    # round half to even: 0.5 → 0, 1.5 → 2, 2.5 → 2, −0.5 → 0, −1.5 → −2
    expected = torch.clamp(torch.round(k + 0.5).long() + 3, 0, 15)
    assert torch.equal(q, expected)
    assert int(quantise(torch.tensor([0.5 * 0.25]), p)) == 3 and int(quantise(torch.tensor([1.5 * 0.25]), p)) == 5
    for dtype in (torch.float32, torch.float64):
        assert torch.equal(fake_quantise(x.to(dtype), p), torch_fake_quantise(x.to(dtype), p))
    # far outside the range: the ends of the grid, s·(q_min − z) and s·(q_max − z)
    far = torch.tensor([-1e6, 1e6], dtype=torch.float64)
    assert fake_quantise(far, p).tolist() == [0.25 * (0 - 3), 0.25 * (15 - 3)]


@pytest.mark.parametrize("symmetric", [False, True])
def test_scale_and_zero_point_equal_torch_observers(symmetric):
    for seed, bits in enumerate(range(2, 9)):
        w = _data((16, 9), seed, torch.float32) + (0.5 if seed % 2 else 0.0)
        r = qrange(bits, symmetric)
        kw = dict(quant_min=r.q_min, quant_max=r.q_max, dtype=torch.qint8 if symmetric else torch.quint8,
                  qscheme=torch.per_tensor_symmetric if symmetric else torch.per_tensor_affine)
        obs = MinMaxObserver(**kw)
        obs(w)
        s_ref, z_ref = obs.calculate_qparams()
        p = per_tensor(w, bits, symmetric)
        assert float(p.s) == float(s_ref) and int(p.z) == int(z_ref)
        kw["qscheme"] = torch.per_channel_symmetric if symmetric else torch.per_channel_affine
        obs = PerChannelMinMaxObserver(ch_axis=0, **kw)
        obs(w)
        s_ref, z_ref = obs.calculate_qparams()
        p = per_channel(w, bits, symmetric)
        assert torch.equal(p.s, s_ref.float()) and torch.equal(p.z.long(), z_ref.long())


def test_the_range_holds_zero_and_zero_is_exact():
    # an all-positive range: min⁻ = 0, so z = q_min and 0.0 is stored exactly
    p = qparams(torch.tensor(0.3), torch.tensor(2.0), 4)
    assert int(p.z) == 0 and float(fake_quantise(torch.tensor([0.0]), p)) == 0.0
    for bits in range(2, 9):
        p = per_tensor(_data((50,), bits, torch.float32), bits)
        assert float(fake_quantise(torch.tensor([0.0]), p)) == 0.0
        assert 0 <= int(p.z) <= 2**bits - 1
    # a constant tensor: s is at least float32's ε, never 0
    assert float(per_tensor(torch.zeros(5), 8).s) == torch.finfo(torch.float32).eps


def test_error_inside_the_range_is_at_most_half_a_step():
    for seed, bits in enumerate((2, 3, 4, 6, 8)):
        w = _data((32, 20), seed, torch.float32)
        for channelwise in (False, True):
            t = tensor_quant(w, bits, channelwise)
            s = t.p.s.double().reshape(-1, 1) if channelwise else t.p.s.double()
            assert bool((t.error.abs().reshape(32, -1) <= s / 2 + 1e-7).all())
            # x̂ = 0 exactly where q = z
            z = t.p.z.reshape(-1, 1) if channelwise else t.p.z
            assert t.zeros == int((quantise(w, t.p).reshape(32, -1) == z).sum())
            # the levels: 2^b evenly spaced values, s apart
            lv = t.p.levels(0 if channelwise else None)
            assert len(lv) == 2**bits and torch.allclose(lv.diff(), torch.full((2**bits - 1,), float(lv[1] - lv[0]), dtype=torch.float64))
        # per channel is never worse than per tensor here (each channel's grid fits its own range)
        assert tensor_quant(w, bits, True).rms <= tensor_quant(w, bits, False).rms + 1e-12
        assert channel_rms(tensor_quant(w, bits, True)).shape == (32,)


def test_dequantise_inverts_quantise_on_the_grid():
    p = per_channel(_data((4, 6), 0, torch.float32), 5)
    q = torch.randint(p.q_min, p.q_max + 1, (4, 6))
    x_hat = dequantise(q, p)
    assert torch.equal(quantise(x_hat, p), q)


def test_one_weight_written_out_matches_the_tensor():
    w = _data((8, 3, 3, 3), 3, torch.float32)
    for channelwise in (False, True):
        p = (per_channel if channelwise else per_tensor)(w * 0.5, 3)  # narrow: some weights clamp
        x_hat = fake_quantise(w, p).reshape(-1)
        q = quantise(w, p).reshape(-1)
        clamped = 0
        for index in range(0, w.numel(), 7):
            st = weight_steps(w, index, p)
            assert st.q == int(q[index]) and st.x_hat == float(x_hat[index])
            assert st.unclamped == st.rounded + st.z and st.q == min(max(st.unclamped, st.q_min), st.q_max)
            assert st.error == pytest.approx(st.x - st.x_hat, abs=0)
            assert abs(st.x_over_s - st.x / st.s) < 1e-5 * max(1.0, abs(st.x / st.s))
            clamped += st.clamped
        assert clamped > 0
    with pytest.raises(LimitError):
        weight_steps(w, w.numel(), p)


def test_bits_outside_two_to_eight_are_refused():
    for bits in (1, 9, 0, -3):
        with pytest.raises(LimitError) as e:
            qrange(bits)
        assert e.value.code == "limit" and e.value.params["name"] == "quant_bits"
