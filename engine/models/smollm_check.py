"""Our SmolLM2 replay (engine/models/smollm.py) against transformers' LlamaForCausalLM read from
the same GGUF file (engine.models.pretrained.smollm_reference): every layer's hidden state and
attention weights, and the logits.

transformers' output_hidden_states has L + 1 entries like SmolTrace.hidden, but its LAST entry
is the output of the final RMSNorm (our `normed`), not the raw residual stream hidden[L].
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from engine.models.smollm import SmolTrace


@dataclass(frozen=True)
class Comparison:
    """max |ours − transformers'| per layer, and each reference's max |value| for scale."""

    hidden: list[float]  # L + 1: embeddings, blocks 1 … L−1, then the final norm's output
    hidden_scale: list[float]  # max |transformers' hidden state| per entry
    attention: list[float]  # L: attention weights (already in [0, 1])
    logits: float
    logits_scale: float

    @property
    def hidden_relative(self) -> list[float]:
        """max|Δ| / max|reference| per hidden entry."""
        # ρ_l = max|Δ_l| / max|h_l|
        return [d / s for d, s in zip(self.hidden, self.hidden_scale, strict=True)]

    @property
    def worst_relative(self) -> float:
        """The largest of every relative hidden gap, every attention gap and the logits' gap."""
        return max(*self.hidden_relative, *self.attention, self.logits / self.logits_scale)


def _gap(a: torch.Tensor, b: torch.Tensor) -> float:
    # max |a − b|
    return float((a.float() - b.float()).abs().max())


def reference_outputs(model, ids: torch.Tensor):
    """transformers' forward of one prompt, with every hidden state and attention map."""
    with torch.no_grad():
        return model(ids[None, :], output_hidden_states=True, output_attentions=True)


def compare(model, trace: SmolTrace) -> Comparison:
    """Run transformers' `model` (a LlamaForCausalLM, eager attention) on trace.ids and measure
    every gap to our trace."""
    out = reference_outputs(model, trace.ids)
    ours = [*trace.hidden[:-1], trace.normed]
    refs = [h[0] for h in out.hidden_states]
    if len(refs) != len(ours) or len(out.attentions) != len(trace.attentions):
        raise ValueError("the reference model has a different number of layers")
    return Comparison(
        hidden=[_gap(a, b) for a, b in zip(ours, refs, strict=True)],
        hidden_scale=[float(b.abs().max()) for b in refs],
        attention=[_gap(a, b[0]) for a, b in zip(trace.attentions, out.attentions, strict=True)],
        logits=_gap(trace.logits, out.logits[0]),
        logits_scale=float(out.logits[0].abs().max()))
