"""A sentence embedding from a Transformer encoder's token vectors: masked mean pooling, then
L2 normalisation, then cosine similarity between sentences.

This is what all-MiniLM-L6-v2's sentence-transformers pipeline does after the BERT encoder
(its modules.json: Transformer → Pooling → Normalize; 1_Pooling/config.json:
pooling_mode_mean_tokens = true, every other mode false):

    u = Σ_t m_t h_t / max(Σ_t m_t, 10⁻⁹)     (m_t = 1 for a real token, 0 for padding)
    e = u / max(‖u‖₂, ε)                     (torch.nn.functional.normalize, ε = 10⁻¹²)
    cos(a, b) = e_a · e_b

Pure torch: H is (B, T, d) and the mask (B, T), as a tokenizer returns them for a padded batch.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

MASK_FLOOR = 1e-9  # sentence-transformers clamps the token count from below by this
NORM_EPS = 1e-12  # torch.nn.functional.normalize's default ε


@dataclass(frozen=True)
class SentenceEmbedding:
    """Mean pooling and normalisation of a batch: every stage, (B, ·)."""

    count: torch.Tensor  # Σ_t m_t, (B,)
    u: torch.Tensor  # the masked mean of the token vectors, (B, d)
    norm: torch.Tensor  # ‖u‖₂, (B,)
    e: torch.Tensor  # u / ‖u‖₂, (B, d): the sentence embedding


def mean_pool(H: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The mean of the token vectors H (B, T, d) over the positions where mask (B, T) is 1."""
    if H.dim() != 3 or mask.shape != H.shape[:2]:
        raise ValueError(f"H must be (B, T, d) and mask (B, T); got {tuple(H.shape)} and {tuple(mask.shape)}")
    m = mask.to(H.dtype)
    # u_b = Σ_t m_bt h_bt / max(Σ_t m_bt, 1e-9)
    u = torch.einsum("bt,btd->bd", m, H) / m.sum(dim=1, keepdim=True).clamp_min(MASK_FLOOR)
    return u


def l2_normalize(u: torch.Tensor) -> torch.Tensor:
    """u / max(‖u‖₂, ε) along the last axis, as torch.nn.functional.normalize."""
    # ‖u‖₂ = √(Σ_k u_k²)
    norm = torch.sqrt((u * u).sum(dim=-1, keepdim=True))
    return u / norm.clamp_min(NORM_EPS)


def cosine_matrix(E: torch.Tensor) -> torch.Tensor:
    """Cosine similarity of every pair of rows of E (n, d): an (n, n) matrix, 1 on the diagonal
    (for non-zero rows), equal to F.cosine_similarity(E[i], E[j]) at (i, j)."""
    if E.dim() != 2:
        raise ValueError(f"E must be (n, d), got shape {tuple(E.shape)}")
    e = l2_normalize(E)
    # cos_ij = e_i · e_j
    cos = e @ e.T
    return cos


def sentence_embedding(H: torch.Tensor, mask: torch.Tensor) -> SentenceEmbedding:
    """Masked mean pooling then L2 normalisation, with every stage kept."""
    u = mean_pool(H, mask)
    return SentenceEmbedding(count=mask.to(H.dtype).sum(dim=1), u=u, norm=torch.linalg.vector_norm(u, dim=-1),
                             e=l2_normalize(u))
