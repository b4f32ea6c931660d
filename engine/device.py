"""Which device the engine computes on: CUDA, then MPS, then CPU; NML_DEVICE overrides.

This is the only module that names a device.
"""

from __future__ import annotations

import os
from functools import cache

import torch

_CHOICES = ("cpu", "cuda", "mps")


@cache
def get_device() -> torch.device:
    """The device to compute on. `NML_DEVICE=cpu|cuda|mps` overrides the automatic pick."""
    wanted = os.environ.get("NML_DEVICE", "").strip().lower()
    if wanted in _CHOICES:
        if wanted == "cuda" and not torch.cuda.is_available():
            return torch.device("cpu")
        if wanted == "mps" and not torch.backends.mps.is_available():
            return torch.device("cpu")
        return torch.device(wanted)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def device_name(device: torch.device | None = None) -> str:
    """A human label: 'CPU', the CUDA card's name, or 'Apple MPS'."""
    device = device or get_device()
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    if device.type == "mps":
        return "Apple MPS"
    return "CPU"


def accelerator() -> torch.device | None:
    """The CUDA device when one is present, whatever NML_DEVICE says (the hardware page measures
    it beside the CPU), else None."""
    return torch.device("cuda") if torch.cuda.is_available() else None


def synchronize(device: torch.device) -> None:
    """Wait until the device has finished its queued work (timings need it); a no-op on the CPU."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


_configured = False


def configure_threads() -> None:
    """Set torch's intra-op threads once per process (docs/ARCHITECTURE.md: once at start-up):
    one per core, or NML_THREADS (e.g. 1 when several processes share the cores, as test workers)."""
    global _configured
    if _configured:
        return
    wanted = os.environ.get("NML_THREADS", "")
    n = int(wanted) if wanted.isdigit() else (os.cpu_count() or 1)
    torch.set_num_threads(max(1, n))
    _configured = True
