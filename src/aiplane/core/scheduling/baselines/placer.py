"""Placing runs one by one in a given order: the shared machinery of the baseline policies.

FIFO, shortest-job-first and 2D-LAS differ only in the order they consider pending runs and in
whether they preempt; each run in turn gets the cheapest feasible offer that has room now, all of
its replicas or none, packed best-fit by :func:`aiplane.core.scheduling.packing.pack_gang`.

Speed matters because the simulator calls a policy once per event over tens of thousands of
jobs, so three things here avoid work that a plain loop would repeat every cycle:

- offers are evaluated once per workload (:class:`OfferCache`), not once per cycle;
- free capacity is copied on write: only nodes that a cycle touches become mutable
  :class:`FreeNode` copies, the rest are read straight from the snapshot;
- a request is refused in O(1) when its pool has too few free GPUs, or when a smaller request
  already failed there in this cycle (capacity only shrinks while a cycle places work).

Best fit over the ``r`` best-fitting nodes gives the same assignment as best fit over the whole
pool (a gang of ``r`` replicas can only land on those), so ``pack_gang`` gets a short list.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from aiplane.core.fleet import Fleet, Pool
from aiplane.core.placement import Offer, evaluate_offers
from aiplane.core.resources import Resources
from aiplane.core.runs import Placement, ReplicaAssignment
from aiplane.core.scheduling.decisions import Decision, Place, Provision
from aiplane.core.scheduling.packing import FreeNode, pack_gang
from aiplane.core.scheduling.snapshot import NodeState, PendingRun, RunningRun, Snapshot
from aiplane.core.workloads import Workload

_EPS = 1e-9


@dataclass(frozen=True, slots=True)
class Option:
    """One feasible offer for a workload and what one replica needs there."""

    offer: Offer
    pool: str
    need: Resources
    usd_per_hour: float


class OfferCache:
    """Feasible offers per workload, cheapest hourly price first, computed once per shape.

    Baselines rank offers as if every run lasted one hour (estimated durations are left out of
    the key), so workloads that differ only in name, team or estimate share one entry. The
    first level is keyed by object identity (the entry keeps the workload alive, so an id is
    never reused while cached). Both levels empty when the fleet changes or they outgrow
    ``max_entries``.
    """

    def __init__(self, max_entries: int = 200_000) -> None:
        self._max = max_entries
        self._fleet: Fleet | None = None
        self._by_id: dict[int, tuple[Workload, tuple[Option, ...]]] = {}
        self._by_shape: dict[tuple[Any, ...], tuple[Option, ...]] = {}

    def options(self, workload: Workload, fleet: Fleet) -> tuple[Option, ...]:
        if fleet is not self._fleet:
            self._by_id.clear()
            self._by_shape.clear()
            self._fleet = fleet
        entry = self._by_id.get(id(workload))
        if entry is not None and entry[0] is workload:
            return entry[1]
        key = _shape_key(workload)
        options = self._by_shape.get(key)
        if options is None:
            hourly = replace(workload, estimated_hours=None)
            offers, _ = evaluate_offers(hourly, fleet)
            options = tuple(
                Option(o, o.pool.key, workload.replica_need(o.option), o.cost.usd_per_hour)
                for o in offers
            )
            if len(self._by_shape) >= self._max:
                self._by_shape.clear()
            self._by_shape[key] = options
        if len(self._by_id) >= self._max:
            self._by_id.clear()
        self._by_id[id(workload)] = (workload, options)
        return options


def _shape_key(w: Workload) -> tuple[Any, ...]:
    """What placement reads from a workload, less its duration estimate."""
    c = w.constraints
    return (
        w.accelerators, w.cpus, w.memory_gib, w.replicas, w.kind, w.spot, w.inputs,
        w.checkpoint_minutes, c.jurisdictions, c.site_kinds, c.sites, c.clouds, c.regions,
        c.max_usd_per_hour, tuple(sorted(c.latency_slo_ms.items())),
    )  # fmt: skip


def replicas_fitting(need: Resources, free: Resources) -> int:
    """How many copies of ``need`` fit in ``free`` on one node."""
    counts = [
        int((have + _EPS) // want)
        for want, have in (
            (need.gpus, free.gpus),
            (need.cpus, free.cpus),
            (need.memory_gib, free.memory_gib),
        )
        if want > 0
    ]
    return min(counts) if counts else 1_000_000


def _fit_key(node: NodeState | FreeNode) -> tuple[float, float, float, str]:
    # The same order as pack_gang's best fit: least free GPUs, then CPUs, memory, id.
    free = node.free
    return (free.gpus, free.cpus, free.memory_gib, node.id)


class _PoolRoom:
    """One pool's nodes that have room, as snapshot states until a cycle writes to them."""

    __slots__ = ("_position", "failed", "free_gpus", "nodes")

    def __init__(self) -> None:
        self.nodes: list[NodeState | FreeNode] = []
        self.free_gpus = 0.0
        # (GPUs per replica, replicas) requests that found no room in this cycle.
        self.failed: list[tuple[float, int]] = []
        self._position: dict[str, int] | None = None

    def position(self) -> dict[str, int]:
        if self._position is None or len(self._position) != len(self.nodes):
            self._position = {n.id: i for i, n in enumerate(self.nodes)}
        return self._position

    def writable(self, i: int) -> FreeNode:
        node = self.nodes[i]
        if isinstance(node, FreeNode):
            return node
        copy = FreeNode(node.id, node.free, list(node.free_gpu_indices))
        self.nodes[i] = copy
        return copy

    def dominated(self, gpus: float, replicas: int) -> bool:
        return any(gpus >= g - _EPS and replicas >= r for g, r in self.failed)

    def best(self, need: Resources, replicas: int) -> list[int]:
        """Indices of the ``replicas`` best-fitting nodes (fewer if fewer fit)."""
        nodes = self.nodes
        if need.cpus > 0 or need.memory_gib > 0:
            fitting = [i for i, n in enumerate(nodes) if need.fits_in(n.free)]
        else:
            least = need.gpus - _EPS
            fitting = [i for i, n in enumerate(nodes) if n.free.gpus >= least]
        if replicas > 1 or len(fitting) <= 1:
            return heapq.nsmallest(replicas, fitting, key=lambda i: _fit_key(nodes[i]))
        # One replica: the fewest free GPUs first, full keys only among the ties.
        low = min(nodes[i].free.gpus for i in fitting)
        tied = [i for i in fitting if nodes[i].free.gpus == low]
        return [min(tied, key=lambda i: _fit_key(nodes[i]))] if len(tied) > 1 else tied


