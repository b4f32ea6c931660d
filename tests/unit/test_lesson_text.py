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


def test_every_lesson_hands_off_to_other_pages():
    """Every page app.py routes to (home, playground and errata aside: they are maps and tools) ends
    with links to the pages around it: st.page_link or widgets.blocks.hand_off in its files."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    pages = re.findall(r'st\.Page\("(views/[^"]+)"', (root / "app.py").read_text())
    missing = []
    for page in pages:
        if page in ("views/home.py", "views/playground/page.py", "views/errata/page.py"):
            continue
        path = root / page
        files = [path] if path.name != "page.py" else list(path.parent.glob("*.py"))
        if not any(re.search(r"\b(page_link|hand_off)\(", f.read_text()) for f in files):
            missing.append(page)
    assert len(pages) > 20 and not missing, missing
