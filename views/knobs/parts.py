"""The training-knobs page's cached work and small helpers: each study is computed once per server
(or once per setting) by an engine function, here only called and kept."""

from __future__ import annotations

from functools import partial

import streamlit as st
import torch

from engine.models.cnn import Network, load_network, trace
from engine.ops import grad_noise, init_study, preprocess
from engine.ops.batch_norm import MODES, batch_dependence, normalise, torch_gaps
from figures import knobs as fk
from views.knobs.store import Timed, once
from widgets import blocks
from widgets.digit_input import held_out
from widgets.i18n import T

t = T("knobs")

NOISE_N = 512  # the first 512 training digits: the "full batch" of the study
NOISE_PASSES = 16  # shuffles of the digits per batch size: 16·⌊N/B⌋ batches
NOISE_B = (1, 2, 4, 8, 16, 32, 64, 128, 256)
INIT_DEPTH_MAX = 30  # the study runs this deep once; a shallower network is its first layers
NORM_N = 32  # the held-out digits whose conv2 maps are normalised


def labels(options, prefix: str):
    """format_func for a choice widget, labels looked up now (it may be called outside the run)."""
    return {v: t(f"{prefix}{v}") for v in options}.get


# a control's value checked before it is drawn (widgets.blocks.guard with this page's strings)
guard = partial(blocks.guard, t)


@st.cache_resource(show_spinner=False)
def network() -> Network:
    """The shipped CNN, once per server."""
    return load_network()


# ----- 1. batch size: computed once per server, with a progress bar -------------------------------

def noise_study(message: str) -> Timed:
    """engine.ops.grad_noise.batch_noise_study on the shipped CNN and 512 training digits."""
    def compute(progress):
        split, net = held_out(), network()
        x = torch.from_numpy(split.x_train[:NOISE_N]).unsqueeze(1).to(next(net.model.parameters()).device)
        y = torch.from_numpy(split.y_train[:NOISE_N]).to(x.device)
        return grad_noise.batch_noise_study(net.model, x, y, NOISE_B, NOISE_PASSES, seed=0, progress=progress)
    return once("noise", compute, message)


@st.cache_resource(show_spinner=False)
def noise_check() -> float:
    """The Gram-matrix shortcut against autograd, in float64 on 48 of the digits."""
    split = held_out()
    x = torch.from_numpy(split.x_train[:48]).double().unsqueeze(1)
    return grad_noise.gram_gap(network().model64, x, torch.from_numpy(split.y_train[:48]), B=8, M=4)


# ----- 2. initialisation: once per activation and width --------------------------------------------

@st.cache_resource(show_spinner=False, max_entries=16)
def init_traces(activation: str, width: int) -> dict:
    """The four schemes through INIT_DEPTH_MAX layers (slice with .first(depth))."""
    return init_study.study(activation, INIT_DEPTH_MAX, width)


# ----- 3. preprocessing ----------------------------------------------------------------------------

@st.cache_resource(show_spinner=False)
def pixel_stats() -> preprocess.PixelStats:
    return preprocess.pixel_stats(held_out().x_train)


@st.cache_resource(show_spinner=False, max_entries=32)
def first_layers(digit_key: bytes, batch: int, _digit) -> dict:
    """conv1 under raw, /255 and standardised inputs: the learner's digit (batch 1) or held-out digits."""
    split, net = held_out(), network()
    if batch == 1:
        return preprocess.first_layers(net.model64, _digit[None], pixel_stats())
    return preprocess.first_layers(net.model64, split.x_test[:batch], pixel_stats(), split.y_test[:batch])


@st.cache_resource(show_spinner=False, max_entries=32)
def affine_gap(digit_key: bytes, _digit) -> float:
    return preprocess.affine_gap(network().model64, _digit[None], pixel_stats())


# ----- 4. normalisation ----------------------------------------------------------------------------

@st.cache_resource(show_spinner=False)
def conv2_batch() -> torch.Tensor:
    """z_2 (before ReLU) of the shipped CNN on NORM_N held-out digits: (N, 64, 11, 11) float64."""
    x = torch.from_numpy(held_out().x_test[:NORM_N]).double().unsqueeze(1)
    return trace(network().model64, x).z2


@st.cache_resource(show_spinner=False)
def norm_results() -> dict:
    """Each mode on the batch, the torch gaps, and example 0 inside two different batches."""
    z2 = conv2_batch()
    half = NORM_N // 2
    return {
        "traces": {m: normalise(z2, m) for m in MODES},
        "gaps": torch_gaps(z2),
        # batch A: example 0 with the next 15 digits; batch B: example 0 with the last 15
        "deps": {m: batch_dependence(z2[0], z2[1:half], z2[half + 1:], m) for m in MODES},
    }


# ----- figures that depend only on their controls and the language: built once each ----------------

@st.cache_resource(show_spinner=False, max_entries=64)
def depth_figures(activation: str, width: int, depth: int, lang: str) -> tuple:
    """The two initialisation curves (Var[z_l], std(a_l)) for one setting, in one language."""
    traces = {s: tr.first(depth) for s, tr in init_traces(activation, width).items()}
    names = {s: t(f"scheme_{s}") for s in init_study.SCHEMES}
    var = fk.depth_figure(traces, "var_z", names, title=t("var_title"), x_title=t("layer_x"), y_title="Var[z_l]")
    std = fk.depth_figure(traces, "std_a", names, title=t("std_title", act=activation), x_title=t("layer_x"),
                          y_title="std(a_l)")
    return var, std


@st.cache_resource(show_spinner=False, max_entries=128)
def norm_picture(mode: str, n: int, c: int, p: int, shown: tuple[int, int], lang: str):
    """The batch laid out flat with one statistic's values outlined (shown = examples, channels drawn)."""
    return fk.tensor_picture(conv2_batch()[: shown[0], : shown[1]], mode, n, c, p, title=t("norm_pic_title"),
                             x_title=t("norm_pic_x"), y_title="c")


@st.cache_resource(show_spinner=False, max_entries=4)
def dependence_figure(lang: str):
    names = {m: t(f"mode_{m}") for m in MODES}
    return fk.dependence_figure(norm_results()["deps"], names, title=t("dep_title"), x_title=t("dep_x"),
                                y_title=t("dep_y"))


@st.cache_resource(show_spinner=False, max_entries=32)
def histograms(digit_key: bytes, batch: int, lang: str, _digit) -> dict:
    """conv1's three histograms for first_layers(digit_key, batch, _digit), in one language."""
    res = first_layers(digit_key, batch, _digit)
    return {v: fk.histogram_figure(res[v], title=t(f"pre_{v}"), x_title="z₁", y_title=t("pre_count"))
            for v in preprocess.VARIANTS}


@st.cache_resource(show_spinner=False, max_entries=4)
def noise_figure(lang: str, _study: grad_noise.GradNoiseStudy, study_id: int):
    """The batch-size plot, once per language (and per study: `study_id` tells a seeded one apart)."""
    return fk.noise_figure(_study, measured_name=t("noise_measured"), law_name=t("noise_law"),
                           title=t("noise_title"), x_title=t("noise_x"), y_title=t("noise_y"))
