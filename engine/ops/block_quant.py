"""What a 4-bit GGUF file holds: ggml's block quantisation, decoded from the bytes, from scratch.

A quantised weight matrix is stored row by row, each row cut into blocks of 32 weights:

- Q4_1, 20 bytes a block: d (float16, the step), m (float16, the minimum), then 16 bytes of
  4-bit integers q ∈ {0 … 15}. Byte j holds weight j in its LOW nibble and weight j + 16 in its
  HIGH nibble. Each weight is w = d·q + m: one of 16 evenly spaced levels m, m + d, …, m + 15d.
  4·32 + 2·16 bits for 32 weights: 5.0 bits a weight.
- Q8_0, 34 bytes a block: d (float16), then 32 signed bytes q ∈ {−128 … 127}; w = d·q.
  8·32 + 16 bits for 32 weights: 8.5 bits a weight.

Computed in float32, as the gguf package and llama.cpp do, so the result equals
gguf.quants.dequantize bit for bit. The original float weights are not in the file.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

QK = 32  # weights per block
BLOCK_BYTES = {"Q4_1": 20, "Q8_0": 34}
# bits a weight: the block's bytes × 8 / 32
BITS_PER_WEIGHT = {"Q4_1": 20 * 8 / QK, "Q8_0": 34 * 8 / QK, "F16": 16.0, "F32": 32.0}


@dataclass(frozen=True)
class BlockDecode:
    """n blocks decoded: each array has one row per block."""

    d: np.ndarray  # (n,) float32, the step (stored as float16)
    m: np.ndarray  # (n,) float32, the minimum (stored as float16); 0 for Q8_0, which has none
    q: np.ndarray  # (n, 32) int, the stored integers, in weight order
    w: np.ndarray  # (n, 32) float32, the weights: d·q + m (Q4_1), d·q (Q8_0)


def _f16(two_bytes: np.ndarray) -> np.ndarray:
    """Little-endian float16 from (n, 2) bytes, as float32."""
    return np.ascontiguousarray(two_bytes).view("<f2").reshape(-1).astype(np.float32)


def decode_q4_1(blocks: np.ndarray) -> BlockDecode:
    """Q4_1 blocks (n, 20) uint8 → d, m, the 32 integers q and w = d·q + m."""
    blocks = np.asarray(blocks, dtype=np.uint8).reshape(-1, 20)
    d, m, qs = _f16(blocks[:, 0:2]), _f16(blocks[:, 2:4]), blocks[:, 4:20]
    # q_j = qs_j & 0x0F (weights 0 … 15), q_{j+16} = qs_j >> 4 (weights 16 … 31)
    q = np.concatenate([qs & 0x0F, qs >> 4], axis=1).astype(np.int64)
    # w = d·q + m
    w = d[:, None] * q.astype(np.float32) + m[:, None]
    return BlockDecode(d=d, m=m, q=q, w=w)


def decode_q8_0(blocks: np.ndarray) -> BlockDecode:
    """Q8_0 blocks (n, 34) uint8 → d, the 32 signed integers q and w = d·q."""
    blocks = np.asarray(blocks, dtype=np.uint8).reshape(-1, 34)
    d = _f16(blocks[:, 0:2])
    q = np.ascontiguousarray(blocks[:, 2:34]).view(np.int8).astype(np.int64)
    # w = d·q
    w = d[:, None] * q.astype(np.float32)
    return BlockDecode(d=d, m=np.zeros_like(d), q=q, w=w)


DECODERS = {"Q4_1": decode_q4_1, "Q8_0": decode_q8_0}


def levels(d: float, m: float, kind: str = "Q4_1") -> np.ndarray:
    """Every value a block can express: m + d·k for k = 0 … 15 (Q4_1), d·k for k = −128 … 127 (Q8_0)."""
    k = np.arange(16) if kind == "Q4_1" else np.arange(-128, 128)
    # level_k = d·k + m
    return np.float32(d) * k.astype(np.float32) + np.float32(m)


@dataclass(frozen=True)
class StoredBlock:
    """One block of one tensor, as stored and decoded."""

    tensor: str  # the GGUF tensor's name, e.g. blk.0.ffn_down.weight
    kind: str  # Q4_1 or Q8_0
    index: int  # the block's number within the tensor, in storage order
    row: int  # the weight matrix row it belongs to (torch's (out, in) layout)
    col: int  # the column of its first weight: it holds columns col … col + 31
    raw: bytes  # the block's bytes, exactly as in the file
    d: float
    m: float
    q: np.ndarray  # (32,) int
    w: np.ndarray  # (32,) float32


def n_blocks(tensor) -> int:
    """How many blocks a quantised GGUF tensor holds: its weights / 32."""
    return int(tensor.n_elements) // QK


def read_block(tensor, index: int) -> StoredBlock:
    """Block `index` of a Q4_1 or Q8_0 GGUF tensor (a gguf.GGUFReader tensor), decoded."""
    kind = tensor.tensor_type.name
    if kind not in BLOCK_BYTES:
        raise ValueError(f"{tensor.name} is {kind}, not a block-quantised type")
    total = n_blocks(tensor)
    if not 0 <= index < total:
        raise ValueError(f"block index must lie in [0, {total})")
    size = BLOCK_BYTES[kind]
    raw = np.asarray(tensor.data).reshape(-1, size)[index]
    dec = DECODERS[kind](raw[None])
    per_row = int(tensor.shape[0]) // QK  # GGUF's shape[0] is a row's length (ggml order)
    return StoredBlock(tensor=tensor.name, kind=kind, index=index, row=index // per_row,
                       col=(index % per_row) * QK, raw=raw.tobytes(), d=float(dec.d[0]),
                       m=float(dec.m[0]), q=dec.q[0], w=dec.w[0])


@dataclass(frozen=True)
class FileSummary:
    """The whole file: tensors by type, parameters, and sizes against unquantised formats."""

    file_bytes: int  # the file's size on disk
    data_bytes: int  # the tensors' bytes (the rest is the header: metadata, vocabulary, merges)
    n_params: int  # weights in all tensors (the tied embedding counted once, as stored)
    tensors_by_type: dict[str, int]
    params_by_type: dict[str, int]
    bytes_by_type: dict[str, int]

    @property
    def f32_bytes(self) -> int:
        # 4 bytes a weight
        return 4 * self.n_params

    @property
    def f16_bytes(self) -> int:
        # 2 bytes a weight
        return 2 * self.n_params

    @property
    def bits_per_weight(self) -> float:
        """The tensors' bits averaged over every weight: 8 · data_bytes / n_params."""
        return 8 * self.data_bytes / self.n_params


