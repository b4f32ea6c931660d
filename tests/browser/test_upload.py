"""Uploading an image in a real browser: a corrupt file is refused with a clear message and
loses nothing; a real picture of a digit (dark ink on white paper) becomes the digit."""

from __future__ import annotations

import io

import numpy as np
import torch
from PIL import Image

import lessons
from engine.data.digits import embedded_mnist, ink_from_grey, prepare_digit
from engine.models.cnn import load_default
from tests.browser.test_draw import prediction

MIME = "image/png"


def _choose_upload(lab) -> None:
    label = lessons.text("common", "src_upload", "en")
    button = lab.page.locator("[data-testid='stButtonGroup'] button").filter(has_text=label).first
    with lab.rerun():
        button.click()


def _upload(lab, name: str, data: bytes) -> None:
    field = lab.page.locator("[data-testid='stFileUploader'] input[type='file']").first
    with lab.rerun():
        field.set_input_files(files=[{"name": name, "mimeType": MIME, "buffer": data}])


def _paper_scan_of_a_seven() -> bytes:
    """A held-out 7 that the shipped model reads correctly, drawn dark on light and enlarged,
    the way a photo or scan of handwriting looks."""
    split, model = embedded_mnist(), load_default()
    for x, y in zip(split.x_test, split.y_test):
        if y != 7:
            continue
        digit = torch.from_numpy(prepare_digit(ink_from_grey(x))).view(1, 1, 28, 28)
        with torch.no_grad():
            if int(model(digit).argmax()) == 7:
                break
    paper = Image.fromarray(((1.0 - x) * 255).astype(np.uint8)).resize((200, 200), Image.BILINEAR)
    buf = io.BytesIO()
    paper.save(buf, format="PNG")
    return buf.getvalue()


def test_corrupt_upload_is_refused_and_loses_nothing(lab):
    lab.open("cnn")
    digit0, text0 = prediction(lab)
    _choose_upload(lab)
    _upload(lab, "digit.png", b"\x89PNG\r\n\x1a\n this is not really an image")
    alerts = lab.page.locator("[data-testid='stAlert']").all_inner_texts()
    joined = "\n".join(alerts)
    assert lessons.text("common", "err_not_image", "en") in joined, joined
    assert lessons.text("common", "upload_keep", "en") in joined, joined
    assert prediction(lab) == (digit0, text0), "a refused upload changed the digit"
    lab.shot("cnn-upload-corrupt")


def test_uploaded_picture_becomes_the_digit(lab):
    lab.open("cnn")
    _choose_upload(lab)
    _upload(lab, "seven.png", _paper_scan_of_a_seven())
    lab.assert_clean()
    digit, _ = prediction(lab)
    assert digit == "7", f"an uploaded 7 was read as {digit}"
    caption = lessons.text("common", "current_from_upload", "en")
    assert lab.page.get_by_text(caption).count() > 0, f"caption {caption!r} missing after the upload"
    lab.shot("cnn-upload-seven")
