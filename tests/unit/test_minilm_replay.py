"""MiniLM replayed by our own engine (engine.models.minilm): every layer's hidden states and
attention weights equal transformers' (≤ 1e-4 in float32, ≤ 1e-10 when both run in float64),
on a sentence, a sentence pair and a padded batch; the weights, the parameter count and one
query's written-out scores; the learner's text (engine.models.minilm_text)."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from engine.limits import LimitError
from engine.models import minilm as M
from engine.models import minilm_text as MT
from tests.unit.test_formula_comments import evaluate

SENTENCE = "The quick brown fox jumps over the lazy dog."
PAIR = ("Where is the station?", "It is two streets away, next to the old bakery.")
BATCH = ["Attention is all you need.", "Hi!", "Tokenization splits unbelievable words into pieces."]


@pytest.fixture(scope="module")
def weights32(minilm_ref):
    return M.load(minilm_ref)


@pytest.fixture(scope="module")
def float64(minilm_ref):
    """Our float64 weights and a float64 deep copy of transformers' model (the fixture's stays float32)."""
    model64 = M.reference_model(minilm_ref.model, torch.float64)
    assert model64 is not minilm_ref.model
    assert next(minilm_ref.model.parameters()).dtype == torch.float32
    weights64 = M.from_model(model64, torch.float64)
    # our float64 weights share the copy's tensors (the page keeps one float64 model, not two)
    assert weights64.embeddings.word.data_ptr() == model64.embeddings.word_embeddings.weight.data_ptr()
    return weights64, model64


def _inputs(tok):
    return {"sentence": MT.encode(tok, SENTENCE), "pair": MT.encode(tok, PAIR[0], [PAIR[1]]),
            "batch": MT.encode(tok, BATCH)}


@pytest.fixture(scope="module")
def inputs(minilm_ref):
    return _inputs(minilm_ref.tokenizer)


@pytest.mark.parametrize("case", ["sentence", "pair", "batch"])
def test_every_layer_equals_transformers_in_float32(minilm_ref, weights32, inputs, case):
    enc = inputs[case]
    trace = M.replay_encoded(weights32, enc)
    cmp = M.compare(trace, M.reference_run(minilm_ref.model, enc))
    assert cmp.dtype == torch.float32 and len(cmp.gaps) == 7
    assert [g.attention is None for g in cmp.gaps] == [True] + [False] * 6
    assert cmp.max_hidden <= 1e-4 and cmp.max_attention <= 1e-4 and cmp.ok
    # the replay ran in float32 and its weights are attention weights
    for A in trace.attentions:
        assert A.dtype == torch.float32 and A.shape == (enc.input_ids.shape[0], 12, enc.T, enc.T)
        torch.testing.assert_close(A.sum(-1), torch.ones(A.shape[:-1]), atol=1e-5, rtol=0)


@pytest.mark.parametrize("case", ["sentence", "pair", "batch"])
def test_every_layer_equals_transformers_in_float64(float64, inputs, case):
    weights64, model64 = float64
    enc = inputs[case]
    trace = M.replay_encoded(weights64, enc)
    cmp = M.compare(trace, M.reference_run(model64, enc))
    assert cmp.dtype == torch.float64
    assert cmp.max_hidden <= 1e-10 and cmp.max_attention <= 1e-10 and cmp.ok
    assert all(h.dtype == torch.float64 for h in trace.hidden_states)


def test_padding_is_masked_and_changes_nothing(minilm_ref, float64, inputs):
    weights64, _ = float64
    enc = inputs["batch"]
    assert enc.lengths[1] < enc.T  # "Hi!" is padded
    trace = M.replay_encoded(weights64, enc)
    for b, text in enumerate(BATCH):
        n = enc.lengths[b]
        alone = M.replay_encoded(weights64, MT.encode(minilm_ref.tokenizer, text))
        assert alone.output.shape[1] == n
        # the padded batch's real rows equal the sentence run alone
        assert (trace.output[b, :n] - alone.output[0]).abs().max() <= 1e-10
        for A in trace.attentions:
            # no query attends to a padding key
            assert int((A[b, :, :, n:] != 0).sum()) == 0


def test_the_trace_is_the_engines_own_blocks(weights32, inputs):
    """The weights sit in our parameter records (W_in stacks BERT's query, key, value); a changed
    W_O in layer 3 changes the replay from layer 3 on, and compare sees it."""
    enc = inputs["sentence"]
    L = weights32.layers[2]
    E = weights32.config.d_model
    assert L.self_attn.in_proj_weight.shape == (3 * E, E)
    changed = dataclasses.replace(L, self_attn=dataclasses.replace(
        L.self_attn, out_proj_weight=L.self_attn.out_proj_weight * 1.01))
    layers = (*weights32.layers[:2], changed, *weights32.layers[3:])
    broken = M.replay_encoded(dataclasses.replace(weights32, layers=layers), enc)
    good = M.replay_encoded(weights32, enc)
    as_reference = M.ReferenceTrace(good.hidden_states, good.attentions)
    cmp = M.compare(broken, as_reference)
    assert [g.hidden for g in cmp.gaps[:3]] == [0.0, 0.0, 0.0]
    assert cmp.gaps[3].hidden > 1e-3 and cmp.gaps[4].attention > 1e-4 and not cmp.ok


def test_config_and_weights_come_from_the_model(minilm_ref, weights32):
    c = weights32.config
    assert (c.d_model, c.h, c.d_k, c.d_ff, c.N, c.eps) == (384, 12, 32, 1536, 6, 1e-12)
    state = minilm_ref.model.state_dict()
    W_Q, W_K, W_V = weights32.layers[4].self_attn.in_proj_weight.chunk(3)
    assert torch.equal(W_K, state["encoder.layer.4.attention.self.key.weight"])
    assert torch.equal(W_V, state["encoder.layer.4.attention.self.value.weight"])
    assert torch.equal(weights32.layers[5].ffn.W_1, state["encoder.layer.5.intermediate.dense.weight"])
    hf = type(minilm_ref.model.config).from_dict({**minilm_ref.model.config.to_dict(), "hidden_act": "relu"})
    with pytest.raises(ValueError, match="GELU"):
        M.MiniLMConfig.from_hf(hf)


def test_our_gelu_is_berts(minilm_ref):
    """BERT's hidden_act "gelu" is the exact (erf) GELU: engine.ops.ffn.gelu, in float64."""
    from transformers.activations import ACT2FN

    from engine.ops.ffn import gelu

    assert minilm_ref.model.config.hidden_act == "gelu"
    a = torch.linspace(-8, 8, 2001, dtype=torch.float64)
    assert (gelu(a) - ACT2FN["gelu"](a)).abs().max() <= 1e-15
    # and not the tanh approximation, which differs by ~1e-4 here
    assert (gelu(a) - ACT2FN["gelu_new"](a)).abs().max() > 1e-5


def test_parameter_count_by_part(minilm_ref, weights32):
    count = M.param_count(weights32)
    assert count.total == sum(p.numel() for p in minilm_ref.model.parameters()) == 22_713_216
    for part in count.parts:
        assert evaluate(part.formula) == part.count, part
    state = minilm_ref.model.state_dict()
    ffn = sum(v.numel() for k, v in state.items() if ".intermediate.dense." in k or
              (".output.dense." in k and ".attention." not in k))
    assert count.of("ffn") == ffn
    assert count.of("word") == 30522 * 384


def test_one_query_written_out(weights32, inputs):
    enc = inputs["pair"]
    trace = M.replay_encoded(weights32, enc)
    s = M.query_scores(trace, layer=2, head=7, query=3, n_keys=4)
    assert s.keys == (0, 1, 2, 3) and s.d_k == 32
    # q and k from the layer's input by hand: rows of X W_Qᵀ + b_Q, head 7's 32 features
    X = trace.hidden_states[1][0]
    P = weights32.layers[1].self_attn
    W_Q, W_K, _ = P.in_proj_weight.chunk(3)
    b_Q, b_K, _ = P.in_proj_bias.chunk(3)
    cols = slice(7 * 32, 8 * 32)
    q = (X[3] @ W_Q.T + b_Q)[cols]
    k = (X[:4] @ W_K.T + b_K)[:, cols]
    torch.testing.assert_close(s.q, q, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(s.dots, k @ q, atol=1e-3, rtol=1e-4)
    torch.testing.assert_close(s.scaled, s.dots / math.sqrt(32), atol=1e-5, rtol=1e-5)
    row = torch.softmax(trace.layers[1].attention.heads.scaled[0, 7, 3], -1)
    torch.testing.assert_close(s.weights, row[:4])
    assert abs(s.row_sum - 1) < 1e-5
    with pytest.raises(ValueError):
        M.query_scores(trace, layer=7, head=0, query=0)


# ----- the learner's text ----------------------------------------------------------------------


@pytest.mark.parametrize("text", ["The Cat   sat on the MAT.", "Hello, world! It is 2024.",
                                  "  Tokenization splits unbelievable words\tinto pieces. "])
def test_tokenizer_round_trip(minilm_ref, text):
    tok = minilm_ref.tokenizer
    enc = MT.encode(tok, text)
    pieces = enc.tokens[0]
    assert pieces[0] == "[CLS]" and pieces[-1] == "[SEP]"
    vocab = tok.get_vocab()
    assert all(p in vocab for p in pieces)
    assert [vocab[p] for p in pieces] == enc.input_ids[0].tolist()
    # encode → decode gives the lower-cased, whitespace-normalised text
    assert MT.decode(tok, enc) == " ".join(text.lower().split())


def test_a_pair_has_two_segments(inputs):
    enc = inputs["pair"]
    tokens, segments = enc.tokens[0], enc.token_type_ids[0].tolist()
    first_sep = tokens.index("[SEP]")
    assert tokens.count("[SEP]") == 2
    assert segments == [0] * (first_sep + 1) + [1] * (len(tokens) - first_sep - 1)


def test_long_text_is_truncated(minilm_ref):
    tok = minilm_ref.tokenizer
    enc = MT.encode(tok, "word " * 100, max_tokens=16)
    assert enc.T == 16 and enc.truncated and enc.full_lengths == (102,)
    assert enc.tokens[0][-1] == "[SEP]"
    assert not MT.encode(tok, SENTENCE).truncated
    with pytest.raises(LimitError):
        MT.encode(tok, SENTENCE, max_tokens=MT.MAX_TOKENS + 1)


def test_clean_text():
    clean = MT.clean_text("zero\u200bwidth\u00adsoft\x07bell\ufeff and\ttab")
    assert clean.text == "zerowidthsoftbell and\ttab"
    assert clean.removed == ("U+0007", "U+00AD", "U+200B", "U+FEFF") and clean.cut == 0
    assert MT.clean_text("a" * 1005).cut == 5
    for empty in ("", "   ", "\u200b\u200c\n"):
        with pytest.raises(MT.TextError) as e:
            MT.clean_text(empty)
        assert e.value.code == "empty_text"
    assert MT.clean_text("你好，世界").text == "你好，世界"
