"""The one home for removing invisible characters from a learner's text."""

import pytest

from engine.data.text_clean import invisible, strip_invisible


@pytest.mark.parametrize("ch", ["\u200b", "\u200c", "\u200d", "\ufeff", "\u202e", "\x00", "\x07", "\x7f",
                                "\x85", "\ue000"])
def test_invisible_characters_are_removed_and_named(ch):
    s = strip_invisible(f"a{ch}b{ch}")
    assert s.text == "ab" and s.count == 2 and s.codes == (f"U+{ord(ch):04X}",)


def test_visible_text_tab_and_newlines_are_kept_by_default():
    text = "The cat\tsat\non the mat.\r\n 我爱你 😀 é"
    s = strip_invisible(text)
    assert s.text == text and s.count == 0 and s.codes == ()


def test_keep_chooses_which_controls_stay():
    s = strip_invisible("a\tb\nc\rd", keep="\n")
    assert s.text == "ab\ncd" and s.count == 2 and s.codes == ("U+0009", "U+000D")
    assert invisible("\t", keep="") and not invisible("\t")
