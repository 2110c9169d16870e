"""The reconciler loop: bring run states in line with what the processes report, and notice
the checkpoints they wrote."""

from __future__ import annotations

import time
from collections.abc import Callable

from aiplane.services.checkpoints import notice_files
from aiplane.services.execution import Executor


def reconciler_step(executor: Executor, clock: Callable[[], float] = time.time) -> None:
    now = clock()
    executor.reconcile(now)
    notice_files(executor.store, executor.checkpoint_root, now)
