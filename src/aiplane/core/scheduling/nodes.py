"""The node table: free capacity kept incrementally, snapshot states rebuilt on change.

The simulator and the live control plane both keep one. A snapshot is immutable, so each cycle
needs a tuple of :class:`NodeState`. Rebuilding tens of thousands of them per cycle would
dominate a long replay (or a busy live cycle); instead each node's state object is kept and
replaced only when an allocation, release, provision or release of the node changed it, and
the tuple itself is reused while nothing changed.

Elastic pools start with ``nodes_min`` nodes up. Placing work on a node that is down provisions
it (instant in the simulator, as on the emulated backend); a node above the minimum goes down
again as soon as it is idle, so an elastic pool costs what it is used for.

A rented pool's node started as a run's instance (``Placement.instances``, decision 0039) is
held by that run: its state shows no free capacity, so no other run is placed on it, and it
goes down when the run releases it.
"""

from __future__ import annotations

from collections.abc import Iterable

from aiplane.core.fleet import Fleet, Pool
from aiplane.core.resources import Resources
from aiplane.core.runs import ReplicaAssignment
from aiplane.core.scheduling.snapshot import NodeState

_EPS = 1e-9
_NOTHING = Resources(0.0, 0.0, 0.0)


def _is_share(a: ReplicaAssignment) -> bool:
    """A fractional share or MIG slice: part of the one GPU it names."""
    return 0 < a.gpus < 1 - _EPS and len(a.gpu_indices) == 1


