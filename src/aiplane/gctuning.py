"""Garbage-collector tuning for the process around allocation-heavy work.

A scheduling cycle or a trace replay allocates hundreds of thousands to millions of short-lived
objects next to a large, long-lived snapshot, and makes few reference cycles: the cyclic
collector's passes rescan the snapshot again and again for little to free (at 100,000 pending
runs they doubled the engine's cycle time; in a replay they were about 10% of the run).
Reference counting frees everything else either way.

How the process is tuned is the process's business, not the core's or the simulator's: the
live scheduler loop, the ``simulate`` and ``plan`` commands and the benchmarks wrap their work
in :func:`paused_collector`.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager


class _Pauses:
    """Bursts in progress over all threads, and whether the collector was enabled when the
    first of them began: the collector is process-wide, so this state is too."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._count = 0
        self._resume = False

    def begin(self) -> None:
        with self._lock:
            if self._count == 0:
                self._resume = gc.isenabled()
                gc.disable()
            self._count += 1

    def end(self) -> None:
        with self._lock:
            self._count -= 1
            if self._count == 0 and self._resume:
                gc.enable()


_pauses = _Pauses()


@contextmanager
def paused_collector() -> Iterator[None]:
    """Pause the cyclic collector for a burst of work: a scheduling cycle, or a whole replay
    (which makes no cyclic garbage: a collection after the Philly replay finds none).

    The collector is process-wide: bursts that overlap in several threads resume it when the
    last one ends, and only if it was enabled when the first began.
    """
    _pauses.begin()
    try:
        yield
    finally:
        _pauses.end()


def freeze_long_lived() -> None:
    """Move everything allocated so far out of the collector's way for good: a server calls
    this once it has loaded what lives as long as the process, so full collections stop
    rescanning it (they showed up as p99 spikes in the API benchmark)."""
    gc.collect()
    gc.freeze()
