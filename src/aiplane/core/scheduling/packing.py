"""Best-fit gang packing of replicas onto the free capacity of one pool's nodes."""

from __future__ import annotations

from dataclasses import dataclass

from aiplane.core.resources import Resources
from aiplane.core.runs import ReplicaAssignment


@dataclass
class FreeNode:
    """Mutable working copy of a node's free capacity during one cycle."""

    id: str
    free: Resources
    gpu_indices: list[int]


def pack_gang(
    nodes: list[FreeNode], need: Resources, replicas: int
) -> list[ReplicaAssignment] | None:
    """Place ``replicas`` copies of ``need``, all or none, best fit first.

    Best fit (the node with the least free GPUs, then CPUs, that still fits) keeps whole nodes
    free for whole-node gangs. On failure nothing is changed.
    """
    taken: list[tuple[FreeNode, Resources, list[int]]] = []
    assignments: list[ReplicaAssignment] = []
    for replica in range(replicas):
        fitting = [n for n in nodes if need.fits_in(n.free)]
        if not fitting:
            for node, before, saved in taken:  # roll back: a gang is never partly placed
                node.free = before
                node.gpu_indices = saved
            return None
        node = min(fitting, key=lambda n: (n.free.gpus, n.free.cpus, n.free.memory_gib, n.id))
        taken.append((node, node.free, list(node.gpu_indices)))
        whole = int(need.gpus) if need.gpus >= 1 else 0
        chosen = tuple(node.gpu_indices[:whole])
        node.gpu_indices = node.gpu_indices[whole:]
        node.free = node.free - need
        assignments.append(
            ReplicaAssignment(replica, node.id, need.gpus, chosen, need.cpus, need.memory_gib)
        )
    return assignments
