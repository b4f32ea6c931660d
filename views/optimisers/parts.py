"""The optimisers page's controls and cached work: the surface (and the CNN's plane, computed once
per server with a progress bar), the learner's settings checked on the server, and the races,
each optimiser's walk cached per settings so moving the step cursor recomputes nothing."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import streamlit as st

from engine.lab.schedule import curves, curves_gap
from engine.limits import LimitError, check, check_float
from engine.models.cnn import checkpoint_mtime
from engine.ops import landscape as ls
from engine.ops.optim import OPTIMIZERS, Box, OptimError, OptimTrace, run, torch_gap
from engine.ops.surfaces import SURFACES, Surface, SurfaceGrid, check_start, grid, surface
from figures.optim import NAMES
from widgets.i18n import T

t = T("optimisers")
CHOICES = (*SURFACES, "cnn")
KAPPAS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)
STEPS = (10, 300, 60)  # slider: low, high, default
GRID_N = 81  # contour grid of the analytic surfaces (81² values: the figure stays ~100 kB)
SWEEP = (0.1, 1.0, 10.0)  # the learning rates of the crawl / diverge comparison, × the learner's


@dataclass(frozen=True)
class Settings:
    """What the learner chose, checked: the race is a function of these alone."""

    surface: str
    kappa: float
    start: tuple[float, float]
    lr: float
    steps: int
    which: tuple[str, ...]


# Choices are labelled the same in every language (formulas and the optimisers' own names): a keyed
# picker keeps showing the old label of its choice after the language changes (see views/cnn.py)
SURFACE_LABELS = {"quadratic": "½(x² + κy²)", "rosenbrock": "Rosenbrock (1 − x)² + 100(y − x²)²",
                  "saddle": "x² − y²", "himmelblau": "Himmelblau (x² + y − 11)² + (x + y² − 7)²",
                  "cnn": "CNN: L(θ* + aδ + bη)"}


def names() -> dict[str, str]:
    """The optimisers' names, as torch and the literature write them, in every language."""
    return dict(NAMES)


# ----- the CNN's plane: once per server and checkpoint ---------------------------------------------------

@st.cache_resource(show_spinner=False)
def _plane_store(mtime: float | None) -> dict:
    """A holder filled below (the progress bar must be drawn outside any cached function); its
    lock makes a second session that asks meanwhile wait for the first one's plane."""
    return {"lock": threading.Lock()}


def cnn_plane() -> ls.Landscape:
    """The shipped CNN's loss plane, computed on first use (with a progress bar), then shared."""
    store = _plane_store(checkpoint_mtime())
    with store["lock"]:
        if "land" not in store:
            bar = st.progress(0.0, text=t("plane_progress", done=0, total=ls.GRID_N))
            t0 = time.perf_counter()
            land = ls.cnn_landscape(
                progress=lambda d, n: bar.progress(d / n, text=t("plane_progress", done=d, total=n)))
            store.update(land=land, seconds=time.perf_counter() - t0)
            bar.empty()
    return store["land"]


def plane_seconds() -> float | None:
    return _plane_store(checkpoint_mtime()).get("seconds")


def the_surface(name: str, kappa: float) -> Surface:
    return ls.as_surface(cnn_plane()) if name == "cnn" else surface(name, kappa)


@st.cache_resource(show_spinner=False, max_entries=32)
def contour_grid(name: str, kappa: float, plane: float | None = None) -> SurfaceGrid:
    """`plane` (the checkpoint's mtime, for the CNN's plane) only keys the cache."""
    return ls.as_grid(cnn_plane()) if name == "cnn" else grid(surface(name, kappa), GRID_N)


# ----- the races, cached per settings -----------------------------------------------------------------------

@st.cache_resource(show_spinner=False, max_entries=512)
def walk(optimizer: str, name: str, kappa: float, start: tuple, lr: float, steps: int,
         plane: float | None = None) -> OptimTrace:
    s = the_surface(name, kappa)
    return run(optimizer, s.f, start, lr, steps, box=s.window if name == "cnn" else Box(), grad=s.grad)


