"""The positional-encoding page under AppTest, in English (one Chinese smoke test, and the language
switch): every figure against an independent
float64 computation here (math-module loops, nn.Embedding, torch.polar, nn.MultiheadAttention),
the formulas with live numbers, the controls, the shuffle, bad input and the reference checks."""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest
import torch
from streamlit.testing.v1 import AppTest
from torch import nn

from engine.data.tokens import embed
from tests.pages.apptest import open_page, plotly_array

f64 = torch.float64
PAGE = "views/positional/page.py"


def _open(lang: str = "en", **state) -> AppTest:
    return open_page(PAGE, lang, **state)


@pytest.fixture(scope="module")
def en() -> AppTest:
    return _open("en")


def _texts(at: AppTest) -> list[str]:
    parts = []
    for kind in ("title", "header", "subheader", "markdown", "caption", "latex", "info", "warning",
                 "success", "error"):
        parts += [str(e.value) for e in getattr(at, kind)]
    parts += [s.label for s in at.slider] + [m.label for m in at.get("metric")]
    parts += [w.label for w in at.text_input] + [w.label for w in at.number_input]
    parts += [b.label for b in at.button] + [m.label for m in at.multiselect]
    parts += [str(c) for df in at.dataframe for c in df.value.columns]
    for chart in at.get("plotly_chart"):
        spec = json.loads(chart.proto.spec)
        parts.append(str((spec["layout"].get("title") or {}).get("text", "")))
        parts += [str(tr.get("name", "")) for tr in spec["data"]]
    return parts


def _chart(at: AppTest, key: str) -> dict:
    (chart,) = [c for c in at.get("plotly_chart") if c.proto.id.endswith(f"-{key}")]
    return json.loads(chart.proto.spec)


def _z(at: AppTest, key: str) -> np.ndarray:
    return plotly_array(_chart(at, key)["data"][0]["z"])


def _latex(at: AppTest, needle: str) -> str:
    found = [e.value for e in at.latex if needle in e.value]
    assert found, f"no formula with {needle!r}"
    return found[0]


def _metric(at: AppTest, label_start: str) -> list[float]:
    return [float(m.value) for m in at.get("metric") if m.label.startswith(label_start)]


# ----- independent references ----------------------------------------------------------------


def pe_loops(L: int, d: int) -> np.ndarray:
    return np.array([[(math.sin if j % 2 == 0 else math.cos)(p / 10000 ** ((j - j % 2) / d)) for j in range(d)]
                     for p in range(L)])


