"""The deep link on a cold server: the first visitor after a (re)start may arrive by a bookmark.

Every page's rendering in both languages, its formulas' layout and the offline check are one
walk in test_language.py; what each page computes and shows is proven by its AppTest file
(tests/pages/)."""

from __future__ import annotations

import lessons
from tests.browser.test_language import ORDER


def test_deep_link_on_fresh_server(fresh_lab):
    fresh_lab.open("pooling")
    assert fresh_lab.h1() == lessons.text("pooling", "title", "en")
    assert len(fresh_lab.nav_labels()) == len(ORDER)
    fresh_lab.assert_clean()
    assert not fresh_lab.foreign_requests(), fresh_lab.foreign_requests()
