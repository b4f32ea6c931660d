"""The 4-bit file page's cached work: the GGUF file opened once per server (gguf.GGUFReader,
≈5 s, memory-mapped), its tensors by name, the file's summary, and the learner's choice of
tensor and block checked on the server."""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from engine.models.pretrained import ModelMissing, smollm_gguf
from engine.ops.block_quant import (
    FileSummary,
    StoredBlock,
    n_blocks,
    read_block,
    reference_gap,
    summarise,
)
from widgets.i18n import T

t = T("gguf")
KINDS = ("attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down", "token_embd")
N_LAYERS = 30


@dataclass(frozen=True)
class GGUFFile:
    tensors: dict  # name → gguf ReaderTensor
    summary: FileSummary


@st.cache_resource(show_spinner=False, max_entries=1)
def _open() -> GGUFFile:
    from gguf import GGUFReader

    path = smollm_gguf()
    reader = GGUFReader(path)
    return GGUFFile(tensors={x.name: x for x in reader.tensors},
                    summary=summarise(reader.tensors, path.stat().st_size))


def gguf_file() -> GGUFFile:
    """The file, once per server, under a spinner; a missing package is a message and a stop."""
    try:
        with st.spinner(t("loading"), show_time=True):
            return _open()
    except ModelMissing as e:
        st.error(t.error(e))
        st.stop()


def tensor_name(kind: str, layer: int) -> str:
    return "token_embd.weight" if kind == "token_embd" else f"blk.{layer}.{kind}.weight"


def checked_choice(kind, layer) -> str:
    """The tensor's name, or a translated message and a stop for a choice outside the file."""
    if kind not in KINDS or not (isinstance(layer, int) and 0 <= layer < N_LAYERS):
        st.error(t("err_bad_tensor", kind=kind, layer=layer))
        st.stop()
    return tensor_name(kind, layer)


def block_or_stop(tensor, index) -> StoredBlock:
    """The chosen block, or a translated message and a stop when the index is outside the tensor."""
    total = n_blocks(tensor)
    if not (isinstance(index, int) and 0 <= index < total):
        st.error(t("err_bad_block", index=index, last=total - 1))
        st.stop()
    return _block(tensor.name, index)


@st.cache_data(show_spinner=False, max_entries=256)
def _block(name: str, index: int) -> StoredBlock:
    return read_block(_open().tensors[name], index)


@st.cache_data(show_spinner=False, max_entries=64)
def tensor_gap(name: str) -> float:
    """Our decode of the whole tensor against gguf.quants.dequantize, once per tensor."""
    return reference_gap(_open().tensors[name])
