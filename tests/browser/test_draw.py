"""Drawing on the canvas in a real browser: the digit and the prediction follow the drawing."""

from __future__ import annotations

import math

import lessons

# Strokes in canvas pixels (the canvas is 224×224); a slight slant like a real hand.
ONE = [(108 + 0.15 * k, 30 + 8 * k) for k in range(21)]
ZERO = [(112 + 52 * math.sin(a), 112 - 78 * math.cos(a))
        for a in (2 * math.pi * k / 48 for k in range(51))]


def prediction(lab) -> tuple[str, str]:
    """(predicted digit, whole text) of the CNN page's prediction container."""
    box = lab.page.locator(".st-key-prediction")
    return box.locator("[data-testid='stMetricValue']").inner_text().strip(), box.inner_text()


def test_drawing_changes_the_prediction(lab, publish_shot):
    lab.open("cnn")
    digit0, text0 = prediction(lab)  # the default digit comes from the dataset

    lab.stroke(ONE)
    digit1, text1 = prediction(lab)
    lab.assert_clean()
    lab.shot("cnn-draw-1")
    lab.scroll_to_heading(lessons.text("cnn", "input_header", "en"))
    lab.shot("cnn-draw-1-readme", full=False)
    publish_shot("cnn-draw-1-readme", "cnn_draw_en")
    assert text1 != text0, "the prediction did not change after drawing"
    assert digit1 == "1", f"a drawn vertical stroke was read as {digit1}"

    lab.clear_canvas()
    lab.stroke(ZERO)
    digit2, text2 = prediction(lab)
    lab.assert_clean()
    lab.shot("cnn-draw-0")
    assert text2 != text1
    assert digit2 == "0", f"a drawn ellipse was read as {digit2}"


def current_digit_image(lab):
    """The "What the network sees" image of the shared digit panel."""
    heading = lessons.text("common", "current_digit", "en")
    column = lab.page.locator("[data-testid='stColumn']").filter(has_text=heading).last
    return column.locator("[data-testid='stImage'] img").first


def test_drawing_updates_the_convolution_input(lab):
    lab.open("conv")
    image = current_digit_image(lab)
    src0 = image.get_attribute("src")
    before = lab.signature()

    lab.stroke(ONE)
    image = current_digit_image(lab)
    assert image.get_attribute("src") != src0, "the shown digit did not change after drawing"
    caption = lessons.text("common", "current_from_draw", "en")
    column = lab.page.locator("[data-testid='stColumn']").filter(has_text=caption)
    assert column.count() > 0, f"caption {caption!r} missing after drawing"
    assert lab.signature() != before, "the convolution page did not follow the drawing"
    lab.assert_clean()
    lab.shot("conv-draw-1")
