"""MiniLM encoder speed (issue 12): transformers' forward with every attention weight for a 32-token
sentence (goal ≤ 0.3 s on the 2-core machines), the similarity batch, and the encoder page's rerun
after the learner types a new sentence (a cache miss: tokenize, forward, summaries, figures).

    .venv/bin/python benchmarks/minilm_encoder.py --runs 10

A benchmark, not a test: it prints median and p95 (nearest rank) and exits 0.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("NML_DEVICE", "cpu")

WORDS = ("the quick brown fox jumps over a lazy dog while seven tired sailors sing quietly near "
         "an old lighthouse and the waves keep rolling in from the grey sea tonight").split()


def sentence(i: int, n_tokens: int = 32) -> str:
    """A distinct sentence of n_tokens WordPiece tokens with [CLS] and [SEP] (all words are whole
    pieces of the vocabulary): a new one each run, so no cache helps."""
    words = [WORDS[(i + k) % len(WORDS)] for k in range(n_tokens - 3)]
    return " ".join(words) + f" {i}"


def p95(xs: list[float]) -> float:
    s = sorted(xs)
    return s[max(0, math.ceil(0.95 * len(s)) - 1)]


def report(name: str, xs: list[float], goal: float | None = None) -> None:
    line = f"{name:<44} median {1000 * statistics.median(xs):7.1f} ms   p95 {1000 * p95(xs):7.1f} ms"
    print(line + (f"   goal ≤ {1000 * goal:.0f} ms" if goal else ""))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10)
    runs = parser.parse_args().runs

    import torch

    from engine.models import minilm_hf as mh
    from engine.models import pretrained

    torch.set_num_threads(int(os.environ.get("NML_THREADS", "2")))
    t0 = time.perf_counter()
    ref = pretrained.minilm_reference()
    print(f"cold load (tokenizer + BertModel): {time.perf_counter() - t0:.1f} s")
    mh.run(ref, sentence(-1))  # warm-up
    times, lengths = [], set()
    for i in range(runs):
        t0 = time.perf_counter()
        tr = mh.run(ref, sentence(i))
        times.append(time.perf_counter() - t0)
        lengths.add(tr.tokens.T)
    report(f"forward + attentions, T = {sorted(lengths)}", times, goal=0.3)
    lines = "\n".join(sentence(100 + k, 16) for k in range(mh.MAX_SENTENCES))
    times = []
    for i in range(runs):
        t0 = time.perf_counter()
        mh.compare(ref, lines + f" {i}")
        times.append(time.perf_counter() - t0)
    report(f"similarity, {mh.MAX_SENTENCES} sentences of 16 tokens", times)

    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.run()
    at.switch_page("views/real_encoder/page.py").run()
    times = []
    for i in range(runs):
        at.text_input(key="enc_text_a").input(sentence(1000 + i))
        t0 = time.perf_counter()
        at.run()
        times.append(time.perf_counter() - t0)
        assert not at.exception, [e.value for e in at.exception]
    report("encoder page rerun after a new sentence", times, goal=0.4)


if __name__ == "__main__":
    main()
