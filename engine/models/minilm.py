"""all-MiniLM-L6-v2 replayed by our own engine: the real model's weights in the app's own
multi-head attention, LayerNorm, FFN and post-LN encoder block (engine.ops), checked layer by
layer against transformers' BertModel.

The weights come from the transformers reference's state_dict (engine.models.pretrained.
minilm_reference()). BERT keeps separate query, key and value layers; our attention takes
nn.MultiheadAttention's stacked in_proj (3E, E) = [W_Q; W_K; W_V], so they are concatenated.
BERT is post-LN (y = LN(x + F(x))), GELU in its exact erf form, LayerNorm ε = 1e-12. Its input
is a sum of three learned embeddings (word, position, segment), then a LayerNorm.

Everything runs in the dtype of the weights (from_state_dict(..., dtype)): float32 as the model
ships, or float64, where transformers' own copy is converted with reference_model(model, dtype).
The learner's text becomes ids in engine.models.minilm_text (clean_text, encode).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch

from engine.limits import check
from engine.models.minilm_text import Encoded
from engine.ops.layer_norm import LayerNormTrace, layer_norm
from engine.ops.transformer import (
    AttentionParams,
    EncoderParams,
    EncoderTrace,
    FFNParams,
    NormParams,
    encoder_block,
)

# what "equal" means, per dtype: rounding of ~10⁶ multiply-adds through six layers
TOLERANCE = {torch.float32: 1e-4, torch.float64: 1e-10}

# ----- configuration and weights -------------------------------------------------------------


@dataclass(frozen=True)
class MiniLMConfig:
    """BERT's sizes with the paper's symbols: d_model = E, h heads of d_k = E/h, d_ff, N layers."""

    vocab_size: int = 30522
    max_position: int = 512
    type_vocab_size: int = 2
    d_model: int = 384
    h: int = 12
    d_ff: int = 1536
    N: int = 6
    eps: float = 1e-12
    activation: str = "gelu"

    @property
    def d_k(self) -> int:
        return self.d_model // self.h

    @classmethod
    def from_hf(cls, config) -> MiniLMConfig:
        """Read a transformers BertConfig; refuse what our encoder block does not compute."""
        if config.hidden_act != "gelu" or getattr(config, "position_embedding_type", "absolute") != "absolute":
            raise ValueError(f"only BERT with exact GELU and absolute positions is replayed, got "
                             f"{config.hidden_act!r}, {config.position_embedding_type!r}")
        return cls(config.vocab_size, config.max_position_embeddings, config.type_vocab_size,
                   config.hidden_size, config.num_attention_heads, config.intermediate_size,
                   config.num_hidden_layers, float(config.layer_norm_eps), "gelu")


@dataclass(frozen=True)
class EmbeddingParams:
    word: torch.Tensor  # (V, E)
    position: torch.Tensor  # (P, E), one learned row per position
    token_type: torch.Tensor  # (2, E): sentence A, sentence B
    norm: NormParams


@dataclass(frozen=True)
class PoolerParams:
    """BERT's pooler (tanh(W h_[CLS] + b)): shipped with the weights, not used by the replay."""

    weight: torch.Tensor
    bias: torch.Tensor


@dataclass(frozen=True)
class MiniLMWeights:
    config: MiniLMConfig
    embeddings: EmbeddingParams
    layers: tuple[EncoderParams, ...]
    pooler: PoolerParams | None

    @property
    def dtype(self) -> torch.dtype:
        return self.embeddings.word.dtype


def bert_layer_params(get, i: int) -> EncoderParams:
    """BERT's layer i as our encoder block's parameters; get(name) returns a state_dict tensor."""
    p = f"encoder.layer.{i}."
    attn = p + "attention."
    # W_in = [W_Q; W_K; W_V], (3E, E): BERT's three linears as nn.MultiheadAttention's one
    in_proj_weight = torch.cat([get(f"{attn}self.{n}.weight") for n in ("query", "key", "value")])
    in_proj_bias = torch.cat([get(f"{attn}self.{n}.bias") for n in ("query", "key", "value")])
    return EncoderParams(
        self_attn=AttentionParams(in_proj_weight, in_proj_bias, get(f"{attn}output.dense.weight"),
                                  get(f"{attn}output.dense.bias")),
        ffn=FFNParams(get(p + "intermediate.dense.weight"), get(p + "intermediate.dense.bias"),
                      get(p + "output.dense.weight"), get(p + "output.dense.bias")),
        norm1=NormParams(get(f"{attn}output.LayerNorm.weight"), get(f"{attn}output.LayerNorm.bias")),
        norm2=NormParams(get(p + "output.LayerNorm.weight"), get(p + "output.LayerNorm.bias")))


