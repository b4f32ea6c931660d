"""A bounded job a page starts (engine.lab.jobs.Job): a start and a stop button, a progress bar
redrawn twice a second while it runs, and translated messages when it is refused, stopped, fails
or runs out of time. The session's jobs live in a session-scoped resource, so a closed tab stops
its job; the latest status is returned on every rerun, so a finished result stays on the page.

    status = job_panel("roof_measure", t("measure"), lambda: Job(measure, {...}, timeout_s=60),
                       stage_text=lambda s: t(f"stage_{s}"), live=draw_partial)
    if status is not None and status.state == "done":
        draw(status.result)
"""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from engine.lab.jobs import Job, JobError, JobStatus
from widgets.i18n import T

POLL_S = 0.5
t = T("common")


def _stop_all(jobs: dict[str, Job]) -> None:
    for job in jobs.values():
        job.stop()


@st.cache_resource(scope="session", on_release=_stop_all, show_spinner=False)
def _session_jobs() -> dict[str, Job]:
    """This session's jobs by key; the tab's closing stops them."""
    return {}


def _start(key: str, make_job: Callable[[], Job]) -> None:
    jobs = _session_jobs()
    old = jobs.get(key)
    if old is not None:
        old.stop()
    try:
        job = make_job()
        job.start()
    except JobError as exc:
        st.session_state[f"{key}__refused"] = exc
        return
    except ValueError as exc:  # a setting the engine refuses (LimitError, CodedError)
        st.session_state[f"{key}__refused"] = exc
        return
    jobs[key] = job


def _stop(key: str) -> None:
    job = _session_jobs().get(key)
    if job is not None:
        job.stop()


def job_status(key: str) -> JobStatus | None:
    """The latest status of this session's job `key` (None when it never started)."""
    job = _session_jobs().get(key)
    return job.poll() if job is not None else None


def job_panel(key: str, start_label: str, make_job: Callable[[], Job], *,
              stage_text: Callable[[str], str] | None = None,
              live: Callable[[JobStatus], None] | None = None) -> JobStatus | None:
    """Start/stop buttons and the job's progress; `live(status)` draws partial results while it
    runs (inside the refreshing fragment). Returns the latest status (None before the first start)."""
    status = job_status(key)
    running = status is not None and status.state == "running"
    left, right = st.columns([3, 1])
    left.button(start_label, type="primary", icon=":material/play_arrow:", disabled=running,
                on_click=_start, args=(key, make_job), key=f"{key}__start", width="stretch")
    right.button(t("job_stop"), icon=":material/stop:", disabled=not running, on_click=_stop, args=(key,),
                 key=f"{key}__stop", width="stretch")
    refused = st.session_state.pop(f"{key}__refused", None)
    if refused is not None:
        st.error(t.error(refused))
    if running:
        _live(key, stage_text or str, live)
    elif status is not None:
        _ended(status)
    return status


def _live(key: str, stage_text: Callable[[str], str], live: Callable[[JobStatus], None] | None) -> None:
    @st.fragment(run_every=POLL_S)
    def progress():
        status = job_status(key)
        if status is None or status.state != "running":
            st.rerun(scope="app")  # it ended: redraw the buttons and the result
        if status.total:
            text = t("job_progress", stage=stage_text(status.stage) if status.stage else "", done=status.done,
                     total=status.total, seconds=status.elapsed_s)
        else:  # nothing reported yet: the worker process is starting (it imports torch)
            text = t("job_starting", seconds=status.elapsed_s)
        st.progress(status.fraction, text=text)
        if live is not None:
            live(status)

    progress()


def _ended(status: JobStatus) -> None:
    if status.state == "stopped":
        st.info(t("job_stopped", seconds=status.elapsed_s))
    elif status.state in ("failed", "timed_out"):
        st.error(t.error(status.error()))
        if status.error_code in ("job_failed", "job_died"):
            st.caption(t("job_page_ok"))
