"""Formula errata: every wrong form of DESIGN.md's errata table beside the correct one, typeset, with
a counterexample computed live by the engine on seeded random inputs (attention both ways, PE's
sin = cos, a convolution and a max pooling without their window, 32 kernels summed into one map,
an LSTM without its cell state, the FFN with an outer activation, the encoder's "one vector", the
softmax moved to the end of the attention flow), a one-line why, a link to the lesson, and the
right forms checked against PyTorch."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import streamlit as st
import torch
import torch.nn.functional as F
from streamlit.errors import StreamlitPageNotFoundError

from engine.data.corpus import CorpusError, decode, encode
from engine.data.digits import DataError, embedded_mnist
from engine.data.tokens import TokenError, tokenize
from engine.models import char_rnn
from engine.models.cnn import CHECKPOINT, load_default
from engine.ops import lstm_units as lstm_probe
from engine.ops.attention import scaled_dot_product
from engine.ops.attention_setup import wrong_identity
from engine.ops.conv import conv2d, conv_cell, glorot_filters
from engine.ops.errata import (
    attention_softmax_last,
    conv_without_window,
    kernels_summed,
    pool_without_window,
)
from engine.ops.lstm_units import Ablation, predict
from engine.ops.pooling import max_pool2d
from engine.ops.positional import sinusoidal
from engine.ops.recurrent import seeded_uniform
from engine.ops.transformer import (
    BlockConfig,
    encoder_block,
    seeded_block_params,
    torch_encoder_layer,
)
from engine.ops.transformer_setup import block_input, ffn_outer_activation
from figures.common import mosaic_figure
from figures.formula import curves_figure, matrix_figure
from figures.recurrent import char_labels
from widgets import blocks
from widgets.blocks import show_code, torch_check
from widgets.i18n import T
from widgets.latex import num

t = T("errata")
SEED_MAX = 9999
T_ATT, D_ATT = 4, 4  # attention: tokens and d_k = d_v
L_PE, D_PE = 50, 16  # positional table
SIDE, K_SIZE = 6, 3  # the toy image and kernel of the convolution and pooling rows
PASSAGE = 120  # characters of held-out text for the LSTM row
SHOWN_CHARS = 60  # of them drawn in the c_t figure
ENC = BlockConfig(d_model=16, h=4, d_ff=32)
FFN_T, FFN_D = 4, 8
TOL = 1e-9


def checked(name: str, value: int) -> int:
    return blocks.checked(t, name, value)


def gen(seed: int, salt: int) -> torch.Generator:
    """One generator per erratum, so redrawing one input never shifts another's numbers."""
    return torch.Generator().manual_seed(int(seed) * 101 + salt)


def link(page: str, label: str) -> None:
    """A link to the lesson (a caption when this page runs on its own, outside the app)."""
    try:
        st.page_link(page, label=label, icon=":material/school:")
    except StreamlitPageNotFoundError:
        st.caption(f"→ {label}")


def fmt(v: float, digits: int = 4) -> str:
    return f"{v:.{digits}f}"


def vec(values, digits: int = 3) -> str:
    return "(" + ", ".join(f"{float(v):.{digits}f}" for v in values) + ")"


# ----- the computations (engine only), cached per seed ----------------------------------------


@st.cache_data(show_spinner=False, max_entries=32)
def attention_case(seed: int) -> dict:
    g = gen(seed, 1)
    # three (T, d) matrices from N(0, 1)
    Q, K, V = (torch.randn(T_ATT, D_ATT, generator=g, dtype=torch.float64) for _ in range(3))
    w = wrong_identity(Q, K, V)
    ratio = (w.correct / w.wrong).flatten()
    return {"Q": Q, "K": K, "V": V, "trace": w, "ratio": (float(ratio.min()), float(ratio.max()))}


@st.cache_data(show_spinner=False, max_entries=32)
def pe_case(seed: int) -> dict:
    g = gen(seed, 2)
    pos = int(torch.randint(1, L_PE, (1,), generator=g))
    # pair 1 or 2: waves that turn visibly within L_PE positions (pair 0's period, 2π, is too short
    # for whole-number positions to draw it smoothly)
    i = int(torch.randint(1, 3, (1,), generator=g))
    PE = sinusoidal(L_PE, D_PE)
    return {"PE": PE, "pos": pos, "i": i, "sin": float(PE[pos, 2 * i]), "cos": float(PE[pos, 2 * i + 1])}


