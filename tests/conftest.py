"""Shared for every test: the repository on sys.path, and no test reading what the machine has
installed. The optional datasets (full MNIST from NML_DATA_DIR, Debian's dataset-fashion-mnist)
are pointed at an empty temporary folder; a test that needs one builds it and points there."""

import os
import sys
from pathlib import Path

import pytest

# `make test` runs two pytest processes side by side (the browser tests, and the rest), so each
# takes one core: NML_THREADS=1 (small torch work is many times slower when two processes each run
# two threads on two cores). NML_THREADS also reaches the app's configure_threads() in AppTest and
# in the browser tests' server.
if os.environ.get("NML_THREADS", "").isdigit():
    import torch

    torch.set_num_threads(int(os.environ["NML_THREADS"]))

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


@pytest.fixture(scope="session")
def no_dataset_dir(tmp_path_factory) -> Path:
    """A folder that does not exist, inside this run's temporary folder."""
    return tmp_path_factory.mktemp("no-datasets") / "absent"


@pytest.fixture(autouse=True)
def _no_installed_datasets(no_dataset_dir, monkeypatch):
    """Fashion-MNIST's folder → a temporary folder that does not exist; NML_DATA_DIR unset. The
    same whether or not `apt-get install dataset-fashion-mnist` was done, or NML_DATA_DIR is set
    in the shell."""
    import engine.data.digits as digits

    monkeypatch.setattr(digits, "FASHION_DIR", no_dataset_dir)
    monkeypatch.delenv("NML_DATA_DIR", raising=False)


# The pretrained models of the "Real models" section, loaded at most once per pytest process and
# shared by every test that asks (installed by `make test` from requirements-models.txt). They are
# the app's own cached loaders (widgets/real_models.py), so the page tests' AppTest runs and the
# unit tests in one process share one copy of each model.
@pytest.fixture(scope="session")
def minilm_ref():
    """transformers' MiniLM (eval, float32, eager attention): .tokenizer, .model."""
    from widgets import real_models

    return real_models._minilm_reference()


@pytest.fixture(scope="session")
def smollm_tok():
    """SmolLM2's tokenizer, built from the GGUF file."""
    from widgets import real_models

    return real_models._smollm_tokenizer()


@pytest.fixture(scope="session")
def smollm():
    """SmolLM2's weights read by our own engine (engine.models.smollm.load)."""
    from widgets import real_models

    return real_models._smollm_engine()


@pytest.fixture(scope="session")
def smollm_ref(smollm_tok):
    """transformers' LlamaForCausalLM from the GGUF file (≈25 s): load it in as few tests as possible."""
    from engine.models import pretrained

    return pretrained.smollm_reference(smollm_tok)
