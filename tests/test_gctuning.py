"""The process's collector tuning: paused for a burst, always resumed as it was."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator

import pytest

from aiplane.gctuning import paused_collector


@pytest.fixture(autouse=True)
def _restore_collector() -> Iterator[None]:
    enabled, thresholds = gc.isenabled(), gc.get_threshold()
    yield
    gc.set_threshold(*thresholds)
    if enabled:
        gc.enable()
    else:
        gc.disable()


def test_a_pause_resumes_the_collector_even_after_an_error() -> None:
    gc.enable()
    enabled_inside: list[bool] = []

    def failing_cycle() -> None:
        with paused_collector():
            enabled_inside.append(gc.isenabled())
            raise RuntimeError("cycle failed")

    with pytest.raises(RuntimeError, match="cycle failed"):
        failing_cycle()
    assert enabled_inside == [False]
    assert gc.isenabled()


def test_a_pause_leaves_a_disabled_collector_disabled() -> None:
    gc.disable()
    with paused_collector():
        pass
    assert not gc.isenabled()


def test_overlapping_pauses_in_two_threads_resume_when_the_last_ends() -> None:
    gc.enable()
    entered, release = threading.Event(), threading.Event()

    def other() -> None:
        with paused_collector():
            entered.set()
            release.wait(10)

    thread = threading.Thread(target=other)
    with paused_collector():
        thread.start()
        assert entered.wait(10)
    # This burst ended first; the other thread's is still running.
    assert not gc.isenabled()
    release.set()
    thread.join(10)
    assert gc.isenabled()
