"""Invariants of the engine over random fleets, quotas, running work and queues (hypothesis)."""

from __future__ import annotations

from collections import defaultdict

from hypothesis import given, settings
from hypothesis import strategies as st

from aiplane.core.fleet import Dataset, Team
from aiplane.core.placement import required_jurisdictions
from aiplane.core.resources import Resources
from aiplane.core.scheduling.decisions import Place, Preempt
from aiplane.core.scheduling.engine import Engine
from aiplane.core.scheduling.quota import UNLIMITED
from aiplane.core.scheduling.snapshot import NodeState, PendingRun, RunningRun, Snapshot
from tests.builders import fleet, pool, site, workload

TEAMS = (
    Team("a", cohort="c", quota={"H100-80GB": 16}, borrowing_limit={"H100-80GB": 8}),
    Team("b", cohort="c", quota={"H100-80GB": 8}, lending_limit={"H100-80GB": 4}),
    Team("solo", quota={"H100-80GB": 8}),
    Team("free"),
)


@st.composite
def scenarios(draw: st.DrawFn) -> Snapshot:
    sites = []
    for name, juris in (("eu", "EU"), ("us", "US")):
        pools = tuple(
            pool(site=name, name=f"p{i}", nodes=draw(st.integers(1, 3)),
                 usd_per_node_hour=draw(st.floats(1, 40)))
            for i in range(draw(st.integers(1, 2)))
        )  # fmt: skip
        sites.append(site(name, jurisdiction=juris, pools=pools))
    f = fleet(*sites, teams=TEAMS, datasets=(Dataset("eu-data", "eu", 10, jurisdiction="EU"),))

    def random_workload(i: int) -> object:
        return workload(
            f"w{i}",
            gpus=draw(st.sampled_from([0.25, 0.5, 1, 2, 4, 8])),
            replicas=draw(st.integers(1, 3)),
            priority=draw(st.sampled_from([100, 500, 1000])),
            team=draw(st.sampled_from([t.name for t in TEAMS])),
            inputs=draw(st.sampled_from([(), ("eu-data",)])),
            estimated_hours=draw(st.sampled_from([None, 0.5, 2.0])),
        )

    empty = tuple(
        NodeState(n, p.key, p.node.capacity, tuple(range(p.node.gpus)))
        for p in f.pools()
        for n in p.node_ids()
    )
    # Running work comes from the engine itself on an empty fleet, so it is consistent.
    first = [
        PendingRun(f"r{i}", f"jr{i}", random_workload(i), 0.0)  # type: ignore[arg-type]
        for i in range(draw(st.integers(0, 6)))
    ]
    seed = Engine().decide(Snapshot(f, empty, tuple(first), 0.0))
    running = []
    for d in seed:
        if isinstance(d, Place):
            w = next(p.workload for p in first if p.run_id == d.run_id)
            started = draw(st.floats(0, 3000))
            running.append(RunningRun(d.run_id, "j" + d.run_id, w, d.placement, 0.0, started))
    used: dict[str, Resources] = defaultdict(Resources)
    taken: dict[str, set[int]] = defaultdict(set)
    shared: dict[str, dict[int, float]] = defaultdict(dict)
    for r in running:
        for a in r.placement.assignments:
            used[a.node] = used[a.node] + Resources(a.gpus, a.cpus, a.memory_gib)
            if a.gpus < 1:
                shared[a.node][a.gpu_indices[0]] = shared[a.node].get(a.gpu_indices[0], 0) + a.gpus
            else:
                taken[a.node].update(a.gpu_indices)
    nodes = tuple(
        NodeState(
            n.id, n.pool, n.free - used[n.id],
            tuple(i for i in n.free_gpu_indices if i not in taken[n.id] | set(shared[n.id])),
            shared_gpus=tuple((i, 1 - u) for i, u in sorted(shared[n.id].items()) if u < 1),
        )
        for n in empty
    )  # fmt: skip
    pending = tuple(
        PendingRun(f"p{i}", f"jp{i}", random_workload(100 + i), float(i))  # type: ignore[arg-type]
        for i in range(draw(st.integers(1, 10)))
    )
    return Snapshot(f, nodes, pending, 3600.0, tuple(running))


@settings(max_examples=200, deadline=None)
@given(scenarios())
def test_engine_invariants(s: Snapshot) -> None:
    decisions = Engine().decide(s)
    assert decisions == Engine().decide(s), "same snapshot, same decisions"

    pending = {p.run_id: p for p in s.pending}
    running = {r.run_id: r for r in s.running}
    preempted = {d.run_id for d in decisions if isinstance(d, Preempt)}
    assert preempted <= set(running)
    final = [r for r in s.running if r.run_id not in preempted]
    placements = [
        (pending[d.run_id].workload, d.placement) for d in decisions if isinstance(d, Place)
    ]

    capacity = {n.id: n.free for n in s.nodes}
    for r in s.running:
        for a in r.placement.assignments:
            capacity[a.node] = capacity[a.node] + Resources(a.gpus, a.cpus, a.memory_gib)
    usage: dict[str, Resources] = defaultdict(Resources)
    indices: dict[str, set[int]] = defaultdict(set)
    share_use: dict[tuple[str, int], float] = defaultdict(float)
    team_use: dict[str, float] = defaultdict(float)
    items = [(r.workload, r.placement) for r in final] + placements
    for w, p in items:
        for a in p.assignments:
            usage[a.node] = usage[a.node] + Resources(a.gpus, a.cpus, a.memory_gib)
            if a.gpus < 1:
                [gpu] = a.gpu_indices
                share_use[(a.node, gpu)] += a.gpus
                assert share_use[(a.node, gpu)] <= 1 + 1e-9, "a GPU's shares exceed it"
                assert gpu not in indices[a.node], "a whole GPU also shared"
            else:
                whole = set(a.gpu_indices)
                assert len(whole) == round(a.gpus), "wrong number of GPUs handed out"
                assert not indices[a.node] & whole, "a GPU handed out twice"
                assert not {g for (n, g) in share_use if n == a.node} & whole, "shared GPU given"
                indices[a.node].update(whole)
        team_use[w.team] += sum(a.gpus for a in p.assignments)
    for node, used in usage.items():
        assert used.fits_in(capacity[node]), f"node {node} over-allocated"

    for w, p in placements:
        assert len(p.assignments) == w.replicas, "part of a gang placed"
        assert {a.node.rsplit("/", 1)[0] for a in p.assignments} == {p.pool}
        allowed = required_jurisdictions(w, s.fleet)
        site = s.fleet.site(p.site)
        assert site is not None
        assert allowed is None or site.jurisdiction in allowed, "forbidden jurisdiction"

    for team in TEAMS:
        if not team.quota:
            continue
        nominal = team.quota["H100-80GB"]
        ceiling = nominal + (team.borrowing_limit.get("H100-80GB", UNLIMITED) if team.cohort else 0)
        assert team_use[team.name] <= ceiling + 1e-9, f"team {team.name} beyond its quota"
    shared = sum(
        min(t.lending_limit.get("H100-80GB", t.quota["H100-80GB"]), t.quota["H100-80GB"])
        for t in TEAMS if t.cohort == "c"
    )  # fmt: skip
    total = sum(t.quota["H100-80GB"] for t in TEAMS if t.cohort == "c")
    assert team_use["a"] + team_use["b"] <= total + 1e-9 or shared < total
