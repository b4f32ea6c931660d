"""Choosing the next token from a language model's logits: temperature, top-k, top-p (nucleus),
written from scratch, in the order transformers' generate() applies them (temperature, then
top-k, then top-p), each equal to its logits warper (transformers.generation.logits_process:
TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper, min_tokens_to_keep = 1).

T = 0 is greedy decoding: no division by zero, no sampling, the argmax of the logits (what
generate() does with do_sample=False). A cut token's logit becomes −∞, so softmax gives it 0
and renormalises the survivors: q_i = exp(z_i/T) / Σ_{j kept} exp(z_j/T).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from engine.limits import CodedError

# Why a token is out: the step that cut it (KEPT: it survived every step).
KEPT, CUT_TOP_K, CUT_TOP_P, CUT_GREEDY = 0, 1, 2, 3


class SamplingError(CodedError):
    """A sampling setting outside its range; `code` and `params` let a page translate it."""


@dataclass(frozen=True)
class SamplingSettings:
    T: float = 1.0  # temperature; 0 = greedy
    top_k: int | None = None  # None = no top-k cut
    top_p: float = 1.0  # 1 = no top-p cut

    @property
    def greedy(self) -> bool:
        return self.T == 0.0


def settings(T: float = 1.0, top_k: int | None = None, top_p: float = 1.0) -> SamplingSettings:
    """Checked settings: T ≥ 0 (finite), top_k a positive integer or None, 0 < top_p ≤ 1."""
    if isinstance(T, bool) or not isinstance(T, int | float) or not math.isfinite(T) or T < 0:
        raise SamplingError("bad_temperature", f"The temperature must be ≥ 0 (got {T}).", value=T)
    if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1):
        raise SamplingError("bad_top_k", f"top-k must be a whole number ≥ 1 (got {top_k}).", value=top_k)
    if isinstance(top_p, bool) or not isinstance(top_p, int | float) or not 0 < top_p <= 1:
        raise SamplingError("bad_top_p", f"top-p must be above 0 and at most 1 (got {top_p}).", value=top_p)
    return SamplingSettings(T=float(T), top_k=top_k, top_p=float(top_p))


def softmax(z: torch.Tensor) -> torch.Tensor:
    """p_i = exp(z_i − max z) / Σ_j exp(z_j − max z), over the last axis; −∞ → 0."""
    m = z.amax(dim=-1, keepdim=True)
    # p_i = exp(z_i − m) / Σ_j exp(z_j − m)
    e = torch.exp(z - m)
    return e / e.sum(dim=-1, keepdim=True)


def temperature(z: torch.Tensor, T: float) -> torch.Tensor:
    """z / T (T > 0): T < 1 sharpens the distribution, T > 1 flattens it."""
    # z_T = z / T
    return z / T


def top_k_cut(z: torch.Tensor, k: int) -> torch.Tensor:
    """True where a token is cut: its logit is below the k-th largest. Tokens tied with the k-th
    all stay (so more than k can survive); k above the vocabulary keeps everything."""
    k = min(max(k, 1), z.shape[-1])
    # z_(k) = the k-th largest logit of each row
    z_k = torch.topk(z, k).values[..., -1:]
    return z < z_k


def top_p_cut(z: torch.Tensor, p: float) -> torch.Tensor:
    """True where a token is cut by nucleus sampling: keep the smallest set of most probable
    tokens whose cumulative probability reaches p (the token that crosses p stays).

    Computed as transformers does, from the least probable end: sort ascending, and cut every
    token whose cumulative probability (itself and all less probable ones) is ≤ 1 − p; the most
    probable token always stays (min_tokens_to_keep = 1). Ties are ordered as torch.sort orders them.
    """
    z_sorted, order = torch.sort(z, descending=False)
    # C_i = Σ_{j ≤ i} p_(j), the ascending cumulative probability
    C = softmax(z_sorted).cumsum(dim=-1)
    cut_sorted = C <= (1 - p)
    cut_sorted[..., -1:] = False
    # back to vocabulary order: cut[order[i]] = cut_sorted[i]
    return cut_sorted.scatter(-1, order, cut_sorted)


def kth_largest(z: torch.Tensor, k: int) -> float:
    """z_(k), the k-th largest logit of one row (the last one if k exceeds the vocabulary)."""
    return float(torch.topk(z, min(k, z.shape[-1])).values[-1])


@dataclass(frozen=True)
class SamplingTrace:
    """One next-token choice written out. Tensors are over the vocabulary (V,), float64."""

    settings: SamplingSettings
    z: torch.Tensor  # the model's logits
    p: torch.Tensor  # softmax(z): the raw distribution (T = 1)
    p_T: torch.Tensor  # softmax(z/T): the tempered distribution (greedy: one-hot on the argmax)
    cut: torch.Tensor  # int8 per token: KEPT, CUT_TOP_K, CUT_TOP_P or CUT_GREEDY
    z_filtered: torch.Tensor  # z/T with −∞ where cut: the logits sampling reads
    q: torch.Tensor  # renormalised probabilities: softmax(z_filtered), 0 where cut
    kept: torch.Tensor  # ids of the surviving tokens, most probable first

    @property
    def kept_mass(self) -> float:
        """Σ p_T over the kept tokens: the share of the tempered distribution that survived."""
        return float(self.p_T[self.kept].sum())


def filter_logits(z: torch.Tensor, s: SamplingSettings) -> SamplingTrace:
    """Temperature, then top-k, then top-p on one row of logits z (V,); as generate() does,
    top-k is skipped when None and top-p when p = 1. T = 0: greedy, only the argmax is kept."""
    z = z.to(torch.float64)
    p = softmax(z)
    cut = torch.zeros(z.shape, dtype=torch.int8)
    if s.greedy:
        cut[:] = CUT_GREEDY
        cut[torch.argmax(z)] = KEPT
        z_T = z
    else:
        z_T = temperature(z, s.T)
        if s.top_k is not None:
            cut[top_k_cut(z_T, s.top_k)] = CUT_TOP_K
        if s.top_p < 1.0:
            cut[top_p_cut(z_T.masked_fill(cut != KEPT, -math.inf), s.top_p) & (cut == KEPT)] = CUT_TOP_P
    z_filtered = z_T.masked_fill(cut != KEPT, -math.inf)
    q = softmax(z_filtered)
    p_T = q if s.greedy else softmax(z_T)
    kept = torch.nonzero(cut == KEPT).flatten()
    kept = kept[torch.argsort(q[kept], descending=True, stable=True)]
    return SamplingTrace(settings=s, z=z, p=p, p_T=p_T, cut=cut, z_filtered=z_filtered, q=q, kept=kept)


def choose(trace: SamplingTrace, generator: torch.Generator | None = None) -> int:
    """The next token: the argmax when greedy, else one draw from q (torch.multinomial, seeded
    by `generator`)."""
    if trace.settings.greedy:
        return int(trace.kept[0])
    return int(torch.multinomial(trace.q, 1, generator=generator))


@dataclass(frozen=True)
class TokenRow:
    """One token of the written-out steps (a row of the page's table)."""

    token_id: int
    z: float  # its logit
    p: float  # softmax(z)
    p_T: float  # softmax(z/T)
    p_k: float  # its probability among top-k's survivors (what top-p reads); 0 if top-k cut it
    C: float  # cumulative p_k of it and every more probable token (the nucleus reads C ≥ top-p)
    cut: int  # KEPT, CUT_TOP_K, CUT_TOP_P or CUT_GREEDY
    q: float  # its renormalised probability


def after_top_k(trace: SamplingTrace) -> torch.Tensor:
    """p_K: the tempered distribution over top-k's survivors, the one top-p reads (V,)."""
    if trace.settings.greedy:
        return trace.q
    # p_K,i = softmax of z/T over top-k's survivors
    return softmax(temperature(trace.z, trace.settings.T).masked_fill(trace.cut == CUT_TOP_K, -math.inf))


def nucleus_mass(trace: SamplingTrace) -> float:
    """Σ p_K over the tokens kept: at least top-p (the nucleus reaches p)."""
    return float(after_top_k(trace)[trace.kept].sum())


def rows(trace: SamplingTrace, n: int = 20) -> list[TokenRow]:
    """The n most probable tokens (by p_T) with every step's number."""
    order = torch.argsort(trace.p_T, descending=True, stable=True)[:n]
    p_k = after_top_k(trace)
    # C_i = Σ_{j ranked at or above i} p_k,j (descending order of probability)
    C = p_k[order].cumsum(dim=0)
    return [TokenRow(token_id=int(i), z=float(trace.z[i]), p=float(trace.p[i]), p_T=float(trace.p_T[i]),
                     p_k=float(p_k[i]), C=float(C[r]), cut=int(trace.cut[i]), q=float(trace.q[i]))
            for r, i in enumerate(order.tolist())]


def reference_gap(trace: SamplingTrace) -> float:
    """max |q − q_ref|: our renormalised probabilities against transformers' warpers
    (TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper, in generate()'s order) on the
    same logits, float64. Greedy: against the one-hot of torch.argmax."""
    from transformers.generation.logits_process import (
        TemperatureLogitsWarper,
        TopKLogitsWarper,
        TopPLogitsWarper,
    )

    s, z = trace.settings, trace.z[None].clone()
    if s.greedy:
        ref = torch.zeros_like(trace.q)
        ref[torch.argmax(trace.z)] = 1.0
        return float((trace.q - ref).abs().max())
    no_ids = torch.zeros(1, 1, dtype=torch.long)
    if s.T != 1.0:
        z = TemperatureLogitsWarper(s.T)(no_ids, z)
    if s.top_k is not None:
        z = TopKLogitsWarper(top_k=s.top_k)(no_ids, z)
    if s.top_p < 1.0:
        z = TopPLogitsWarper(top_p=s.top_p)(no_ids, z)
    return float((trace.q - torch.softmax(z[0], dim=-1)).abs().max())
