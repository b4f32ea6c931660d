"""SmolLM2-135M-Instruct replayed by our own engine: its weights read from the 4-bit GGUF file
(dequantised to float32 by the gguf package) and run through the from-scratch ops.

One block l (pre-norm, no biases), x the residual stream of the T positions, (T, d):
    h = x + W_o · GQA(RoPE(W_q n), RoPE(W_k n), W_v n),   n = RMSNorm(x) ⊙ g_attn
    x' = h + W_down (SiLU(W_gate m) ⊙ W_up m),           m = RMSNorm(h) ⊙ g_ffn
and at the end logits = E · RMSNorm(x_L) ⊙ g_out (the output head is the token embedding E,
"tied").

RoPE and the GGUF row order. Hugging Face's Llama rotates the halves of each head, pairing
dimensions (i, i + 32); llama.cpp rotates adjacent pairs (2i, 2i + 1). llama.cpp's converter
therefore PERMUTES the rows of W_q and W_k within each head (HF row j·32 + i becomes GGUF row
2i + j), so that in the GGUF order the adjacent-pair RoPE of engine.ops.positional.rope is exactly
HF's rotation. transformers un-permutes when it reads the GGUF. The same permutation of q and k
inside a head leaves every q·k, hence every attention weight and output, unchanged:
tests/unit/test_smollm.py checks both the weights and the outputs against transformers.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from pathlib import Path

import numpy as np
import torch

from engine.ops.ffn import swiglu
from engine.ops.gqa import grouped_query_attention
from engine.ops.positional import rope
from engine.ops.rms_norm import rms_norm


@dataclass(frozen=True)
class SmolLMConfig:
    """SmolLM2-135M's sizes, as the GGUF file's metadata states them."""

    d: int = 576  # the residual stream's width (d_model)
    n_layers: int = 30
    n_heads: int = 9  # query heads H
    n_kv_heads: int = 3  # key/value heads H_kv (grouped-query attention, r = 3)
    head_dim: int = 64
    d_ff: int = 1536
    eps: float = 1e-5  # RMSNorm's ε (stored as float32 9.9999997e-06)
    rope_base: float = 100000.0  # θ_i = rope_base^(−2i/head_dim)
    vocab: int = 49152


@dataclass(frozen=True)
class Block:
    """One decoder block's weights, in nn.Linear's (out, in) layout; W_q, W_k in GGUF row order."""

    g_attn: torch.Tensor  # (d,) RMSNorm gain before attention
    W_q: torch.Tensor  # (H·64, d)
    W_k: torch.Tensor  # (H_kv·64, d)
    W_v: torch.Tensor  # (H_kv·64, d)
    W_o: torch.Tensor  # (d, H·64)
    g_ffn: torch.Tensor  # (d,) RMSNorm gain before the FFN
    W_gate: torch.Tensor  # (d_ff, d)
    W_up: torch.Tensor  # (d_ff, d)
    W_down: torch.Tensor  # (d, d_ff)

    def to(self, dtype: torch.dtype) -> Block:
        """The same block with every weight cast (float64 for an exact replay)."""
        return replace(self, **{f.name: getattr(self, f.name).to(dtype) for f in fields(self)})


@dataclass(frozen=True)
class SmolLM:
    """The whole model: E (V, d) is both the token embedding and the (tied) output head."""

    config: SmolLMConfig
    E: torch.Tensor  # (V, d)
    blocks: tuple[Block, ...]
    g_out: torch.Tensor  # (d,) the final RMSNorm's gain


_BLOCK_NAMES = {"g_attn": "attn_norm", "W_q": "attn_q", "W_k": "attn_k", "W_v": "attn_v",
                "W_o": "attn_output", "g_ffn": "ffn_norm", "W_gate": "ffn_gate",
                "W_up": "ffn_up", "W_down": "ffn_down"}


def _tensor(t) -> torch.Tensor:
    """One GGUF tensor as float32 torch, in torch's (rows, cols) order: GGUF lists the dims
    reversed (ggml order, fastest first), and a quantised tensor's data is (rows, bytes)."""
    from gguf.quants import dequantize

    rows = dequantize(np.asarray(t.data), t.tensor_type)
    shape = tuple(int(n) for n in reversed(t.shape))
    # a copy: F32 tensors come back as read-only views of the memory-mapped file
    return torch.from_numpy(np.array(rows, dtype=np.float32).reshape(shape))


def _field(reader, key: str):
    return reader.fields[key].contents()


