"""The loss page under AppTest: it renders; the label's default follows the digit; changing the label
changes both losses exactly as torch computes them on the same digit; the torch check passes; a bad
label in session state does not break it; one Chinese smoke test."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from streamlit.testing.v1 import AppTest

import lessons
from engine.data.digits import embedded_mnist
from engine.models.cnn import load_default
from tests.pages.apptest import open_page, plotly_array

PAGE = "views/loss/page.py"


def _text(at: AppTest) -> str:
    elements = [*at.title, *at.header, *at.subheader, *at.markdown, *at.latex, *at.caption,
                *at.success, *at.warning, *at.info, *at.error]
    parts = [str(e.value) for e in elements] + [f"{m.label} {m.value}" for m in at.metric]
    parts += [s.label for s in at.selectbox]
    parts += [str(json.loads(c.proto.spec)["layout"].get("title", {}).get("text", "")) for c in at.get("plotly_chart")]
    parts += [" ".join(map(str, d.value.columns)) for d in at.dataframe]
    return "\n".join(parts)


def _losses(at: AppTest) -> tuple[float, float]:
    ce = [m for m in at.metric if m.label.startswith("L_CE")]
    se = [m for m in at.metric if m.label.startswith("L_SE")]
    assert len(ce) == 1 and len(se) == 1
    return float(ce[0].value), float(se[0].value)


def _torch_losses(logits: torch.Tensor, y: int) -> tuple[float, float]:
    z = logits.double().unsqueeze(0)
    p = F.softmax(z, -1)
    Y = F.one_hot(torch.tensor([y]), 10).double()
    return float(F.cross_entropy(z, torch.tensor([y]))), float(F.mse_loss(p, Y, reduction="sum"))


@pytest.fixture(scope="module")
def model():
    return load_default().eval()


def test_renders_in_english_with_every_section_and_the_check_passing():
    at = open_page(PAGE)
    assert at.title[0].value == lessons.text("loss", "title", "en")
    text = _text(at)
    assert "⟦" not in text
    assert len(at.header) >= 8 and len(at.get("plotly_chart")) == 5
    assert at.success and "F.cross_entropy + torch.autograd" in at.success[0].value
    delta = [m for m in at.metric if m.label.startswith("max |Δ|")]
    assert float(delta[0].value) < 1e-12
    # the float32 break is computed for this digit and lies where exp(−g) leaves float32
    brk = [m for m in at.metric if m.label.startswith("float32 softmax gives")]
    assert 100.0 < float(brk[0].value) <= 104.0


def test_changing_the_label_changes_the_losses_like_torch(model):
    split = embedded_mnist()
    index = 7
    at = open_page(PAGE)
    at.button_group(key="loss_digit_source").set_value("dataset").run()
    at.number_input(key="loss_digit_index").set_value(index).run()
    assert not at.exception, [e.value for e in at.exception]
    label = int(split.y_test[index])
    assert at.selectbox(key="loss_label").value == label  # the dataset's label by default
    with torch.no_grad():
        logits = model(torch.from_numpy(np.asarray(split.x_test[index], np.float32))[None, None])[0]
    seen = set()
    for y in (label, (label + 3) % 10, (label + 7) % 10):
        at.selectbox(key="loss_label").set_value(y).run()
        assert not at.exception, [e.value for e in at.exception]
        ce, se = _losses(at)
        ref_ce, ref_se = _torch_losses(logits, y)
        assert ce == pytest.approx(ref_ce, rel=1e-4, abs=1e-6)
        assert se == pytest.approx(ref_se, rel=1e-4, abs=1e-6)
        # the gradient bars are p − y: the true class's bar is p_y − 1
        bars = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
        g = plotly_array(next(b for b in bars if b["layout"]["title"]["text"].startswith("∂L_CE"))["data"][0]["y"])
        p = F.softmax(logits.double(), -1).numpy()
        assert np.allclose(g, p - np.eye(10)[y], atol=1e-5)
        seen.add((round(ce, 6), round(se, 6)))
    assert len(seen) == 3


def test_a_digit_without_a_label_defaults_to_the_prediction_and_a_bad_label_is_harmless(model):
    split = embedded_mnist()
    image = np.asarray(split.x_test[3], np.float32)
    with torch.no_grad():
        k_hat = int(model(torch.from_numpy(image)[None, None]).argmax())
    at = open_page(PAGE, nml_digit={"image": image, "source": "upload"})
    assert at.selectbox(key="loss_label").value == k_hat
    assert at.metric[0].value == str(k_hat)
    # a label out of range set from code: the page still renders, with a label in 0 … 9
    key = hashlib.sha1(image.tobytes()).hexdigest()
    at = open_page(PAGE, nml_digit={"image": image, "source": "upload"}, loss_label=12, loss_label_digit=key)
    assert at.selectbox(key="loss_label").value in range(10)
    assert at.success  # the torch check still ran


def test_chinese_smoke():
    at = open_page(PAGE, "zh")
    assert at.title[0].value == "损失函数：网络在你的数字上错了多少？"
    text = _text(at)
    assert "⟦" not in text
    for english in ("Cross-entropy", "Squared error", "What next", "The formulas", "True label"):
        assert english not in text
