"""The scheduler loop: place pending runs, then launch admitted ones."""

from __future__ import annotations

import time
from collections.abc import Callable

from aiplane.core.scheduling.policy import SchedulingPolicy
from aiplane.gctuning import paused_collector
from aiplane.services.execution import Executor
from aiplane.services.fleet import FleetCache
from aiplane.services.metering import preemption_hook
from aiplane.services.scheduling import CycleInputs, LiveState, run_cycle
from aiplane.store.base import Store


def scheduler_step(
    store: Store,
    fleet_cache: FleetCache,
    policy: SchedulingPolicy,
    executor: Executor,
    clock: Callable[[], float] = time.time,
    inputs: Callable[[], CycleInputs] | None = None,
    state: LiveState | None = None,
) -> None:
    """One tick. ``state`` is the live state kept between ticks (the control plane holds it);
    without one, each tick loads the store afresh."""
    fleet = fleet_cache.current()
    if fleet is None:
        return
    with paused_collector():
        run_cycle(
            store,
            fleet,
            policy,
            clock(),
            backends=executor.backends,
            inputs=inputs() if inputs else None,
            grace_s=executor.cancel_grace_s,
            on_run_stopped=preemption_hook(fleet),
            state=state,
        )
    executor.launch_admitted(clock())