class CycleCapacity:
    """Free capacity during one scheduling cycle, shared by every placement in it."""

    def __init__(self, snapshot: Snapshot, cpu_pools: frozenset[str]) -> None:
        self._snapshot = snapshot
        self._all: dict[str, NodeState] | None = None
        rooms: dict[str, _PoolRoom] = {}
        down: set[str] = set()
        total = 0.0
        cpu_room = False
        # One tight pass: this loop is most of a cycle's fixed cost on a large fleet. Nodes of
        # one pool usually come together, so the pool's room is looked up once per run of them.
        last_pool: str | None = None
        room = _PoolRoom()
        for node in snapshot.nodes:
            free = node.free
            gpus = free.gpus
            if gpus <= _EPS:
                if not (cpu_pools and node.pool in cpu_pools and free.cpus > _EPS):
                    continue
                cpu_room = True
            pool = node.pool
            if pool != last_pool:
                found = rooms.get(pool)
                if found is None:
                    found = rooms[pool] = _PoolRoom()
                room, last_pool = found, pool
            room.nodes.append(node)
            room.free_gpus += gpus
            total += gpus
            if not node.up:
                down.add(node.id)
        self._rooms = rooms
        self._down = down
        self.free_gpus = total
        self.cpu_room = cpu_room

    def exhausted(self) -> bool:
        """No GPU free anywhere and no CPU pool with room: nothing more can start."""
        return self.free_gpus <= _EPS and not self.cpu_room

    def pack(self, option: Option, replicas: int) -> list[ReplicaAssignment] | None:
        room = self._rooms.get(option.pool)
        need = option.need
        if room is None or need.gpus * replicas > room.free_gpus + _EPS:
            return None
        if room.failed and room.dominated(need.gpus, replicas):
            return None
        best = room.best(need, replicas)
        assignments = pack_gang([room.writable(i) for i in best], need, replicas) if best else None
        if assignments is None:
            room.failed.append((need.gpus, replicas))
            return None
        taken = need.gpus * replicas
        room.free_gpus -= taken
        self.free_gpus -= taken
        return assignments

    def free_of(self, pool: str, node_id: str) -> Resources:
        """A node's free capacity in this cycle's view."""
        room = self._rooms.get(pool)
        if room is not None:
            i = room.position().get(node_id)
            if i is not None:
                return room.nodes[i].free
        return self._node(node_id).free

    def _node(self, node_id: str) -> NodeState:
        if self._all is None:
            self._all = {n.id: n for n in self._snapshot.nodes}
        return self._all[node_id]

    def room_gpus(self, pool: str) -> float:
        """Free GPUs of a pool in this cycle's view."""
        room = self._rooms.get(pool)
        return room.free_gpus if room is not None else 0.0

    def replicas_elsewhere(self, pool: str, need: Resources, exclude: set[str]) -> int:
        """How many replicas of ``need`` the pool's nodes outside ``exclude`` hold now."""
        room = self._rooms.get(pool)
        if room is None:
            return 0
        return sum(replicas_fitting(need, n.free) for n in room.nodes if n.id not in exclude)

    def provisioned(self, assignments: Iterable[ReplicaAssignment]) -> tuple[str, ...]:
        """Nodes of a placement that were down (elastic headroom): now to be provisioned."""
        if not self._down:
            return ()
        nodes = tuple(dict.fromkeys(a.node for a in assignments if a.node in self._down))
        self._down.difference_update(nodes)
        return nodes

    def give_back(self, run: RunningRun) -> None:
        """Return a running run's capacity to this cycle's view (it is being preempted)."""
        pool = run.placement.pool
        room = self._rooms.get(pool)
        if room is None:
            room = self._rooms[pool] = _PoolRoom()
        for a in run.placement.assignments:
            position = room.position()
            i = position.get(a.node)
            if i is None:
                state = self._node(a.node)
                i = len(room.nodes)
                room.nodes.append(FreeNode(a.node, state.free, list(state.free_gpu_indices)))
            node = room.writable(i)
            node.free = node.free + Resources(a.gpus, a.cpus, a.memory_gib)
            node.gpu_indices = sorted({*node.gpu_indices, *a.gpu_indices})
            room.free_gpus += a.gpus
            self.free_gpus += a.gpus
        room.failed.clear()


