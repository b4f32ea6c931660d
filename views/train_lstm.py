"""Training lab 2: a character-level LSTM (or GRU, or plain RNN) trained live on Shakespeare or
on text the learner pastes. Live loss, text sampled at intervals with a temperature, and the
gates on a probe sentence changing as it learns.

Glue only: engine.lab.trainer runs the loop in a worker thread (widgets.training polls it),
engine.models.char_rnn.gate_trace computes the gates, figures.recurrent draws them.
"""

from __future__ import annotations

import streamlit as st

from engine.lab.loop import optimizer_step, run_steps
from engine.lab.records import MetricsSnapshot
from engine.lab.tasks import PROBE_TEXT, CharConfig, CharTask
from engine.lab.trainer import Trainer
from engine.models.char_rnn import CELLS, GATE_NAMES, TEMPERATURE_MAX, TEMPERATURE_MIN
from figures.recurrent import gate_figure
from widgets import blocks
from widgets.blocks import hand_off, show_code
from widgets.i18n import T
from widgets.training import TrainingPanel

t = T("train_lstm")
KIND = "char"
HS = (16, 32, 64, 128, 256)
BS = (8, 16, 32, 64, 128)
TS = (16, 32, 64, 128)
STEPS_MAX = 20_000
PROBE_MAX = 60  # characters of the probe sentence (readable heatmap columns)
SOURCES = ("shakespeare", "paste")
DEFAULTS = {"tlstm_cell": "lstm", "tlstm_H": 128, "tlstm_B": 32, "tlstm_T": 64, "tlstm_steps": 2000,
            "tlstm_source": "shakespeare", "tlstm_text": "", "tlstm_temperature": 0.8,
            "tlstm_probe": PROBE_TEXT, "tlstm_gate": "f"}


def to_widgets(config: dict) -> dict:
    """A checkpoint's CharConfig → this page's widget values."""
    text = config.get("text")
    return {"tlstm_cell": config["cell"], "tlstm_H": int(config["H"]), "tlstm_B": int(config["B"]),
            "tlstm_T": int(config["T"]), "tlstm_steps": int(config["steps"]),
            "tlstm_source": "shakespeare" if text is None else "paste", "tlstm_text": text or "",
            "tlstm_temperature": float(config["temperature"]), "tlstm_probe": config["probe_text"]}


def describe(config: CharConfig, optim) -> str:
    source = t("src_shakespeare") if config.text is None else t("src_paste_n", n=f"{len(config.text):,}")
    return t("describe", cell=config.cell.upper(), H=config.H, B=config.B, T=config.T, steps=f"{config.steps:,}",
             source=source, optim=panel.optim_text(optim))


panel = TrainingPanel(KIND, to_widgets)
for key, value in DEFAULTS.items():
    st.session_state.setdefault(key, value)

# ----- title, intuition, formulas -----------------------------------------------------------
st.title(t("title"))
st.markdown(t.section("intuition"))
st.latex(r"\begin{aligned}"
         r" h_t &= \operatorname{cell}(x_t, h_{t-1}),\qquad \hat y_t = \operatorname{softmax}(W_y h_t + b_y) \\"
         r" L &= -\frac{1}{T B}\sum_{b=1}^{B}\sum_{t=1}^{T} \log \hat y_t^{(b)}[\,c_{t+1}^{(b)}\,] \\"
         r" p_k &\propto \exp(z_k / \tau)\quad\text{(sampling at temperature } \tau\text{)}"
         r"\end{aligned}")
st.markdown(t.section("symbols"))

# ----- settings ------------------------------------------------------------------------------
st.header(t("settings_header"))
cell_labels = {c: t(f"cell_{c}") for c in CELLS}
src_labels = {s: t(f"src_{s}") for s in SOURCES}
c1, c2, c3, c4, c5 = st.columns([2, 3, 2, 2, 2])
with c1:
    cell = st.radio(t("cell_label"), CELLS, format_func=cell_labels.get, key="tlstm_cell", disabled=panel.active)
with c2:
    H = st.select_slider(t("H_label"), HS, key="tlstm_H", disabled=panel.active, help=t("H_help"))
with c3:
    B = st.select_slider(t("B_label"), BS, key="tlstm_B", disabled=panel.active)
with c4:
    T_len = st.select_slider(t("T_label"), TS, key="tlstm_T", disabled=panel.active, help=t("T_help"))
