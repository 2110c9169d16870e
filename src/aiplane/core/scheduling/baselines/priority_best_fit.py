"""Priority best fit, aiplane's first policy (once "v0"), kept as a baseline: priority order,
gang all-or-nothing, best-fit packing, cheapest offer first; no quotas, preemption or backfill.
"""

from __future__ import annotations

from aiplane.core.placement import Offer, Rejection, RejectReason, evaluate_offers
from aiplane.core.runs import Placement
from aiplane.core.scheduling.decisions import Decision, Place, Wait
from aiplane.core.scheduling.instances import pack_free, placement_rate
from aiplane.core.scheduling.packing import FreeNode
from aiplane.core.scheduling.snapshot import PendingRun, Snapshot

MAX_REJECTIONS_SHOWN = 8


class PriorityBestFit:
    name = "priority-best-fit"

    def decide(self, snapshot: Snapshot) -> list[Decision]:
        by_pool: dict[str, list[FreeNode]] = {}
        self._down = {node.id for node in snapshot.nodes if not node.up}
        for node in snapshot.nodes:
            free = FreeNode(node.id, node.free, list(node.free_gpu_indices))
            by_pool.setdefault(node.pool, []).append(free)
        order = sorted(
            snapshot.pending, key=lambda p: (-p.workload.priority, p.submitted_at, p.run_id)
        )
        decisions: list[Decision] = []
        for position, pending in enumerate(order):
            decisions.append(self._decide_one(snapshot, pending, by_pool, position))
        return decisions

    def _decide_one(
        self,
        snapshot: Snapshot,
        pending: PendingRun,
        by_pool: dict[str, list[FreeNode]],
        position: int,
    ) -> Decision:
        workload = pending.workload
        offers, rejections = evaluate_offers(workload, snapshot.fleet)
        tried: list[Rejection] = []
        for offer in offers:
            packed = pack_free(by_pool.get(offer.pool.key, []), offer, workload, self._down)
            if packed is None:
                detail = f"no room for {workload.replicas} x {_describe_need(offer)} now"
                tried.append(Rejection(offer.pool.key, RejectReason.CAPACITY, detail, _name(offer)))
                continue
            assignments, instances = packed
            self._down.difference_update(a.node for a in assignments)
            explanation = {
                "policy": self.name,
                "queue_position": position,
                "chosen": offer.describe(),
                "why": _why(offer, offers, tried),
                "rejected": [r.describe() for r in (tried + rejections)[:MAX_REJECTIONS_SHOWN]],
                "rejected_total": len(tried) + len(rejections),
            }
            placement = Placement(
                pool=offer.pool.key,
                site=offer.site.name,
                backend=offer.pool.backend,
                accelerator=_name(offer),
                assignments=tuple(assignments),
                usd_per_hour=placement_rate(offer.pool, assignments, instances),
                emulated=offer.pool.emulated,
                explanation=explanation,
                instances=instances,
            )
            return Place(pending.run_id, placement)
        all_rejections = tried + rejections
        if not offers:
            reason = "no pool satisfies the workload's constraints"
        else:
            reason = f"waiting for capacity: {len(offers)} feasible pool(s), all full"
        return Wait(
            pending.run_id,
            reason,
            {
                "policy": self.name,
                "queue_position": position,
                "rejected": [r.describe() for r in all_rejections[:MAX_REJECTIONS_SHOWN]],
                "rejected_total": len(all_rejections),
            },
        )


def _name(offer: Offer) -> str | None:
    return offer.option.name if offer.option else None


def _describe_need(offer: Offer) -> str:
    if offer.option is None:
        return "CPU replica"
    return f"{offer.option.count:g} {offer.option.name}"


def _why(chosen: Offer, offers: list[Offer], full: list[Rejection]) -> str:
    cheaper_full = len(full)
    text = f"cheapest feasible offer with free capacity (${chosen.cost.total_usd:.2f} estimated)"
    if cheaper_full:
        text += f"; {cheaper_full} cheaper offer(s) had no room"
    if len(offers) > cheaper_full + 1:
        text += f"; {len(offers) - cheaper_full - 1} dearer offer(s) not needed"
    return text
