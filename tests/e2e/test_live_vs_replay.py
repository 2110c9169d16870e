"""One engine live and in replay: the same trace through both gives the same decisions.

The live side is the real control plane's pieces (an SQLite store, the scheduler's cycle with
its live state, the executor and reconciler over the emulated backend running real processes)
on a virtual clock. The harness advances the clock to each next event (an arrival, or the known
finish of a running attempt), releases the processes that finish then and waits until the
reconciler has seen them exit, and runs the cycle, as the simulator's event loop does.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from aiplane.backends.registry import PoolBackends
from aiplane.core.fleet import Fleet, PricingModel
from aiplane.core.runs import Job, Run, RunState
from aiplane.core.scheduling.decisions import Decision, Place, Preempt
from aiplane.core.scheduling.engine import Engine
from aiplane.core.scheduling.snapshot import Snapshot
from aiplane.core.workloads import PRIORITY_CLASSES, Workload
from aiplane.services.execution import Executor
from aiplane.services.scheduling import LiveState, run_cycle
from aiplane.sim.driver import Simulator
from aiplane.sim.jobs import TraceJob
from aiplane.store.sql import SqlStore
from tests.builders import fleet, pool, site, workload
from tests.sim.helpers import prepared, with_workloads

FLEET: Fleet = fleet(
    site("s", pools=(pool(site="s", name="p", gpus=8, nodes=2, model=PricingModel.OWNED),))
)
# Waits for the harness to say that its virtual finish time has come.
RUN = 'while [ ! -e "$DONE/$AIPLANE_JOB_ID.$AIPLANE_ATTEMPT" ]; do sleep 0.02; done'
LOW, NORMAL, HIGH = (PRIORITY_CLASSES[p] for p in ("low", "normal", "high"))
# (id, submit, duration, GPUs per replica, replicas, priority)
TRACE = [
    ("a", 0.0, 100.0, 8, 1, LOW),
    ("b", 5.0, 100.0, 8, 1, LOW),
    ("c", 10.0, 30.0, 8, 1, HIGH),  # preempts b, which started later and so loses less
    ("d", 20.0, 20.0, 8, 2, NORMAL),  # a gang of two whole nodes
    ("e", 25.0, 10.0, 4, 1, NORMAL),
]


@dataclass
class Recorder:
    """Wraps the engine and keeps what it decided: (time, kind, run, pool, nodes)."""

    engine: Engine = field(default_factory=Engine)
    log: list[tuple[float, str, str, str, tuple[str, ...]]] = field(default_factory=list)
    name: str = Engine.name

    def decide(self, snapshot: Snapshot) -> list[Decision]:
        decisions = self.engine.decide(snapshot)
        for d in decisions:
            if isinstance(d, Place):
                nodes = tuple(a.node for a in d.placement.assignments)
                self.log.append((snapshot.now, "place", d.run_id, d.placement.pool, nodes))
            elif isinstance(d, Preempt):
                self.log.append((snapshot.now, "preempt", d.run_id, "", ()))
        return decisions


def workloads(env: dict[str, str]) -> list[Workload]:
    return [
        workload(name=i, gpus=g, replicas=r, priority=p, cpus=1, run=RUN, env=env)
        for i, _, _, g, r, p in TRACE
    ]


def replay() -> list[tuple[float, str, str, str, tuple[str, ...]]]:
    trace = [TraceJob(i, s, d, g * r) for i, s, d, g, r, _ in TRACE]
    p = with_workloads(prepared(FLEET, trace), workloads({}))
    recorder = Recorder()
    result = Simulator(FLEET, p, recorder).run()
    assert result.counters.over_allocations == result.counters.partial_gangs == 0
    return recorder.log


def succeeded(store: SqlStore, run_ids: list[str]) -> Callable[[], bool]:
    return lambda: all(store.jobs.get_run(i).state is RunState.SUCCEEDED for i in run_ids)


def live(tmp: Path) -> list[tuple[float, str, str, str, tuple[str, ...]]]:
    done = tmp / "done"
    done.mkdir()
    store = SqlStore.open(f"sqlite:///{tmp / 'aiplane.db'}")
    backends = PoolBackends(tmp / "work")
    executor = Executor(store, backends, tmp / "ckpt", lambda: FLEET, cancel_grace_s=1.0)
    state, recorder = LiveState(), Recorder()
    durations = {i: d for i, _, d, _, _, _ in TRACE}
    arrivals = sorted(zip((s for _, s, *_ in TRACE), workloads({"DONE": str(done)}), strict=True))
    arrivals_by = {w.name: s for s, w in arrivals}

    def settle(now: float, until: Callable[[], bool]) -> None:
        deadline = time.monotonic() + 30
        while not until():
            assert time.monotonic() < deadline, "the processes did not settle"
            executor.launch_admitted(now)
            executor.reconcile(now)
            time.sleep(0.02)

    def runs() -> list[Run]:
        return [run for _, run in store.jobs.page(limit=100)]

    follow_ups = 0
    while True:
        finishes = {
            r.id: r.started_at + durations[r.job_id] - r.checkpointed_hours * 3600
            for r in runs()
            if r.state is RunState.RUNNING and r.started_at is not None
        }
        t = min([s for s, w in arrivals] + list(finishes.values()), default=None)
        if t is None:
            break
        ending = [run_id for run_id, end in finishes.items() if end <= t]
        for run_id in ending:
            run = store.jobs.get_run(run_id)
            (done / f"{run.job_id}.{run.attempt}").touch()
        settle(t, succeeded(store, ending))
        while arrivals and arrivals[0][0] <= t:
            _, w = arrivals.pop(0)
            store.jobs.add(
                Job(w.name, w, arrivals_by[w.name], "me"),
                Run(w.name, w.name, RunState.PENDING, t, t),
            )
        while any(r.state is RunState.PENDING for r in runs()):
            result = run_cycle(
                store, FLEET, recorder, t, backends=backends, grace_s=1.0, state=state
            )
            assert result.refused == 0
            settle(
                t,
                lambda: all(
                    r.state in (RunState.RUNNING, RunState.PENDING, RunState.SUCCEEDED)
                    for r in runs()
                ),
            )
            if not result.preempted or follow_ups >= 2:
                follow_ups = 0
                break
            follow_ups += 1
    assert all(r.state is RunState.SUCCEEDED for r in runs())
    store.close()
    return recorder.log


def test_the_live_control_plane_decides_what_the_simulator_decides(tmp_path: Path) -> None:
    expected = replay()
    assert ("preempt", "b") in [(kind, run) for _, kind, run, _, _ in expected]
    assert any(len(nodes) == 2 for _, kind, _, _, nodes in expected if kind == "place")
    assert live(tmp_path) == expected
