"""Targets for tests/unit/test_jobs.py: module-level, so a spawned child can import them by name."""

import os
import time

from engine.limits import CodedError


def count_to(report, *, n: int, pause_s: float = 0.0):
    """Report n steps with a partial result each, then answer the sum."""
    for i in range(1, n + 1):
        time.sleep(pause_s)
        report(i, n, "counting", partial=i)
    return {"sum": n * (n + 1) // 2, "pid": os.getpid()}


def refuse(report, *, value: int):
    raise CodedError("too_big", f"{value} is too big", value=value)


def crash(report):
    raise RuntimeError("boom")


def die(report):
    os._exit(3)


def sleep_forever(report, *, child: bool = False):
    """Report once, then sleep; with child=True, start a grandchild first and report its pid."""
    import multiprocessing as mp

    pid = None
    if child:
        grandchild = mp.get_context("spawn").Process(target=time.sleep, args=(600,))
        grandchild.start()
        pid = grandchild.pid
    report(0, 1, "sleeping", partial=pid)
    time.sleep(600)


def threads(report):
    import torch

    return torch.get_num_threads()
