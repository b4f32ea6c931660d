"""The Transformer page's inputs and drawing helpers: the learner's sentence as tokens, a text box
whose example follows the language, charts, the per-head maps, and the position tables."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from engine.data.tokens import TokenError, tokenize
from engine.ops.layer_norm import position_moments
from figures.recurrent import token_label
from figures.transformer import attention_figure, symmetric_range, token_feature_figure
from widgets import blocks
from widgets.i18n import T

t = T("transformer")
MAX_TOKENS = 12  # the page's bound on a sentence (engine.limits allows more): heatmaps stay readable
HEADS_PER_ROW = 4
GRID_ANNOTATE_MAX = 5  # numbers in the small per-head maps up to this many tokens


def sentence(raw: str, empty_key: str) -> list[str] | None:
    """The learner's text as tokens, at most MAX_TOKENS (a warning says what was cut); None, with
    a friendly note, when there are no words."""
    text, n = raw.strip(), None
    while True:
        try:
            tokens = tokenize(text)
            break
        except TokenError as e:
            if e.code != "too_many_tokens":
                st.info(t(empty_key))
                return None
            # far past the engine's bound: keep a prefix it accepts
            n = n or e.params["n"]
            text = text[: len(text) // 2]
    n = n or len(tokens)
    if n > MAX_TOKENS:
        tokens = tokens[:MAX_TOKENS]
        st.warning(t("too_long", n=n, max=MAX_TOKENS, kept=" ".join(token_label(x) for x in tokens)))
    return tokens


def localized_text_input(label: str, key: str, default_key: str, **kw) -> str:
    """The shared language-following text box (widgets.blocks) with this page's examples."""
    return blocks.localized_text_input(t, label, key, default_key, **kw)


def chart(fig, key: str) -> None:
    st.plotly_chart(fig, key=key, config={"displayModeBar": False})


def features(z, tokens, title: str, key: str, **kw) -> None:
    """A tokens × features heatmap of z (T, d)."""
    chart(token_feature_figure(z, tokens, title=title, feature_label=t("feature_axis"), **kw), key)


def heads_grid(weights, q_tokens, k_tokens, key: str) -> None:
    """One small heatmap per head (weights (h, T, S)), HEADS_PER_ROW to a row, on one colour
    scale: 0 … the largest weight of any head."""
    h, T_q = weights.shape[0], weights.shape[-1]
    zmax = symmetric_range(weights)
    st.caption(t("heads_help", zmax=f"{zmax:.2f}", T=T_q, uniform=f"{1 / T_q:.2f}"))
    for start in range(0, h, HEADS_PER_ROW):
        cols = st.columns(HEADS_PER_ROW)
        for i in range(start, min(start + HEADS_PER_ROW, h)):
            with cols[i - start]:
                chart(attention_figure(weights[i], q_tokens, k_tokens, title=t("head_title", i=i + 1),
                                       annotate=len(q_tokens) <= GRID_ANNOTATE_MAX, zmax=zmax), f"{key}_{i}")


def position_labels(tokens) -> list[str]:
    return [f"{i} · {token_label(x)}" for i, x in enumerate(tokens)]


def norm_table(sub, tokens) -> pd.DataFrame:
    """Per position: the LayerNorm's input μ, σ², and the mean and variance of x̂ (checked anew)."""
    mean_hat, var_hat = position_moments(sub.norm.normalized[0])
    return pd.DataFrame({
        t("col_token"): position_labels(tokens),
        "μ": [f"{v:+.4f}" for v in sub.norm.mean[0].tolist()],
        "σ²": [f"{v:.4f}" for v in sub.norm.var[0].tolist()],
        t("col_mean_hat"): [f"{v:+.1e}" for v in mean_hat.tolist()],
        t("col_var_hat"): [f"{v:.6f}" for v in var_hat.tolist()],
    })


def order_table(post, pre, tokens) -> pd.DataFrame:
    """Per position: mean and variance of the post-LN and the pre-LN block outputs."""
    post_mean, post_var = position_moments(post.output[0])
    pre_mean, pre_var = position_moments(pre.output[0])
    return pd.DataFrame({
        t("col_token"): position_labels(tokens),
        t("col_post_mean"): [f"{v:+.4f}" for v in post_mean.tolist()],
        t("col_post_var"): [f"{v:.4f}" for v in post_var.tolist()],
        t("col_pre_mean"): [f"{v:+.4f}" for v in pre_mean.tolist()],
        t("col_pre_var"): [f"{v:.4f}" for v in pre_var.tolist()],
    })


def shape(x) -> str:
    return " × ".join(str(n) for n in x.shape)
