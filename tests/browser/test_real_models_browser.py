"""The sentence encoder's model view in a real browser: a click on one of the 72 small maps picks
that layer and head (a plotly click event reaching Streamlit's on_select, which only a browser
produces); the pickers and the head view follow, and the page stays clean."""

from __future__ import annotations

import lessons

GRID = ".st-key-enc_grid .js-plotly-plot"


def tile_centre(lab, layer: int, head: int) -> tuple[float, float]:
    """Page coordinates of tile (layer, head) (from 0): the click marker's data point through the
    axes' own data-to-pixel maps."""
    return tuple(lab.page.evaluate(
        """([sel, l, h]) => {
             const p = document.querySelector(sel), m = p.data[1], H = 12;
             const i = l * H + h, fl = p._fullLayout, box = p.getBoundingClientRect();
             return [box.left + fl.xaxis._offset + fl.xaxis.d2p(m.x[i]),
                     box.top + fl.yaxis._offset + fl.yaxis.d2p(m.y[i])]; }""", [GRID, layer, head]))


def headers(lab) -> list[str]:
    return [s.strip() for s in lab.page.locator("[data-testid='stMain'] h2").all_inner_texts()]


def test_a_click_on_the_model_view_picks_that_head(lab):
    lab.open("minilm")
    assert lessons.text("minilm", "head_view_header", "en", l=1, h=1) in headers(lab)
    lab.page.locator(GRID).scroll_into_view_if_needed()
    x, y = tile_centre(lab, 2, 4)
    with lab.rerun():
        lab.page.mouse.click(x, y)
    assert lessons.text("minilm", "head_view_header", "en", l=3, h=5) in headers(lab), headers(lab)
    lab.assert_clean()
    lab.assert_formulas_fit()