def load(path: Path | None = None) -> SmolLM:
    """Read SmolLM2 from its GGUF file (default: engine.models.pretrained.smollm_gguf()), ≈7 s."""
    import gguf

    if path is None:
        from engine.models.pretrained import smollm_gguf

        path = smollm_gguf()
    reader = gguf.GGUFReader(path)
    arch = _field(reader, "general.architecture")
    config = SmolLMConfig(
        d=int(_field(reader, f"{arch}.embedding_length")),
        n_layers=int(_field(reader, f"{arch}.block_count")),
        n_heads=int(_field(reader, f"{arch}.attention.head_count")),
        n_kv_heads=int(_field(reader, f"{arch}.attention.head_count_kv")),
        head_dim=int(_field(reader, f"{arch}.rope.dimension_count")),
        d_ff=int(_field(reader, f"{arch}.feed_forward_length")),
        eps=float(_field(reader, f"{arch}.attention.layer_norm_rms_epsilon")),
        rope_base=float(_field(reader, f"{arch}.rope.freq_base")),
        vocab=int(_field(reader, f"{arch}.vocab_size")))
    tensors = {t.name: t for t in reader.tensors}
    blocks = tuple(
        Block(**{field: _tensor(tensors[f"blk.{l}.{name}.weight"]) for field, name in _BLOCK_NAMES.items()})
        for l in range(config.n_layers))
    return SmolLM(config, _tensor(tensors["token_embd.weight"]), blocks,
                  _tensor(tensors["output_norm.weight"]))


@dataclass(frozen=True)
class BlockTrace:
    """One block's intermediates, for one prompt of T tokens."""

    q: torch.Tensor  # (H, T, 64) queries before RoPE
    k: torch.Tensor  # (H_kv, T, 64) keys before RoPE
    weights: torch.Tensor  # (H, T, T) causal attention weights, post-softmax
    h: torch.Tensor  # (T, d) residual stream after attention
    output: torch.Tensor  # (T, d) residual stream after the FFN: the block's output


def _heads(X: torch.Tensor, n: int) -> torch.Tensor:
    # (T, n·64) → (T, n, 64) → (n, T, 64)
    return X.unflatten(-1, (n, -1)).transpose(0, 1)


def block(b: Block, config: SmolLMConfig, x: torch.Tensor) -> BlockTrace:
    """One decoder block on the residual stream x (T, d), in x's dtype (cast b to match)."""
    H, H_kv = config.n_heads, config.n_kv_heads
    n = rms_norm(x, b.g_attn, config.eps).output
    # q = W_q n, k = W_k n, v = W_v n, per head: (H or H_kv, T, 64)
    q, k, v = _heads(n @ b.W_q.T, H), _heads(n @ b.W_k.T, H_kv), _heads(n @ b.W_v.T, H_kv)
    att = grouped_query_attention(rope(q, config.rope_base), rope(k, config.rope_base), v)
    # (H, T, 64) → (T, H, 64) → (T, H·64): the heads side by side
    concat = att.output.transpose(0, 1).flatten(-2)
    # h = x + W_o concat
    h = x + concat @ b.W_o.T
    m = rms_norm(h, b.g_ffn, config.eps).output
    # x' = h + W_down (SiLU(W_gate m) ⊙ W_up m)
    output = h + swiglu(m, b.W_gate, b.W_up, b.W_down).output
    return BlockTrace(q, k, att.weights, h, output)


@dataclass(frozen=True)
class SmolTrace:
    """One prompt through the model.

    hidden[0] is the token embeddings E[ids]; hidden[l] (l = 1 … L) the residual stream after
    block l, BEFORE the final RMSNorm (so hidden[l] is also block l + 1's input). transformers'
    output_hidden_states differs in its LAST entry only: there it is the final norm's output,
    which is `normed` here."""

    ids: torch.Tensor  # (T,) long
    hidden: list[torch.Tensor]  # L + 1 tensors (T, d)
    attentions: list[torch.Tensor]  # L tensors (H, T, T), causal, rows sum to 1
    normed: torch.Tensor  # (T, d) RMSNorm(hidden[L]) ⊙ g_out
    logits: torch.Tensor  # (T, V) float32


def as_ids(ids) -> torch.Tensor:
    """A prompt's token ids, a sequence of ints or a 1-D LongTensor, as a (T,) LongTensor."""
    ids = torch.as_tensor(ids, dtype=torch.long).cpu()
    if ids.dim() != 1 or ids.numel() == 0:
        raise ValueError(f"ids must be one non-empty prompt, a 1-D sequence; got shape {tuple(ids.shape)}")
    return ids


def forward(model: SmolLM, ids) -> SmolTrace:
    """The prompt's ids (T,) through every block: hidden states, attention weights, logits."""
    ids = as_ids(ids)
    if int(ids.max()) >= model.config.vocab or int(ids.min()) < 0:
        raise ValueError(f"token ids must lie in [0, {model.config.vocab})")
    x = model.E[ids]
    hidden, attentions = [x], []
    with torch.no_grad():
        for b in model.blocks:
            trace = block(b, model.config, x)
            x = trace.output
            hidden.append(x)
            attentions.append(trace.weights)
        normed = rms_norm(x, model.g_out, model.config.eps).output
        # z = E · x̂: the tied output head, (T, V)
        logits = normed @ model.E.T
    return SmolTrace(ids, hidden, attentions, normed, logits)
