"""What the training panel's modules share: limits of the widgets, the translator, messages."""

from __future__ import annotations

from widgets.i18n import T

POLL_S = 1.0  # the live view's refresh while a run is going
MAX_RUNS = 8  # finished runs kept for comparison (metrics only; their models are freed)
STEP_WAIT_S = 10.0  # "One step" waits this long at most for the step to land
LRS = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3)
SCHEDULES = ("constant", "one_cycle")  # the schedules a page offers (engine.lab.schedule has more)
SEED_MAX = 9999
BUDGET_S = 600  # wall-clock budget of one run (seconds of running, pauses excluded)

t = T("training")  # lazy: each call reads the session's language


def mib(n: int) -> str:
    return f"{n / 2**20:,.1f}"


def message(t: T, exc: Exception) -> str:
    """A translated message for an engine error (code + params), else the exception's text."""
    return t.error(exc) if getattr(exc, "code", None) else f"{type(exc).__name__}: {exc}"