with c5:
    steps = st.number_input(t("steps_label"), 10, STEPS_MAX, step=100, key="tlstm_steps", disabled=panel.active)
c1, c2 = st.columns([1, 2])
with c1:
    source = st.radio(t("source_label"), SOURCES, format_func=src_labels.get, key="tlstm_source",
                      disabled=panel.active)
    temperature = st.slider(t("temperature_label"), TEMPERATURE_MIN, TEMPERATURE_MAX, step=0.05,
                            key="tlstm_temperature", disabled=panel.active, help=t("temperature_help"))
with c2:
    if source == "paste":
        st.text_area(t("text_label"), key="tlstm_text", height=150, disabled=panel.active, help=t("text_help"))
    probe = st.text_input(t("probe_label"), key="tlstm_probe", disabled=panel.active, help=t("probe_help"))
optim, seed = panel.optim_controls()

# checked on the server, whatever the widgets allowed
H = blocks.checked(t, "hidden_size", H)
B = blocks.checked(t, "batch", B)
T_len = blocks.checked(t, "seq_len", T_len)
steps = blocks.checked(t, "train_steps", steps)
if cell not in CELLS:
    st.error(t("err_cell", cell=str(cell)))
    st.stop()
text = None
if source == "paste":
    text = st.session_state.get("tlstm_text", "")
    if not text.strip():
        st.info(t("paste_empty"))
        st.stop()
    blocks.checked(t, "text_chars", len(text))
if not probe:
    st.info(t("probe_empty"))
    st.stop()
if len(probe) > PROBE_MAX:
    st.warning(t("probe_long", n=len(probe), max=PROBE_MAX))
    probe = probe[:PROBE_MAX]
try:
    config = CharConfig(str(cell), H, B, T_len, steps, text, float(temperature), 200, probe)
except Exception as exc:  # a pasted text too short for T, a temperature out of range, …
    st.error(t.error(exc) if getattr(exc, "code", None) else str(exc))
    st.stop()
run = panel.run_config(seed, report_every=5, eval_every=100)
st.caption(t("plan", T=T_len, B=B, chars=f"{T_len * B:,}", steps=f"{steps:,}", every=run.eval_every))

# ----- train ---------------------------------------------------------------------------------
st.header(t("train_header"))


def model_now(tr: Trainer, snap: MetricsSnapshot) -> None:
    """Samples and gates of the model as it is now (in the live fragment)."""
    cfg = tr.task.config
    left, right = st.columns([2, 3])
    with left:
        st.subheader(t("samples_header"))
        samples = snap.samples
        if not samples:
            st.caption(t("samples_none", every=tr.run.eval_every))
        for rec in reversed(samples[-3:]):
            st.caption(t("sample_caption", step=f"{rec.step:,}", tau=f"{rec.temperature:g}"))
            st.code(rec.text, language=None, wrap_lines=True)
    with right:
        st.subheader(t("gates_header"))
        names = GATE_NAMES[cfg.cell]
        labels = {g: t(f"gate_{g}") for g in names}
        if st.session_state.get("tlstm_gate") not in names:
            st.session_state["tlstm_gate"] = names[0] if "f" not in names else "f"
        gate = st.radio(t("gate_label"), names, format_func=labels.get, horizontal=True, key="tlstm_gate")
        trace = tr.probe()
        values = trace[gate]
        shown = min(cfg.H, 32)
        st.plotly_chart(gate_figure(values[:, :shown], cfg.probe_text, kind=gate,
                                    title=t("fig_gate", gate=labels[gate], step=f"{tr.step:,}"),
                                    height=180 + 9 * shown, unit_label=t("unit_axis")),
                        key="tlstm_fig_gate")
        st.caption(t("gates_help", shown=shown, H=cfg.H))


tr = panel.show(config, optim, run, describe=describe, live=model_now)
if tr is None:
    st.stop()
panel.footer(describe, run)

# ----- show the code, what next ----------------------------------------------------------------
show_code(CharTask.batches, CharTask.step, CharTask.extras, run_steps, optimizer_step)
st.header(t("what_next"))
st.markdown(t.section("next"))
hand_off(("views/train_cnn.py", "nav_train_cnn", "back"), ("views/lstm/page.py", "nav_lstm", "see"), ("views/train_transformer.py", "nav_train_transformer", "next"))
