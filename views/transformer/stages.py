"""The encoder block stage by stage, in the order the chosen LayerNorm placement computes it: each
stage's heatmap (tokens × features) beside its formula with the numbers of the picked cell."""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from engine.ops.transformer import EncoderRun
from figures.recurrent import token_label
from figures.transformer import token_feature_figure
from views.transformer.parts import chart, heads_grid, t
from views.transformer.tex import attention_latex, ffn_latex, html, layer_norm_latex, residual_latex


@dataclass(frozen=True)
class Flow:
    """The run being drawn, its tokens, and the picked cell: position p, feature k."""

    run: EncoderRun
    tokens: list[str]
    p: int
    k: int


def stage(f: Flow, number: int, title: str, z, fig_title: str, latex: str, key: str,
          note: str | None = None, extra=None, before=None) -> None:
    """A stage of the block: its heatmap (tokens × features) beside its formula. `before` draws
    full-width content under the subheader; `extra`, more figures above the stage's own."""
    st.subheader(f"{number}. {title}")
    if before is not None:
        before()
    # top-aligned: the formula column is often the taller one, and a centred chart would
    # leave a blank above it
    left, right = st.columns(2, vertical_alignment="top")
    with left:
        if extra is not None:
            extra()
        chart(token_feature_figure(z[0], f.tokens, title=fig_title, pick=(f.p, f.k),
                                   feature_label=t("feature_axis")), key)
    with right:
        st.latex(latex)
        if note:
            st.caption(note)


def input_stage(f: Flow) -> None:
    inp, p, k = f.run.input, f.p, f.k
    stage(f, 0, t("stage_input"), f.run.X, t("fig_X"),
          residual_latex("X", "E", "PE", float(inp.embedding[p, k]), float(inp.position[p, k]),
                         float(inp.X[p, k]), p, k),
          "tf_fig_X", note=t("input_note"))


def attention_stage(f: Flow, n: int, src: str) -> None:
    config, enc = f.run.config, f.run.trace
    A = enc.self_attn.inner.output
    stage(f, n, t("stage_attention", src=src), A, t("fig_A"),
          attention_latex(src, config.d_model, config.h, float(A[0, f.p, f.k]), f.p, f.k), "tf_fig_A",
          before=lambda: heads_grid(enc.weights[0], f.tokens, f.tokens, "tf_fig_head"))


def ffn_stage(f: Flow, n: int, src: str) -> None:
    config, enc = f.run.config, f.run.trace
    F = enc.feed_forward.inner.output
    stage(f, n, t("stage_ffn", src=src), F, t("fig_F"),
          ffn_latex(src, config.d_model, config.d_ff, config.activation, float(F[0, f.p, f.k]), f.p, f.k),
          "tf_fig_F", note=t("ffn_note", n=enc.ffn.active_units(0, f.p), d_ff=config.d_ff, p=f.p),
          extra=lambda: chart(token_feature_figure(enc.ffn.activated[0], f.tokens, title=t("fig_hidden"),
                                                   feature_label=t("hidden_axis")), "tf_fig_hidden"))


def norm_stage(f: Flow, n: int, which: int, sub, x_in, src: str, out: str) -> None:
    params, config = f.run.params, f.run.config
    gamma_beta = params.norm1 if which == 1 else params.norm2
    latex = layer_norm_latex(x_in[0, f.p], sub.norm, gamma_beta.weight, gamma_beta.bias, f.p, f.k, config.eps)
    stage(f, n, t("stage_norm", i=which, src=src, out=out), sub.norm.output,
          t("fig_norm", i=which, out=html(out), src=html(src)), latex, f"tf_fig_norm{which}",
          note=t("norm_note", p=f.p, tok=token_label(f.tokens[f.p]), src=f"${src}$"))


def residual_stage(f: Flow, n: int, x_sym: str, f_sym: str, out: str, x_val, f_val, out_val, key: str) -> None:
    p, k = f.p, f.k
    stage(f, n, t("stage_residual", out=out, x=x_sym, f=f_sym), out_val,
          t("fig_residual", out=html(out), x=html(x_sym), f=html(f_sym)),
          residual_latex(out, x_sym, f_sym, float(x_val[0, p, k]), float(f_val[0, p, k]),
                         float(out_val[0, p, k]), p, k), key)


def encoder_stages(f: Flow) -> None:
    """Stages 1–6 of the block in the chosen placement."""
    X, s1, s2 = f.run.X, f.run.trace.self_attn, f.run.trace.feed_forward
    A, F = s1.inner.output, s2.inner.output
    if not f.run.config.norm_first:
        # post-LN: A = MHA(X), R₁ = X + A, Z = LN₁(R₁), F = FFN(Z), R₂ = Z + F, Y = LN₂(R₂)
        attention_stage(f, 1, "X")
        residual_stage(f, 2, "X", "A", "R_1", X, A, s1.residual, "tf_fig_R1")
        norm_stage(f, 3, 1, s1, s1.residual, "R_1", "Z")
        ffn_stage(f, 4, "Z")
        residual_stage(f, 5, "Z", "F", "R_2", s2.x, F, s2.residual, "tf_fig_R2")
        norm_stage(f, 6, 2, s2, s2.residual, "R_2", "Y")
    else:
        # pre-LN: N₁ = LN₁(X), A = MHA(N₁), Z = X + A, N₂ = LN₂(Z), F = FFN(N₂), Y = Z + F
        norm_stage(f, 1, 1, s1, X, "X", "N_1")
        attention_stage(f, 2, "N_1")
        residual_stage(f, 3, "X", "A", "Z", X, A, s1.residual, "tf_fig_R1")
        norm_stage(f, 4, 2, s2, s1.output, "Z", "N_2")
        ffn_stage(f, 5, "N_2")
        residual_stage(f, 6, "Z", "F", "Y", s2.x, F, s2.residual, "tf_fig_R2")
