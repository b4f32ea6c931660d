"""The kernel controls of the convolution lesson: a preset (or a custom k×k kernel), stride,
padding and bias, and the kernel itself as an editable grid, every value checked on the server."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import streamlit as st
import torch

from engine.limits import BOUNDS, MAX_KERNEL_ABS, LimitError, check
from engine.ops.conv import (
    KERNEL_PRESETS,
    KernelError,
    centred_impulse,
    check_bias,
    kernel_from_grid,
    preset,
)
from widgets.i18n import T

CUSTOM = "custom"
PRESET_KEY = "conv_kernel_preset"
DEFAULT_PRESET = "sobel_x"  # signed edges: a first feature map with something to explain
t = T("conv")  # the convolution page's strings (the one page with a kernel editor)


@dataclass(frozen=True)
class KernelChoice:
    """What the learner picked: the kernel w (k, k) and how it slides."""

    name: str  # a preset's name, or "custom"
    kernel: torch.Tensor  # (k, k) w[m, n], as edited in the grid
    k: int
    stride: int
    padding: int
    bias: float


def kernel_frame(w) -> pd.DataFrame:
    """The kernel as an editable table: rows m, columns n."""
    k = len(w)
    return pd.DataFrame(w.tolist(), index=[f"m={m}" for m in range(k)], columns=[f"n={n}" for n in range(k)])


def kernel_editor() -> KernelChoice:
    """The preset, size, stride, padding and bias controls beside the editable kernel grid;
    a request outside the bounds stops the page with a translated message."""
    controls, grid = st.columns([2, 3], gap="large")
    with controls:
        if st.session_state.get("conv_lang") != t.lang and PRESET_KEY in st.session_state:
            # the selectbox's state is its label: re-assigning it after a language switch makes the
            # browser show the label in the new language at once
            st.session_state[PRESET_KEY] = st.session_state[PRESET_KEY]
        st.session_state["conv_lang"] = t.lang
        # labels looked up now, not inside format_func (which may be called outside this run)
        labels = {n: t(f"preset_{n}") for n in [*KERNEL_PRESETS, CUSTOM]}
        name = st.selectbox(t("preset"), list(labels), index=list(labels).index(DEFAULT_PRESET), key=PRESET_KEY,
                            format_func=labels.__getitem__, persist_state="session")
        name = name if name in labels else DEFAULT_PRESET  # a stale label from another language
        if name == CUSTOM:
            ks = BOUNDS["kernel_size"]
            k = st.slider(t("kernel_size"), ks.low, ks.high, 3, key="conv_k", persist_state="session",
                          help=t("kernel_size_help"))
        else:
            k = KERNEL_PRESETS[name].shape[0]
        s = st.slider(t("stride"), BOUNDS["stride"].low, BOUNDS["stride"].high, 1, key="conv_stride",
                      persist_state="session", help=t("stride_help"))
        p = st.slider(t("padding"), BOUNDS["padding"].low, BOUNDS["padding"].high, 0, key="conv_padding",
                      persist_state="session", help=t("padding_help"))
        b_in = st.number_input(t("bias"), -MAX_KERNEL_ABS, MAX_KERNEL_ABS, 0.0, step=0.1, format="%.2f",
                               key="conv_bias", persist_state="session", help=t("bias_help"))
    try:
        # the widgets are bounded; check again on the server (session state can be set from code)
        k, s, p = check("kernel_size", int(k)), check("stride", int(s)), check("padding", int(p))
        b = check_bias(b_in)
    except (LimitError, KernelError) as e:
        st.error(t.error(e))
        st.stop()

    base = preset(name) if name != CUSTOM else centred_impulse(k)
    with grid:
        st.markdown(f"**{t('grid_label', k=k)}**")
        frame = kernel_frame(base)
        # one editor per preset and size, so picking a preset reloads its values
        edited = st.data_editor(
            frame, key=f"conv_grid_{name}_{k}", width="content",
            column_config={c: st.column_config.NumberColumn(c, min_value=-MAX_KERNEL_ABS, max_value=MAX_KERNEL_ABS,
                                                            width="small")
                           for c in frame.columns},
        )
        st.caption(t("grid_help", limit=f"{MAX_KERNEL_ABS:g}"))
        try:
            w = kernel_from_grid(edited.to_numpy(dtype=object))
        except KernelError as e:
            st.warning(t.error(e) + " " + t("grid_fallback"))
            w = base
    return KernelChoice(name, w, k, s, p, b)
