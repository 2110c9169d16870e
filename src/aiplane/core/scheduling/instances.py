"""Packing an offer the way it is billed (decision 0039), for the engine and the baselines.

An offer on new instances of a rented pool packs only onto nodes that are down, at most its
replicas-per-instance on each, and the nodes it starts become the run's instances: held by
it (nothing else is placed on them) and billed to it whole. An offer on a rented pool's running
nodes packs only onto its always-up nodes; owned and reserved offers pack anywhere, best fit.
The placement's hourly price is the meter's (``attempt_rate``), so the quote and the bill are
one number.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import replace

from aiplane.core.cost.attempts import attempt_rate
from aiplane.core.fleet import Pool
from aiplane.core.instances import Billing
from aiplane.core.placement import Offer
from aiplane.core.resources import Resources
from aiplane.core.runs import ReplicaAssignment
from aiplane.core.scheduling.capacity import ANY_FILL, Fill, Nodes, PoolCapacity
from aiplane.core.scheduling.packing import FreeNode, pack_gang
from aiplane.core.scheduling.snapshot import RunningRun
from aiplane.core.workloads import Workload

_RUNNING = Fill(Nodes.RUNNING)


def fill_for(offer: Offer) -> Fill:
    """The nodes ``offer`` may pack onto."""
    if offer.billing is Billing.WHOLE:
        return Fill(Nodes.NEW, offer.per_instance)
    if offer.billing is Billing.RUNNING:
        return _RUNNING
    return ANY_FILL


def pack_offer(
    capacity: PoolCapacity,
    offer: Offer,
    workload: Workload,
    blocked: frozenset[int] = frozenset(),
) -> list[ReplicaAssignment] | None:
    """Every replica of ``workload`` on the nodes ``offer`` may use, or None."""
    need = workload.replica_need(offer.option)
    return capacity.pack(need, workload.replicas, blocked, fill_for(offer))


def start(
    capacity: PoolCapacity, offer: Offer, assignments: Iterable[ReplicaAssignment]
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(nodes to provision, instances the run holds) for a placement packed by ``offer``;
    the instances are held in ``capacity`` from now on."""
    new = capacity.down_nodes_used(assignments)
    if offer.billing is not Billing.WHOLE:
        return new, ()
    capacity.hold(new)
    return new, new


def fits_without(
    capacity: PoolCapacity, offer: Offer, workload: Workload, victims: Iterable[RunningRun]
) -> bool:
    """Whether ``workload`` packs by ``offer`` once ``victims`` are gone, tried on a copy of
    the nodes with free GPUs and those the victims hold (``capacity`` is not changed)."""
    victims = tuple(victims)
    involved = {a.node for v in victims for a in v.placement.assignments}
    nodes = [s.state(capacity.key) for s in capacity.slots if s.free.gpus > 0 or s.id in involved]
    trial = PoolCapacity(capacity.key, nodes, capacity.pool)
    for v in victims:
        trial.release(v.placement.assignments, v.placement.instances)
    return pack_offer(trial, offer, workload) is not None


def placement_rate(
    pool: Pool, assignments: Iterable[ReplicaAssignment], instances: Iterable[str]
) -> float:
    """The placement's list price per hour, as the meter bills it."""
    return attempt_rate(pool, assignments, instances).list_usd_per_hour


def pack_free(
    nodes: list[FreeNode], offer: Offer, workload: Workload, down: Collection[str]
) -> tuple[list[ReplicaAssignment], tuple[str, ...]] | None:
    """The baselines' packing of ``offer`` onto their working copies of a pool's nodes
    (``down``: the ids not up yet): (assignments, instances held), or None; on failure
    nothing is changed. Instances are held: their copies keep no free capacity."""
    need = workload.replica_need(offer.option)
    if offer.billing is Billing.RUNNING:
        running = [n for n in nodes if n.id not in down and offer.pool.always_up_node(n.id)]
        placed = pack_gang(running, need, workload.replicas)
        return None if placed is None else (placed, ())
    if offer.billing is Billing.SHARE:
        placed = pack_gang(nodes, need, workload.replicas)
        return None if placed is None else (placed, ())
    fresh = [n for n in nodes if n.id in down][: offer.instances]
    if len(fresh) < offer.instances:
        return None
    saved = [(n.free, list(n.gpu_indices)) for n in fresh]
    out: list[ReplicaAssignment] = []
    for k, node in enumerate(fresh):
        count = min(offer.per_instance, workload.replicas - k * offer.per_instance)
        placed = pack_gang([node], need, count)
        if placed is None:
            for n, (free, indices) in zip(fresh, saved, strict=True):
                n.free, n.gpu_indices = free, indices
            return None
        out.extend(replace(a, replica=len(out) + a.replica) for a in placed)
    for node in fresh:
        node.free, node.gpu_indices = Resources(), []
    return out, tuple(n.id for n in fresh)
