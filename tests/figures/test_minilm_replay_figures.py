"""figures/minilm_replay.py: the LaTeX carries the model's real sizes and the written-out numbers;
tokens are escaped for KaTeX; the gap figure draws one bar per depth and quantity on a log axis."""

from __future__ import annotations

import math

import pytest
import torch

from engine.models.minilm import Comparison, LayerGap, MiniLMConfig, QueryScores
from figures import minilm_replay as fm


def _comparison(dtype, scale):
    gaps = (LayerGap(0, 1 * scale, None), *(LayerGap(l, l * scale, 0.5 * l * scale) for l in range(1, 7)))
    return Comparison(dtype, gaps)


def test_model_and_sizes_latex_carry_the_real_dimensions():
    c = MiniLMConfig()
    model, sizes = fm.model_latex(c), fm.sizes_latex(c)
    assert r"\sqrt{32}" in model and r"\mathrm{head}_{12}" in model and "10^{-12}" in model
    assert r"l = 1,\dots,6" in model
    for shape in (r"30522\times 384", r"512\times 384", r"2\times 384", r"32\times 384",
                  r"384\times 384", r"1536\times 384", r"384\times 1536"):
        assert shape in sizes
    assert "d_k &= 384/12 = 32" in sizes and r"12\cdot 32 &= 384" in sizes
    shapes = fm.shapes_latex(c, 17)
    assert r"17\times 384" in shapes and r"17\times 17" in shapes and r"6\times 12\times 17\times 17" in shapes


def test_tokens_are_escaped():
    assert fm.tex_text("##ing") == r"\text{\#\#ing}"
    assert fm.tex_text("a_b{c}$%&") == r"\text{a\_b\{c\}\$\%\&}"


def test_query_latex_writes_the_numbers():
    gen = torch.Generator().manual_seed(0)
    q, k = torch.randn(32, generator=gen), torch.randn(3, 32, generator=gen)
    dots = k @ q
    weights = torch.softmax(dots / math.sqrt(32), 0)
    s = QueryScores(layer=2, head=4, query=1, keys=(0, 1, 2), q=q, k=k, dots=dots, scaled=dots / math.sqrt(32),
                    weights=weights, row_sum=float(weights.sum()), d_k=32)
    tex = fm.query_latex(s, ["[CLS]", "##ing", "cat"])
    assert f"= {float(dots[0]):.3f}" in tex and f"{float(s.scaled[2]):.3f}" in tex
    assert f"a_{{1,2}} = {float(weights[2]):.4f}" in tex
    assert r"\text{\#\#ing} \to \text{[CLS]}" in tex
    assert r"\sum_{d=1}^{32}" in tex and "5.657" in tex


def test_gap_figure_bars_and_tolerances():
    c32, c64 = _comparison(torch.float32, 1e-6), _comparison(torch.float64, 1e-15)
    depths = ["emb"] + [f"L{l}" for l in range(1, 7)]
    fig = fm.gap_figure(c32, c64, {"hidden": "h", "attention": "A", "tolerance": "tol"}, depths, title="gaps")
    bars = [t for t in fig.data if t.type == "bar"]
    assert len(bars) == 4
    assert list(bars[0].x) == depths and list(bars[1].x) == depths[1:]
    assert bars[0].y[3] == pytest.approx(3e-6) and bars[3].y[0] == pytest.approx(0.5e-15)
    assert fig.layout.yaxis.type == "log"
    lines = [s.y0 for s in fig.layout.shapes]
    assert sorted(lines) == [1e-10, 1e-4]
    with pytest.raises(ValueError):
        fm.gap_figure(c32, c64, {"hidden": "h", "attention": "A", "tolerance": "tol"}, depths[:3])


def test_one_token_through_the_embeddings_and_a_block():
    from engine.models.minilm import EmbeddingTrace
    from engine.ops.layer_norm import layer_norm
    from engine.ops.transformer import BlockConfig, encoder_block, seeded_block_params

    gen = torch.Generator().manual_seed(1)
    word, typ, pos = (torch.randn(1, 3, 8, generator=gen, dtype=torch.float64) for _ in range(3))
    total = word + typ + pos
    e = EmbeddingTrace(word, typ, pos, total, layer_norm(total, None, None, 1e-12))
    tex = fm.embedding_latex(e, 2, token_id=1996, segment=0, eps=1e-12)
    assert r"W_{\text{word}}[1996] &= " + fm.vec(word[0, 2]) in tex
    assert f"{float(e.norm.mean[0, 2]):.4f}" in tex and r"\varepsilon = 10^{-12}" in tex
    assert fm.vec(e.output[0, 2]) in tex
    cfg = BlockConfig(d_model=8, h=2, d_ff=16, activation="gelu")
    b = encoder_block(e.output, seeded_block_params(cfg, 0), 2, activation="gelu", eps=1e-12)
    tex = fm.block_latex(b, 3, 1)
    assert "h^{(2)}_{1}" in tex and "Z^{(3)}_{1}" in tex and "h^{(3)}_{1}" in tex
    active = int((b.ffn.hidden[0, 1] > 0).sum())
    assert f"= {active}/16" in tex and fm.vec(b.output[0, 1]) in tex
    assert fm.vec(torch.tensor([1.0, -2.0])) == "(1.000, -2.000)"
    assert fm.vec(torch.arange(5.0)) == r"(0.000, 1.000, 2.000, \dots)"
