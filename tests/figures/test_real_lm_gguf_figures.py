"""The next-token page's and the 4-bit file page's figures draw what the traces hold."""

from __future__ import annotations

import numpy as np
import torch

from engine.ops.block_quant import StoredBlock, decode_q4_1, levels
from engine.ops.sampling import KEPT, filter_logits, rows, settings
from figures import real_gguf as fg
from figures import real_lm as fl


def test_token_pieces_stay_inside_their_code_spans():
    md = fl.tokens_markdown(["The", "`", "a``b", "␣x"], [504, 63, 7, 12])
    assert md == "`The`₅₀₄ `` ` ``₆₃ ```a``b```₇ `␣x`₁₂"  # fences longer than any backtick run inside


def test_top_bars_hold_p_T_and_q_with_cut_tokens_grey():
    g = torch.Generator().manual_seed(0)
    tr = filter_logits(torch.randn(500, generator=g, dtype=torch.float64) * 3, settings(0.9, 5, 0.8))
    table = rows(tr, 20)
    fig = fl.top_bars(table, [str(r.token_id) for r in table], ("p_T", "q"))
    p_T, q = fig.data[0], fig.data[1]
    assert list(p_T.y) == [r.p_T for r in table] and list(q.y) == [r.q for r in table]
    assert [c == fl.KEPT_COLOR for c in q.marker.color] == [r.cut == KEPT for r in table]
    assert list(fig.layout.xaxis.ticktext) == [str(r.token_id) for r in table]


def test_levels_figure_puts_every_weight_on_a_level():
    raw = np.random.default_rng(1).integers(0, 256, 20, dtype=np.uint8)
    raw[0:4] = np.frombuffer(np.float16(0.01).tobytes() + np.float16(-0.07).tobytes(), np.uint8)
    dec = decode_q4_1(raw[None])
    block = StoredBlock(tensor="t", kind="Q4_1", index=0, row=0, col=0, raw=raw.tobytes(), d=float(dec.d[0]),
                        m=float(dec.m[0]), q=dec.q[0], w=dec.w[0])
    grid = levels(block.d, block.m)
    fig = fg.levels_figure(block, grid, ("levels", "weights"))
    lines = {y for y in fig.data[0].y if y is not None}
    assert lines == {float(v) for v in grid} and len(lines) == 16
    assert set(float(w) for w in fig.data[1].y) <= lines
    assert "0x0F" in fg.layout_latex("Q4_1") and r"w_j = d\cdot q_j" in fg.layout_latex("Q8_0")


def test_a_token_piece_in_latex_text_is_escaped_once():
    assert fl._tex_text("a\\{b}_^~$%&#") == (r"\text{“a\textbackslash{}\{b\}\_\textasciicircum{}"
                                            r"\textasciitilde{}\$\%\&\#”}")