def summarise(tensors, file_bytes: int) -> FileSummary:
    """Count a GGUF file's tensors (gguf.GGUFReader(...).tensors) by type and size."""
    count, params, size = Counter(), Counter(), Counter()
    for t in tensors:
        kind = t.tensor_type.name
        count[kind] += 1
        params[kind] += int(t.n_elements)
        size[kind] += int(t.n_bytes)
    return FileSummary(file_bytes=int(file_bytes), data_bytes=sum(size.values()),
                       n_params=sum(params.values()), tensors_by_type=dict(count),
                       params_by_type=dict(params), bytes_by_type=dict(size))


def reference_gap(tensor) -> float:
    """max |w − w_ref| over a whole Q4_1 or Q8_0 tensor: our decode against gguf.quants.dequantize."""
    from gguf.quants import dequantize

    data = np.asarray(tensor.data)
    kind = tensor.tensor_type.name
    ours = DECODERS[kind](data.reshape(-1, BLOCK_BYTES[kind])).w.reshape(-1)
    ref = dequantize(data, tensor.tensor_type).reshape(-1)
    return float(np.abs(ours.astype(np.float64) - ref.astype(np.float64)).max())


@dataclass(frozen=True)
class FieldBytes:
    """A block's bytes split into its fields, as stored (little-endian)."""

    d: bytes  # 2 bytes, float16
    m: bytes  # 2 bytes, float16 (empty for Q8_0)
    q: bytes  # 16 bytes of nibble pairs (Q4_1) or 32 signed bytes (Q8_0)


def fields_of(block: StoredBlock) -> FieldBytes:
    """Where each field sits in the block's bytes."""
    if block.kind == "Q4_1":
        return FieldBytes(d=block.raw[0:2], m=block.raw[2:4], q=block.raw[4:20])
    return FieldBytes(d=block.raw[0:2], m=b"", q=block.raw[2:34])
