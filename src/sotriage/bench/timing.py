"""Timing primitives: a short warm-up, then whole passes over a workload, timed with perf_counter.

A pass runs every batch of a setting once. Throughput is questions per pass divided by the median
pass time, so one slow pass (a page fault storm, another process waking up) does not move it.
"""

from __future__ import annotations

import statistics
import time
from typing import Callable

import numpy as np

from ..runtime.base import Backend
from .settings import BatchPlan

# The warm-up runs the first batch of a setting cut to this many rows. Except at batch 1, the first
# batch has the setting's longest padded length (batches are sorted longest first, or all padded to
# 512), so the warm-up covers lazy kernel selection and memory-arena growth at that length. A whole
# batch would cost too much: a BERT-base reference batch takes over 20 s in PyTorch on 2 cores.
WARMUP_ROWS = 4
METHOD = ("warm-up: the first batch of each setting cut to {rows} rows; then {passes} over all "
          "questions; sequences/s = questions / median pass time; latency percentiles pool the per-call times "
          "of all passes")

Tick = Callable[[], None]


def _no_tick() -> None:
    pass


def warm_up(backend: Backend, plan: BatchPlan) -> None:
    first = plan.batches[0]
    backend({name: array[:WARMUP_ROWS] for name, array in first.items()})


def time_plan(backend: Backend, plan: BatchPlan, passes: int, tick: Tick = _no_tick) -> list[float]:
    """Return the seconds of each pass over `plan`'s batches; `tick` runs after every batch."""
    seconds = []
    for _ in range(passes):
        start = time.perf_counter()
        for batch in plan.batches:
            backend(batch)
            tick()
        seconds.append(time.perf_counter() - start)
    return seconds


def time_calls(backend: Backend, plan: BatchPlan, passes: int, tick: Tick = _no_tick) -> tuple[list[float], list[float]]:
    """Time every call separately; return (seconds per pass, seconds per call over all passes)."""
    pass_seconds, call_seconds = [], []
    for _ in range(passes):
        pass_total = 0.0
        for batch in plan.batches:
            start = time.perf_counter()
            backend(batch)
            elapsed = time.perf_counter() - start
            call_seconds.append(elapsed)
            pass_total += elapsed
            tick()
        pass_seconds.append(pass_total)
    return pass_seconds, call_seconds


def time_function(function: Callable[[], object], passes: int, tick: Tick = _no_tick) -> list[float]:
    """Return the seconds of each of `passes` calls of `function`."""
    seconds = []
    for _ in range(passes):
        start = time.perf_counter()
        function()
        seconds.append(time.perf_counter() - start)
        tick()
    return seconds


def throughput(items: int, pass_seconds: list[float]) -> float:
    return items / statistics.median(pass_seconds)


def latency_percentiles(call_seconds: list[float]) -> dict[str, float]:
    milliseconds = np.asarray(call_seconds) * 1e3
    return {
        "p50_ms": round(float(np.percentile(milliseconds, 50)), 3),
        "p95_ms": round(float(np.percentile(milliseconds, 95)), 3),
        "p99_ms": round(float(np.percentile(milliseconds, 99)), 3),
        "mean_ms": round(float(milliseconds.mean()), 3),
        "calls": len(call_seconds),
    }
