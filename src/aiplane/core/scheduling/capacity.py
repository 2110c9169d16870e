"""Free capacity of a pool's nodes during one cycle, indexed for fast best-fit gang packing.

Nodes are bucketed by free GPUs, so best fit (the fullest node that still fits) looks at a few
buckets instead of every node, and a pool that cannot fit a request says so in O(1). Nodes that
are up come before an elastic pool's headroom, which would have to be provisioned.

Whole GPUs are handed out by index. A fractional share or MIG slice goes onto one GPU: the
fullest shared GPU it still fits on, else a fresh one, so shares pack together and whole GPUs
stay whole for whole-GPU work.

On a rented pool an offer says which nodes it may use (``Fill``, decision 0039): an offer on
running nodes only the always-up ones, an offer on new instances only nodes that are down, a
few replicas per node at most. A node started as an instance is then held by its run: it shows
no free capacity to anyone else, and when the run lets it go it is down again.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import Enum

from aiplane.core.fleet import Fleet, Pool
from aiplane.core.resources import Resources
from aiplane.core.runs import ReplicaAssignment
from aiplane.core.scheduling.decisions import Release
from aiplane.core.scheduling.snapshot import NodeState

_EPS = 1e-9


def _key(gpus: float) -> int:
    """Bucket key: free GPUs in hundredths (fractional shares are multiples of 0.01)."""
    return round(gpus * 100)


class Nodes(Enum):
    """Which nodes of a pool an offer may pack onto."""

    ANY = "any"  # owned or reserved: up nodes first, then headroom
    RUNNING = "running"  # a rented pool's always-up nodes
    NEW = "new"  # a rented pool's nodes that are down: each one taken is a new instance


@dataclass(frozen=True)
class Fill:
    nodes: Nodes = Nodes.ANY
    per_node: int | None = None  # replicas of the run on one node at most


ANY_FILL = Fill()


@dataclass
class NodeSlot:
    id: str
    free: Resources
    gpu_indices: list[int]
    up: bool
    shared: dict[int, float]  # GPU index -> share still free, for partly used GPUs
    always_up: bool = True

    def fits(self, need: Resources) -> bool:
        if not need.fits_in(self.free):
            return False
        if need.gpus >= 1 - _EPS:
            return len(self.gpu_indices) >= int(need.gpus + _EPS)
        if need.gpus > 0:
            return bool(self.gpu_indices) or any(
                f >= need.gpus - _EPS for f in self.shared.values()
            )
        return True

    def state(self, pool: str) -> NodeState:
        return NodeState(
            self.id, pool, self.free, tuple(self.gpu_indices), self.up,
            tuple(sorted(self.shared.items())),
        )  # fmt: skip


class PoolCapacity:
    def __init__(self, key: str, nodes: Iterable[NodeState], pool: Pool | None = None) -> None:
        self.key = key
        # The pool, when known, tells which nodes are always up and what an empty one holds.
        self.pool = pool
        self.slots: list[NodeSlot] = []
        self._buckets: tuple[dict[int, dict[int, None]], dict[int, dict[int, None]]] = ({}, {})
        self.free_gpus = 0.0
        self.by_id: dict[str, int] = {}
        for node in nodes:
            index = len(self.slots)
            slot = NodeSlot(
                node.id,
                node.free,
                list(node.free_gpu_indices),
                node.up,
                dict(node.shared_gpus),
                pool is None or pool.always_up_node(node.id),
            )
            self.slots.append(slot)
            self.by_id[node.id] = index
            self._insert(index)

    # Buckets keep insertion order (dicts), so iteration, and with it every decision, is
    # deterministic for the same snapshot.
    def _bucket_map(self, slot: NodeSlot) -> dict[int, dict[int, None]]:
        return self._buckets[0] if slot.up else self._buckets[1]

    def _insert(self, index: int) -> None:
        slot = self.slots[index]
        self._bucket_map(slot).setdefault(_key(slot.free.gpus), {})[index] = None
        self.free_gpus += slot.free.gpus

    def _remove(self, index: int) -> None:
        slot = self.slots[index]
        buckets = self._bucket_map(slot)
        key = _key(slot.free.gpus)
        bucket = buckets[key]
        del bucket[index]
        if not bucket:
            del buckets[key]
        self.free_gpus -= slot.free.gpus

    def max_free_gpus(self) -> float:
        best = 0
        for buckets in self._buckets:
            for key in buckets:
                if key > best:
                    best = key
        return best / 100

    def could_fit(self, gpus: float, replicas: int) -> bool:
        """False when ``replicas`` x ``gpus`` certainly cannot fit (by GPU counts alone)."""
        return gpus <= self.max_free_gpus() + _EPS and gpus * replicas <= self.free_gpus + _EPS

    def _candidates(
        self, need: Resources, blocked: Iterable[int], nodes: Nodes = Nodes.ANY
    ) -> Iterator[int]:
        want = _key(need.gpus)
        maps: tuple[dict[int, dict[int, None]], ...] = self._buckets
        if nodes is not Nodes.ANY:
            maps = (self._buckets[0],) if nodes is Nodes.RUNNING else (self._buckets[1],)
        for buckets in maps:
            for key in sorted(k for k in buckets if k >= want):
                for index in buckets[key]:
                    slot = self.slots[index]
                    if nodes is Nodes.RUNNING and not slot.always_up:
                        continue
                    if index not in blocked and slot.fits(need):
                        yield index

    def take(self, index: int, need: Resources) -> tuple[int, ...]:
        """Allocate ``need`` on node ``index``; returns the GPU indices handed out."""
        self._remove(index)
        slot = self.slots[index]
        chosen: tuple[int, ...]
        if 0 < need.gpus < 1 - _EPS:
            chosen = (self._take_share(slot, need.gpus),)
        else:
            whole = int(need.gpus + _EPS)
            chosen = tuple(slot.gpu_indices[:whole])
            slot.gpu_indices = slot.gpu_indices[whole:]
        slot.free = slot.free - need
        self._insert(index)
        return chosen

    @staticmethod
    def _take_share(slot: NodeSlot, share: float) -> int:
        fitting = [(free, i) for i, free in slot.shared.items() if free >= share - _EPS]
        if fitting:
            _, gpu = min(fitting)
        else:
            gpu = slot.gpu_indices.pop(0)
            slot.shared[gpu] = 1.0
        slot.shared[gpu] -= share
        return gpu

    def give(self, index: int, amount: Resources, gpu_indices: Iterable[int] = ()) -> None:
        """Return capacity to node ``index`` (a run ended or was preempted)."""
        self._remove(index)
        slot = self.slots[index]
        slot.free = slot.free + amount
        indices = list(gpu_indices)
        if 0 < amount.gpus < 1 - _EPS and indices:
            gpu = indices[0]
            slot.shared[gpu] = slot.shared.get(gpu, 0.0) + amount.gpus
            if slot.shared[gpu] >= 1 - _EPS:  # every share gone: a whole GPU again
                del slot.shared[gpu]
                slot.gpu_indices = sorted({*slot.gpu_indices, gpu})
        else:
            slot.gpu_indices = sorted({*slot.gpu_indices, *indices})
        self._insert(index)

    def pack(
        self,
        need: Resources,
        replicas: int,
        blocked: frozenset[int] = frozenset(),
        fill: Fill = ANY_FILL,
    ) -> list[ReplicaAssignment] | None:
        """Place every replica (best fit, nodes that are up first) or none of them, on the
        nodes ``fill`` allows."""
        if not self.could_fit(need.gpus, replicas):
            return None
        taken: list[tuple[int, Resources, tuple[int, ...]]] = []
        per_node: dict[int, int] = {}
        excluded: set[int] | frozenset[int] = blocked
        for _ in range(replicas):
            index = next(self._candidates(need, excluded, fill.nodes), None)
            if index is None:
                for done_index, amount, indices in reversed(taken):
                    self.give(done_index, amount, indices)
                return None
            taken.append((index, need, self.take(index, need)))
            if fill.per_node is not None:
                per_node[index] = per_node.get(index, 0) + 1
                if per_node[index] >= fill.per_node:
                    excluded = {*excluded, index}
        return [
            ReplicaAssignment(replica, self.slots[i].id, need.gpus, ids, need.cpus, need.memory_gib)
            for replica, (i, _, ids) in enumerate(taken)
        ]

    def release(
        self, assignments: Iterable[ReplicaAssignment], instances: Iterable[str] = ()
    ) -> None:
        """Give back a run's capacity; the instances it held go down, empty (when the pool
        is known; else only what the replicas used comes back)."""
        held = set(instances) if self.pool is not None else set()
        for a in assignments:
            index = self.by_id.get(a.node)
            if index is not None and a.node not in held:
                self.give(index, Resources(a.gpus, a.cpus, a.memory_gib), a.gpu_indices)
        for node in held:
            index = self.by_id.get(node)
            if index is not None:
                self._set(index, self._empty(), up=False)

    def _empty(self) -> Resources:
        return self.pool.node.capacity if self.pool is not None else Resources()

    def _set(self, index: int, free: Resources, up: bool) -> None:
        self._remove(index)
        slot = self.slots[index]
        slot.free = free
        slot.up = up
        slot.shared = {}
        gpus = self.pool.node.gpus if self.pool is not None and free.gpus > 0 else 0
        slot.gpu_indices = list(range(gpus))
        self._insert(index)

    def hold(self, nodes: Iterable[str]) -> None:
        """The nodes are a run's instances: nothing else may be placed on them."""
        for node in nodes:
            index = self.by_id[node]
            self._set(index, Resources(0.0, 0.0, 0.0), up=True)

    def down_nodes_used(self, assignments: Iterable[ReplicaAssignment]) -> tuple[str, ...]:
        """Nodes of the placement that are not up yet (to provision), marking them up."""
        out = []
        for a in assignments:
            index = self.by_id[a.node]
            slot = self.slots[index]
            if not slot.up:
                self._remove(index)
                slot.up = True
                self._insert(index)
                out.append(slot.id)
        return tuple(dict.fromkeys(out))


def idle_releases(fleet: Fleet, pools: dict[str, PoolCapacity]) -> list[Release]:
    """Idle nodes of elastic pools that are up above the pool's minimum, to give back."""
    out = []
    for pool in fleet.pools():
        if not pool.elastic or pool.key not in pools:
            continue
        full = pool.node.capacity
        up = [s for s in pools[pool.key].slots if s.up]
        idle = [s.id for s in up if full.fits_in(s.free)]
        excess = len(up) - pool.nodes_min
        if excess > 0 and idle:
            out.append(
                Release(pool.key, tuple(sorted(idle)[-excess:]), "idle above the pool minimum")
            )
    return out