@st.cache_resource(show_spinner=False, max_entries=256)
def gap(optimizer: str, name: str, kappa: float, start: tuple, lr: float, steps: int,
        plane: float | None = None) -> float:
    """max |Δ| of the walk against torch.optim on the same f, over the steps the walk made."""
    s = the_surface(name, kappa)
    return torch_gap(walk(optimizer, name, kappa, start, lr, steps, plane), s.f, s.grad)


@st.cache_data(show_spinner=False, max_entries=64)
def schedules(lr: float, steps: int) -> tuple:
    return curves(lr, steps), curves_gap(lr, steps)


def plane_key(s: Settings) -> float | None:
    """What the CNN plane's cached results depend on besides the settings: the checkpoint."""
    return checkpoint_mtime() if s.surface == "cnn" else None


def race(s: Settings) -> list[OptimTrace]:
    return [walk(o, s.surface, s.kappa, s.start, s.lr, s.steps, plane_key(s)) for o in s.which]


def sweep(s: Settings, optimizer: str) -> list[OptimTrace]:
    return [walk(optimizer, s.surface, s.kappa, s.start, s.lr * k, s.steps, plane_key(s)) for k in SWEEP]


def why(s: Settings, tr: OptimTrace) -> str:
    """The reason a walk stopped, in words: on the CNN's plane the box is the computed square."""
    reason = tr.diverged.reason
    return t("why_edge" if reason == "box" and s.surface == "cnn" else f"why_{reason}")


def check_gap(s: Settings) -> float:
    return max(gap(o, s.surface, s.kappa, s.start, s.lr, s.steps, plane_key(s)) for o in s.which)


# ----- controls ------------------------------------------------------------------------------------------

def _stop(message: str) -> None:
    st.error(message)
    st.stop()


def controls() -> Settings:
    """The surface, κ, the start, η, the steps and the optimisers, each checked on the server."""
    left, mid, right = st.columns([3, 2, 2], gap="medium", vertical_alignment="bottom")
    with left:
        name = st.selectbox(t("surface"), CHOICES, format_func=SURFACE_LABELS.get, key="opt_surface",
                            help=t("surface_help"))
    if name not in CHOICES:
        _stop(t("err_unknown_surface", surface=name))
    kappa = 10.0
    with mid:
        if name == "quadratic":
            kappa = float(st.select_slider(t("kappa"), KAPPAS, value=10, key="opt_kappa", help=t("kappa_help")))
    with right:
        steps = st.slider(t("steps"), *STEPS[:2], STEPS[2], step=10, key="opt_steps", help=t("steps_help"))
    try:
        check("optim_steps", int(steps))
        s = the_surface(name, kappa)
    except (LimitError, OptimError) as e:
        _stop(t.error(e))
    c1, c2, c3 = st.columns(3, gap="medium", vertical_alignment="bottom")
    # keyed per surface: each surface keeps its own start and η
    x0 = c1.number_input(t("start_x"), value=s.start[0], step=0.1, format="%.3f", key=f"opt_x0_{name}")
    y0 = c2.number_input(t("start_y"), value=s.start[1], step=0.1, format="%.3f", key=f"opt_y0_{name}")
    lr = c3.number_input(t("lr"), value=s.lr, step=s.lr, format="%g", key=f"opt_lr_{name}", help=t("lr_help"))
    which = st.multiselect(t("which"), OPTIMIZERS, default=list(OPTIMIZERS), format_func=names().get,
                           key="opt_which")
    try:
        if not lr > 0:
            _stop(t("err_lr_not_positive", lr=f"{lr:g}"))
        lr = check_float("optim_lr", lr)
        start = check_start(s, (x0, y0))
    except (LimitError, OptimError) as e:
        _stop(t.error(e))
    which = tuple(o for o in OPTIMIZERS if o in which)
    return Settings(name, kappa, start, lr, int(steps), which)

