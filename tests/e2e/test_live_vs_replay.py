"""One engine live and in replay: the same trace through both gives the same decisions.

The live side is the real control plane's pieces (an SQLite store, the scheduler's cycle with
its live state, the executor and reconciler over the emulated backend running real processes)
on a virtual clock. The harness advances the clock to each next event (an arrival, or the known
finish of a running attempt), releases the processes that finish then and waits until the
reconciler has seen them exit, reports the checkpoints the simulator's runs take (every
``checkpoint_minutes`` of an attempt), and runs the cycle, as the simulator's event loop does.

The trace makes the shared arithmetic matter: ``a`` checkpoints, so a preemption for ``c``
loses less of it than of ``b`` (which started later but never checkpoints) and ``a`` is the
victim; its requeue folds its attained service, so ``f``, of the same priority but submitted
later, goes first once ``c`` is done; ``a`` then resumes with the work its checkpoint saved.
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
from aiplane.core.scheduling.inputs import remaining_hours
from aiplane.core.scheduling.snapshot import Snapshot
from aiplane.core.workloads import PRIORITY_CLASSES, Workload
from aiplane.services import checkpoints
from aiplane.services.execution import Executor
from aiplane.services.scheduling import LiveState, requeue_stranded, run_cycle
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
# (id, submit, duration, GPUs per replica, replicas, priority, checkpoint minutes)
TRACE = [
    ("a", 0.0, 100.0, 8, 1, LOW, 0.5),  # a checkpoint every 30 s
    ("b", 5.0, 100.0, 8, 1, LOW, None),
    ("c", 40.0, 30.0, 8, 1, HIGH, None),  # preempts a: 10 s lost since its checkpoint, b 35 s
    ("f", 50.0, 20.0, 8, 1, LOW, None),  # before a, which has attained 40 s x 8 GPUs
    ("d", 170.0, 20.0, 8, 2, NORMAL, None),  # a gang of two whole nodes
    ("e", 175.0, 10.0, 4, 1, NORMAL, None),
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
        workload(
            name=i, gpus=g, replicas=r, priority=p, cpus=1, run=RUN, env=env, checkpoint_minutes=c
        )
        for i, _, _, g, r, p, c in TRACE
    ]


def replay() -> list[tuple[float, str, str, str, tuple[str, ...]]]:
    trace = [TraceJob(i, s, d, g * r) for i, s, d, g, r, _, _ in TRACE]
    p = with_workloads(prepared(FLEET, trace), workloads({}))
    recorder = Recorder()
    result = Simulator(FLEET, p, recorder).run()
    assert result.counters.over_allocations == result.counters.partial_gangs == 0
    return recorder.log


def succeeded(store: SqlStore, run_ids: list[str]) -> Callable[[], bool]:
    return lambda: all(store.jobs.get_run(i).state is RunState.SUCCEEDED for i in run_ids)


def report_checkpoints(store: SqlStore, now: float) -> None:
    """The checkpoints the simulator's attempts have taken by ``now``: one every
    ``checkpoint_minutes`` of the attempt."""
    every = {i: c * 60 for i, *_, c in TRACE if c}
    for _, run in store.jobs.page(limit=100, states=[RunState.RUNNING]):
        if run.started_at is None or run.job_id not in every:
            continue
        taken = (now - run.started_at) // every[run.job_id]
        if taken:
            at = run.started_at + taken * every[run.job_id]
            checkpoints.report(store, run.job_id, now, f"ckpt-{at:g}", at=at)


def live(tmp: Path) -> list[tuple[float, str, str, str, tuple[str, ...]]]:
    done = tmp / "done"
    done.mkdir()
    store = SqlStore.open(f"sqlite:///{tmp / 'aiplane.db'}")
    backends = PoolBackends(tmp / "work")
    executor = Executor(store, backends, tmp / "ckpt", lambda: FLEET, cancel_grace_s=1.0)
    state, recorder = LiveState(), Recorder()
    durations = {i: d for i, _, d, *_ in TRACE}
    arrivals = sorted(zip((s for _, s, *_ in TRACE), workloads({"DONE": str(done)}), strict=True))
    arrivals_by = {w.name: s for s, w in arrivals}

    def settle(now: float, until: Callable[[], bool]) -> None:
        # A bound on a hang, not a timing: real processes on a loaded machine can take a while.
        deadline = time.monotonic() + 120
        while not until():
            assert time.monotonic() < deadline, "the processes did not settle"
            executor.launch_admitted(now)
            executor.reconcile(now)
            # A victim is requeued once its processes have ended, as each live tick does.
            requeue_stranded(store, backends, now, grace_s=1.0)
            time.sleep(0.02)

    def runs() -> list[Run]:
        return [run for _, run in store.jobs.page(limit=100)]

    try:
        follow_ups = 0
        while True:
            finishes = {
                r.id: r.started_at
                + remaining_hours(durations[r.job_id] / 3600, r.checkpointed_hours) * 3600
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
                report_checkpoints(store, t)
                result = run_cycle(
                    store, FLEET, recorder, t, backends=backends, grace_s=1.0, state=state
                )
                assert result.refused == result.stale == 0
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
    finally:
        # A failed run must not leave its commands behind: each waits for its done file.
        for r in runs():
            for attempt in range(r.attempt + 2):
                (done / f"{r.job_id}.{attempt}").touch()
    store.close()
    return recorder.log


def test_the_live_control_plane_decides_what_the_simulator_decides(tmp_path: Path) -> None:
    expected = replay()
    assert [(t, run) for t, kind, run, _, _ in expected if kind == "preempt"] == [(40.0, "a")]
    placed = [(t, run) for t, kind, run, _, _ in expected if kind == "place"]
    # f before a once c is done; a resumes with 30 s of its 100 saved, so it ends at 90 + 70.
    assert placed[3:] == [(70.0, "f"), (90.0, "a"), (170.0, "d"), (190.0, "e")]
    assert any(len(nodes) == 2 for _, kind, _, _, nodes in expected if kind == "place")
    assert live(tmp_path) == expected
