"""The discrete-event driver: timing, gangs, speeds, checkpoints, spot luck, checks."""

from __future__ import annotations

from dataclasses import replace

import pytest

from aiplane.core.fleet import Fleet, PricingModel
from aiplane.core.runs import Placement, ReplicaAssignment
from aiplane.core.scheduling.baselines.fifo import Fifo
from aiplane.core.scheduling.decisions import Decision, Place, Preempt
from aiplane.core.scheduling.snapshot import Snapshot
from aiplane.core.workloads import SpotPolicy
from aiplane.sim.driver import SimOptions
from aiplane.sim.jobs import ShapeOptions, split_gang
from tests.builders import fleet, pool, site
from tests.sim.helpers import jobs, prepared, simulate, small_fleet, with_workloads


def one_pool(nodes: int = 2, gpus: int = 8, model: PricingModel = PricingModel.OWNED) -> Fleet:
    return fleet(
        site("dc", pools=(pool(site="dc", name="p", nodes=nodes, gpus=gpus, model=model),))
    )


def test_a_job_runs_for_its_duration_on_the_cheapest_pool() -> None:
    f = small_fleet()
    result = simulate(f, prepared(f, jobs((0, 3600, 1))), Fifo())
    record = result.records[0]
    assert (record.first_start_s, record.finish_s, record.pool) == (0, 3600, "dc/a100")
    assert record.cost_usd == pytest.approx(0.5)  # $2 per 4-GPU node-hour, one GPU, one hour
    s = result.summary
    assert (s.avg_jct_s, s.avg_queue_s, s.makespan_s) == (3600, 0, 3600)
    assert s.cost_by_pricing == {"owned": pytest.approx(0.5)}
    # Owned capacity costs the same whether used: 2 x $8 + 4 x $2 per hour.
    assert s.capacity_cost_usd == pytest.approx(24.0)


@pytest.mark.parametrize(
    ("gpus", "node", "expected"),
    [(4, 8, (1, 4)), (16, 8, (2, 8)), (12, 8, (2, 6)), (24, 8, (3, 8)), (13, 8, (2, 7)),
     (0.5, 8, (1, 0.5)), (128, 8, (16, 8)), (6, 4, (2, 3))],
)  # fmt: skip
def test_split_gang(gpus: float, node: int, expected: tuple[int, float]) -> None:
    assert split_gang(gpus, node) == expected


def test_big_jobs_become_gangs_of_whole_replicas() -> None:
    f = small_fleet()
    p = prepared(f, jobs((0, 100, 16), (0, 100, 12), (0, 100, 64)))
    assert [w.replicas for w in p.workloads] == [2, 2]
    assert [o.count for o in p.workloads[0].accelerators] == [8]  # only H100 nodes hold 8
    assert list(p.dropped) == ["j2"]  # 64 GPUs: more than the fleet could ever hold
    result = simulate(f, p, Fifo())
    assert result.summary.partial_gangs == 0
    first, second = result.records
    assert (first.first_start_s, second.first_start_s) == (0, 100)  # both need the H100 nodes


def test_queueing_and_cycle_interval() -> None:
    f = one_pool(nodes=1)
    p = prepared(f, jobs((0, 1000, 8), (10, 500, 8)))
    result = simulate(f, p, Fifo())
    assert [r.queue_s for r in result.records] == [0, 990]
    assert result.summary.avg_jct_s == pytest.approx((1000 + 1490) / 2)
    spaced = simulate(f, p, Fifo(), SimOptions(min_cycle_interval_s=1500))
    assert [r.first_start_s for r in spaced.records] == [0, 1500]


def test_speed_scales_duration() -> None:
    f = one_pool()
    p = prepared(f, jobs((0, 3600, 1)), ShapeOptions(speeds={"H100-80GB": 2.0}))
    result = simulate(f, p, Fifo())
    assert result.records[0].finish_s == pytest.approx(1800)


class PreemptAt:
    """Places every pending run on node 0 of pool dc/p; preempts ``victim`` at ``at``."""

    name = "scripted"

    def __init__(self, victim: str, at: float) -> None:
        self.victim, self.at, self.done = victim, at, False

    def decide(self, snapshot: Snapshot) -> list[Decision]:
        out: list[Decision] = []
        if not self.done and snapshot.now >= self.at:
            out.append(Preempt(self.victim, "j1", "test"))
            self.done = True
        node = snapshot.nodes[0]
        free = node.free.gpus + (8 if out else 0)
        for run in snapshot.pending:
            if free >= 8:
                assignment = ReplicaAssignment(0, node.id, 8, tuple(range(8)))
                out.append(Place(run.run_id, Placement("dc/p", "dc", "emulated", "H100-80GB",
                                                       (assignment,), 8.0, True)))  # fmt: skip
                free -= 8
        return out


def test_preemption_loses_work_since_the_last_checkpoint() -> None:
    f = one_pool(nodes=1)
    p = prepared(f, jobs((0, 10_000, 8), (4000, 100, 8)), ShapeOptions(checkpoint_minutes=30))
    result = simulate(f, p, PreemptAt("j0", 4000))
    victim, other = result.records
    assert victim.preemptions == 1 and result.summary.preemptions == 1
    # Two checkpoints (1800 s, 3600 s) were saved; 400 s x 8 GPUs were lost.
    assert victim.rework_gpu_s == pytest.approx(400 * 8)
    assert other.first_start_s == 4000 and other.finish_s == 4100
    # Resumes at 4100 with 10,000 - 3,600 s of work left.
    assert victim.finish_s == pytest.approx(4100 + 6400)
    assert victim.run_s == pytest.approx(4000 + 6400)


