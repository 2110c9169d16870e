"""The reconciler loop: bring run states in line with what the processes report."""

from __future__ import annotations

import time
from collections.abc import Callable

from aiplane.services.execution import Executor


def reconciler_step(executor: Executor, clock: Callable[[], float] = time.time) -> None:
    executor.reconcile(clock())
