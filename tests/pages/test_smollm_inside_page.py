"""The "Inside the language model" page (views/real_inside/) under AppTest, in English (one
Chinese smoke test): the prompt's tokens, the attention maps and the grouped-query sharing, RoPE
with its numbers, the logit lens and the parameter count equal to the engine's own results and to
what the lesson says about the default prompt; bad prompts; the transformers check (its button
wired to a stand-in that answers with our own outputs, so transformers' 30-s load stays in
tests/unit/test_smollm.py)."""

from __future__ import annotations

import json
import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from streamlit.testing.v1 import AppTest

from engine.models import smollm as lm
from engine.models.lm_prompt import prompt_tokens
from engine.models.pretrained import Reference
from engine.models.smollm_lens import logit_lens
from tests.pages.apptest import open_page, plotly_array

PAGE = "views/real_inside/page.py"
DEFAULT = "The capital of France is Paris. The capital of Italy is"


@pytest.fixture(scope="module")
def loaders(smollm, smollm_tok):
    """The page's cached loaders answer with the session's model and tokenizer (one load each)."""
    import widgets.real_models as real_models

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(real_models, "_smollm_engine", lambda: smollm)
        mp.setattr(real_models, "_smollm_tokenizer", lambda: smollm_tok)
        yield mp


@pytest.fixture(scope="module")
def en(loaders) -> AppTest:
    return open_page(PAGE, "en")


@pytest.fixture(scope="module")
def default(smollm, smollm_tok):
    ids = prompt_tokens(smollm_tok, DEFAULT, 64).ids
    trace = lm.forward(smollm, ids)
    return SimpleNamespace(ids=ids, trace=trace, lens=logit_lens(smollm, trace))


def _texts(at: AppTest) -> list[str]:
    parts = []
    for kind in ("title", "header", "subheader", "markdown", "caption", "latex", "info", "warning",
                 "success", "error"):
        parts += [str(e.value) for e in getattr(at, kind)]
    parts += [s.label for s in at.slider] + [m.label for m in at.get("metric")] + [b.label for b in at.button]
    parts += [str(c) for df in at.dataframe for c in df.value.columns]
    for chart in at.get("plotly_chart"):
        spec = json.loads(chart.proto.spec)
        parts.append(str((spec["layout"].get("title") or {}).get("text", "")))
    return parts


def _chart(at: AppTest, key: str) -> dict:
    (chart,) = [c for c in at.get("plotly_chart") if c.proto.id.endswith(f"-{key}")]
    return json.loads(chart.proto.spec)


def _z(at: AppTest, key: str) -> np.ndarray:
    return plotly_array(_chart(at, key)["data"][0]["z"])


def test_page_shows_the_engine_results(en, default):
    at = en
    assert not at.exception and not at.error and not at.warning
    assert not [s for s in _texts(at) if "⟦" in s]
    assert at.title[0].value.startswith("Inside the language model")
    assert "0:The  1:␣capital" in at.code[0].value
    assert len(at.get("plotly_chart")) == 7
    T = len(default.ids)
    # block 1, head 0: the engine's weights; NaN (grey) above the diagonal, rows sum to 1
    z = _z(at, "si_fig_map")
    A = default.trace.attentions[0][0].numpy()
    assert np.isnan(z[np.triu_indices(T, 1)]).all()
    np.testing.assert_allclose(np.nan_to_num(z), A, atol=1e-6)
    np.testing.assert_allclose(np.nan_to_num(z).sum(1), 1, atol=1e-5)
    # the three query heads of key/value head 0
    assert [_chart(at, f"si_fig_group_{h}")["layout"]["title"]["text"].startswith(f"query head {h}")
            for h in range(3)] == [True] * 3
    # the logit lens: layer 30 at the top, the engine's probabilities
    np.testing.assert_allclose(_z(at, "si_fig_lens"), default.lens.top_p.numpy()[::-1], atol=1e-6)
    assert "134,515,008" in [m.value for m in at.get("metric")]