def from_state_dict(state: dict, config: MiniLMConfig, dtype: torch.dtype = torch.float32) -> MiniLMWeights:
    """A BertModel state_dict (names as transformers writes them, with or without a "bert."
    prefix) as our parameter records, detached, in `dtype` (float32 shares the model's memory)."""
    state = {k.removeprefix("bert."): v for k, v in state.items()}

    def get(name: str) -> torch.Tensor:
        return state[name].detach().to(dtype)

    e = "embeddings."
    embeddings = EmbeddingParams(get(e + "word_embeddings.weight"), get(e + "position_embeddings.weight"),
                                 get(e + "token_type_embeddings.weight"),
                                 NormParams(get(e + "LayerNorm.weight"), get(e + "LayerNorm.bias")))
    pooler = (PoolerParams(get("pooler.dense.weight"), get("pooler.dense.bias"))
              if "pooler.dense.weight" in state else None)
    return MiniLMWeights(config, embeddings, tuple(bert_layer_params(get, i) for i in range(config.N)), pooler)


def from_model(model, dtype: torch.dtype = torch.float32) -> MiniLMWeights:
    """Our weights from a transformers BertModel: its state_dict and config. Where the model
    already is in `dtype`, the tensors are shared, not copied (only W_in is new)."""
    return from_state_dict(model.state_dict(), MiniLMConfig.from_hf(model.config), dtype)


def load(reference, dtype: torch.dtype = torch.float32) -> MiniLMWeights:
    """Our weights from a pretrained.Reference (transformers' MiniLM)."""
    return from_model(reference.model, dtype)


def reference_model(model, dtype: torch.dtype):
    """transformers' model in `dtype`: the model itself if it already is, else a converted deep
    copy (the shared model is never changed)."""
    if next(model.parameters()).dtype == dtype:
        return model
    return copy.deepcopy(model).to(dtype).eval()


# ----- the replay ----------------------------------------------------------------------------


@dataclass(frozen=True)
class EmbeddingTrace:
    """BERT's input: x_t = LN(W_word[id_t] + W_type[s_t] + P_t); every field (B, T, E)."""

    word: torch.Tensor
    token_type: torch.Tensor
    position: torch.Tensor  # (1, T, E): the same rows for every item
    total: torch.Tensor  # the sum, before the LayerNorm
    norm: LayerNormTrace

    @property
    def output(self) -> torch.Tensor:
        return self.norm.output


def embed(weights: MiniLMWeights, input_ids: torch.Tensor, token_type_ids: torch.Tensor | None = None) -> EmbeddingTrace:
    """The three embeddings of every token, summed and layer-normalised (input_ids (B, T))."""
    P = weights.embeddings
    T = input_ids.shape[1]
    check("tokens", T)
    token_type_ids = torch.zeros_like(input_ids) if token_type_ids is None else token_type_ids
    word, token_type = P.word[input_ids], P.token_type[token_type_ids]
    # (T, E) → (1, T, E): position t's row, shared by the batch
    position = P.position[:T][None]
    # x_t = W_word[id_t] + W_type[s_t] + P_t (transformers adds them in this order)
    total = word + token_type + position
    norm = layer_norm(total, P.norm.weight, P.norm.bias, weights.config.eps)
    return EmbeddingTrace(word, token_type, position, total, norm)


@dataclass(frozen=True)
class ReplayTrace:
    """MiniLM run by our engine: the embeddings, then every encoder block's full trace."""

    embeddings: EmbeddingTrace
    layers: tuple[EncoderTrace, ...]
    attention_mask: torch.Tensor | None  # (B, T) bool, True = real token

    @property
    def hidden_states(self) -> tuple[torch.Tensor, ...]:
        """N + 1 tensors (B, T, E): the embeddings' output, then each layer's; as transformers'
        output_hidden_states."""
        return (self.embeddings.output, *(layer.output for layer in self.layers))

    @property
    def attentions(self) -> tuple[torch.Tensor, ...]:
        """N tensors (B, h, T, T), as transformers' output_attentions."""
        return tuple(layer.weights for layer in self.layers)

    @property
    def output(self) -> torch.Tensor:
        return self.layers[-1].output


