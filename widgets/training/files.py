"""Below a run: the runs kept for comparison (checkboxes and a table), the metrics as CSV, and
the checkpoint to download or upload."""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import asdict

import pandas as pd
import streamlit as st

from engine.lab import records
from engine.lab.records import MetricsSnapshot
from engine.lab.trainer import RunConfig, Trainer
from widgets.training.common import MAX_RUNS, message, t
from widgets.training.slot import RunRecord, Slot, restore_for, settings_key


def metrics_csv(snap: MetricsSnapshot) -> bytes:
    """Every record as one CSV row (kind, step, …); columns are the union of the records' fields."""
    rows = [records.as_dict(r) for r in snap.records()]
    if not rows:
        return b""
    frame = pd.DataFrame(rows)
    first = [c for c in ("kind", "step", "epoch", "seconds") if c in frame.columns]
    frame = frame[first + [c for c in frame.columns if c not in first]]
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False)
    return buffer.getvalue().encode("utf-8")


def _row(rec: RunRecord, settings: str, end: str) -> dict:
    last, last_train = rec.metrics.last_eval, rec.metrics.last_train
    acc = last.score if last is not None else None
    return {t("col_run"): rec.number, t("col_settings"): settings, t("col_end"): end,
            t("col_steps"): rec.step, t("col_seconds"): round(rec.seconds, 1),
            t("col_loss"): round(last_train.loss, 4) if last_train is not None else None,
            t("col_held_out_loss"): round(last.held_out_loss, 4) if last is not None else None,
            t("col_acc"): round(acc, 4) if acc is not None else None}


def runs_section(slot: Slot, describe: Callable[[object, object], str], key: Callable[[str], str]) -> None:
    """A checkbox per kept run (compare its curves with the current run's) and their table."""
    st.subheader(t("runs_header"))
    if not slot.runs:
        st.caption(t("runs_empty"))
        return
    st.caption(t("runs_help", n=MAX_RUNS))
    rows = []
    for rec in reversed(slot.runs):
        end = t(f"reason_{rec.reason}") if rec.reason else t(f"state_{rec.state}")
        settings = describe(rec.config, rec.optim)
        st.checkbox(t("run_label", n=rec.number, settings=settings, end=end, step=f"{rec.step:,}",
                      total=f"{rec.total:,}"), key=key(f"cmp_{rec.number}"))
        rows.append(_row(rec, settings, end))
    st.dataframe(pd.DataFrame(rows), hide_index=True)


def _checkpoint_out(slot: Slot, tr: Trainer, key: Callable[[str], str]) -> None:
    if tr.state == "running":
        st.button(t("ckpt_button"), disabled=True, icon=":material/download:", key=key("ckpt_off"))
        st.caption(t("ckpt_pause"))
        return
    st.download_button(t("ckpt_button"), data=tr.to_bytes(), file_name=f"{slot.kind}-run{slot.number}-step{tr.step}.pt",
                       mime="application/octet-stream", on_click="ignore", icon=":material/download:",
                       key=key("ckpt"))
    st.caption(t("ckpt_help"))


def _checkpoint_in(slot: Slot, file, run: RunConfig) -> None:
    """A new upload replaces the run (and its settings go into the widgets); a bad one is shown."""
    if file is not None and file.file_id != slot.upload_seen:
        slot.upload_seen = file.file_id
        try:
            new = restore_for(slot.kind, file.getvalue(), run)
        except Exception as exc:
            slot.upload_error = (file.file_id, exc)
        else:
            slot.upload_error = None
            slot.install(new, settings_key(new.task.config, new.optim, new.run.seed))
            slot.pending = {"config": asdict(new.task.config), "optim": asdict(new.optim), "seed": new.run.seed}
            slot.notice = "restored"
            st.rerun()
    if file is not None and slot.upload_error is not None and slot.upload_error[0] == file.file_id:
        st.error(message(t, slot.upload_error[1]))
        st.info(t("upload_kept"))


def files_section(slot: Slot, tr: Trainer, run: RunConfig, key: Callable[[str], str]) -> None:
    """The CSV export, the checkpoint download, and the checkpoint upload."""
    st.subheader(t("files_header"))
    c1, c2, c3 = st.columns(3)
    snap = tr.metrics.snapshot()
    with c1:
        st.download_button(t("csv_button"), data=metrics_csv(snap), file_name=f"{slot.kind}-run{slot.number}-metrics.csv",
                           mime="text/csv", disabled=not snap.total, on_click="ignore", icon=":material/table:",
                           key=key("csv"))
        st.caption(t("csv_help"))
    with c2:
        _checkpoint_out(slot, tr, key)
    with c3:
        file = st.file_uploader(t("upload_label"), type=["pt"], key=key("upload"),
                                disabled=tr.state == "running", help=t("upload_help"))
    _checkpoint_in(slot, file, run)
