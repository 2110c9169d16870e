"""A run left preempted by a cycle that died between its two writes (kill -9), with its replica
still stopping, on real processes: the next cycles stop it again and requeue it only once its
command is gone; never left preempted, never queued beside its own running command."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

from aiplane.backends.base import LaunchSpec, ReplicaStatus
from aiplane.backends.registry import PoolBackends
from aiplane.core.fleet import Fleet
from aiplane.core.runs import Run, RunState
from aiplane.core.scheduling.decisions import Decision
from aiplane.core.scheduling.inputs import preempted
from aiplane.core.scheduling.snapshot import Snapshot
from aiplane.services.scheduling import LiveState, run_cycle
from aiplane.store.memory import MemoryStore
from tests.backends.drivers import kill_replicas
from tests.backends.helpers import DEADLINE_S, pid_alive
from tests.services.fleets import apply_fleet, stored_fleet

from .test_metering import FLEET, T0, start, submit


class _Decides:
    name = "nothing"

    def decide(self, _snapshot: Snapshot) -> list[Decision]:
        return []


def _plane() -> tuple[MemoryStore, Fleet, Run]:
    store = MemoryStore()
    apply_fleet(store, FLEET, T0)
    fleet = stored_fleet(store)
    assert fleet is not None
    return store, fleet, start(store, submit(store), T0 + 60)


# Takes a second to stop once it gets SIGTERM, and exits 0 then: how it took the stop.
SLOW_TO_STOP = "trap 'sleep 1; exit 0' TERM; echo up; while :; do sleep 0.05; done"


def test_a_victim_left_preempted_is_requeued_once_its_command_is_gone(tmp_path: Path) -> None:
    store, fleet, victim = _plane()
    backends = PoolBackends(tmp_path / "work")
    backend = backends.for_placement(victim.placed())
    a = victim.placed().assignments[0]
    spec = LaunchSpec(
        run_id=victim.id,
        job_id=victim.job_id,
        attempt=victim.attempt,
        replica=0,
        replicas=1,
        command=SLOW_TO_STOP,
        workdir=None,
        env={},
        site="gcp",
        pool="a3-spot",
        node=a.node,
        accelerator=None,
        gpus=0.0,
    )
    try:
        handle = backend.launch(spec)
        deadline = time.monotonic() + DEADLINE_S
        while backend.poll(handle).status is not ReplicaStatus.RUNNING or "up" not in (
            backend.logs(handle)
        ):
            assert time.monotonic() < deadline, "the replica did not start"
            time.sleep(0.02)
        stored = store.jobs.get_run(victim.id)
        running = store.jobs.update_run(replace(stored, handles=(handle,)), RunState.RUNNING)
        # The first write of a preemption, then the cycle dies before stopping or requeueing.
        store.jobs.update_run(preempted(running, T0 + 600, "make room"), RunState.RUNNING)
        child = int(backend.poll(handle).detail.split()[-1])

        state, now, seen = LiveState(), T0 + 601, []
        deadline = time.monotonic() + DEADLINE_S
        while (run := store.jobs.get_run(victim.id)).state is RunState.PREEMPTED:
            assert time.monotonic() < deadline, "the run stayed preempted"
            run_cycle(store, fleet, _Decides(), now, backends=backends, state=state)
            seen.append(pid_alive(child))
            now += 1
            time.sleep(0.05)

        assert run.state is RunState.PENDING and run.attempt == victim.attempt + 1
        assert not pid_alive(child)  # requeued only once its command was gone
        assert seen[0], "the first cycle found the command still stopping"
    finally:
        kill_replicas(tmp_path / "work")