def replay(weights: MiniLMWeights, input_ids: torch.Tensor, token_type_ids: torch.Tensor | None = None,
           attention_mask: torch.Tensor | None = None) -> ReplayTrace:
    """h_0 = embed(ids); h_l = EncoderBlock_l(h_{l−1}) post-LN with GELU, for l = 1 … N.
    attention_mask (B, T), True/1 = real token: padding is never attended to."""
    c = weights.config
    mask = None if attention_mask is None else attention_mask.bool()
    with torch.no_grad():
        emb = embed(weights, input_ids, token_type_ids)
        h, layers = emb.output, []
        for params in weights.layers:
            # h_l = LN(z + FFN(z)), z = LN(h_{l−1} + MHA(h_{l−1}))
            block = encoder_block(h, params, c.h, norm_first=False, activation=c.activation,
                                  key_padding_mask=mask, eps=c.eps)
            layers.append(block)
            h = block.output
    return ReplayTrace(emb, tuple(layers), mask)


def replay_encoded(weights: MiniLMWeights, encoded: Encoded) -> ReplayTrace:
    return replay(weights, encoded.input_ids, encoded.token_type_ids, encoded.attention_mask)


# ----- transformers' run, and the comparison ---------------------------------------------------


@dataclass(frozen=True)
class ReferenceTrace:
    """transformers' output_hidden_states (N + 1 × (B, T, E)) and output_attentions (N × (B, h, T, T))."""

    hidden_states: tuple[torch.Tensor, ...]
    attentions: tuple[torch.Tensor, ...]


def reference_run(model, encoded: Encoded) -> ReferenceTrace:
    """transformers' BertModel (eager attention) on the same ids, in the model's own dtype."""
    with torch.no_grad():
        out = model(input_ids=encoded.input_ids, token_type_ids=encoded.token_type_ids,
                    attention_mask=encoded.attention_mask.long(), output_hidden_states=True,
                    output_attentions=True)
    return ReferenceTrace(tuple(out.hidden_states), tuple(out.attentions))


@dataclass(frozen=True)
class LayerGap:
    """max |ours − transformers'| at one depth: layer 0 is the embeddings (no attention)."""

    layer: int
    hidden: float
    attention: float | None


@dataclass(frozen=True)
class Comparison:
    dtype: torch.dtype
    gaps: tuple[LayerGap, ...]

    @property
    def tolerance(self) -> float:
        return TOLERANCE[self.dtype]

    @property
    def max_hidden(self) -> float:
        return max(g.hidden for g in self.gaps)

    @property
    def max_attention(self) -> float:
        return max(g.attention for g in self.gaps if g.attention is not None)

    @property
    def max_abs(self) -> float:
        return max(self.max_hidden, self.max_attention)

    @property
    def ok(self) -> bool:
        return self.max_abs <= self.tolerance


def _gap(a: torch.Tensor, b: torch.Tensor, real: torch.Tensor | None) -> float:
    """max |a − b| over the real tokens' rows: a, b (B, T, E) or (B, h, T, S); real (B, T) bool."""
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {tuple(a.shape)} and {tuple(b.shape)}")
    if real is not None and a.dim() == 4:
        # (B, h, T, S) → (B, T, h, S): one row of weights per query, so the mask picks queries
        a, b = a.transpose(1, 2), b.transpose(1, 2)
    if real is not None:
        a, b = a[real], b[real]
    # max |Δ| = max_i |a_i − b_i|
    return float((a - b).abs().max())


def compare(trace: ReplayTrace, reference: ReferenceTrace) -> Comparison:
    """Per depth, max |Δ| of the hidden states and of the attention weights, over every item,
    head and real token. Padding positions are left out: their rows are computed (attending to
    the real tokens only) but mean nothing and are never used, and their float32 rounding runs
    larger (a [PAD] row is far from anything the model was trained on)."""
    ours, theirs = trace.hidden_states, reference.hidden_states
    if len(ours) != len(theirs) or len(trace.attentions) != len(reference.attentions):
        raise ValueError(f"{len(ours)} hidden states against {len(theirs)}")
    real = trace.attention_mask
    gaps = [LayerGap(0, _gap(ours[0], theirs[0], real), None)]
    for l, (A, A_ref) in enumerate(zip(trace.attentions, reference.attentions), start=1):
        gaps.append(LayerGap(l, _gap(ours[l], theirs[l], real), _gap(A, A_ref, real)))
    return Comparison(ours[0].dtype, tuple(gaps))


@dataclass(frozen=True)
class ReplayRun:
    """One text through our engine and transformers, in float32 and in float64."""

    encoded: Encoded
    trace32: ReplayTrace
    trace64: ReplayTrace
    float32: Comparison
    float64: Comparison