def cpu_pool_keys(fleet: Fleet) -> frozenset[str]:
    return frozenset(p.key for p in fleet.pools() if p.node.gpus == 0)


class Placer:
    """Places runs one at a time against a cycle's capacity; shared by the baseline policies."""

    def __init__(
        self,
        snapshot: Snapshot,
        cache: OfferCache,
        explanation: Mapping[str, Any],
    ) -> None:
        self.snapshot = snapshot
        self.capacity = CycleCapacity(snapshot, cpu_pool_keys(snapshot.fleet))
        self._cache = cache
        self._explanation = explanation

    def options(self, run: PendingRun) -> tuple[Option, ...]:
        return self._cache.options(run.workload, self.snapshot.fleet)

    def try_place(self, run: PendingRun, out: list[Decision]) -> bool:
        """Append a Place (and any Provision) to ``out`` if ``run`` fits now."""
        workload = run.workload
        for option in self.options(run):
            assignments = self.capacity.pack(option, workload.replicas)
            if assignments is None:
                continue
            out.append(Place(run.run_id, self._placement(option, assignments)))
            nodes = self.capacity.provisioned(assignments)
            if nodes:
                out.append(Provision(option.pool, nodes, run.run_id))
            return True
        return False

    def _placement(self, option: Option, assignments: list[ReplicaAssignment]) -> Placement:
        offer = option.offer
        pool: Pool = offer.pool
        return Placement(
            pool=pool.key,
            site=offer.site.name,
            backend=pool.backend,
            accelerator=offer.option.name if offer.option else None,
            assignments=tuple(assignments),
            usd_per_hour=option.usd_per_hour,
            emulated=pool.emulated,
            explanation=self._explanation,
        )
