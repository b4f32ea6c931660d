"""engine.models.minilm_hf: the learner's text through transformers' MiniLM. The trace holds the
real WordPiece pieces (special tokens, '##' continuations, token types of a pair), attention
weights whose rows sum to 1, and a sentence embedding equal to a hand-written masked mean then
L2 normalisation of the model's last hidden states; bad text is cleaned, cut or refused with a
code."""

from __future__ import annotations

import pytest
import torch

import engine.models.minilm_hf as mh
from engine.limits import LimitError

f64 = torch.float64


def test_single_sentence_trace(minilm_ref):
    tr = mh.run(minilm_ref, "The cat sat, unbelievably.")
    tok = tr.tokens
    assert tok.pieces[0] == "[CLS]" and tok.pieces[-1] == "[SEP]"
    assert tok.special == (True,) + (False,) * (tok.T - 2) + (True,)
    assert "##bel" in tok.pieces and "un" in tok.pieces  # one word, several pieces
    assert not tok.truncated and tok.token_type_ids.eq(0).all()
    # the pieces are the vocabulary's: ids and pieces agree, and decode to the lowercased text
    assert list(tok.pieces) == minilm_ref.tokenizer.convert_ids_to_tokens(tok.ids.tolist())
    assert minilm_ref.tokenizer.decode(tok.ids.tolist(), skip_special_tokens=True) == "the cat sat, unbelievably."
    L, H, T = 6, 12, tok.T
    assert tr.attentions.shape == (L, H, T, T) and tr.hidden.shape == (L + 1, T, 384)
    torch.testing.assert_close(tr.attentions.sum(-1), torch.ones(L, H, T), rtol=0, atol=1e-5)
    assert (tr.attentions >= 0).all()
    assert mh.pieces_of(tok) == {"special": 2, "continuation": sum(p.startswith("##") for p in tok.pieces),
                                 "word": T - 2 - sum(p.startswith("##") for p in tok.pieces)}


def test_embedding_is_the_mean_over_the_mask_then_normalised(minilm_ref):
    text = "A man is eating food."
    tr = mh.run(minilm_ref, text)
    enc = minilm_ref.tokenizer(text, return_tensors="pt")
    with torch.inference_mode():
        last = minilm_ref.model(**enc).last_hidden_state[0].to(f64)  # (T, d)
    torch.testing.assert_close(tr.hidden[-1].to(f64), last, rtol=0, atol=1e-5)
    T, d = last.shape
    u = torch.zeros(d, dtype=f64)
    for t in range(T):  # every mask entry is 1 for a single sentence
        u += last[t] / T
    norm = sum(float(x) ** 2 for x in u) ** 0.5
    torch.testing.assert_close(tr.embedding, u / norm, rtol=0, atol=1e-6)
    assert float(tr.embedding.norm()) == pytest.approx(1.0, abs=1e-12)
    assert mh.embedding_gap(tr.hidden[-1:].to(f64), torch.ones(1, T), tr.pooled.e) < 1e-12


def test_pair_has_two_segments(minilm_ref):
    tr = mh.run(minilm_ref, "A man is eating.", "Someone eats food.")
    tok = tr.tokens
    seps = tok.positions("[SEP]")
    assert tok.positions("[CLS]") == [0] and len(seps) == 2 and seps[1] == tok.T - 1
    types = tok.token_type_ids.tolist()
    assert types == [0] * (seps[0] + 1) + [1] * (tok.T - seps[0] - 1)


