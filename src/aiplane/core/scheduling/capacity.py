"""Free capacity of a pool's nodes during one cycle, indexed for fast best-fit gang packing.

Nodes are bucketed by free GPUs, so best fit (the fullest node that still fits) looks at a few
buckets instead of every node, and a pool that cannot fit a request says so in O(1). Nodes that
are up come before an elastic pool's headroom, which would have to be provisioned.

Whole GPUs are handed out by index. A fractional share or MIG slice goes onto one GPU: the
fullest shared GPU it still fits on, else a fresh one, so shares pack together and whole GPUs
stay whole for whole-GPU work.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from aiplane.core.fleet import Fleet
from aiplane.core.resources import Resources
from aiplane.core.runs import ReplicaAssignment
from aiplane.core.scheduling.decisions import Release
from aiplane.core.scheduling.snapshot import NodeState

_EPS = 1e-9


def _key(gpus: float) -> int:
    """Bucket key: free GPUs in hundredths (fractional shares are multiples of 0.01)."""
    return round(gpus * 100)


@dataclass
class NodeSlot:
    id: str
    free: Resources
    gpu_indices: list[int]
    up: bool
    shared: dict[int, float]  # GPU index -> share still free, for partly used GPUs

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
    def __init__(self, key: str, nodes: Iterable[NodeState]) -> None:
        self.key = key
        self.slots: list[NodeSlot] = []
        self._buckets: tuple[dict[int, dict[int, None]], dict[int, dict[int, None]]] = ({}, {})
        self.free_gpus = 0.0
        self.by_id: dict[str, int] = {}
        for node in nodes:
            index = len(self.slots)
            slot = NodeSlot(
                node.id, node.free, list(node.free_gpu_indices), node.up, dict(node.shared_gpus)
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

    def _candidates(self, need: Resources, blocked: frozenset[int]) -> Iterator[int]:
        want = _key(need.gpus)
        for buckets in self._buckets:
            for key in sorted(k for k in buckets if k >= want):
                for index in buckets[key]:
                    if index not in blocked and self.slots[index].fits(need):
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
        self, need: Resources, replicas: int, blocked: frozenset[int] = frozenset()
    ) -> list[ReplicaAssignment] | None:
        """Place every replica (best fit, nodes that are up first) or none of them."""
        if not self.could_fit(need.gpus, replicas):
            return None
        taken: list[tuple[int, Resources, tuple[int, ...]]] = []
        for _ in range(replicas):
            index = next(self._candidates(need, blocked), None)
            if index is None:
                for done_index, amount, indices in reversed(taken):
                    self.give(done_index, amount, indices)
                return None
            taken.append((index, need, self.take(index, need)))
        return [
            ReplicaAssignment(replica, self.slots[i].id, need.gpus, ids, need.cpus, need.memory_gib)
            for replica, (i, _, ids) in enumerate(taken)
        ]

    def release(self, assignments: Iterable[ReplicaAssignment]) -> None:
        for a in assignments:
            index = self.by_id.get(a.node)
            if index is not None:
                self.give(index, Resources(a.gpus, a.cpus, a.memory_gib), a.gpu_indices)

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