class NodeTable:
    def __init__(self, fleet: Fleet) -> None:
        self.pools: dict[str, Pool] = {p.key: p for p in fleet.pools()}
        self.ids: list[str] = []
        self.pool_of: list[str] = []
        self.capacity: list[Resources] = []
        self.free: list[Resources] = []
        self.gpu_indices: list[frozenset[int]] = []
        # GPUs carrying fractional shares or MIG slices: index -> share in use.
        self.shares: list[dict[int, float]] = []
        self.up: list[bool] = []
        self.elastic: list[bool] = []  # may go down when idle
        self.index: dict[str, int] = {}
        # Nodes held whole by the run that started them as instances.
        self.held: set[int] = set()
        self.up_nodes: dict[str, int] = {}
        self.up_node_s: dict[str, float] = {}
        self._last_t = 0.0
        for pool in fleet.pools():
            cap = pool.node.capacity
            self.up_nodes[pool.key] = 0
            self.up_node_s[pool.key] = 0.0
            for i, node_id in enumerate(pool.node_ids()):
                up = not pool.elastic or i < pool.nodes_min
                self.index[node_id] = len(self.ids)
                self.ids.append(node_id)
                self.pool_of.append(pool.key)
                self.capacity.append(cap)
                self.free.append(cap)
                self.gpu_indices.append(frozenset(range(pool.node.gpus)))
                self.shares.append({})
                self.up.append(up)
                self.elastic.append(pool.elastic and i >= pool.nodes_min)
                self.up_nodes[pool.key] += up
        self.states: list[NodeState] = [self._state(i) for i in range(len(self.ids))]
        self._dirty: set[int] = set()
        self._tuple: tuple[NodeState, ...] = tuple(self.states)
        self.busy_gpus = 0.0
        self.up_gpus = sum(c.gpus for c, u in zip(self.capacity, self.up, strict=True) if u)

    def _state(self, i: int) -> NodeState:
        if i in self.held:
            return NodeState(self.ids[i], self.pool_of[i], _NOTHING, (), self.up[i])
        return NodeState(
            self.ids[i],
            self.pool_of[i],
            self.free[i],
            tuple(sorted(self.gpu_indices[i])),
            self.up[i],
            tuple((g, 1.0 - used) for g, used in sorted(self.shares[i].items())),
        )

    def nodes(self) -> tuple[NodeState, ...]:
        """The snapshot's node states, rebuilding only the nodes that changed."""
        if self._dirty:
            states = self.states
            for i in self._dirty:
                states[i] = self._state(i)
            self._dirty.clear()
            self._tuple = tuple(states)
        return self._tuple

    def advance(self, t: float) -> None:
        """Account node-up time to ``t`` (for capacity cost)."""
        dt = t - self._last_t
        if dt > 0:
            for key, count in self.up_nodes.items():
                if count:
                    self.up_node_s[key] += count * dt
            self._last_t = t

    def problem(
        self,
        pool: str,
        assignments: Iterable[ReplicaAssignment],
        instances: Iterable[str] = (),
    ) -> str | None:
        """Why ``assignments`` (holding ``instances`` whole) cannot be allocated now
        (over-allocation, wrong pool, a node another run holds), or None."""
        wanted: dict[int, Resources] = {}
        shared: dict[tuple[int, int], float] = {}
        assignments = tuple(assignments)
        stray = set(instances) - {a.node for a in assignments}
        if stray:
            return f"instances {sorted(stray)} carry no replica of the placement"
        for a in assignments:
            i = self.index.get(a.node)
            if i is None:
                return f"unknown node {a.node}"
            if self.pool_of[i] != pool:
                return f"node {a.node} is not in pool {pool}"
            if i in self.held:
                return f"node {a.node} is held by the run that started it"
            if _is_share(a):
                gpu = a.gpu_indices[0]
                used = shared.get((i, gpu), self.shares[i].get(gpu, 0.0)) + a.gpus
                if (
                    gpu not in self.gpu_indices[i] and gpu not in self.shares[i]
                ) or used > 1 + _EPS:
                    return f"GPU {gpu} of {a.node} has no room for a {a.gpus:g} share"
                shared[(i, gpu)] = used
            elif not set(a.gpu_indices) <= self.gpu_indices[i]:
                return f"GPUs {sorted(a.gpu_indices)} of {a.node} are not free"
            need = Resources(a.gpus, a.cpus, a.memory_gib)
            wanted[i] = wanted[i] + need if i in wanted else need
        for i, need in wanted.items():
            if not need.fits_in(self.free[i]):
                return f"node {self.ids[i]} over-allocated: {need} > free {self.free[i]}"
        return None

    def allocate(
        self, assignments: Iterable[ReplicaAssignment], instances: Iterable[str] = ()
    ) -> int:
        """Take the capacity, holding ``instances`` whole; returns how many nodes had to be
        provisioned."""
        provisioned = 0
        for node in instances:
            i = self.index.get(node)
            if i is not None:
                self.held.add(i)
                self._dirty.add(i)
        for a in assignments:
            i = self.index[a.node]
            if not self.up[i]:
                self._set_up(i, True)
                provisioned += 1
            self.free[i] = self.free[i] - Resources(a.gpus, a.cpus, a.memory_gib)
            if _is_share(a):
                gpu = a.gpu_indices[0]
                self.shares[i][gpu] = self.shares[i].get(gpu, 0.0) + a.gpus
                self.gpu_indices[i] = self.gpu_indices[i] - {gpu}
            elif a.gpu_indices:
                self.gpu_indices[i] = self.gpu_indices[i] - set(a.gpu_indices)
            self.busy_gpus += a.gpus
            self._dirty.add(i)
        return provisioned

    def release(
        self, assignments: Iterable[ReplicaAssignment], instances: Iterable[str] = ()
    ) -> int:
        """Give the capacity back and let ``instances`` go; returns how many idle elastic
        nodes went down."""
        released = 0
        for node in instances:
            i = self.index.get(node)
            if i is not None:
                self.held.discard(i)
                self._dirty.add(i)
        for a in assignments:
            i = self.index[a.node]
            free = self.free[i] + Resources(a.gpus, a.cpus, a.memory_gib)
            cap = self.capacity[i]
            if abs(free.gpus - cap.gpus) < _EPS and abs(free.cpus - cap.cpus) < _EPS:
                free = cap  # no drift from float arithmetic on an idle node
            self.free[i] = free
            if _is_share(a):
                gpu = a.gpu_indices[0]
                left = self.shares[i].get(gpu, 0.0) - a.gpus
                if left > _EPS:
                    self.shares[i][gpu] = left
                else:  # the last share is gone: a whole GPU again
                    self.shares[i].pop(gpu, None)
                    self.gpu_indices[i] = self.gpu_indices[i] | {gpu}
            elif a.gpu_indices:
                self.gpu_indices[i] = self.gpu_indices[i] | set(a.gpu_indices)
            self.busy_gpus -= a.gpus
            self._dirty.add(i)
            if self.elastic[i] and free is cap and self.up[i]:
                self._set_up(i, False)
                released += 1
        return released

    def _set_up(self, i: int, up: bool) -> None:
        self.up[i] = up
        self.up_nodes[self.pool_of[i]] += 1 if up else -1
        self.up_gpus += self.capacity[i].gpus if up else -self.capacity[i].gpus
        self._dirty.add(i)

    def fragmented_gpus(self, smallest_need: dict[str, float]) -> float:
        """Free GPUs on up nodes with fewer free than the smallest replica waiting for their
        pool (``smallest_need`` by pool key; pools nobody waits for are left out)."""
        total = 0.0
        for i, free in enumerate(self.free):
            need = smallest_need.get(self.pool_of[i])
            if need is not None and self.up[i] and _EPS < free.gpus < need - _EPS:
                total += free.gpus
        return total
