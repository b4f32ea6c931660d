"""The nine errata in the order of the errata table (docs/ARCHITECTURE.md): each wrong form beside
the right one in LaTeX, the lesson it belongs to, and what its frame draws; and the table at a glance."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from engine.ops.errata_cases import D_FLOW, ENC, SIDE
from views.errata import bodies
from views.errata.parts import Cases, Erratum, fmt, t


def glance(c: Cases) -> list[tuple[str, str]]:
    """(erratum key, the one-line evidence computed for it)."""
    conv, pe = c.conv, c.pe
    return [
        ("attention", t("attention_glance", delta=f"{c.att.trace.max_abs_delta:.3f}")),
        ("positional", t("positional_glance", pos=pe.pos, a=2 * pe.i, s=fmt(pe.sin), c=fmt(pe.cos))),
        ("conv", t("conv_glance", n=conv.wrong.shape[0], m=conv.right.shape[0],
                   right=f"{float(conv.right[0, 0]):g}", wrong=f"{float(conv.wrong[0, 0]):g}")),
        ("kernels", t("kernels_glance", K=c.kern.maps.shape[0])),
        ("pooling", t("pooling_glance", n=SIDE, m=conv.pooled.shape[0])),
        ("lstm", t("lstm_glance", right=f"{c.lstm.right.loss:.2f}", wrong=f"{c.lstm.no_cell.loss:.2f}")),
        ("ffn", t("ffn_glance", n=c.ffn.trace.n_negative, delta=f"{c.ffn.trace.max_delta:.3f}")),
        ("encoder", t("encoder_glance", a=len(c.enc[0].tokens), b=len(c.enc[1].tokens), d=ENC.d_model)),
        ("flow", t("flow_glance", d=D_FLOW, wrong=f"{c.flow.wrong_stats.max_weight:.2f}",
                   right=f"{c.flow.right_stats.max_weight:.2f}")),
    ]


def glance_table(c: Cases) -> None:
    rows = glance(c)
    st.dataframe(pd.DataFrame({
        "#": list(range(1, len(rows) + 1)),
        t("col_topic"): [t(key + "_title") for key, _ in rows],
        t("col_evidence"): [text for _, text in rows],
    }), hide_index=True, key="er_glance", column_config={  # widths that show every cell whole (820 px)
        "#": st.column_config.NumberColumn(width=36), t("col_topic"): st.column_config.TextColumn(width=372),
        t("col_evidence"): st.column_config.TextColumn(width=410)})


def errata(c: Cases) -> list[Erratum]:
    T_enc, T_enc2 = len(c.enc[0].tokens), len(c.enc[1].tokens)
    return [
        Erratum("attention", "views/attention/page.py",
                r"\operatorname{softmax}\!\Big(\frac{QK^\top}{\sqrt{d_k}}\Big)V = \frac{1}{d_v}\operatorname{softmax}(QK^\top)\,V",
                r"\operatorname{softmax}\!\Big(\frac{QK^\top}{\sqrt{d_k}}\Big)V \;\ne\; c\cdot\operatorname{softmax}(QK^\top)\,V",
                lambda: bodies.attention_body(c.att)),
        Erratum("positional", "views/positional/page.py",
                r"\begin{aligned} PE(i,j) &= \sin\big(i/10000^{2j/d}\big) \\ &= \cos\big(i/10000^{2j/d}\big) \end{aligned}",
                r"\begin{aligned} PE(pos,2i) &= \sin\big(pos/10000^{2i/d}\big) \\ "
                r"PE(pos,2i{+}1) &= \cos\big(pos/10000^{2i/d}\big) \end{aligned}",
                lambda: bodies.pe_body(c.pe)),
        Erratum("conv", "views/conv.py",
                r"\mathrm{out}_{ij} = \sum_k w_{ik,jk}\cdot \mathrm{in}_{ij} + b",
                r"\begin{aligned} \mathrm{out}[i,j] &= \sum_c \sum_{m,n} w[c,m,n] \\ "
                r"&\qquad \cdot x[c,\; i\cdot s+m,\; j\cdot s+n] + b \end{aligned}",
                lambda: bodies.conv_body(c.conv)),
        Erratum("kernels", "views/conv.py",
                r"f(x) = \sum_{i=1}^{32} w_i * x_i + b",
                r"z_o = w_o \star x + b_o,\quad o = 1,\dots,32",
                lambda: bodies.kernels_body(c.kern)),
        Erratum("pooling", "views/pooling.py",
                r"\mathrm{out}_{ij} = \max(\mathrm{in}_{ij})",
                r"\mathrm{out}[i,j] = \max_{0 \le m,\,n < k} x[i\cdot s+m,\; j\cdot s+n]",
                lambda: bodies.pooling_body(c.conv)),
        Erratum("lstm", "views/lstm/page.py",
                rf"\begin{{aligned}} &\text{{{t('tex_lstm_article')}}} \\ "
                r"&g_{\cdot,t} = \operatorname{act}(W_\cdot h_{t-1} + W_x x_t + b_\cdot) \\ "
                rf"&\quad \cdot \in \{{f, i, o\}},\ \text{{{t('tex_lstm_shared')}}} \\ "
                rf"&\text{{{t('tex_lstm_nearest')}}} \\ &\text{{{t('tex_lstm_nearest2')}}} \\ "
                r"&h_t = o_t \odot \tanh(i_t \odot g_t) \end{aligned}",
                r"\begin{aligned} i_t &= \sigma(W_{xi}x_t + W_{hi}h_{t-1} + b_i) \\ "
                r"f_t &= \sigma(W_{xf}x_t + W_{hf}h_{t-1} + b_f) \\ "
                r"g_t &= \tanh(W_{xg}x_t + W_{hg}h_{t-1} + b_g) \\ "
                r"o_t &= \sigma(W_{xo}x_t + W_{ho}h_{t-1} + b_o) \\ "
                r"c_t &= f_t\odot c_{t-1} + i_t\odot g_t \\ h_t &= o_t\odot\tanh(c_t) \end{aligned}",
                lambda: bodies.lstm_body(c.lstm)),
        Erratum("ffn", "views/transformer/page.py",
                r"\mathrm{FFN}(x) = \mathrm{act}\big(W_2\,\mathrm{act}(W_1x + b_1)\big) + b_2",
                r"\mathrm{FFN}(x) = W_2\,\mathrm{act}(W_1x + b_1) + b_2",
                lambda: bodies.ffn_body(c.ffn)),
        Erratum("encoder", "views/transformer/page.py",
                rf"\mathrm{{Encoder}}(x_1,\dots,x_T) = c \in \mathbb{{R}}^{{{ENC.d_model}}}",
                rf"\begin{{aligned}} \mathrm{{Encoder}}(x_1,\dots,x_T) &= (y_1,\dots,y_T) \\ &\in \mathbb{{R}}^{{T\times {ENC.d_model}}}"
                rf"\quad (T = {T_enc},\ {T_enc2}) \end{{aligned}}",
                lambda: bodies.encoder_body(c.enc)),
        Erratum("flow", "views/attention/page.py",
                rf"\begin{{aligned}} &\text{{{t('tex_chart')}}} \\ &Q \to K \to V \to \text{{{t('tex_dot')}}} \\ "
                rf"&\to \operatorname{{softmax}} \to \text{{{t('tex_wsum')}}} \\ &\to \text{{{t('tex_output')}}} \\ "
                rf"&(\text{{{t('tex_no_scale')}}}) \end{{aligned}}",
                rf"\begin{{aligned}} S &= QK^\top/\sqrt{{d_k}} && \text{{{t('tex_qk_only')}}} \\ "
                rf"A &= \operatorname{{softmax}}_{{\text{{{t('tex_keys')}}}}}(S) \\ "
                rf"Y &= A\,V && \text{{{t('tex_v_here')}}} \end{{aligned}}",
                lambda: bodies.flow_body(c.flow)),
    ]