@st.cache_data(show_spinner=False, max_entries=32)
def conv_case(seed: int) -> dict:
    g = gen(seed, 3)
    # a small integer image and kernel, so every product can be checked by hand
    x = torch.randint(0, 10, (SIDE, SIDE), generator=g).double()
    w = torch.randint(-2, 3, (K_SIZE, K_SIZE), generator=g).double()
    if float(w.sum()) == 0:
        w[K_SIZE // 2, K_SIZE // 2] += 1  # Σ w ≠ 0: the wrong form is then a visible copy of x, not a constant
    b = torch.tensor([1.0], dtype=torch.float64)
    right = conv2d(x[None, None], w[None, None], b)[0, 0]
    wrong = conv_without_window(x[None, None], w[None, None], b)[0, 0]
    pooled = max_pool2d(x[None, None], 2)[0, 0]
    unpooled = pool_without_window(x[None, None])[0, 0]
    return {"x": x, "w": w, "b": 1.0, "right": right, "wrong": wrong, "cell": conv_cell(x, w, 1.0, 0, 0),
            "pooled": pooled, "unpooled": unpooled}


@st.cache_resource(show_spinner=False)
def first_layer(mtime: float | None) -> tuple[torch.Tensor, torch.Tensor, bool]:
    """The shipped CNN's 32 first-layer filters (32, 1, 3, 3) and biases, else Glorot ones."""
    model = None
    if mtime is not None:
        try:
            model = load_default()
        except Exception:  # a half-written or foreign file: fall back rather than fail the page
            model = None
    if model is None:
        return glorot_filters(32, 1, 3, seed=0).double(), torch.zeros(32, dtype=torch.float64), False
    return model.conv1.weight.detach().double().clone(), model.conv1.bias.detach().double().clone(), True


@st.cache_data(show_spinner=False, max_entries=32)
def kernels_case(seed: int) -> dict:
    weight, bias, trained = first_layer(CHECKPOINT.stat().st_mtime if CHECKPOINT.exists() else None)
    try:
        split = embedded_mnist()
        index = int(seed) % len(split.x_test)
        x = torch.from_numpy(np.asarray(split.x_test[index], dtype=np.float64))
        label = int(split.y_test[index])
    except DataError:
        index, label = None, None
        x = torch.rand(28, 28, generator=gen(seed, 4), dtype=torch.float64)
    maps = conv2d(x[None, None], weight, bias)[0]  # (32, 26, 26)
    summed = kernels_summed(x[None, None], weight, bias)[0, 0]  # (26, 26)
    return {"x": x, "index": index, "label": label, "trained": trained, "weight": weight, "bias": bias,
            "maps": maps, "summed": summed}


@st.cache_resource(show_spinner=False)
def char_model():
    """The shipped char-LSTM's weights (float64) and head, or None if it cannot be loaded."""
    try:
        model = char_rnn.load_default()
    except CorpusError:
        return None
    W = {k: v.double() for k, v in char_rnn.cell_weights(model).items()}
    head = {k: v.double() for k, v in char_rnn.head_weights(model).items()}
    return W, head


@st.cache_data(show_spinner=False, max_entries=32)
def lstm_case(seed: int) -> dict:
    loaded = char_model()
    if loaded is None:
        H, V = 64, len(char_rnn.VOCAB)
        R = seeded_uniform({"weight_ih": (4 * H, V), "weight_hh": (4 * H, H), "bias_ih": (4 * H,),
                            "bias_hh": (4 * H,), "W_hy": (V, H), "b_y": (V,)}, H, seed)
        W, head = {k: R[k] for k in lstm_probe.WEIGHTS}, {"W_hy": R["W_hy"], "b_y": R["b_y"]}
        passage = "to be, or not to be, that is the question: whether 'tis nobler in the mind to suffer "
    else:
        W, head = loaded
        text = char_rnn.held_out_text(char_rnn.MAX_SAMPLE_CHARS)
        start = int(torch.randint(0, len(text) - 2 * PASSAGE, (1,), generator=gen(seed, 5)))
        # begin at a word: just after the next space or line break
        start = min((p for p in (text.find(" ", start), text.find("\n", start)) if p >= 0), default=start - 1) + 1
        passage = text[start:start + PASSAGE]
    ids = encode(passage)
    # ids (T,) → x (T, 1, V): one-hot, a batch of one
    x = F.one_hot(ids, len(char_rnn.VOCAB)).double()[:, None, :]
    out = {"text": decode(ids), "trained": loaded is not None, "W": W, "x": x}
    for name, ablation in (("right", lstm_probe.INTACT), ("no_cell", Ablation(force_f=0.0)),
                           ("shared_wx", Ablation(shared_wx=True))):
        trace = lstm_probe.run(x, W, ablation)
        pred = predict(trace.h[:, 0], head["W_hy"], head["b_y"], ids)
        out[name] = {"c": trace.c[:, 0], "h": trace.h[:, 0], "loss": pred.mean_loss, "acc": pred.accuracy(ids)}
    return out


@st.cache_data(show_spinner=False, max_entries=32)
def ffn_case(seed: int) -> dict:
    P = seeded_block_params(BlockConfig(d_model=FFN_D, h=2, d_ff=4 * FFN_D), seed).ffn
    x = torch.randn(FFN_T, FFN_D, generator=gen(seed, 6), dtype=torch.float64)
    tr = ffn_outer_activation(x, P.W_1, P.b_1, P.W_2, P.b_2, "relu")
    return {"x": x, "P": P, "trace": tr}


@st.cache_data(show_spinner=False, max_entries=32)
def encoder_case(sentences: tuple[str, ...], seed: int) -> list[dict]:
    params = seeded_block_params(ENC, seed)
    out = []
    for sentence in sentences:
        tokens = tokenize(sentence)
        # (T, d) → (1, T, d): a batch of one sentence
        X = block_input(tokens, ENC.d_model, seed).X[None]
        enc = encoder_block(X, params, ENC.h)
        Y = enc.output[0]
        distances = torch.cdist(Y, Y) + torch.eye(len(tokens), dtype=Y.dtype) * 1e9
        out.append({"tokens": tokens, "X": X, "Y": Y, "min_distance": float(distances.min()),
                    "params": params})
    return out


@st.cache_data(show_spinner=False, max_entries=32)
def flow_case(seed: int) -> dict:
    case = attention_case(seed)
    Q, K, V = case["Q"], case["K"], case["V"]
    right, right2 = scaled_dot_product(Q, K, V), scaled_dot_product(Q, K, 2 * V)
    wrong, wrong2 = attention_softmax_last(Q, K, V), attention_softmax_last(Q, K, 2 * V)
    return {"right": right, "wrong": wrong,
            "weights_delta": float((right2.weights - right.weights).abs().max()),
            "right_scale": float((right2.output - 2 * right.output).abs().max()),
            "wrong_scale": float((wrong2 - 2 * wrong).abs().max()),
            "wrong_rows": float((wrong.sum(dim=-1) - 1).abs().max()),
            "right_rows": float((right.output.sum(dim=-1) - 1).abs().max())}


# ----- drawing ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Erratum:
    key: str
    page: str
    wrong: str  # LaTeX
    right: str


def frame(n: int, e: Erratum, body) -> None:
    """One erratum: wrong (✗) beside right (✓), the computed numbers, why, and the lesson."""
    with st.container(border=True):
        st.subheader(f"{n}. {t(e.key + '_title')}", anchor=f"erratum-{e.key}")
        c_w, c_r = st.columns(2)
        with c_w:
            st.markdown(":red[**✗ " + t("wrong") + "**]")
            st.latex(e.wrong)
        with c_r:
            st.markdown(":green[**✓ " + t("right") + "**]")
            st.latex(e.right)
        body()
        st.markdown(f"**{t('why')}** " + t.section(e.key))
        link(e.page, t(e.key + "_link"))


def attention_body(case: dict) -> None:
    w = case["trace"]
    c1, c2 = st.columns(2)
    top = max(float(w.correct.abs().max()), float(w.wrong.abs().max()))
    with c1:
        st.plotly_chart(matrix_figure(w.correct, title=t("fig_att_right"), zmax=top), key="er_att_right")
    with c2:
        st.plotly_chart(matrix_figure(w.wrong, title=t("fig_att_wrong", d_v=D_ATT), zmax=top), key="er_att_wrong")
    st.latex(rf"\begin{{aligned}} a_1 \text{{ ({t('scaled')})}} &= {vec(w.weights_scaled[0])} \\ "
             rf"a_1 \text{{ ({t('unscaled')})}} &= {vec(w.weights_unscaled[0])} \\ "
             rf"\max|\Delta| &= {w.max_abs_delta:.4f} \end{{aligned}}")
    lo, hi = case["ratio"]
    st.caption(t("att_numbers", T=T_ATT, d=D_ATT, lo=f"{lo:.3f}", hi=f"{hi:.3f}"))


def pe_body(case: dict) -> None:
    pos, i, s, c = case["pos"], case["i"], case["sin"], case["cos"]
    theta = pos / 10000 ** (2 * i / D_PE)
    c1, c2 = st.columns([2, 3])
    with c1:
        st.latex(rf"\begin{{aligned}} \theta &= \frac{{{pos}}}{{10000^{{{2 * i}/{D_PE}}}}} = {theta:.4f} \\ "
                 rf"PE[{pos},{2 * i}] &= \sin\theta = {fmt(s)} \\ PE[{pos},{2 * i + 1}] &= \cos\theta = {fmt(c)} \\ "
                 rf"\sin\theta - \cos\theta &= {fmt(s - c)} \end{{aligned}}")
        st.caption(t("pe_numbers", pos=pos, i=i, a=2 * i, b=2 * i + 1))
    with c2:
        PE = case["PE"]
        st.plotly_chart(curves_figure(list(range(L_PE)), {f"PE[pos, {2 * i}] = sin": PE[:, 2 * i],
                                                         f"PE[pos, {2 * i + 1}] = cos": PE[:, 2 * i + 1]},
                                      x_title="pos", title=t("fig_pe", i=i), height=300), key="er_pe")


def cell_latex(cell, wrong_value: float, w_sum: float, x00: float, b: float) -> str:
    products = [rf"{num(float(w), 0)}\cdot{num(float(x), 0)}" for w, x in zip(cell.kernel.flatten(), cell.patch.flatten())]
    rows = [" + ".join(products[k:k + 3]) for k in range(0, len(products), 3)]
    return (rf"\begin{{aligned}} \text{{{t('right')}}}:\ \mathrm{{out}}[0,0] &= " + r" \\ &\quad + ".join(rows)
            + rf" + {b:g} = {cell.total:g} \\ \text{{{t('wrong')}}}:\ \mathrm{{out}}_{{00}} &= "
            rf"\Big(\textstyle\sum_k w_k\Big)\cdot \mathrm{{in}}_{{00}} + b = {num(w_sum, 0)}\cdot{x00:g} + {b:g}"
            rf" = {wrong_value:g} \end{{aligned}}")


def conv_body(case: dict) -> None:
    x, w, right, wrong = case["x"], case["w"], case["right"], case["wrong"]
    cols = st.columns([3, 2, 3, 3])
    figures = ((x, t("fig_x", n=SIDE), "x"), (w, t("fig_w"), "w"), (right, t("fig_conv_right", n=right.shape[0]), "r"),
               (wrong, t("fig_conv_wrong", n=wrong.shape[0]), "wr"))
    for col, (z, title, k) in zip(cols, figures):
        with col:
            st.plotly_chart(matrix_figure(z, title=title, fmt=".0f", height=260), key=f"er_conv_{k}")
    st.latex(cell_latex(case["cell"], float(wrong[0, 0]), float(w.sum()), float(x[0, 0]), case["b"]))
    st.caption(t("conv_numbers", n=SIDE, k=K_SIZE, out=right.shape[0], s=f"{float(w.sum()):g}"))


def kernels_body(case: dict) -> None:
    maps, summed = case["maps"], case["summed"]
    if case["index"] is not None:
        st.caption(t("digit_note", index=case["index"], label=case["label"]))
    st.caption(t("filters_trained") if case["trained"] else t("filters_random"))
    c1, c2 = st.columns([3, 1])
    with c1:
        st.plotly_chart(mosaic_figure(maps, 8, title=t("fig_maps", K=maps.shape[0]), colorscale="RdBu_r", zmid=0.0,
                                      labels=[str(o) for o in range(maps.shape[0])]), key="er_maps")
    with c2:
        st.plotly_chart(matrix_figure(summed, title=t("fig_summed"), annotate=False, height=300), key="er_summed")
    # the cell where the kernels respond most, in total (a digit's centre is often blank)
    i, j = divmod(int(maps.abs().sum(dim=0).argmax()), maps.shape[-1])
    values = maps[:, i, j]
    shown = ", ".join(f"{float(v):.2f}" for v in values[:6])
    st.latex(rf"\begin{{aligned}} (z_1,\dots,z_{{{len(values)}}})[{i},{j}] &= ({shown}, \dots) \\ "
             rf"\textstyle\sum_o z_o[{i},{j}] &= {float(summed[i, j]):.3f} \end{{aligned}}")
    C, H, W = maps.shape
    st.caption(t("kernels_numbers", K=C, H=H, W=W, n=C * H * W, m=H * W))


def pooling_body(case: dict) -> None:
    x, pooled, unpooled = case["x"], case["pooled"], case["unpooled"]
    cols = st.columns(3)
    for col, (z, title, k) in zip(cols, ((x, t("fig_x", n=SIDE), "x"), (pooled, t("fig_pool_right"), "r"),
                                         (unpooled, t("fig_pool_wrong"), "w"))):
        with col:
            st.plotly_chart(matrix_figure(z, title=title, fmt=".0f", height=260), key=f"er_pool_{k}")
    window = ", ".join(f"{float(v):g}" for v in x[:2, :2].flatten())
    st.latex(rf"\begin{{aligned}} \text{{{t('right')}}}:\ \mathrm{{out}}[0,0] &= \max({window}) = {float(pooled[0, 0]):g} \\ "
             rf"\text{{{t('wrong')}}}:\ \mathrm{{out}}_{{00}} &= \max(\mathrm{{in}}_{{00}}) = \max({float(x[0, 0]):g}) = "
             rf"{float(unpooled[0, 0]):g} \end{{aligned}}")
    st.caption(t("pool_numbers", delta=f"{float((unpooled - x).abs().max()):g}", n=SIDE, m=pooled.shape[0]))


def lstm_body(case: dict) -> None:
    st.caption(t("lstm_trained") if case["trained"] else t("lstm_random"))
    shown = case["text"][:SHOWN_CHARS]
    c = case["right"]["c"]
    j = int(c[:SHOWN_CHARS].std(dim=0).argmax())
    st.plotly_chart(curves_figure(list(range(len(shown))), {
        t("lstm_c_right", j=j): c[:SHOWN_CHARS, j], t("lstm_c_wrong", j=j): case["no_cell"]["c"][:SHOWN_CHARS, j]},
        x_title=t("step_axis"), y_title=f"c<sub>t</sub>[{j}]", tick_text=char_labels(shown), markers=True,
        title=t("fig_lstm", j=j), height=320), key="er_lstm")
    st.dataframe(pd.DataFrame({
        t("col_model"): [t("lstm_row_right"), t("lstm_row_no_cell"), t("lstm_row_shared")],
        t("col_loss"): [f"{case[k]['loss']:.3f}" for k in ("right", "no_cell", "shared_wx")],
        t("col_acc"): [f"{100 * case[k]['acc']:.0f} %" for k in ("right", "no_cell", "shared_wx")],
    }), hide_index=True, key="er_lstm_table")
    st.caption(t("lstm_numbers", n=len(case["text"]), text=case["text"][:40].replace("\n", " ").strip()))


def ffn_body(case: dict) -> None:
    tr = case["trace"]
    top = max(float(tr.right.output.abs().max()), float(tr.wrong.abs().max()))
    c1, c2 = st.columns(2)
    with c1:
        st.plotly_chart(matrix_figure(tr.right.output, title=t("fig_ffn_right"), zmax=top), key="er_ffn_right")
    with c2:
        st.plotly_chart(matrix_figure(tr.wrong, title=t("fig_ffn_wrong"), zmax=top), key="er_ffn_wrong")
    n_neg, total = int(tr.negative.sum()), tr.projected.numel()
    floor = float((tr.wrong - case["P"].b_2).min())
    m1, m2, m3 = st.columns(3)
    m1.metric(t("metric_ffn_delta"), f"{float(tr.delta.abs().max()):.4f}")
    m2.metric(t("metric_negative"), f"{n_neg} / {total}")
    m3.metric(t("metric_floor"), f"{floor:.4f}")
    st.caption(t("ffn_numbers", T=FFN_T, d=FFN_D, d_ff=4 * FFN_D, n=n_neg, total=total))


def encoder_body(cases: list[dict]) -> None:
    rows = []
    for case in cases:
        T_len = len(case["tokens"])
        rows.append({t("col_sentence"): " ".join(case["tokens"]), t("col_tokens"): T_len,
                     t("col_output"): f"{T_len} × {ENC.d_model}",
                     t("col_distance"): f"{case['min_distance']:.3f}"})
    st.dataframe(pd.DataFrame(rows), hide_index=True, key="er_enc_table")
    first = cases[0]
    st.plotly_chart(matrix_figure(first["Y"], title=t("fig_enc", T=len(first["tokens"]), d=ENC.d_model),
                                  row_labels=first["tokens"], annotate=False, height=260), key="er_enc")
    st.caption(t("enc_numbers", d=ENC.d_model, h=ENC.h))


def flow_body(case: dict) -> None:
    right, wrong = case["right"], case["wrong"]
    top = max(float(right.output.abs().max()), float(wrong.abs().max()))
    c1, c2 = st.columns(2)
    with c1:
        st.plotly_chart(matrix_figure(right.output, title=t("fig_flow_right"), zmax=top), key="er_flow_right")
    with c2:
        st.plotly_chart(matrix_figure(wrong, title=t("fig_flow_wrong"), zmax=top), key="er_flow_wrong")
    st.dataframe(pd.DataFrame({
        t("col_property"): [t("flow_weights"), t("flow_linear"), t("flow_rows")],
        t("right"): [f"{case['weights_delta']:.1e}", f"{case['right_scale']:.1e}", f"{case['right_rows']:.3f}"],
        t("wrong"): ["—", f"{case['wrong_scale']:.3f}", f"{case['wrong_rows']:.1e}"],
    }), hide_index=True, key="er_flow_table")
    st.caption(t("flow_numbers"))


def torch_checks(att, conv, kern, lstm, ffn, enc) -> pd.DataFrame:
    """Each right form against PyTorch's own layer or function, float64: (what, reference, max |Δ|)."""
    Q, K, V = att["Q"], att["K"], att["V"]
    x = conv["x"][None, None]
    ref_lstm = torch.nn.LSTM(lstm["x"].shape[-1], lstm["W"]["weight_hh"].shape[1]).double()
    with torch.no_grad():
        for name in lstm_probe.WEIGHTS:
            getattr(ref_lstm, f"{name}_l0").copy_(lstm["W"][name])
        lstm_out, _ = ref_lstm(lstm["x"])
        P = ffn["P"]
        ffn_ref = F.linear(F.relu(F.linear(ffn["x"], P.W_1, P.b_1)), P.W_2, P.b_2)
        enc_ref = torch_encoder_layer(ENC, enc[0]["params"])(enc[0]["X"])[0]
    rows = [
        ("attention", "F.scaled_dot_product_attention", att["trace"].correct, F.scaled_dot_product_attention(Q, K, V)),
        ("conv", "F.conv2d", conv["right"], F.conv2d(x, conv["w"][None, None], torch.tensor([conv["b"]]).double())[0, 0]),
        ("kernels", "F.conv2d", kern["maps"], F.conv2d(kern["x"][None, None], kern["weight"], kern["bias"])[0]),
        ("pooling", "F.max_pool2d", conv["pooled"], F.max_pool2d(x, 2)[0, 0]),
        ("lstm", "nn.LSTM", lstm["right"]["h"], lstm_out[:, 0]),
        ("ffn", "nn.Linear → ReLU → nn.Linear", ffn["trace"].right.output, ffn_ref),
        ("encoder", "nn.TransformerEncoderLayer", enc[0]["Y"], enc_ref),
    ]
    return pd.DataFrame({
        t("col_right_form"): [t(key + "_title") for key, *_ in rows],
        t("col_reference"): [ref for _, ref, *_ in rows],
        "max |Δ|": [float((ours - theirs).abs().max()) for _, _, ours, theirs in rows],
    })


# ----- the page ---------------------------------------------------------------------------------
st.title(t("title"))
st.markdown(t.section("intro"))

c_seed, c_note = st.columns([1, 3])
with c_seed:
    seed = st.number_input(t("seed_label"), 0, SEED_MAX, 0, step=1, key="er_seed", help=t("seed_help"))
if not 0 <= int(seed) <= SEED_MAX:
    st.error(t("err_seed", high=SEED_MAX))
    st.stop()
seed = checked("seed", int(seed))
with c_note:
    st.caption(t("seed_note"))

sentences = (t("sentence_long"), t("sentence_short"))
try:
    for s in sentences:
        checked("tokens", len(tokenize(s)))
except TokenError as exc:
    st.error(t.error(exc))
    st.stop()

with st.spinner(t("spinner")):
    att, pe, conv, kern = attention_case(seed), pe_case(seed), conv_case(seed), kernels_case(seed)
    lstm, ffn, enc, flow = lstm_case(seed), ffn_case(seed), encoder_case(sentences, seed), flow_case(seed)

# ----- at a glance ------------------------------------------------------------------------------
st.header(t("glance_header"))
glance = [
    ("attention", t("attention_glance", delta=f"{att['trace'].max_abs_delta:.3f}")),
    ("positional", t("positional_glance", pos=pe["pos"], a=2 * pe["i"], s=fmt(pe["sin"]), c=fmt(pe["cos"]))),
    ("conv", t("conv_glance", n=conv["wrong"].shape[0], m=conv["right"].shape[0],
                right=f"{float(conv['right'][0, 0]):g}", wrong=f"{float(conv['wrong'][0, 0]):g}")),
    ("kernels", t("kernels_glance", K=kern["maps"].shape[0])),
    ("pooling", t("pooling_glance", n=SIDE, m=conv["pooled"].shape[0])),
    ("lstm", t("lstm_glance", right=f"{lstm['right']['loss']:.2f}", wrong=f"{lstm['no_cell']['loss']:.2f}")),
    ("ffn", t("ffn_glance", n=int(ffn["trace"].negative.sum()), delta=f"{float(ffn['trace'].delta.abs().max()):.3f}")),
    ("encoder", t("encoder_glance", a=len(enc[0]["tokens"]), b=len(enc[1]["tokens"]), d=ENC.d_model)),
    ("flow", t("flow_glance", delta=f"{flow['wrong_scale']:.3f}")),
]
st.dataframe(pd.DataFrame({
    "#": list(range(1, len(glance) + 1)),
    t("col_topic"): [t(key + "_title") for key, _ in glance],
    t("col_evidence"): [text for _, text in glance],
}), hide_index=True, key="er_glance", column_config={  # widths that show every cell whole (820 px)
    "#": st.column_config.NumberColumn(width=36), t("col_topic"): st.column_config.TextColumn(width=372),
    t("col_evidence"): st.column_config.TextColumn(width=410)})

# ----- the errata, in DESIGN.md's order ---------------------------------------------------------
st.header(t("errata_header"))
T_enc, T_enc2 = len(enc[0]["tokens"]), len(enc[1]["tokens"])
ERRATA = [
    (Erratum("attention", "views/attention/page.py",
             r"\operatorname{softmax}\!\Big(\frac{QK^\top}{\sqrt{d_k}}\Big)V = \frac{1}{d_v}\operatorname{softmax}(QK^\top)\,V",
             r"\operatorname{softmax}\!\Big(\frac{QK^\top}{\sqrt{d_k}}\Big)V \;\ne\; c\cdot\operatorname{softmax}(QK^\top)\,V"),
     lambda: attention_body(att)),
    (Erratum("positional", "views/positional/page.py",
             r"\begin{aligned} PE(i,j) &= \sin\big(i/10000^{2j/d}\big) \\ &= \cos\big(i/10000^{2j/d}\big) \end{aligned}",
             r"\begin{aligned} PE(pos,2i) &= \sin\big(pos/10000^{2i/d}\big) \\ "
             r"PE(pos,2i{+}1) &= \cos\big(pos/10000^{2i/d}\big) \end{aligned}"),
     lambda: pe_body(pe)),
    (Erratum("conv", "views/conv.py",
             r"\mathrm{out}_{ij} = \sum_k w_{ik,jk}\cdot \mathrm{in}_{ij} + b",
             r"\begin{aligned} \mathrm{out}[i,j] &= \sum_c \sum_{m,n} w[c,m,n] \\ "
             r"&\qquad \cdot x[c,\; i\cdot s+m,\; j\cdot s+n] + b \end{aligned}"),
     lambda: conv_body(conv)),
    (Erratum("kernels", "views/conv.py",
             r"f(x) = \sum_{i=1}^{32} w_i * x_i + b",
             r"z_o = w_o \star x + b_o,\quad o = 1,\dots,32"),
     lambda: kernels_body(kern)),
    (Erratum("pooling", "views/pooling.py",
             r"\mathrm{out}_{ij} = \max(\mathrm{in}_{ij})",
             r"\mathrm{out}[i,j] = \max_{0 \le m,\,n < k} x[i\cdot s+m,\; j\cdot s+n]"),
     lambda: pooling_body(conv)),
    (Erratum("lstm", "views/lstm/page.py",
             r"\begin{aligned} i_t, f_t, o_t &= \sigma(W_x x_t + W_{h\cdot} h_{t-1} + b_\cdot) \\ "
             r"h_t &= o_t \odot \tanh(i_t \odot g_t) \end{aligned}",
             r"\begin{aligned} i_t &= \sigma(W_{xi}x_t + W_{hi}h_{t-1} + b_i) \\ "
             r"f_t &= \sigma(W_{xf}x_t + W_{hf}h_{t-1} + b_f) \\ "
             r"g_t &= \tanh(W_{xg}x_t + W_{hg}h_{t-1} + b_g) \\ "
             r"o_t &= \sigma(W_{xo}x_t + W_{ho}h_{t-1} + b_o) \\ "
             r"c_t &= f_t\odot c_{t-1} + i_t\odot g_t \\ h_t &= o_t\odot\tanh(c_t) \end{aligned}"),
     lambda: lstm_body(lstm)),
    (Erratum("ffn", "views/transformer.py",
             r"\mathrm{FFN}(x) = \mathrm{act}\big(W_2\,\mathrm{act}(W_1x + b_1)\big) + b_2",
             r"\mathrm{FFN}(x) = W_2\,\mathrm{act}(W_1x + b_1) + b_2"),
     lambda: ffn_body(ffn)),
    (Erratum("encoder", "views/transformer.py",
             rf"\mathrm{{Encoder}}(x_1,\dots,x_T) = c \in \mathbb{{R}}^{{{ENC.d_model}}}",
             rf"\begin{{aligned}} \mathrm{{Encoder}}(x_1,\dots,x_T) &= (y_1,\dots,y_T) \\ &\in \mathbb{{R}}^{{T\times {ENC.d_model}}}"
             rf"\quad (T = {T_enc},\ {T_enc2}) \end{{aligned}}"),
     lambda: encoder_body(enc)),
    (Erratum("flow", "views/attention/page.py",
             r"\begin{aligned} &Q \to K \to V \to \text{dot} \to \operatorname{softmax} \\ "
             rf"&\text{{{t('literally')}}} \\ &Y' = \operatorname{{softmax}}_{{\text{{{t('tex_features')}}}}}"
             r"\big(QK^\top V/\sqrt{d_k}\big) \end{aligned}",
             rf"\begin{{aligned}} S &= QK^\top/\sqrt{{d_k}} \\ A &= \operatorname{{softmax}}_{{\text{{{t('tex_keys')}}}}}(S) \\ "
             r"Y &= A\,V \end{aligned}"),
     lambda: flow_body(flow)),
]
for n, (erratum, body) in enumerate(ERRATA, start=1):
    frame(n, erratum, body)

# ----- show the code, check against torch, what next --------------------------------------------
st.header(t("code_header"))
show_code(conv_without_window, kernels_summed, pool_without_window, attention_softmax_last, wrong_identity,
          ffn_outer_activation, lstm_probe.ablated_weights)

st.header(t("check_torch"))
st.caption(t("check_help"))
checks = torch_checks(att, conv, kern, lstm, ffn, enc)
st.dataframe(checks.assign(**{"max |Δ|": checks["max |Δ|"].map(lambda v: f"{v:.1e}")}), hide_index=True,
             key="er_checks")
torch_check(float(checks["max |Δ|"].max()), "PyTorch")

st.header(t("what_next"))
st.markdown(t.section("next"))
link("views/playground.py", t("link_playground"))