def test_what_the_lesson_says_about_the_default_prompt(en, default, smollm_tok):
    """The numbers the lesson states: 'Rome' last, layer 0 mostly the input token (p > 0.99),
    the first token's share of attention, block 17 head 0 reading the previous token."""
    lens, trace = default.lens, default.trace
    assert smollm_tok.decode([int(lens.top_id[-1, -1])]) == " Rome"
    assert int((lens.top_id[0] == trace.ids).sum()) == 9 and float(lens.top_p[0].min()) > 0.99
    assert " Rome" not in [smollm_tok.decode([int(i)]) for i in lens.top_id[:28, -1]]
    A = torch.stack(trace.attentions)
    assert round(float(A[:, :, 1:, 0].mean()), 2) == 0.64
    assert float(torch.diagonal(A[16, 0], offset=-1).mean()) > 0.5
    assert "64 %" in " ".join(m.value for m in en.markdown)


def test_controls_follow(en, default):
    at = en
    at.slider(key="si_block").set_value(17).run()
    at.slider(key="si_head").set_value(4).run()
    assert not at.exception
    np.testing.assert_allclose(np.nan_to_num(_z(at, "si_fig_map")), default.trace.attentions[16][4].numpy(), atol=1e-6)
    titles = [_chart(at, f"si_fig_group_{h}")["layout"]["title"]["text"] for h in (3, 4, 5)]
    assert titles[1].endswith("◀") and not titles[0].endswith("◀")
    assert "g(4) = \\lfloor 4/3 \\rfloor = 1" in " ".join(e.value for e in at.latex)
    # RoPE: pair 5 at m = 3 turns by 3·100000^(−10/64)
    at.slider(key="si_m").set_value(3).run()
    at.slider(key="si_pair").set_value(5).run()
    angle = 3 * 100000 ** (-10 / 64)
    assert any(f"{angle:.4f}" in e.value for e in at.latex)
    bars = _chart(at, "si_fig_rope")["data"][0]
    np.testing.assert_allclose(plotly_array(bars["y"])[5], math.fmod(angle, 2 * math.pi), atol=1e-9)


def test_bad_prompts(loaders):
    at = open_page(PAGE, "en")
    at.text_input(key="si_prompt").input("  \u200b ").run()
    assert not at.exception and "empty" in at.info[0].value and not at.get("plotly_chart")
    at.text_input(key="si_prompt").input("word " * 100).run()
    assert not at.exception and any("first 64 tokens" in w.value for w in at.warning)
    assert "64 tokens" in at.caption[0].value
    at.text_input(key="si_prompt").input("Hello\u200b world\u0007").run()
    assert not at.exception and any("2 control" in w.value for w in at.warning)


def _stand_in(smollm, shift: float):
    """A 'transformers model' answering with our own engine's outputs (+ shift on the logits)."""
    def model(ids, output_hidden_states, output_attentions):
        tr = lm.forward(smollm, ids[0])
        hidden = [*tr.hidden[:-1], tr.normed]
        return SimpleNamespace(hidden_states=tuple(h[None] for h in hidden),
                               attentions=tuple(a[None] for a in tr.attentions), logits=(tr.logits + shift)[None])
    return Reference(tokenizer=None, model=model)


# two prompts: the page keeps one comparison per prompt (there is one reference model per server)
@pytest.mark.parametrize("shift,verdict,prompt", [(0.0, "success", "Two plus two is"), (1.0, "error", "Hi")])
def test_compare_button(loaders, smollm, shift, verdict, prompt):
    import widgets.real_models as real_models

    loaders.setattr(real_models, "_smollm_reference", lambda: _stand_in(smollm, shift))
    at = open_page(PAGE, "en", si_prompt=prompt)
    at.button(key="si_compare").click().run()
    assert not at.exception and len(getattr(at, verdict)) == 1
    assert len(at.get("plotly_chart")) == 8


def test_chinese_smoke(loaders):
    at = open_page(PAGE, "zh")
    assert not at.exception and not at.error
    assert not [s for s in _texts(at) if "⟦" in s]
    assert at.title[0].value == "语言模型内部：用我们自己的引擎重放 SmolLM2"
    prose = [e.value for e in at.header] + [e.value for e in at.caption]
    assert all(any("\u4e00" <= c <= "\u9fff" for c in s) for s in prose)
