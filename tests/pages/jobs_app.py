"""A page with one job panel (for tests/pages/test_jobs_widget.py): count to n, or sleep."""

import sys
from pathlib import Path

import streamlit as st

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))  # job_targets, importable by the child

import job_targets  # noqa: E402

from engine.lab.jobs import Job  # noqa: E402
from widgets.jobs import job_panel  # noqa: E402

target = job_targets.sleep_forever if st.session_state.get("sleep") else job_targets.count_to
kwargs = {} if st.session_state.get("sleep") else {"n": 3}
status = job_panel("demo", "Go", lambda: Job(target, kwargs, timeout_s=st.session_state.get("limit", 60)),
                   stage_text=str.upper, live=lambda s: st.write(f"partial {s.partial}"))
if status is not None and status.state == "done":
    st.write(f"sum {status.result['sum']}")
