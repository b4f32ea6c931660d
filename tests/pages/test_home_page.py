"""The home page and the shared sidebar under AppTest: in English, one Chinese smoke test, and the
language carried across pages."""

from pathlib import Path

from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[2]


def _app(lang: str = "en") -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=30)
    # Set the language before the first run: AppTest loses a sidebar widget's value set with
    # set_value() on later runs (the real browser keeps it; the browser tests check that).
    at.session_state["lang"] = lang
    at.run()
    assert not at.exception
    return at


def _all_text(at: AppTest) -> str:
    parts = [e.value for e in at.markdown] + [e.value for e in at.title] + [e.value for e in at.caption]
    return "\n".join(str(p) for p in parts)


def test_home_renders():
    at = _app()
    assert at.title[0].value == "Neural Math Lab"
    assert "⟦" not in _all_text(at)


def test_chinese_smoke(monkeypatch):
    monkeypatch.delenv("NML_DATA_DIR", raising=False)
    at = _app("zh")
    text = _all_text(at)
    assert at.title[0].value == "神经网络数学实验室"
    assert "⟦" not in text
    assert "即将推出" not in text  # every lesson on the map has shipped
    assert "NML_DATA_DIR" in text  # the data section says how to add a dataset, in Chinese too


def test_model_summary_is_computed_from_the_model():
    at = _app()
    frame = at.dataframe[0].value
    params = [int(v.replace(",", "")) for v in frame.iloc[:, 2]]
    assert sum(params) == 93_322
    assert [p for p in params if p] == [320, 18_496, 36_928, 36_928, 650]
    assert "(None, 32, 26, 26)" in list(frame.iloc[:, 1])


def test_lesson_map_links_every_lesson():
    at = _app()
    text = _all_text(at)
    # every lesson on the map has shipped: links, nothing "coming"
    assert "*coming*" not in text


def test_language_persists_across_pages():
    at = _app("zh")
    at.switch_page("views/conv.py").run()
    assert not at.exception
    assert at.sidebar.radio[0].value == "zh"
    at.switch_page("views/home.py").run()
    assert at.title[0].value == "神经网络数学实验室"


def test_data_section_says_how_to_add_missing_datasets(monkeypatch):
    """Learners see which datasets the server has; the set-up steps (for whoever runs the server)
    sit in an "About this server" expander, not in the learner's text."""
    monkeypatch.delenv("NML_DATA_DIR", raising=False)
    at = _app()
    text = _all_text(at)
    assert "NML_DATA_DIR" in text and "⟦" not in text
    about = next(e for e in at.expander if e.label.startswith("About this server"))
    assert any("NML_DATA_DIR" in m.value for m in about.markdown)
    outside = [m.value for m in at.markdown if "NML_DATA_DIR" in m.value]
    assert len(outside) == 1  # the one inside the expander


def test_lesson_map_covers_every_page_of_the_sidebar():
    """Every page app.py routes to (except home itself) has a link on the home page's map."""
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]

    def page_paths(file: str) -> set[str]:
        tree = ast.parse((root / file).read_text())
        return {n.value for n in ast.walk(tree)
                if isinstance(n, ast.Constant) and isinstance(n.value, str)
                and n.value.startswith("views/") and n.value.endswith(".py")}

    routed = page_paths("app.py") - {"views/home.py"}
    assert routed and routed == page_paths("views/home.py")


def test_the_language_comes_from_the_address_and_stays_in_it():
    """?lang=zh (a bookmark, a reload, a shared link) opens in Chinese and the address keeps it;
    English, the default, leaves the address clean; an unknown value is ignored."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=30)
    at.query_params["lang"] = "zh"
    at.run()
    assert not at.exception and at.session_state["lang"] == "zh"
    assert at.query_params["lang"] == "zh"
    at.switch_page("views/conv.py").run()
    assert at.session_state["lang"] == "zh" and at.query_params["lang"] == "zh"
    plain = _app("en")
    assert "lang" not in plain.query_params
    odd = AppTest.from_file(str(ROOT / "app.py"), default_timeout=30)
    odd.query_params["lang"] = "<script>"
    odd.run()
    assert not odd.exception and odd.session_state["lang"] == "en" and "lang" not in odd.query_params
