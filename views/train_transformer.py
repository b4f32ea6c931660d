"""Training lab 3: a tiny Transformer trained live on toy sequence tasks (copy, reverse, sort,
add). Live loss and exact-match accuracy, and every head's attention on one held-out input
changing as it learns (reverse: the anti-diagonal appears), with each head's anti-diagonal
mass as a number.

Glue only: engine.lab.trainer runs the loop in a worker thread (widgets.training polls it),
engine.models.tiny_transformer computes the attention maps, figures.training draws them.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from engine.data.seq_tasks import SEQ_TASKS, SYMBOLS, input_length, render
from engine.lab.records import MetricsSnapshot
from engine.lab.tasks import SeqConfig, SeqTask
from engine.lab.trainer import Trainer
from engine.models.tiny_transformer import TinyTransformerConfig, anti_diagonal_mass, attention_maps
from figures.training import attention_grid
from widgets import blocks
from widgets.blocks import hand_off, show_code
from widgets.i18n import T
from widgets.training import TrainingPanel

t = T("train_transformer")
KIND = "seq"
LEN_MIN, LEN_MAX = 2, 12  # the page's bound on L (engine.limits allows 32): readable heatmaps
D_MODELS = (8, 16, 32, 64, 128)
HEADS = (1, 2, 4, 8)
LAYERS_MAX = 4
D_FFS = (16, 32, 64, 128, 256)
BS = (16, 32, 64, 128, 256)
STEPS_MAX = 20_000
HELD_OUT = 512
DEFAULTS = {"tseq_task": "reverse", "tseq_L": 8, "tseq_B": 64, "tseq_steps": 1500, "tseq_d": 32,
            "tseq_h": 4, "tseq_N": 2, "tseq_dff": 64, "tseq_index": 0}


def to_widgets(config: dict) -> dict:
    """A checkpoint's SeqConfig → this page's widget values."""
    m = config["model"]
    return {"tseq_task": config["task"], "tseq_L": int(config["length"]), "tseq_B": int(config["B"]),
            "tseq_steps": int(config["steps"]), "tseq_d": int(m["d_model"]), "tseq_h": int(m["h"]),
            "tseq_N": int(m["N"]), "tseq_dff": int(m["d_ff"])}


def describe(config: SeqConfig, optim) -> str:
    m = config.model
    return t("describe", task=t(f"task_{config.task}"), L=config.length, d=m.d_model, h=m.h, N=m.N,
             B=config.B, steps=f"{config.steps:,}", optim=panel.optim_text(optim))


def tokens(ids) -> list[str]:
    return [render([int(i)]) for i in ids]


panel = TrainingPanel(KIND, to_widgets)
for key, value in DEFAULTS.items():
    st.session_state.setdefault(key, value)

# ----- title, intuition, formulas -----------------------------------------------------------
st.title(t("title"))
st.markdown(t.section("intuition"))
st.latex(r"\begin{aligned}"
         r" A^{(\ell,k)} &= \operatorname{softmax}\!\Big(\frac{Q_k K_k^{\top}}{\sqrt{d_k}}\Big),"
         r"\qquad d_k = d_{\text{model}}/h \\"
         r" L &= -\frac{1}{|S|}\sum_{(b,i)\in S} \log \operatorname{softmax}(z_{bi})[y_{bi}] \\"
         r" m^{(\ell,k)} &= \frac{1}{T}\sum_{i=0}^{T-1} A^{(\ell,k)}_{i,\,T-1-i}"
         r"\end{aligned}")
st.markdown(t.section("symbols"))

# ----- settings ------------------------------------------------------------------------------
st.header(t("settings_header"))
task_labels = {k: t(f"task_{k}") for k in SEQ_TASKS}
c1, c2, c3, c4 = st.columns([3, 2, 2, 2])
with c1:
    task = st.radio(t("task_label"), SEQ_TASKS, format_func=task_labels.get, horizontal=True, key="tseq_task",
                    disabled=panel.active)
with c2:
    L = st.slider(t("L_label"), LEN_MIN, LEN_MAX, key="tseq_L", disabled=panel.active, help=t("L_help"))
with c3:
    B = st.select_slider(t("B_label"), BS, key="tseq_B", disabled=panel.active)
with c4:
    steps = st.number_input(t("steps_label"), 10, STEPS_MAX, step=100, key="tseq_steps", disabled=panel.active)
c1, c2, c3, c4 = st.columns(4)
with c1:
    d_model = st.select_slider(t("d_label"), D_MODELS, key="tseq_d", disabled=panel.active)
with c2:
    h = st.select_slider(t("h_label"), HEADS, key="tseq_h", disabled=panel.active)
with c3:
    N = st.slider(t("N_label"), 1, LAYERS_MAX, key="tseq_N", disabled=panel.active)
with c4:
    d_ff = st.select_slider(t("dff_label"), D_FFS, key="tseq_dff", disabled=panel.active)
optim, seed = panel.optim_controls()

# checked on the server, whatever the widgets allowed
L = blocks.checked(t, "toy_len", L)
B = blocks.checked(t, "batch", B)
steps = blocks.checked(t, "train_steps", steps)
d_model = blocks.checked(t, "d_model", d_model)
h = blocks.checked(t, "num_heads", h)
N = blocks.checked(t, "layers", N)
d_ff = blocks.checked(t, "d_ff", d_ff)
if task not in SEQ_TASKS:
    st.error(t("err_task", task=str(task)))
    st.stop()
if d_model % h:
    st.error(t("not_divisible", d=d_model, h=h))
    st.stop()
try:
    config = SeqConfig(str(task), L, B, steps, TinyTransformerConfig(d_model, h, N, d_ff), HELD_OUT)
except Exception as exc:
    st.error(t.error(exc) if getattr(exc, "code", None) else str(exc))
    st.stop()
T_len = input_length(config.task, L)
run = panel.run_config(seed, report_every=5, eval_every=50)
st.caption(t("plan", T=T_len, d_k=d_model // h, B=B, steps=f"{steps:,}", n=HELD_OUT, every=run.eval_every))
st.caption(t(f"example_{config.task}"))

# ----- train ---------------------------------------------------------------------------------
st.header(t("train_header"))


def attention_now(tr: Trainer, snap: MetricsSnapshot) -> None:
    """Every head's attention on one held-out input, as it is now (in the live fragment)."""
    cfg = tr.task.config
    st.subheader(t("attention_header"))
    index = st.number_input(t("index_label"), 0, cfg.held_out - 1, step=1, key="tseq_index")
    p = tr.probe(index=int(index))
    x, target, pred = p["tokens"], p["target"], p["prediction"]
    scored = target != -100
    right = bool(((pred == target) | ~scored).all())
    labels = tokens(x)
    c1, c2, c3 = st.columns(3)
    c1.metric(t("input"), render(x))
    c2.metric(t("target"), render(target))
    c3.metric(t("prediction"), render(pred.where(scored, -100)), delta=t("right") if right else t("wrong"),
              delta_color="normal" if right else "inverse", delta_arrow="off")
    A, mass = p["attention"], p["anti_diagonal"]  # (N, h, T, T), (N, h)
    titles = [[t("head_title", l=l + 1, k=k + 1, m=f"{float(mass[l, k]):.2f}") for k in range(A.shape[1])]
              for l in range(A.shape[0])]
    st.plotly_chart(attention_grid(A, labels, head_titles=titles, height_per_row=230 if A.shape[1] <= 4 else 170),
                    key="tseq_fig_attention")
    st.caption(t("attention_help", T=len(labels), uniform=f"{1 / len(labels):.3f}"))
    table = pd.DataFrame(mass.numpy(), index=[t("layer_row", l=l + 1) for l in range(A.shape[0])],
                         columns=[t("head_col", k=k + 1) for k in range(A.shape[1])])
    st.markdown(t("mass_header"))
    st.dataframe(table.style.format("{:.3f}"))


tr = panel.show(config, optim, run, describe=describe, live=attention_now,
                curves=[("exact_match", t("curve_exact"))])
if tr is None:
    st.stop()
panel.footer(describe, run)

# ----- show the code, what next ----------------------------------------------------------------
show_code(attention_maps, anti_diagonal_mass, SeqTask.step, SeqTask.evaluate)
st.header(t("what_next"))
st.markdown(t.section("next"))
hand_off(("views/train_lstm.py", "nav_train_lstm", "back"), ("views/transformer/page.py", "nav_transformer", "see"), ("views/data_parallel/page.py", "nav_data_parallel", "see"))
st.caption(t("vocab_note", symbols=" ".join(SYMBOLS)))
