"""What the "Inside the language model" page reads off SmolLM2 (engine/models/smollm.py):

- logit_lens: every layer's residual stream put through the final RMSNorm and the tied output
  head, as if the model stopped there (nostalgebraist, 2020): the top token and its probability
  at every layer and position.
- param_count: the parameters by part (embeddings, attention, MLP, norms), counted from the
  loaded tensors; the output head is the embedding matrix (tied), so it is counted once.
- rope_view: one query vector's 32 pairs at one position, before and after RoPE, with the angles.
- hf_rows: the order of Hugging Face's W_q / W_k rows in terms of the GGUF rows (llama.cpp's
  converter permutes them; see engine/models/smollm.py).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import torch

from engine.models.smollm import Block, SmolLM, SmolTrace
from engine.ops.positional import frequencies, rope
from engine.ops.rms_norm import rms_norm


@dataclass(frozen=True)
class LensTrace:
    """Row l is hidden[l] read as if it were the last layer (row 0: the embeddings, row L: the
    model's own prediction)."""

    top_id: torch.Tensor  # (L + 1, T) long: argmax_v p_l(v) at each layer and position
    top_p: torch.Tensor  # (L + 1, T): that token's probability
    final_p: torch.Tensor  # (L + 1, T): the probability each layer gives the model's final top token


def logit_lens(model: SmolLM, trace: SmolTrace, chunk: int = 256) -> LensTrace:
    """p_l = softmax(E · RMSNorm(hidden[l]) ⊙ g_out) for l = 0 … L, every position.

    All (L + 1)·T rows go through the output head together, `chunk` rows at a time (bounded
    memory), and only two numbers per row are kept (torch.logsumexp is several times slower here):
    p_max = 1 / Σ_v exp(z_v − z_max) and p(final) = exp(z_final − z_max) / Σ_v exp(z_v − z_max)."""
    cfg = model.config
    L1, T = len(trace.hidden), len(trace.ids)
    final = trace.logits.argmax(dim=-1).repeat(L1)
    with torch.no_grad():
        # (L + 1, T, d) → ((L + 1)·T, d): every layer's every position, one row each
        X = torch.stack(trace.hidden).flatten(0, 1)
        x_hat = rms_norm(X, model.g_out, cfg.eps).output
        top_id, top_p, final_p = [], [], []
        for start in range(0, len(x_hat), chunk):
            # z = E · x̂, (rows, V)
            z = x_hat[start:start + chunk] @ model.E.T
            best = z.max(dim=-1)
            z_final = z.gather(-1, final[start:start + chunk, None])[:, 0]
            # Σ = Σ_v exp(z_v − z_max), in place (z is not needed after)
            total = z.sub_(best.values[:, None]).exp_().sum(dim=-1)
            top_id.append(best.indices)
            # p_max = 1 / Σ
            top_p.append(1 / total)
            # p(final) = exp(z_final − z_max) / Σ
            final_p.append(torch.exp(z_final - best.values) / total)
    # ((L + 1)·T,) → (L + 1, T)
    return LensTrace(*(torch.cat(v).unflatten(0, (L1, T)) for v in (top_id, top_p, final_p)))


@dataclass(frozen=True)
class ParamCount:
    """SmolLM2's parameters by part. The output head reuses E (tied), so it adds nothing."""

    embeddings: int  # V·d
    attention: int  # L·(W_q + W_k + W_v + W_o)
    mlp: int  # L·(W_gate + W_up + W_down)
    norms: int  # L·2·d + d (the RMSNorm gains)
    card: int = 135_000_000  # "135M", the model card's rounded figure

    @property
    def total(self) -> int:
        # N = embeddings + attention + MLP + norms
        return self.embeddings + self.attention + self.mlp + self.norms


_ATTENTION = ("W_q", "W_k", "W_v", "W_o")
_MLP = ("W_gate", "W_up", "W_down")
_NORMS = ("g_attn", "g_ffn")


def _count(b: Block, names: tuple[str, ...]) -> int:
    return sum(getattr(b, n).numel() for n in names)


def param_count(model: SmolLM) -> ParamCount:
    """Counted from the tensors themselves, not from the config."""
    named = {f.name for f in fields(Block)}
    assert named == set(_ATTENTION + _MLP + _NORMS), "a Block weight is missing from the count"
    return ParamCount(
        embeddings=model.E.numel(),
        attention=sum(_count(b, _ATTENTION) for b in model.blocks),
        mlp=sum(_count(b, _MLP) for b in model.blocks),
        norms=sum(_count(b, _NORMS) for b in model.blocks) + model.g_out.numel())


@dataclass(frozen=True)
class RopeView:
    """Query head `head` of block `layer` at position m, before and after RoPE."""

    m: int
    theta: torch.Tensor  # (32,) θ_i = base^(−2i/64)
    angle: torch.Tensor  # (32,) m·θ_i, radians
    q: torch.Tensor  # (64,) the query before RoPE (GGUF order: pairs (2i, 2i+1))
    q_rot: torch.Tensor  # (64,) after RoPE


def rope_view(model: SmolLM, trace: SmolTrace, layer: int, head: int, m: int) -> RopeView:
    """The query of `head` in block `layer` at position m, from hidden[layer] (the block's input)."""
    cfg = model.config
    if not (0 <= layer < cfg.n_layers and 0 <= head < cfg.n_heads and 0 <= m < len(trace.ids)):
        raise ValueError(f"layer, head and position must be < {cfg.n_layers}, {cfg.n_heads}, "
                         f"{len(trace.ids)}")
    b = model.blocks[layer]
    n = rms_norm(trace.hidden[layer][: m + 1], b.g_attn, cfg.eps).output
    rows = slice(head * cfg.head_dim, (head + 1) * cfg.head_dim)
    # q = W_q n, this head's 64 rows, positions 0 … m: (m + 1, 64)
    q = n @ b.W_q[rows].T
    theta = frequencies(cfg.head_dim, cfg.rope_base)
    # φ_i = m·θ_i
    angle = m * theta
    return RopeView(m, theta, angle, q[m].double(), rope(q, cfg.rope_base)[m].double())


def hf_rows(n_heads: int, head_dim: int = 64) -> torch.Tensor:
    """(n_heads·head_dim,) long: HF's row r of W_q (or W_k) is GGUF row hf_rows[r].

    Within a head, HF row j·(head_dim/2) + i is GGUF row 2i + j (j = 0, 1): HF rotates the
    halves (i, i + 32) together, llama.cpp the neighbours (2i, 2i + 1)."""
    half = head_dim // 2
    # (H, 2 halves j, 32 pairs i) → index h·64 + 2i + j
    h, j, i = torch.meshgrid(torch.arange(n_heads), torch.arange(2), torch.arange(half), indexing="ij")
    return (h * head_dim + 2 * i + j).flatten()
