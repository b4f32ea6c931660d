"""SmolLM2's prompt: the tokenizer's round trip, no BOS, cleaning, the length bound, readable pieces."""

from __future__ import annotations

import pytest

from engine.limits import BOUNDS, MAX_PROMPT_CHARS, LimitError
from engine.models.lm_prompt import PromptError, byte_decoder, clean, prompt_tokens, readable

TEXTS = [
    "The capital of France is",
    "Hello, world!\nSecond line\twith a tab.",
    "你好，世界！今天天气很好。",
    "Emoji 🙂🚀 and ünïcödé ß",
    "mixed 中文 and English 123",
]


@pytest.mark.parametrize("text", TEXTS)
def test_round_trip_decode_encode_is_the_text(smollm_tok, text):
    ids = smollm_tok.encode(text, add_special_tokens=False)
    assert smollm_tok.decode(ids) == text
    got = prompt_tokens(smollm_tok, text)
    assert got.ids == ids and got.text == text
    assert not got.truncated and got.removed == 0
    assert len(got.pieces) == len(got.ids)


def test_no_bos_token_is_added_consistently_with_transformers(smollm_tok):
    text = "Once upon a time"
    got = prompt_tokens(smollm_tok, text)
    assert smollm_tok(text)["input_ids"] == got.ids
    assert smollm_tok.bos_token_id not in got.ids
    assert got.ids[0] == smollm_tok.convert_tokens_to_ids("Once")


def test_pieces_show_spaces_newlines_and_partial_utf8_bytes(smollm_tok):
    got = prompt_tokens(smollm_tok, "Hello world\nok")
    assert got.pieces[:2] == ["Hello", "␣world"]
    assert "↵" in got.pieces
    # 你 is E4 BD A0 in UTF-8; BPE splits some Chinese characters across tokens
    zh = prompt_tokens(smollm_tok, "你好")
    joined = b"".join(bytes(byte_decoder()[c] for c in smollm_tok.convert_ids_to_tokens(i)) for i in zh.ids)
    assert joined == "你好".encode()
    for i, shown in zip(zh.ids, zh.pieces, strict=True):
        raw = bytes(byte_decoder()[c] for c in smollm_tok.convert_ids_to_tokens(i))
        try:
            assert shown == readable(raw.decode("utf-8"))
        except UnicodeDecodeError:
            assert shown == "⟨" + " ".join(f"{b:02X}" for b in raw) + "⟩"


def test_byte_decoder_is_a_bijection_onto_256_bytes():
    dec = byte_decoder()
    assert sorted(dec.values()) == list(range(256))
    assert dec["Ġ"] == 0x20 and dec["Ċ"] == 0x0A and dec["A"] == 0x41


def test_control_and_zero_width_characters_are_removed_and_counted(smollm_tok):
    dirty = "Hel\u200blo\u200c wor\u200dld\ufeff\x00\x07\x85!\nnext\tline"
    assert clean(dirty).text == "Hello world!\nnext\tline"
    got = prompt_tokens(smollm_tok, dirty)
    assert got.removed == 7
    assert got.ids == smollm_tok.encode("Hello world!\nnext\tline", add_special_tokens=False)


@pytest.mark.parametrize("text", ["", "   \n\t ", "\u200b\u200b", "\x00\x01"])
def test_empty_prompt_after_cleaning_is_a_coded_error(smollm_tok, text):
    with pytest.raises(PromptError) as info:
        prompt_tokens(smollm_tok, text)
    assert info.value.code == "empty_prompt"


def test_long_prompt_is_truncated_to_the_bound(smollm_tok):
    text = "one two three four " * 60
    full = smollm_tok.encode(text, add_special_tokens=False)
    got = prompt_tokens(smollm_tok, text, max_tokens=16)
    assert got.truncated and got.ids == full[:16] and len(got.pieces) == 16
    default = prompt_tokens(smollm_tok, text)
    assert len(default.ids) == BOUNDS["prompt_tokens"].high and default.truncated
    very_long = prompt_tokens(smollm_tok, "a" * (MAX_PROMPT_CHARS + 10))
    assert very_long.truncated
    with pytest.raises(LimitError):
        prompt_tokens(smollm_tok, text, max_tokens=BOUNDS["prompt_tokens"].high + 1)