def replay_and_compare(weights32: MiniLMWeights, weights64: MiniLMWeights, model32, model64,
                       encoded: Encoded) -> ReplayRun:
    """Our replay beside transformers' in both dtypes (model64 = reference_model(model, float64))."""
    trace32, trace64 = replay_encoded(weights32, encoded), replay_encoded(weights64, encoded)
    return ReplayRun(encoded, trace32, trace64, compare(trace32, reference_run(model32, encoded)),
                     compare(trace64, reference_run(model64, encoded)))


# ----- one query's scores, written out ------------------------------------------------------------


@dataclass(frozen=True)
class QueryScores:
    """Query i of one head in one layer against keys j: s_ij = q_i·k_j/√d_k, a_ij = softmax_j."""

    layer: int  # 1 … N
    head: int  # 0 … h − 1
    query: int
    keys: tuple[int, ...]
    q: torch.Tensor  # (d_k,)
    k: torch.Tensor  # (len(keys), d_k)
    dots: torch.Tensor  # (len(keys),) q_i·k_j
    scaled: torch.Tensor  # (len(keys),) q_i·k_j / √d_k
    weights: torch.Tensor  # (len(keys),) a_ij of the full softmax over every key
    row_sum: float  # Σ_j a_ij over every key: 1
    d_k: int


def query_scores(trace: ReplayTrace, layer: int, head: int, query: int, n_keys: int = 4,
                 item: int = 0) -> QueryScores:
    """The written-out scores of one query against the first n_keys keys."""
    if not 1 <= layer <= len(trace.layers):
        raise ValueError(f"layer must be 1 … {len(trace.layers)}, got {layer}")
    mh = trace.layers[layer - 1].attention
    h, T, d_k = mh.q.shape[1], mh.q.shape[2], mh.q.shape[3]
    if not (0 <= head < h and 0 <= query < T and n_keys >= 1):
        raise ValueError(f"head must be 0 … {h - 1} and query 0 … {T - 1}; got {head}, {query}")
    keys = tuple(range(min(n_keys, T)))
    q, k = mh.q[item, head, query], mh.k[item, head, list(keys)]
    # s_ij = q_i·k_j
    dots = k @ q
    A = mh.heads.weights[item, head, query]
    return QueryScores(layer, head, query, keys, q, k, dots, mh.heads.scaled[item, head, query, list(keys)],
                       A[list(keys)], float(A.sum()), int(d_k))


# ----- the parameter count -------------------------------------------------------------------------


@dataclass(frozen=True)
class ParamPart:
    """One part of the model: `formula` from its tensors' shapes, `count` from their sizes."""

    part: str  # word, position, token_type, embedding_norm, attention, attention_norm, ffn, ffn_norm, pooler
    formula: str
    count: int


@dataclass(frozen=True)
class ParamCount:
    parts: tuple[ParamPart, ...]

    @property
    def total(self) -> int:
        return sum(p.count for p in self.parts)

    def of(self, part: str) -> int:
        return next(p.count for p in self.parts if p.part == part)


def _numel(*tensors) -> int:
    return sum(t.numel() for t in tensors if t is not None)


def param_count(weights: MiniLMWeights) -> ParamCount:
    """Parameters by part, counted from the weights (the attention's stacked in_proj counts W_Q,
    W_K, W_V and their biases once each)."""
    c, e, L = weights.config, weights.embeddings, weights.layers
    E, N, F = c.d_model, len(L), c.d_ff
    parts = [ParamPart("word", f"{e.word.shape[0]}·{E}", _numel(e.word)),
             ParamPart("position", f"{e.position.shape[0]}·{E}", _numel(e.position)),
             ParamPart("token_type", f"{e.token_type.shape[0]}·{E}", _numel(e.token_type)),
             ParamPart("embedding_norm", f"2·{E}", _numel(e.norm.weight, e.norm.bias))]
    per_layer = {
        # W_Q, W_K, W_V, W_O and their biases
        "attention": (f"{N}·(4·{E}·{E} + 4·{E})", lambda p: _numel(*vars(p.self_attn).values())),
        "attention_norm": (f"{N}·2·{E}", lambda p: _numel(p.norm1.weight, p.norm1.bias)),
        "ffn": (f"{N}·(2·{E}·{F} + {F} + {E})", lambda p: _numel(*vars(p.ffn).values())),
        "ffn_norm": (f"{N}·2·{E}", lambda p: _numel(p.norm2.weight, p.norm2.bias)),
    }
    parts += [ParamPart(name, formula, sum(size(p) for p in L)) for name, (formula, size) in per_layer.items()]
    if weights.pooler is not None:
        parts.append(ParamPart("pooler", f"{E}·{E} + {E}", _numel(weights.pooler.weight, weights.pooler.bias)))
    return ParamCount(tuple(parts))
