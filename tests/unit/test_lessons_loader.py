"""The lesson loader: sections, fallbacks, and Chinese soft line breaks."""

import lessons


def test_sections_split_on_markers(tmp_path, monkeypatch):
    (tmp_path / "en").mkdir()
    (tmp_path / "en" / "demo.md").write_text(
        "preamble\n<!-- section: a -->\nfirst\n<!-- section: b-2 -->\nsecond\n", encoding="utf-8")
    monkeypatch.setattr(lessons, "HERE", tmp_path)
    lessons.lesson.cache_clear()
    try:
        assert lessons.lesson("demo", "en") == {"a": "first", "b-2": "second"}
        assert lessons.section("demo", "missing", "en") == "⟦demo/en.md:missing⟧"
    finally:
        lessons.lesson.cache_clear()


def test_chinese_soft_line_breaks_are_joined(tmp_path, monkeypatch):
    (tmp_path / "zh").mkdir()
    (tmp_path / "zh" / "demo.md").write_text(
        "<!-- section: a -->\n第一行，\n第二行。\n\n新段落 PyTorch\n中文\n- 列表\n- 项目\n", encoding="utf-8")
    monkeypatch.setattr(lessons, "HERE", tmp_path)
    lessons.lesson.cache_clear()
    try:
        text = lessons.section("demo", "a", "zh")
    finally:
        lessons.lesson.cache_clear()
    assert "第一行，第二行。" in text  # no stray space between Chinese characters
    assert "\n\n新段落" in text  # paragraph breaks stay
    assert "PyTorch\n中文" in text  # a break after a Latin word stays (renders as a space)
    assert "- 列表\n- 项目" in text  # list items stay on their own lines


def test_missing_key_is_visible():
    assert lessons.text("home", "no_such_key", "zh") == "⟦home:no_such_key⟧"
    assert lessons.text("home", "title", "zh") == "神经网络数学实验室"
    assert lessons.text("common", "device_badge", "en", name="CPU") == "Computing on: CPU"
