"""Q4_1 and Q8_0 blocks decoded from scratch equal gguf.quants.dequantize, bit for bit; the nibble
order; where a block sits in its matrix; the file's tensors counted by type."""

from __future__ import annotations

import numpy as np
import pytest
from gguf import GGUFReader
from gguf.quants import dequantize

from engine.models.pretrained import smollm_gguf
from engine.ops.block_quant import (
    BITS_PER_WEIGHT,
    decode_q4_1,
    decode_q8_0,
    fields_of,
    levels,
    n_blocks,
    read_block,
    reference_gap,
    summarise,
)


@pytest.fixture(scope="module")
def reader():
    return GGUFReader(smollm_gguf())


def _tensor(reader, name):
    return next(t for t in reader.tensors if t.name == name)


@pytest.mark.parametrize("name", ["blk.0.attn_q.weight", "blk.7.ffn_down.weight", "blk.29.attn_v.weight",
                                  "blk.13.ffn_gate.weight"])
def test_q4_1_decode_equals_gguf_dequantize(reader, name):
    t = _tensor(reader, name)
    assert t.tensor_type.name == "Q4_1"
    ref = dequantize(np.asarray(t.data), t.tensor_type).reshape(-1, 32)
    blocks = np.asarray(t.data).reshape(-1, 20)
    dec = decode_q4_1(blocks)
    assert np.array_equal(dec.w, ref)
    assert dec.q.min() >= 0 and dec.q.max() <= 15
    rng = np.random.default_rng(0)
    for i in rng.integers(0, len(blocks), 5):
        b = read_block(t, int(i))
        assert np.array_equal(b.w, ref[i]) and len(b.raw) == 20
        # every weight is exactly one of the block's 16 levels: level q
        assert np.array_equal(levels(b.d, b.m)[b.q], b.w)


def test_q8_0_decode_equals_gguf_dequantize(reader):
    t = _tensor(reader, "token_embd.weight")
    assert t.tensor_type.name == "Q8_0"
    rows = np.asarray(t.data)[[0, 1, 504, 49151]]  # a few whole rows (tokens), 18 blocks each
    ref = dequantize(rows, t.tensor_type).reshape(-1, 32)
    dec = decode_q8_0(rows.reshape(-1, 34))
    assert np.array_equal(dec.w, ref) and np.all(dec.m == 0)
    assert dec.q.min() >= -128 and dec.q.max() <= 127
    b = read_block(t, 504 * 18 + 3)
    assert (b.row, b.col) == (504, 96) and len(b.raw) == 34
    assert np.array_equal(b.w, ref[2 * 18 + 3])


def test_nibble_order_low_nibbles_first_and_the_header_fields():
    d, m = np.float16(0.5), np.float16(-2.0)
    q = np.arange(32) % 16  # weights 0 … 15 then 0 … 15 again
    q[16:] = 15 - q[16:]
    packed = (q[:16] | (q[16:] << 4)).astype(np.uint8)
    block = np.concatenate([np.frombuffer(d.tobytes() + m.tobytes(), np.uint8), packed])
    dec = decode_q4_1(block[None])
    assert dec.q[0].tolist() == q.tolist()
    assert dec.d[0] == 0.5 and dec.m[0] == -2.0
    assert np.allclose(dec.w[0], 0.5 * q - 2.0, rtol=0, atol=0)
    assert np.array_equal(dequantize(block[None], _Q4_1()).reshape(-1), dec.w[0])


def _Q4_1():
    from gguf.constants import GGMLQuantizationType

    return GGMLQuantizationType.Q4_1


def test_a_block_sits_at_its_row_and_columns(reader):
    t = _tensor(reader, "blk.3.ffn_down.weight")  # torch (576, 1536): 48 blocks a row
    W = dequantize(np.asarray(t.data), t.tensor_type)
    assert W.shape == (576, 1536) and n_blocks(t) == 576 * 48
    for index in (0, 47, 48, 12345, n_blocks(t) - 1):
        b = read_block(t, index)
        assert (b.row, b.col) == (index // 48, index % 48 * 32)
        assert np.array_equal(W[b.row, b.col:b.col + 32], b.w)
    with pytest.raises(ValueError):
        read_block(t, n_blocks(t))
    with pytest.raises(ValueError):
        read_block(_tensor(reader, "blk.0.attn_norm.weight"), 0)


def test_file_summary(reader):
    s = summarise(reader.tensors, smollm_gguf().stat().st_size)
    assert s.tensors_by_type == {"Q4_1": 210, "F32": 61, "Q8_0": 1}
    assert s.n_params == 134_515_008
    assert s.bytes_by_type["Q4_1"] * 8 == s.params_by_type["Q4_1"] * 5  # 5.0 bits a weight
    assert s.bytes_by_type["Q8_0"] * 8 == s.params_by_type["Q8_0"] * 8.5
    assert BITS_PER_WEIGHT["Q4_1"] == 5.0 and BITS_PER_WEIGHT["Q8_0"] == 8.5
    assert s.data_bytes < s.file_bytes < s.f16_bytes < s.f32_bytes == 4 * 134_515_008
    assert 5.0 < s.bits_per_weight < 8.5


def test_reference_gap_and_fields(reader):
    t = _tensor(reader, "blk.2.attn_k.weight")
    assert reference_gap(t) == 0.0
    b = read_block(t, 10)
    f = fields_of(b)
    assert f.d + f.m + f.q == b.raw and len(f.q) == 16
    assert np.frombuffer(f.d, "<f2")[0] == b.d and np.frombuffer(f.m, "<f2")[0] == b.m
    assert [x & 15 for x in f.q] == b.q[:16].tolist() and [x >> 4 for x in f.q] == b.q[16:].tolist()
    e = read_block(_tensor(reader, "token_embd.weight"), 7)
    assert fields_of(e).m == b"" and len(fields_of(e).q) == 32
