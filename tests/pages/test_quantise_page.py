"""The quantisation page under AppTest: renders every section with the torch check passing; the
written-out weight is torch's (observer's s and z, torch.fake_quantize_*) for any layer, bit width and
granularity; the table is not recomputed on a control change; bad values set from code get a
translated message; one Chinese smoke test."""

from __future__ import annotations

import pytest
import torch
from streamlit.testing.v1 import AppTest
from torch.ao.quantization.observer import MinMaxObserver, PerChannelMinMaxObserver

import lessons
from engine.models.cnn import checkpoint_mtime, load_network
from figures.cnn import num
from tests.pages.apptest import open_page
from views.quantise import parts

PAGE = "views/quantise/page.py"


@pytest.fixture(scope="module", autouse=True)
def _table_computed():
    """The page's cached table computed before the first AppTest run (its 30 s timeout is for the page)."""
    parts._table(checkpoint_mtime())


def _msg(key: str, lang: str = "en", **fmt) -> str:
    return lessons.text("quantise", key, lang, **fmt)


def _text(at: AppTest) -> str:
    parts_ = [str(e.value) for e in [*at.title, *at.header, *at.subheader, *at.markdown, *at.latex, *at.caption,
                                     *at.info, *at.warning, *at.error, *at.success]]
    parts_ += [f"{m.label} {m.value}" for m in at.metric]
    parts_ += [" ".join(map(str, d.value.columns)) for d in at.dataframe]
    return "\n".join(parts_)


def _metric(at: AppTest, key: str) -> str:
    return next(m.value for m in at.metric if m.label == _msg(key))


def _torch_weight(name: str, bits: int, channelwise: bool, index: int) -> tuple[int, float]:
    """q and x̂ of one weight from torch alone: its observers' (s, z) and torch.fake_quantize_*."""
    w = getattr(load_network().model64, name).weight.detach().float()
    kw = dict(dtype=torch.quint8, quant_min=0, quant_max=2**bits - 1)
    if channelwise:
        obs = PerChannelMinMaxObserver(ch_axis=0, **kw)
        obs(w)
        s, z = obs.calculate_qparams()
        x_hat = torch.fake_quantize_per_channel_affine(w, s.float(), z.int(), 0, 0, 2**bits - 1)
        c = index // (w.numel() // w.shape[0])
        s, z = float(s[c]), int(z[c])
    else:
        obs = MinMaxObserver(**kw)
        obs(w)
        s, z = (float(v) for v in obs.calculate_qparams())
        z = int(z)
        x_hat = torch.fake_quantize_per_tensor_affine(w, s, z, 0, 2**bits - 1)
    v = float(x_hat.reshape(-1)[index])
    return round(v / s) + z, v


def test_renders_every_section_and_the_check_passes():
    at = open_page(PAGE)
    assert at.title[0].value == _msg("title")
    text = _text(at)
    assert "⟦" not in text
    assert len(at.header) == 8 and len(at.get("plotly_chart")) == 4
    assert at.success and float(at.metric[-1].value) == 0.0
    # the table: float32 and five bit widths; 8 bits within a point of float32; sizes shrink with b
    df = at.dataframe[0].value
    assert len(df) == 6 and len(df.columns) == 7
    acc = df[_msg("series_w_tensor")].astype(float).tolist()
    assert abs(acc[1] - acc[0]) <= 1.0 and acc[-1] < acc[1]
    sizes = df[_msg("col_size_tensor")].astype(float).tolist()
    assert sizes == sorted(sizes, reverse=True) and sizes[0] == pytest.approx(373.3, abs=0.1)
    # the default weight: conv1's weight 0 at 4 bits, per tensor, equal to torch's
    q, x_hat = _torch_weight("conv1", 4, False, 0)
    assert int(_metric(at, "metric_q")) == q
    assert rf"= {num(x_hat, 6)}\\x - \hat{{x}}" in at.latex[1].value


def test_the_written_out_weight_follows_the_controls_and_equals_torch(monkeypatch):
    at = open_page(PAGE)
    table_before = at.dataframe[0].value
    # a control change must not recompute the table (it would fail here)
    monkeypatch.setattr(parts, "quant_table", None)
    for name, bits, gran, index in (("fc2", 2, "channel", 77), ("conv3", 8, "tensor", 30_000),
                                    ("fc1", 3, "channel", 12_345)):
        at.selectbox(key="qz_layer").set_value(name).run()
        at.select_slider(key="qz_bits").set_value(bits).run()
        at.radio(key="qz_gran").set_value(gran).run()
        at.number_input(key=f"qz_index_{name}").set_value(index).run()
        assert not at.exception, [e.value for e in at.exception]
        q, x_hat = _torch_weight(name, bits, gran == "channel", index)
        assert int(_metric(at, "metric_q")) == q
        assert rf"= {num(x_hat, 6)}\\x - \hat{{x}}" in at.latex[1].value
        assert _msg("steps_header", name=name, index=index) in _text(at)
        assert at.success  # the torch check at this layer and b
    assert at.dataframe[0].value.equals(table_before)


@pytest.mark.parametrize("state, message", [
    ({"qz_bits": 9}, "err_limit"),
    ({"qz_layer": "conv9"}, "err_bad_layer"),
    ({"qz_gran": "row"}, "err_bad_gran"),
    ({"qz_index_conv1": 288}, "err_limit"),
])
def test_bad_values_from_code_get_a_message_and_the_page_works(state, message):
    at = open_page(PAGE, **state)
    errors = " ".join(e.value for e in at.error)
    if message == "err_limit":
        assert "must be between" in errors and ("2 and 8" in errors or "0 and 287" in errors)
    else:
        assert _msg(message, layer="conv9", gran="row") == errors
    assert at.success  # the rest of the page rendered, down to the torch check


def test_chinese_smoke():
    at = open_page(PAGE, "zh")
    assert at.title[0].value == "量化：用更少的位存储 CNN 的权重"
    text = _text(at)
    assert "⟦" not in text
    for english in ("The formulas", "Per tensor or", "What next", "weights only", "Accuracy and size", "Stored integer"):
        assert english not in text