def test_without_checkpoints_a_preempted_run_starts_over() -> None:
    f = one_pool(nodes=1)
    p = prepared(f, jobs((0, 10_000, 8), (4000, 100, 8)), ShapeOptions(checkpoint_minutes=None))
    victim = simulate(f, p, PreemptAt("j0", 4000)).records[0]
    assert victim.rework_gpu_s == pytest.approx(4000 * 8)
    assert victim.finish_s == pytest.approx(4100 + 10_000)


def spot_only(rate: float) -> Fleet:
    spot = pool(site="cloud", name="spot", nodes=4, model=PricingModel.SPOT, usd_per_node_hour=16)
    spot = replace(spot, nodes_min=0,
                   pricing=replace(spot.pricing, interruption_rate_per_hour=rate))  # fmt: skip
    return fleet(site("cloud", pools=(spot,)))


def test_spot_interruptions_requeue_with_rework_accounted() -> None:
    f = spot_only(rate=1.0)
    trace = jobs(*[(i * 600.0, 4 * 3600.0, 8) for i in range(6)])
    result = simulate(f, prepared(f, trace, ShapeOptions(checkpoint_minutes=20)), Fifo())
    s = result.summary
    assert s.interruptions > 0 and s.finished == 6
    assert s.interruptions == sum(r.interruptions for r in result.records)
    for r in result.records:
        # Time held = work done + work lost; each interruption loses less than a checkpoint.
        assert r.run_s * 8 == pytest.approx(4 * 3600 * 8 + r.rework_gpu_s)
        assert r.rework_gpu_s <= r.interruptions * 20 * 60 * 8 + 1e-6
    assert s.rework_gpu_hours == pytest.approx(sum(r.rework_gpu_s for r in result.records) / 3600)
    # Elastic spot capacity is paid while up: for exactly the node-hours used here.
    assert s.capacity_cost_usd == pytest.approx(s.cost_usd)


def test_same_seed_same_result_other_seed_other_luck() -> None:
    f = spot_only(rate=0.5)
    p = prepared(f, jobs(*[(i * 300.0, 3 * 3600.0, 8) for i in range(12)]))

    def figures(seed: int) -> tuple[object, ...]:
        result = simulate(f, p, Fifo(), SimOptions(seed=seed))
        d = result.summary.as_dict()
        d.pop("wall_s"), d.pop("policy_s")
        return (d, [(r.finish_s, r.interruptions, r.rework_gpu_s) for r in result.records])

    assert figures(7) == figures(7)
    assert figures(7) != figures(8)


class Misbehaving:
    """Places the way a buggy policy might: every decision must be refused and counted."""

    name = "bad"

    def __init__(self, mode: str) -> None:
        self.mode = mode

    def decide(self, snapshot: Snapshot) -> list[Decision]:
        out: list[Decision] = []
        for run in snapshot.pending:
            pool_key, node = ("cloud/spot", "cloud/spot/0") if self.mode == "forbidden" else (
                "dc/p", "dc/p/0")  # fmt: skip
            n = 1 if self.mode == "partial" else run.workload.replicas
            gpus = 8.0 if self.mode != "over" else 16.0
            assignments = tuple(ReplicaAssignment(i, node, gpus) for i in range(n))
            out.append(Place(run.run_id, Placement(pool_key, "x", "emulated", "H100-80GB",
                                                   assignments, 1.0, True)))  # fmt: skip
        out.append(Preempt("nobody", "nobody", "test"))
        return out


@pytest.mark.parametrize(
    ("mode", "counter"),
    [("partial", "partial_gangs"), ("forbidden", "violations"), ("over", "over_allocations")],
)
def test_bad_decisions_are_counted_never_applied(mode: str, counter: str) -> None:
    f = fleet(
        site("dc", pools=(pool(site="dc", name="p", nodes=2, model=PricingModel.OWNED),)),
        site("cloud", pools=(pool(site="cloud", name="spot", model=PricingModel.SPOT),)),
    )
    p = prepared(f, jobs((0, 100, 16)))
    # The workload may not use spot capacity: a placement there violates its constraints.
    p = with_workloads(p, [replace(w, spot=SpotPolicy.NEVER) for w in p.workloads])
    result = simulate(f, p, Misbehaving(mode))
    c = result.counters
    assert getattr(c, counter) >= 1
    assert c.placements == 0 and c.stale_decisions >= 1
    assert result.summary.extra["unfinished"] == 1
    if counter != "partial_gangs":
        assert result.summary.violations >= 1


class Recorder(Fifo):
    """FIFO that keeps every snapshot it was shown."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[Snapshot] = []

    def decide(self, snapshot: Snapshot) -> list[Decision]:
        self.seen.append(snapshot)
        return super().decide(snapshot)


def test_the_snapshot_carries_settings_service_and_checkpoints() -> None:
    from aiplane.core.scheduling.snapshot import SchedulerSettings

    f = one_pool(nodes=1)
    p = prepared(f, jobs((0, 10_000, 8), (4000, 100, 8), (4100, 100, 8)))
    settings = SchedulerSettings(starvation_age_s=123.0)
    recorder = Recorder()
    simulate(f, p, recorder, SimOptions(settings=settings))
    assert all(s.settings is settings for s in recorder.seen)
    at_4000 = next(s for s in recorder.seen if s.now == 4000)
    (running,) = at_4000.running
    assert running.started_at == 0 and running.attained_gpu_s == 0
    assert running.last_checkpoint_at == 3600  # every 30 minutes of the attempt
    assert [r.run_id for r in at_4000.pending] == ["j1"]
