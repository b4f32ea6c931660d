"""What the 4-bit file holds: one weight block of SmolLM2's GGUF file as stored (its bytes, the
scale d, the minimum m, the 32 four-bit integers) decoded from scratch, w = d·q + m with the
numbers; the 16 levels a block can express; the file's size against float32 and float16.

Glue only: lessons/ for the text, engine.ops.block_quant for every number (views/real_gguf/parts.py
opens the file once per server), figures.real_gguf to draw.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from engine.ops.block_quant import (
    BITS_PER_WEIGHT,
    decode_q4_1,
    decode_q8_0,
    fields_of,
    levels,
    n_blocks,
    read_block,
)
from figures import real_gguf as fg
from views.real_gguf import parts
from widgets.blocks import show_code, torch_check
from widgets.i18n import T

t = T("gguf")
MB = 1e6

# ----- title, intuition, formula ----------------------------------------------------------------

st.title(t("title"))
st.markdown(t.section("intuition"))
st.header(t("formula_header"))
st.latex(fg.layout_latex("Q4_1", t("tex_bytes")))
st.markdown(t.section("formula"))

# ----- the choice of a block ----------------------------------------------------------------------

f = parts.gguf_file()
st.header(t("block_header"))
c_kind, c_layer, c_block = st.columns(3, gap="medium", vertical_alignment="bottom")
with c_kind:
    kind = st.selectbox(t("kind"), parts.KINDS, key="gguf_kind", persist_state="session", help=t("kind_help"),
                        format_func=lambda k: f"{k} · {t('kind_' + k)}")
with c_layer:
    layer = st.slider(t("layer"), 0, parts.N_LAYERS - 1, 0, key="gguf_layer", persist_state="session",
                      disabled=kind == "token_embd")
tensor = f.tensors[parts.checked_choice(kind, layer)]
rows, cols = (int(n) for n in reversed(tensor.shape))
with c_block:
    index = st.number_input(t("block"), 0, None, 0, 1, key="gguf_block", persist_state="session",
                            help=t("block_help", last=n_blocks(tensor) - 1))
block = parts.block_or_stop(tensor, int(index))
st.markdown(t("tensor_note", name=tensor.name, type=block.kind, rows=rows, cols=cols,
              n=f"{n_blocks(tensor):,}", per_row=cols // 32, row=block.row, c0=block.col, c1=block.col + 31))
if kind == "token_embd":
    st.caption(t("embd_note", row=block.row))

# ----- the bytes, the integers, the weights ---------------------------------------------------------

st.subheader(t("bytes_header", n=len(block.raw)))
st.markdown(fg.bytes_markdown(fields_of(block), {"d": t("field_d"), "m": t("field_m"), "q": t("field_q")}))
if block.kind != "Q4_1":
    st.latex(fg.layout_latex(block.kind, t("tex_bytes")))
st.markdown(t("d_m_note", d=f"{block.d:.6g}", m=f"{block.m:.6g}") if block.kind == "Q4_1"
            else t("d_note", d=f"{block.d:.6g}"))
st.markdown(t.section("nibbles") if block.kind == "Q4_1" else t("q8_note"))
st.latex(fg.weights_latex(block, (0, 1, 16, 31)))
st.dataframe(pd.DataFrame([[str(q) for q in block.q.tolist()], [f"{w:.5g}" for w in block.w.tolist()]],
                          index=["q_j", "w_j"], columns=[str(j) for j in range(32)]), width="stretch")

# ----- where the weights sit: the block's levels ------------------------------------------------------

st.subheader(t("levels_header"))
grid = levels(block.d, block.m, block.kind)
st.plotly_chart(fg.levels_figure(block, grid, (t("fig_levels"), t("fig_weights")), title=t("levels_title")),
                key="gguf_levels")
if block.kind == "Q4_1":
    used = len(set(block.q.tolist()))
    st.markdown(t("levels_note", lo=f"{block.m:.6g}", hi=f"{float(grid[-1]):.6g}", step=f"{block.d:.6g}",
                  half=f"{block.d / 2:.6g}", used=used))
st.markdown(t.section("honest"))

# ----- the whole file ---------------------------------------------------------------------------------

st.header(t("file_header"))
s = f.summary
st.dataframe(pd.DataFrame({
    t("col_format"): [t("fmt_f32"), t("fmt_f16"), t("fmt_file"), t("fmt_data"), t("fmt_header")],
    t("col_mb"): [round(x / MB, 1) for x in (s.f32_bytes, s.f16_bytes, s.file_bytes, s.data_bytes,
                                            s.file_bytes - s.data_bytes)],
    t("col_vs_f32"): [f"{x / s.f32_bytes:.1%}" for x in (s.f32_bytes, s.f16_bytes, s.file_bytes, s.data_bytes,
                                                          s.file_bytes - s.data_bytes)],
}), hide_index=True, width="stretch")
st.markdown(t("file_note", n=f"{s.n_params:,}", bits=f"{s.bits_per_weight:.2f}"))
st.subheader(t("types_header"))
st.dataframe(pd.DataFrame({
    t("col_type"): list(s.tensors_by_type),
    t("col_count"): list(s.tensors_by_type.values()),
    t("col_weights"): [f"{s.params_by_type[k]:,}" for k in s.tensors_by_type],
    t("col_mb"): [round(s.bytes_by_type[k] / MB, 2) for k in s.tensors_by_type],
    t("col_bits"): [BITS_PER_WEIGHT[k] for k in s.tensors_by_type],
}), hide_index=True, width="stretch")
st.markdown(t.section("types"))

# ----- code and the check ------------------------------------------------------------------------------

st.header(t("code_header"))
show_code(decode_q4_1, decode_q8_0, read_block)
st.header(t("check_header"))
st.markdown(t("check_note", name=tensor.name, n=f"{rows * cols:,}"))
torch_check(parts.tensor_gap(tensor.name), t("check_ref"))

# ----- what next ---------------------------------------------------------------------------------------

st.header(t("next_header"))
st.markdown(t.section("next"))
st.page_link("views/real_inside/page.py", label=t("link_inside"), icon=":material/arrow_back:")
st.page_link("views/quantise/page.py", label=t("link_quantise"), icon=":material/arrow_forward:")
