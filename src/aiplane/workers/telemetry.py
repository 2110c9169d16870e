"""The telemetry loop: one sample of GPUs and host per tick (1 Hz by default)."""

from __future__ import annotations

import time
from collections.abc import Callable

from aiplane.services.telemetry import TelemetryRecorder


def telemetry_step(recorder: TelemetryRecorder, clock: Callable[[], float] = time.time) -> None:
    recorder.step(clock())
