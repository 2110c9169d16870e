"""The replica index: a full read, then only the runs updated since, ends noticed once (a
submitted replica's too, seen live or not), and a late write caught by the next full read."""

from __future__ import annotations

from aiplane.core.runs import Job, Run, RunState
from aiplane.core.serving.endpoints import LABEL_ENDPOINT
from aiplane.core.workloads import Workload, WorkloadKind
from aiplane.services.endpoint_index import RESYNC_S, ReplicaIndex
from aiplane.store.memory import MemoryStore


def add(
    store: MemoryStore,
    job_id: str,
    at: float,
    *,
    endpoint: str | None = "fraud",
    state: RunState = RunState.PENDING,
) -> Job:
    labels = {LABEL_ENDPOINT: endpoint} if endpoint else {}
    workload = Workload("w", "t", WorkloadKind.SERVE, "true", labels=labels)
    job = Job(job_id, workload, at, "alice")
    store.jobs.add(job, Run("r-" + job_id, job_id, state, at, at))
    return job


def test_the_index_follows_updates_between_full_reads() -> None:
    store = MemoryStore()
    mono = [0.0]
    index = ReplicaIndex(store, monotonic=lambda: mono[0])
    first = add(store, "j-1", 100.0)
    add(store, "j-2", 100.0, endpoint=None)  # batch work: not a replica
    assert [r.job.id for r in index.live()] == ["j-1"]  # the full read
    add(store, "j-3", 105.0)
    assert sorted(r.job.id for r in index.live()) == ["j-1", "j-3"]  # caught up
    run = store.jobs.get_run("r-j-1")
    store.jobs.update_run(run.transition(RunState.CANCELLED, 106.0), RunState.PENDING)
    assert [r.job.id for r in index.live()] == ["j-3"]
    assert index.ended() == [first]
    assert index.live() and index.ended() == []  # each end once, re-reads notwithstanding
    # A replica submitted and ended before any read saw it live: still noticed.
    gone = add(store, "j-4", 107.0, state=RunState.FAILED)
    index.track(gone)
    index.live()
    assert index.ended() == [gone]
    # A write stamped long before the newest seen is missed until the next full read.
    late = add(store, "j-5", 50.0)
    assert "j-5" not in {r.job.id for r in index.live()}
    mono[0] += RESYNC_S
    assert late.id in {r.job.id for r in index.live()}


def test_with_nothing_live_each_read_is_a_full_one() -> None:
    store = MemoryStore()
    index = ReplicaIndex(store, monotonic=lambda: 0.0)
    assert index.live() == []
    job = add(store, "j-1", 100.0)
    index.track(job)
    assert [r.job.id for r in index.live()] == ["j-1"]
    run = store.jobs.get_run("r-j-1")
    started = run.transition(RunState.ADMITTED, 101.0)
    store.jobs.update_run(started, RunState.PENDING)
    (replica,) = index.live()
    assert replica.run.state is RunState.ADMITTED
