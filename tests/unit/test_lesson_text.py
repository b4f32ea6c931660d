"""Lesson prose stays true as the app grows: no lesson announces a page as still to come (every
page the sidebar routes to has shipped; the RNN lesson once called the LSTM page "coming next")."""

import re
from pathlib import Path

import pytest

LESSONS = Path(__file__).resolve().parents[2] / "lessons"
STALE = re.compile(r"coming (next|soon)|\(coming\)|即将推出|敬请期待", re.IGNORECASE)


@pytest.mark.parametrize("path", sorted(LESSONS.glob("*/*.md")), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_no_lesson_announces_a_page_still_to_come(path):
    hits = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if STALE.search(line)]
    assert not hits, hits


def test_the_cnn_page_writes_cross_correlation_as_the_convolution_page_does():
    """⋆ is cross-correlation on the convolution page (x ⋆ w) and * the flipped, true convolution:
    the CNN page's equations and lesson use ⋆ for what its layers compute."""
    from engine.models.cnn import SeedCNN, summary
    from figures.cnn import pipeline_latex

    latex = pipeline_latex(summary(SeedCNN()))
    assert latex.count(r"\star") == 3 and " * " not in latex
    for lang in ("en", "zh"):
        text = (LESSONS / lang / "cnn.md").read_text(encoding="utf-8")
        assert "`*`" not in text and "⋆" in text
