"""The next-token page under AppTest: renders, tokens and the distribution follow the prompt, the
settings' steps, generation kept across reruns and setting changes, and every bad input refused
with a translated message (nothing lost)."""

from __future__ import annotations

import json

import pytest
from streamlit.testing.v1 import AppTest

import lessons
from tests.pages.apptest import open_page

PAGE = "views/real_lm/page.py"


@pytest.fixture(scope="module", autouse=True)
def _models_loaded():
    """The page's cached loaders filled before the first AppTest run, so that run's 30 s timeout
    measures the page, not a cold model load on a busy machine."""
    from widgets.real_models import smollm_engine, smollm_tokenizer

    smollm_tokenizer()
    smollm_engine()


def _app(lang: str = "en", **state) -> AppTest:
    return open_page(PAGE, lang, **state)


def _text(at: AppTest) -> str:
    parts = [str(e.value) for e in [*at.title, *at.header, *at.markdown, *at.latex, *at.caption,
                                    *at.info, *at.warning, *at.error, *at.success]]
    parts += [b.label for b in at.button] + [s.label for s in at.slider]
    return "\n".join(parts)


def _msg(key: str, lang: str = "en", **fmt) -> str:
    return lessons.text("smollm", key, lang, **fmt)


def _ok(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def _generated(at: AppTest) -> list:
    return [row["step"]["token_id"] for row in at.session_state["lm_continuation"]["shown"]]


def test_page_renders_tokens_distribution_steps_and_check():
    at = _app()
    assert at.title[0].value == _msg("title")
    text = _text(at)
    assert "⟦" not in text
    assert "`The`₅₀₄ `␣capital`₃₅₇₅" in text  # the default prompt's pieces and ids
    bars = json.loads(at.get("plotly_chart")[0].proto.spec)
    q = bars["data"][1]["y"]
    assert len(q) == 20 and q[0] > 0.3  # " Paris" leads, with most of the mass
    assert "Paris" in bars["layout"]["xaxis"]["ticktext"][0]
    assert any("top-p" in m.value and "p = 0.9" in m.value for m in at.markdown)
    assert at.metric[0].value == "0.00e+00"  # our q equals transformers' warpers


def test_generation_is_kept_across_setting_changes_and_seeded():
    at = _app()
    at.button(key="lm_next").click().run()
    at.button(key="lm_next").click().run()
    _ok(at)
    two = _generated(at)
    assert len(two) == 2
    at.slider(key="lm_T").set_value(1.5).run()  # a control change keeps the continuation
    _ok(at)
    assert _generated(at) == two
    at.button(key="lm_clear").click().run()
    assert _generated(at) == []
    at.slider(key="lm_T").set_value(0.8).run()
    at.slider(key="lm_n").set_value(2).run()
    at.button(key="lm_gen").click().run()  # "Generate 2" = "Next token" twice, same seed
    _ok(at)
    assert _generated(at) == two
    at.text_area(key="lm_prompt").set_value("Once upon a time").run()  # a new prompt, a new continuation
    assert _generated(at) == []
    at.button(key="lm_next").click().run()
    once = _generated(at)
    at.switch_page("views/home.py").run()  # away and back: the prompt and its continuation stay
    at.switch_page(PAGE).run()
    _ok(at)
    assert at.text_area(key="lm_prompt").value == "Once upon a time" and _generated(at) == once


def test_greedy_at_temperature_zero_is_said_and_deterministic():
    at = _app()
    at.slider(key="lm_T").set_value(0.0).run()
    _ok(at)
    assert any(i.value == _msg("greedy_note") for i in at.info)
    at.button(key="lm_next").click().run()
    row = at.session_state["lm_continuation"]["shown"][0]
    assert row["step"]["q"] == 1.0 and row["step"]["rank"] == 0 and row["piece"] == "␣Paris"


@pytest.mark.parametrize("key,value,message", [
    ("lm_p", 0.0, ("err_bad_top_p", "ignored_top_p")), ("lm_p", 1.5, ("err_bad_top_p", "ignored_top_p")),
    ("lm_k", 0, ("err_bad_top_k", "ignored_top_k")),
])
def test_bad_settings_get_a_message_and_the_page_keeps_working(key, value, message):
    at = _app()
    at.button(key="lm_next").click().run()
    kept = _generated(at)
    at.number_input(key=key).set_value(value).run()
    _ok(at)
    errors = [e.value for e in at.error]
    assert any(_msg(message[1]) in e and e.startswith(_msg(message[0], value=value)[:20]) for e in errors), errors
    assert at.get("plotly_chart") and _generated(at) == kept


def test_bad_prompts_empty_too_long_and_invisible_characters():
    at = _app()
    at.button(key="lm_next").click().run()
    kept = _generated(at)
    at.text_area(key="lm_prompt").set_value("  \u200b\n ").run()
    _ok(at)
    assert any(w.value == _msg("err_empty_prompt") for w in at.warning)
    assert at.session_state["lm_continuation"]["shown"] and _generated(at) == kept  # nothing lost
    at.text_area(key="lm_prompt").set_value("The capital\u200b of France\x07 is").run()
    _ok(at)
    assert any(i.value == _msg("removed_chars", n=2) for i in at.info)
    assert _generated(at) == kept  # the same tokens once cleaned: the same continuation
    at.text_area(key="lm_prompt").set_value("one two three four " * 40).run()
    _ok(at)
    assert any(w.value == _msg("truncated", n=96) for w in at.warning)


def test_chinese_smoke():
    at = _app("zh")
    assert at.title[0].value == _msg("title", "zh")
    text = _text(at)
    assert "⟦" not in text
    for key in ("intuition", "distribution", "generation"):
        assert lessons.section("smollm", key, "en")[:40] not in text
    assert _msg("dist_header", "zh") in text and _msg("step_renormalise", "en", n=1, mass="x")[:20] not in text