def qk(d: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    q, k = torch.randn(2, d, generator=torch.Generator().manual_seed(seed), dtype=f64)
    return q, k


def rope_polar(x: torch.Tensor) -> torch.Tensor:
    T, d = x.shape
    theta = 10000.0 ** (-torch.arange(0, d, 2, dtype=f64) / d)
    phi = torch.arange(T, dtype=f64)[:, None] * theta[None, :]
    z = torch.view_as_complex(x.reshape(T, d // 2, 2).contiguous())
    return torch.view_as_real(z * torch.polar(torch.ones_like(phi), phi)).reshape(T, d)


def mha_weights(tokens: list[str], d: int, P: torch.Tensor | None) -> torch.Tensor:
    """nn.MultiheadAttention (one head, no biases) on the tokens' embeddings (+ P), with the
    page's projections drawn here: N(0, 1/d) from a generator seeded with 0."""
    W = torch.randn(3, d, d, generator=torch.Generator().manual_seed(0), dtype=f64) / math.sqrt(d)
    mha = nn.MultiheadAttention(d, 1, bias=False, batch_first=True, dtype=f64)
    with torch.no_grad():
        mha.in_proj_weight.copy_(W.reshape(3 * d, d))
        mha.out_proj.weight.copy_(torch.eye(d, dtype=f64))
        Z = embed(tokens, d, 0) + (0 if P is None else P)
        _, A = mha(Z[None], Z[None], Z[None], average_attn_weights=False)
    return A[0, 0]


def shuffled_order(at: AppTest) -> list[str]:
    """The shuffled tokens as the page draws them (tick labels of the shuffled heatmap)."""
    return list(_chart(at, "pe_fig_bare_shuffled")["layout"]["yaxis"]["ticktext"])


# ----- the page as it opens; one Chinese smoke test -------------------------------------------


def test_page_runs_without_missing_text(en):
    at = en
    assert not [s for s in _texts(at) if "⟦" in s]
    assert at.title[0].value == "Positional encoding: telling attention where each token is"
    assert len(at.get("plotly_chart")) == 15
    assert not at.error and not at.warning and not at.info
    # the three reference checks pass
    assert len(at.success) == 3


def test_chinese_smoke():
    at = _open("zh")
    assert not [s for s in _texts(at) if "⟦" in s]
    assert at.title[0].value == "位置编码：告诉注意力每个词元在哪里"
    assert len(at.get("plotly_chart")) == 15 and len(at.success) == 3
    assert not at.error and not at.warning and not at.info
    # the Chinese default sentence is split into characters
    assert shuffled_order(at) and all(len(tok) == 1 for tok in shuffled_order(at))
    # the messages for bad input speak Chinese too: a long sentence, no sentence, an odd d_model
    at.text_input(key="pe_text").input(" ".join(f"w{n}" for n in range(40))).run()
    assert not at.exception and len(at.warning) == 1 and "40" in at.warning[0].value
    assert not [s for s in _texts(at) if "⟦" in s]
    at.text_input(key="pe_text").input("   ").run()
    assert not at.exception and len(at.info) == 1 and "空" in at.info[0].value
    at.slider(key="pe_d").set_value(33).run()
    assert not at.exception and len(at.error) == 1 and "奇数" in at.error[0].value


# ----- figures equal independent computations ------------------------------------------------


def test_tables_equal_independent_references(en):
    L, d, seed = 64, 64, 0
    np.testing.assert_allclose(_z(en, "pe_fig_table"), pe_loops(L, d), atol=1e-12)
    np.testing.assert_allclose(_z(en, "pe_fig_cmp_sin"), pe_loops(L, d), atol=1e-12)
    torch.manual_seed(seed)
    table = nn.Embedding(L, d, dtype=f64).weight.detach().numpy()
    np.testing.assert_allclose(_z(en, "pe_fig_cmp_learned"), table, atol=0)
    q, k = qk(d, seed)
    q_rot, k_rot = rope_polar(q.expand(L, d)), rope_polar(k.expand(L, d))
    np.testing.assert_allclose(_z(en, "pe_fig_cmp_rope"), q_rot.numpy(), atol=1e-12)
    np.testing.assert_allclose(_z(en, "pe_fig_rope_scores"), (q_rot @ k_rot.T).numpy(), atol=1e-10)
    PE = torch.tensor(pe_loops(L, d))
    added = (q + PE) @ (k + PE).T
    np.testing.assert_allclose(_z(en, "pe_fig_added_scores"), added.numpy(), atol=1e-10)
    np.testing.assert_allclose(_z(en, "pe_fig_similarity"), (PE @ PE.T).numpy(), atol=1e-10)
    # the picked pair: position 5, columns 2i = 4 and 5
    (box,) = _chart(en, "pe_fig_table")["layout"]["shapes"]
    assert (box["x0"], box["x1"], box["y0"], box["y1"]) == (3.5, 5.5, 4.5, 5.5)


def test_waves_wavelengths_and_distance_chart(en):
    L, d = 64, 64
    PE = pe_loops(L, d)
    waves = _chart(en, "pe_fig_waves")["data"]
    # default pairs 0, 4, 8: sine and cosine columns 0, 1, 8, 9, 16, 17
    for trace, col in zip(waves, (0, 1, 8, 9, 16, 17), strict=True):
        np.testing.assert_allclose(plotly_array(trace["y"]), PE[:, col], atol=1e-12)
    lam = plotly_array(_chart(en, "pe_fig_lambda")["data"][0]["y"])
    np.testing.assert_allclose(lam, [2 * math.pi * 10000 ** (2 * i / d) for i in range(d // 2)], rtol=1e-12)
    eq = _latex(en, r"\lambda_i &= 2\pi/\omega_i")
    assert rf"\lambda_{{2}} &= 2\pi\cdot 10000^{{4/64}} = {2 * math.pi * 10000 ** (4 / 64):.2f}" in eq
    assert f"{2 * math.pi * 10000 ** (62 / 64):,.1f}".replace(",", "{,}") in eq
    assert f"10000^{{2/64}} = {10000 ** (2 / 64):.4f}" in eq
    high, low = (plotly_array(tr["y"]) for tr in _chart(en, "pe_fig_distance")["data"])
    # Σ_i cos(Δ·ω_i), whatever the pair
    expected = [sum(math.cos(D / 10000 ** (2 * i / d)) for i in range(d // 2)) for D in range(L)]
    np.testing.assert_allclose(high, expected, atol=1e-10)
    np.testing.assert_allclose(low, expected, atol=1e-10)
    assert _metric(en, "max over distances")[0] < 1e-10


def test_shift_matrix_and_block_with_numbers(en):
    d, k, pos, i = 64, 3, 5, 2
    M = _z(en, "pe_fig_shift")
    w = 1 / 10000 ** (2 * i / d)
    block = M[2 * i:2 * i + 2, 2 * i:2 * i + 2]
    np.testing.assert_allclose(block, [[math.cos(k * w), math.sin(k * w)], [-math.sin(k * w), math.cos(k * w)]],
                               atol=1e-12)
    # block-diagonal: nothing outside the 2×2 blocks
    mask = np.kron(np.eye(d // 2), np.ones((2, 2))) == 0
    assert np.all(M[mask] == 0)
    eq = _latex(en, "M^{(2)}_{3}")
    for v in (math.cos(k * w), math.sin(k * w), math.sin(pos * w), math.cos(pos * w),
              math.sin((pos + k) * w), math.cos((pos + k) * w)):
        assert f"{v:.4f}" in eq
    assert _metric(en, r"$\max\,|M_k")[0] < 1e-12


def test_errata_and_row_formulas_carry_the_live_numbers(en):
    pos, i, d = 5, 2, 64
    theta = pos / 10000 ** (2 * i / d)
    eq = _latex(en, r"\theta &= \frac{5}")
    for v in (theta, math.sin(theta), math.cos(theta), math.sin(theta) - math.cos(theta)):
        assert f"{v:.4f}" in eq
    verdicts = " ".join(m.value for m in en.markdown)
    assert f"{math.sin(theta):.4f} = {math.cos(theta):.4f}" in verdicts
    assert f"PE[5, 4] = {math.sin(theta):.4f}" in verdicts and f"PE[5, 5] = {math.cos(theta):.4f}" in verdicts
    row = _latex(en, r"\theta_{0}")
    for j in range(6):
        assert f"PE[5,{j}]" in row and f"{pe_loops(6, d)[5, j]:.4f}" in row
    sim = _latex(en, r"PE(0)\cdot PE(5)")
    expected = sum(math.cos(5 / 10000 ** (2 * i / d)) for i in range(d // 2))
    assert f"{expected:.6f}" in sim


def test_rope_table_depends_on_the_offset_only(en):
    (df,) = [df.value for df in en.dataframe]
    assert list(df["m"] - df["n"]) == [3] * len(df)
    q, k = qk(64, 0)
    q_rot, k_rot = rope_polar(q.expand(64, 64)), rope_polar(k.expand(64, 64))
    scores = [float(q_rot[m] @ k_rot[n]) for m, n in zip(df["m"], df["n"])]
    assert [float(v) for v in df.iloc[:, 3]] == pytest.approx(scores, abs=1e-9)
    assert max(scores) - min(scores) < 1e-10
    added = [float(v) for v in df.iloc[:, 4]]
    assert max(added) - min(added) > 1.0


def test_attention_heatmaps_and_equivariance(en):
    tokens = ["the", "dog", "bit", "the", "man"]
    shuffled = shuffled_order(en)
    assert sorted(shuffled) == sorted(tokens) and shuffled != tokens
    np.testing.assert_allclose(_z(en, "pe_fig_bare_in"), mha_weights(tokens, 64, None).numpy(), atol=1e-12)
    np.testing.assert_allclose(_z(en, "pe_fig_bare_shuffled"), mha_weights(shuffled, 64, None).numpy(), atol=1e-12)
    P = torch.tensor(pe_loops(5, 64))
    np.testing.assert_allclose(_z(en, "pe_fig_pe_in"), mha_weights(tokens, 64, P).numpy(), atol=1e-12)
    np.testing.assert_allclose(_z(en, "pe_fig_pe_shuffled"), mha_weights(shuffled, 64, P).numpy(), atol=1e-12)
    bare, with_pe = _metric(en, "max |Attn")
    assert bare < 1e-12 and with_pe > 0.1
    assert list(_chart(en, "pe_fig_bare_in")["layout"]["xaxis"]["ticktext"]) == tokens
    # the repeated "the": the same output without PE, different with it
    twins = [m.value for m in en.markdown if "appears at positions 0 and 3" in m.value]
    assert twins and "differ by 0," in twins[0]


# ----- controls ------------------------------------------------------------------------------


def test_controls_change_every_result():
    at = _open()
    at.slider(key="pe_L").set_value(16).run()
    at.slider(key="pe_d").set_value(8).run()
    assert not at.exception and not at.error
    assert _z(at, "pe_fig_table").shape == (16, 8)
    np.testing.assert_allclose(_z(at, "pe_fig_table"), pe_loops(16, 8), atol=1e-12)
    assert _z(at, "pe_fig_shift").shape == (8, 8)
    # of the drawn pairs 0, 4, 8 only pair 0 exists for d = 8 (4 pairs): its sine and cosine
    assert [tr["name"][-3:] for tr in _chart(at, "pe_fig_waves")["data"]] == ["j=0", "j=1"]
    at.slider(key="pe_pos").set_value(11).run()
    at.slider(key="pe_i").set_value(3).run()
    theta = 11 / 10000 ** (6 / 8)
    assert f"{math.sin(theta):.4f}" in _latex(at, r"\theta &= \frac{11}")
    assert r"\theta_{3}" in _latex(at, r"\theta_{0}")
    at.slider(key="pe_k").set_value(7).run()
    w = 1 / 10000 ** (6 / 8)
    assert f"{math.cos(7 * w):.4f}" in _latex(at, "M^{(3)}_{7}")
    at.number_input(key="pe_seed").set_value(5).run()
    torch.manual_seed(5)
    np.testing.assert_allclose(_z(at, "pe_fig_cmp_learned"), nn.Embedding(16, 8, dtype=f64).weight.detach().numpy())
    at.slider(key="pe_offset").set_value(0).run()
    (df,) = [df.value for df in at.dataframe]
    q, k = qk(8, 5)
    # offset 0: the RoPE score is q·k itself
    assert [float(v) for v in df.iloc[:, 3]] == pytest.approx([float(q @ k)] * len(df), abs=1e-9)
    assert len(at.success) == 3 and not [s for s in _texts(at) if "⟦" in s]


def test_shrinking_the_table_keeps_the_picks_in_range():
    at = _open(pe_pos=100, pe_i=60, pe_offset=90)
    assert not at.exception
    at.slider(key="pe_L").set_value(8).run()
    at.slider(key="pe_d").set_value(8).run()
    assert not at.exception and not at.error
    assert at.slider(key="pe_pos").value == 7 and at.slider(key="pe_i").value == 3
    assert at.slider(key="pe_offset").value == 7


def test_shuffle_button_and_seed_reshuffle():
    at = _open()
    first = shuffled_order(at)
    seed = at.number_input(key="pe_shuffle").value
    at.button(key="pe_shuffle_again").click().run()
    assert at.number_input(key="pe_shuffle").value == seed + 1
    orders = {tuple(first), tuple(shuffled_order(at))}
    for s in (7, 8, 9):
        at.number_input(key="pe_shuffle").set_value(s).run()
        orders.add(tuple(shuffled_order(at)))
        bare, with_pe = _metric(at, "max |Attn")
        assert bare < 1e-12 and with_pe > 1e-3
    assert len(orders) >= 3


# ----- bad input -----------------------------------------------------------------------------


def test_odd_d_model_is_refused_with_a_reason():
    at = _open()
    at.slider(key="pe_d").set_value(33).run()
    assert not at.exception
    assert len(at.error) == 1 and "33" in at.error[0].value and "odd" in at.error[0].value
    assert not at.get("plotly_chart")


@pytest.mark.parametrize("key,value,default", [("pe_L", 500, 64), ("pe_L", 4, 64), ("pe_d", 130, 64),
                                               ("pe_k", 100, 3)])
def test_sizes_outside_the_sliders_never_reach_the_engine(key, value, default):
    # Streamlit resets an out-of-range slider value to the default on the server; the page's own
    # bounds check (engine.limits + the page's range) stays behind it
    at = _open()
    at.slider(key=key).set_value(value).run()
    assert not at.exception and not at.error
    assert at.slider(key=key).value == default
    assert _z(at, "pe_fig_table").shape == (64, 64) and len(at.success) == 3


def test_empty_sentence_gives_a_friendly_message_and_keeps_the_rest():
    at = _open()
    at.text_input(key="pe_text").input("   ").run()
    assert not at.exception and not at.error
    assert len(at.info) == 1 and "empty" in at.info[0].value
    assert not [c for c in at.get("plotly_chart") if "pe_fig_bare" in c.proto.id]
    # the sections that need no sentence and their reference checks are still there
    assert len(at.get("plotly_chart")) == 11 and len(at.success) == 2


def test_long_sentence_is_cut_with_a_warning():
    at = _open()
    long = " ".join(f"w{n}" for n in range(40))
    at.text_input(key="pe_text").input(long).run()
    assert not at.exception and not at.error
    assert len(at.warning) == 1 and "40" in at.warning[0].value and "16" in at.warning[0].value
    assert _z(at, "pe_fig_bare_in").shape == (16, 16)
    assert len(at.success) == 3 and not [s for s in _texts(at) if "⟦" in s]


def test_more_tokens_than_the_engine_takes_is_cut_too():
    at = _open()
    at.text_input(key="pe_text").input("!" * 200).run()
    assert not at.exception and not at.error
    assert len(at.warning) == 1 and "200" in at.warning[0].value and "128" in at.warning[0].value
    assert _z(at, "pe_fig_bare_in").shape == (16, 16)


def test_one_token_works():
    at = _open()
    at.text_input(key="pe_text").input("hello").run()
    assert not at.exception and not at.error
    assert _z(at, "pe_fig_bare_in").tolist() == [[1.0]]
    assert _z(at, "pe_fig_pe_shuffled").tolist() == [[1.0]]
    assert len(at.info) == 1 and len(at.success) == 3
    assert _metric(at, "max |Attn") == [0.0, 0.0]


def test_small_angles_are_written_in_scientific_form():
    at = _open(pe_pos=63, pe_i=31)
    theta = 63 / 10000 ** (62 / 64)
    mantissa, exponent = f"{theta:.3e}".split("e")
    assert theta < 0.01
    assert rf"= {mantissa}\times 10^{{{int(exponent)}}}" in _latex(at, r"\theta &= \frac{63}")
    omega = 10000 ** (-62 / 64)
    m_w, e_w = f"{omega:.3e}".split("e")
    assert rf"63\cdot {m_w}\times 10^{{{int(e_w)}}}" in _latex(at, r"\theta_{31}")
    assert f"{math.sin(theta):.4f}" in _latex(at, r"\theta_{31}")


def test_the_example_sentence_follows_the_language_and_a_typed_one_stays():
    at = _open("en")
    assert at.text_input(key="pe_text").value == "the dog bit the man"
    at.session_state["lang"] = "zh"
    at.run()
    assert at.text_input(key="pe_text").value == "狗咬人，人咬狗。"
    assert not at.exception
    at.text_input(key="pe_text").input("my own words").run()
    at.session_state["lang"] = "en"
    at.run()
    assert at.text_input(key="pe_text").value == "my own words"


def test_measured_numbers_are_plain_decimals_unless_tiny(en):
    # the page's own metrics (the torch checks' "max |Δ|" is widgets.blocks' format)
    values = [m.value for m in en.get("metric") if not m.label.startswith("max |Δ|")]
    assert not [v for v in values if "e+" in v], values
    bare, with_pe = (m.value for m in en.get("metric") if m.label.startswith("max |Attn"))
    assert re.fullmatch(r"\d+\.\d{3}", with_pe), with_pe  # e.g. 1.580, not 1.58e+00
    assert bare == "0" or "e-" in bare, bare  # float64 rounding stays in scientific form
    # positions count from 0 here: said once, near the controls
    assert any("count from 0" in c.value for c in en.caption)