def test_similarity_batch_with_padding(minilm_ref):
    lines = "A man is eating food.\n\nA man is eating a piece of bread.\nThe girl is carrying a baby."
    sim = mh.compare(minilm_ref, lines)
    assert sim.sentences == ("A man is eating food.", "A man is eating a piece of bread.",
                             "The girl is carrying a baby.")
    assert sim.dropped == 0 and not any(sim.truncated)
    n = len(sim.sentences)
    torch.testing.assert_close(sim.cos, sim.cos.T, rtol=0, atol=0)
    torch.testing.assert_close(torch.diagonal(sim.cos), torch.ones(n, dtype=f64), rtol=0, atol=1e-12)
    # padding is masked out: each sentence embedded alone gives the same vector as in the batch
    for i, s in enumerate(sim.sentences):
        torch.testing.assert_close(sim.pooled.e[i], mh.run(minilm_ref, s).embedding, rtol=0, atol=1e-5)
    assert sim.n_tokens[0] < sim.n_tokens[1]  # a shorter sentence, padded in the batch
    assert sim.cos[0, 1] > sim.cos[0, 2]  # two sentences about eating are closer than an unrelated one


def test_text_is_cleaned_cut_and_refused():
    c = mh.clean_text("a\u200bb\x07c\ufeff\td")
    assert c.text == "abc d" and c.removed == 3 and c.cut == 0
    long = mh.clean_text("x" * (mh.MAX_CHARS + 5))
    assert len(long.text) == mh.MAX_CHARS and long.cut == 5
    for empty in ("", "   ", "\u200b\u200d\n"):
        with pytest.raises(mh.EncoderError) as e:
            mh.clean_text(empty)
        assert e.value.code == "empty_text"
    with pytest.raises(LimitError):
        mh.clean_text("a", max_chars=0)


def test_long_text_is_truncated_to_the_token_bound(minilm_ref):
    tr = mh.run(minilm_ref, "word " * 100)
    assert tr.tokens.T == mh.MAX_TOKENS and tr.tokens.truncated and tr.tokens.n_full == 102
    assert tr.tokens.pieces[-1] == "[SEP]"
    with pytest.raises(LimitError):
        mh.tokenize(minilm_ref.tokenizer, "a", max_tokens=mh.MAX_TOKENS + 1)


def test_sentences_are_bounded():
    lines, dropped = mh.split_sentences("\n".join(f"s{i}" for i in range(11)))
    assert len(lines) == mh.MAX_SENTENCES and dropped == 11 - mh.MAX_SENTENCES
    with pytest.raises(mh.EncoderError):
        mh.split_sentences("\n \n\u200b")
    with pytest.raises(LimitError):
        mh.split_sentences("a", max_sentences=1)


def test_vocab_report_counts_what_the_tokenizer_did(minilm_ref):
    text = "我爱北京天安门 hello"
    r = mh.vocab_report(minilm_ref.tokenizer, text)
    pieces = minilm_ref.tokenizer.tokenize(text)
    assert r.n_tokens == len(pieces) and r.n_unk == pieces.count("[UNK]")
    assert r.n_cjk == 7 and r.cjk_tokens == 7 and r.cjk_single == 7  # one character, one token
    assert set(r.known) | set(r.unknown) == set("我爱北京天安门")
    assert all(minilm_ref.tokenizer.tokenize(c) == ["[UNK]"] for c in r.unknown)
    assert all(minilm_ref.tokenizer.tokenize(c) == [c] for c in r.known)
    assert mh.vocab_report(minilm_ref.tokenizer, "plain english").n_cjk == 0


def test_similarity_gap_is_rounding_only(minilm_ref):
    sim = mh.compare(minilm_ref, "short.\na somewhat longer sentence, padded less.\n我爱门")
    assert sim.mask.sum(1).tolist() == list(sim.n_tokens)
    assert sim.n_unk == (0, 0, 2)  # 爱 and 门 are not in the vocabulary (checked in the vocab report test)
    assert mh.similarity_gap(sim) < 1e-12


def test_closest_pair_skips_the_diagonal():
    cos = torch.tensor([[1.0, 0.2, 0.7], [0.2, 1.0, 0.9], [0.7, 0.9, 1.0]], dtype=f64)
    assert mh.closest_pair(cos) == mh.Pair(i=1, j=2, cos=0.9)
    assert mh.closest_pair(torch.ones(1, 1, dtype=f64)) is None
