"""The training lab's shared panel: optimiser settings, Start / Pause / One step / Stop, the
progress with samples/s and ETA, live loss and accuracy curves, the runs kept for comparison,
the metrics as CSV, and checkpoints to download and upload.

    common.py   constants, the translator, messages
    slot.py     the session's slot (its trainer and kept runs) and the buttons' callbacks
    live.py     the live view: progress, metrics, curves (one metrics snapshot per tick)
    files.py    the runs table, the CSV export, checkpoints out and in
    panel.py    TrainingPanel, which a training page builds and calls top to bottom

The trainer (engine.lab.trainer.Trainer) runs in its own worker thread and makes no streamlit call.
It lives in a session-scoped st.cache_resource "slot", so closing the tab releases the slot,
which stops the worker and frees the model (docs/ARCHITECTURE.md, "Live training"). A fragment
with run_every polls the trainer about once a second while it runs; buttons act through on_click
callbacks, so the buttons drawn next already match the new state.
"""

from widgets.training.files import metrics_csv
from widgets.training.panel import TrainingPanel

__all__ = ["TrainingPanel", "metrics_csv"]
