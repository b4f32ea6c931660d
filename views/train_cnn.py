"""Training lab 1: the article's CNN trained live on MNIST digits (Fashion-MNIST or full MNIST
when they are installed). Loss and accuracy curves, the confusion matrix, misclassified
digits, the first-layer filters and a feature map as they learn, and the learner's own digit
classified by the model being trained.

Glue only: engine.lab.trainer runs the loop in a worker thread (widgets.training polls it),
figures.training and figures.cnn draw.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from engine.data.digits import FASHION_CLASSES, available_datasets
from engine.lab.loop import optimizer_step
from engine.lab.records import MetricsSnapshot
from engine.lab.tasks import DATASETS, CnnConfig, CnnTask
from engine.lab.tasks.cnn import cross_entropy_step
from engine.lab.trainer import Trainer
from figures import cnn as fc
from figures.common import heatmap
from figures.training import class_probs_figure, confusion_figure, examples_figure
from widgets import blocks
from widgets.blocks import hand_off, show_code
from widgets.digit_input import digit_input
from widgets.i18n import T
from widgets.training import TrainingPanel

t = T("train_cnn")
KIND = "cnn"
BATCHES = (16, 32, 64, 128, 256, 512, 1024, 2048, 4096)
EPOCHS_MAX = 30  # the page's bound (engine.limits allows 100)
SHOWN_MISTAKES = 16
DEFAULTS = {"tcnn_dataset": "mnist-5k", "tcnn_batch": 64, "tcnn_epochs": 8, "tcnn_augment": True,
            "tcnn_index": 0, "tcnn_channel": 0}


def to_widgets(config: dict) -> dict:
    """A checkpoint's CnnConfig → this page's widget values."""
    return {"tcnn_dataset": config["dataset"], "tcnn_batch": int(config["batch_size"]),
            "tcnn_epochs": int(config["epochs"]), "tcnn_augment": bool(config["augment"])}


@st.cache_data(show_spinner=False, ttl=300)
def datasets() -> dict[str, str | None]:
    return available_datasets()


def class_names(dataset: str) -> list[str]:
    return list(FASHION_CLASSES) if dataset == "fashion-mnist" else [str(k) for k in range(10)]


def describe(config: CnnConfig, optim) -> str:
    return t("describe", data=t(f"ds_{config.dataset}"), B=config.batch_size, E=config.epochs,
             aug=t("aug_on") if config.augment else t("aug_off"), optim=panel.optim_text(optim))


# ----- title, intuition, formulas -----------------------------------------------------------
panel = TrainingPanel(KIND, to_widgets)
for key, value in DEFAULTS.items():
    st.session_state.setdefault(key, value)

st.title(t("title"))
st.markdown(t.section("intuition"))
st.latex(r"\begin{aligned}"
         r" L(\theta) &= -\frac{1}{B}\sum_{b=1}^{B} \log \operatorname{softmax}\big(f_\theta(x_b)\big)[y_b] \\"
         r" \text{SGD:}\quad \theta &\leftarrow \theta - \eta\,\nabla_\theta L \\"
         r" \text{momentum:}\quad v &\leftarrow \mu\,v + \nabla_\theta L,\quad \theta \leftarrow \theta - \eta\,v \\"
         r" \text{Adam:}\quad m &\leftarrow \beta_1 m + (1-\beta_1)\,\nabla_\theta L,\quad"
         r" s \leftarrow \beta_2 s + (1-\beta_2)\,(\nabla_\theta L)^2 \\"
         r" \theta &\leftarrow \theta - \eta\,\frac{\hat m}{\sqrt{\hat s} + \epsilon}"
         r"\end{aligned}")
st.markdown(t.section("symbols"))

# ----- settings ------------------------------------------------------------------------------
st.header(t("settings_header"))
status = datasets()
usable = [name for name in DATASETS if status.get(name) is None]
if st.session_state["tcnn_dataset"] not in usable:
    st.session_state["tcnn_dataset"] = "mnist-5k"
ds_labels = {name: t(f"ds_{name}") for name in DATASETS}
c1, c2, c3, c4 = st.columns([3, 3, 2, 2])
with c1:
    dataset = st.radio(t("dataset_label"), usable, format_func=ds_labels.get, key="tcnn_dataset",
                       disabled=panel.active)
    missing = [name for name in DATASETS if status.get(name) is not None]
    if missing:
        st.caption(t("dataset_missing", names=", ".join(ds_labels[m] for m in missing)))
with c2:
    batch = st.select_slider(t("batch_label"), BATCHES, key="tcnn_batch", disabled=panel.active,
                             help=t("batch_help"))
with c3:
    epochs = st.number_input(t("epochs_label"), 1, EPOCHS_MAX, step=1, key="tcnn_epochs",
                             disabled=panel.active, help=t("epochs_help"))
with c4:
    augment = st.toggle(t("augment_label"), key="tcnn_augment", disabled=panel.active, help=t("augment_help"))
optim, seed = panel.optim_controls()

# checked on the server, whatever the widgets allowed
B = blocks.checked(t, "batch", batch)
E = blocks.checked(t, "epochs", epochs)
if dataset not in DATASETS:
    st.error(t("err_dataset", name=str(dataset)))
    st.stop()
try:
    config = CnnConfig(str(dataset), B, E, bool(augment))
except Exception as exc:  # bounds are checked above; anything else is shown, not raised
    st.error(t.error(exc) if getattr(exc, "code", None) else str(exc))
    st.stop()
n_train, n_test = DATASETS[config.dataset]
steps_per_epoch = -(-n_train // B)
run = panel.run_config(seed, report_every=5, eval_every=max(10, steps_per_epoch // 2))
st.caption(t("plan", n_train=f"{n_train:,}", n_test=f"{n_test:,}", S=f"{steps_per_epoch:,}",
             total=f"{steps_per_epoch * E:,}", every=run.eval_every))

# ----- train ---------------------------------------------------------------------------------
st.header(t("train_header"))
classes = class_names(config.dataset)


def network_now(tr: Trainer, snap: MetricsSnapshot) -> None:
    """What the network looks like now (drawn in the live fragment, so it changes as it learns)."""
    st.subheader(t("inside_header"))
    c_idx, c_ch = st.columns(2)
    with c_idx:
        index = st.number_input(t("index_label"), 0, n_test - 1, step=1, key="tcnn_index", help=t("index_help"))
    with c_ch:
        channel = st.slider(t("channel_label"), 0, 31, key="tcnn_channel")
    p = tr.probe(index=int(index))
    channel = int(channel)
    left, right = st.columns(2)
    with left:
        st.plotly_chart(confusion_figure(p["confusion"], classes, title=t("fig_confusion"),
                                         true_label=t("axis_true"), predicted_label=t("axis_pred")),
                        key="tcnn_fig_confusion")
        st.caption(t("confusion_help", n=f"{int(p['confusion'].sum()):,}",
                     right=f"{int(p['confusion'].diag().sum()):,}"))
    with right:
        wrong = p["misclassified"]
        if len(wrong) == 0:
            st.success(t("no_mistakes"))
        else:
            k = min(SHOWN_MISTAKES, len(wrong))
            captions = [f"{classes[int(a)][:6]}→{classes[int(b)][:6]}" for a, b in
                        zip(p["misclassified_true"][:k], p["misclassified_pred"][:k])]
            st.plotly_chart(examples_figure(p["misclassified_images"][:k], captions, ncols=4,
                                            title=t("fig_mistakes", k=k)), key="tcnn_fig_mistakes")
            st.caption(t("mistakes_help"))
    left, mid, right = st.columns([4, 2, 3])
    with left:
        st.plotly_chart(fc.filters_figure(p["filters"], title=t("fig_filters")), key="tcnn_fig_filters")
        st.caption(t("filters_help"))
    with mid:
        st.plotly_chart(heatmap(p["probe_image"], title=t("fig_probe", index=int(p["probe_index"])),
                                colorscale="gray", zmin=0, zmax=1, showscale=False, height=260),
                        key="tcnn_fig_probe")
        probs = p["probe_probs"]
        st.caption(t("probe_pred", k=classes[int(probs.argmax())], p=f"{float(probs.max()):.1%}"))
    with right:
        fmap = p["feature_maps"][channel]
        st.plotly_chart(heatmap(fmap, title=t("fig_map", c=channel), height=260, zmin=0),
                        key="tcnn_fig_map")
        st.caption(t("map_help", c=channel))


tr = panel.show(config, optim, run, describe=describe, live=network_now)
if tr is None:
    st.stop()

# ----- the learner's digit -------------------------------------------------------------------
st.header(t("digit_header"))
st.caption(t("digit_help"))
digit = digit_input("tcnn_digit")


@st.fragment(run_every=panel.poll_every)
def classify_digit() -> None:
    current = panel.slot.trainer
    if current is None:
        return
    probs = current.classify(np.asarray(digit, dtype=np.float32))
    k = int(probs.argmax())
    left, right = st.columns([1, 3])
    left.metric(t("digit_pred"), classes[k], delta=t("digit_conf", p=f"{float(probs[k]):.1%}"),
                delta_color="off", delta_arrow="off")
    left.caption(t("digit_step", step=f"{current.step:,}"))
    with right:
        st.plotly_chart(class_probs_figure(probs, classes, title=t("fig_digit_probs")), key="tcnn_fig_digit")


classify_digit()
panel.footer(describe, run)

# ----- show the code, what next ----------------------------------------------------------------
show_code(cross_entropy_step, CnnTask.batches, optimizer_step, Trainer._report)
st.header(t("what_next"))
st.markdown(t.section("next"))
st.page_link("views/backprop/page.py", label=t("next_backprop"), icon=":material/arrow_back:")
st.page_link("views/optimisers/page.py", label=t("next_optimisers"), icon=":material/route:")
st.page_link("views/knobs/page.py", label=t("next_knobs"), icon=":material/tune:")
st.page_link("views/train_lstm.py", label=t("next_lstm"), icon=":material/arrow_forward:")
hand_off(("views/data_parallel/page.py", "nav_data_parallel", "see"))
